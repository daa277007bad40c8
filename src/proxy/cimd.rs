//! Client ID Metadata Documents (MCP 2025-11-25): a `client_id` that is an https URL names a
//! JSON document describing the client. The proxy fetches it SSRF-safely (see
//! [`crate::proxy::ssrf`]: https only, every resolved address public, no redirects, a size
//! and a time limit), caches it as its `Cache-Control` says, validates it and uses it like a
//! registered client.
//!
//! Validation: the document's `client_id` equals the URL exactly; `redirect_uris` is a
//! non-empty list; `token_endpoint_auth_method` is absent or `none` (the proxy serves public
//! clients only). Redirect URIs failing the registration rules (allow-list, application_type)
//! are ignored; at least one must pass.

use crate::proxy::outbound::{SchemeClients, TrustRoots};
use crate::proxy::redirect::{AllowList, ApplicationType, check_registration};
use crate::proxy::ssrf::{check_literal_host, safe_clients};
use crate::proxy::store::ClientRecord;
use foundations::Clock;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;

/// The largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Cache lifetime when the response says nothing.
pub const DEFAULT_CACHE_SECS: i64 = 300;
/// Longest cache lifetime, whatever the response says.
pub const MAX_CACHE_SECS: i64 = 86_400;
const MAX_CACHE_ENTRIES: usize = 1024;

/// Why a document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client metadata document {url}: {reason}")]
pub struct CimdError {
    /// The client_id URL.
    pub url: String,
    /// What is wrong.
    pub reason: String,
}

struct Cached {
    document: Value,
    expires_at_ms: i64,
}

/// Fetches, caches and validates client ID metadata documents.
pub struct CimdFetcher {
    http: SchemeClients,
    allow_http_loopback: bool,
    clock: Clock,
    cache: Mutex<HashMap<String, Cached>>,
}

impl CimdFetcher {
    /// A fetcher; `allow_http_loopback` also admits `http://` documents on loopback hosts.
    /// The SSRF-safe HTTP clients ([`safe_clients`]) are built on the first fetch.
    pub fn new(allow_http_loopback: bool, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            http: safe_clients(allow_http_loopback),
            allow_http_loopback,
            clock,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The same fetcher, trusting `roots` besides the system's for https documents.
    pub fn trusting(self, roots: &TrustRoots) -> Self {
        Self {
            http: self.http.trusting(roots),
            ..self
        }
    }

    /// Whether `client_id` has the shape of a CIMD URL: https (or http to a loopback host
    /// when allowed), a host, a path other than `/`, no fragment, no credentials.
    pub fn is_cimd_client_id(&self, client_id: &str) -> bool {
        let Ok(u) = url::Url::parse(client_id) else {
            return false;
        };
        let scheme_ok = match u.scheme() {
            "https" => true,
            "http" => self.allow_http_loopback && is_loopback_url(&u),
            _ => false,
        };
        scheme_ok
            && u.host().is_some()
            && !matches!(u.path(), "" | "/")
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    }

    /// The client described by the document at `client_id` (from cache when fresh).
    pub async fn client(
        &self,
        client_id: &str,
        allow: &AllowList,
    ) -> Result<ClientRecord, CimdError> {
        let err = |reason: String| CimdError {
            url: client_id.to_string(),
            reason,
        };
        let now = self.clock.now_millis();
        let cached = self
            .cache
            .lock()
            .get(client_id)
            .filter(|c| c.expires_at_ms > now)
            .map(|c| c.document.clone());
        let document = match cached {
            Some(d) => d,
            None => {
                let (doc, ttl) = self.fetch(client_id).await.map_err(err)?;
                validate_document(client_id, &doc).map_err(err)?;
                if let Some(ttl) = ttl {
                    self.remember(client_id, &doc, now + ttl * 1000);
                }
                doc
            }
        };
        to_client(client_id, &document, allow, self.clock.now_unix()).map_err(err)
    }

    fn remember(&self, url: &str, document: &Value, expires_at_ms: i64) {
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHE_ENTRIES {
            let now = self.clock.now_millis();
            cache.retain(|_, c| c.expires_at_ms > now);
            if cache.len() >= MAX_CACHE_ENTRIES
                && let Some(k) = cache
                    .iter()
                    .min_by_key(|(_, c)| c.expires_at_ms)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&k);
            }
        }
        cache.insert(
            url.to_string(),
            Cached {
                document: document.clone(),
                expires_at_ms,
            },
        );
    }

    /// GET the document; returns it and how long it may be cached (seconds; None = not).
    async fn fetch(&self, client_id: &str) -> Result<(Value, Option<i64>), String> {
        let url = url::Url::parse(client_id).map_err(|e| format!("not a URL: {e}"))?;
        if url.scheme() == "http" && !(self.allow_http_loopback && is_loopback_url(&url)) {
            return Err("only https URLs are fetched".into());
        }
        check_literal_host(&url, self.allow_http_loopback)?;
        let http = self
            .http
            .for_url(url.as_str())
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        let resp = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fetch_error(&e))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(format!(
                "answered HTTP {} (redirects are not followed)",
                status.as_u16()
            ));
        }
        if !status.is_success() {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        let ttl = cache_lifetime(resp.headers());
        let body = crate::proxy::outbound::read_limited(resp, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| match e {
                crate::proxy::outbound::UpstreamError::BadResponse(m)
                | crate::proxy::outbound::UpstreamError::Unavailable(m) => m,
                other => other.to_string(),
            })?;
        let doc: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        Ok((doc, ttl))
    }
}

fn fetch_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else {
        "could not be fetched".to_string()
    };
    // Surface the resolver's reason (non-public address) without the URL.
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if t.contains("non-public") || t.contains("no address") {
            msg = t;
            break;
        }
        src = s.source();
    }
    msg
}

fn is_loopback_url(u: &url::Url) -> bool {
    u.host()
        .is_some_and(|h| crate::proxy::redirect::is_loopback_host(&h))
}

/// Seconds the response may be cached: `no-store`/`no-cache` → None, `max-age=N` → N
/// (capped at a day), nothing → [`DEFAULT_CACHE_SECS`].
pub fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(DEFAULT_CACHE_SECS);
    };
    let mut max_age = None;
    for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" || directive == "private" {
            return None;
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().ok();
        }
    }
    match max_age {
        Some(0) => None,
        Some(n) if n > 0 => Some(n.min(MAX_CACHE_SECS)),
        _ => Some(DEFAULT_CACHE_SECS),
    }
}

/// The checks that do not depend on the allow-list.
pub fn validate_document(client_id: &str, doc: &Value) -> Result<(), String> {
    let obj = doc.as_object().ok_or("the document is not a JSON object")?;
    match obj.get("client_id") {
        Some(Value::String(id)) if id == client_id => {}
        Some(Value::String(id)) => {
            return Err(format!("its client_id {id:?} is not the document URL"));
        }
        _ => return Err("client_id is missing".into()),
    }
    match obj.get("redirect_uris") {
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {}
        Some(Value::Array(a)) if a.is_empty() => return Err("redirect_uris is empty".into()),
        Some(_) => return Err("redirect_uris must be a list of strings".into()),
        None => return Err("redirect_uris is missing".into()),
    }
    match obj.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "none" => {}
        Some(m) => {
            return Err(format!(
                "token_endpoint_auth_method {m} is not supported (this server accepts public clients: none)"
            ));
        }
    }
    if let Some(a) = obj.get("application_type") {
        a.as_str()
            .ok_or("application_type must be a string")?
            .parse::<ApplicationType>()?;
    }
    if let Some(n) = obj.get("client_name")
        && !n.is_string()
    {
        return Err("client_name must be a string".into());
    }
    Ok(())
}

/// Build the client from a validated document, keeping the redirect URIs that pass.
pub fn to_client(
    client_id: &str,
    doc: &Value,
    allow: &AllowList,
    now: i64,
) -> Result<ClientRecord, String> {
    validate_document(client_id, doc)?;
    let app: ApplicationType = doc
        .get("application_type")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let mut passing = Vec::new();
    let mut reasons = Vec::new();
    for uri in doc["redirect_uris"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        match check_registration(uri, allow, app) {
            Ok(_) => passing.push(uri.to_string()),
            Err(r) => reasons.push(r.to_string()),
        }
    }
    if passing.is_empty() {
        return Err(format!(
            "no redirect URI in the document is allowed ({})",
            reasons.join("; ")
        ));
    }
    let strings = |k: &str| -> Option<Vec<String>> {
        doc.get(k)?.as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    let mut extra = serde_json::Map::new();
    for k in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "software_id",
        "software_version",
    ] {
        if let Some(v @ Value::String(_)) = doc.get(k) {
            extra.insert(k.into(), v.clone());
        }
    }
    Ok(ClientRecord {
        client_id: client_id.to_string(),
        redirect_uris: passing,
        application_type: app,
        client_name: doc
            .get("client_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        scope: doc.get("scope").and_then(Value::as_str).map(str::to_string),
        grant_types: strings("grant_types")
            .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]),
        response_types: strings("response_types").unwrap_or_else(|| vec!["code".into()]),
        token_endpoint_auth_method: "none".into(),
        client_id_issued_at: now,
        extra,
        cimd: true,
        provisional: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://app.example.com/oauth/client.json";

    #[test]
    fn cimd_shapes() {
        let f = CimdFetcher::new(false, Clock::system()).unwrap();
        assert!(f.is_cimd_client_id(URL));
        assert!(!f.is_cimd_client_id("https://app.example.com/"));
        assert!(!f.is_cimd_client_id("http://127.0.0.1:9/client.json"));
        assert!(!f.is_cimd_client_id("8d3c-uuid"));
        assert!(!f.is_cimd_client_id("https://u:p@app.example.com/c.json"));
        let f = CimdFetcher::new(true, Clock::system()).unwrap();
        assert!(f.is_cimd_client_id("http://127.0.0.1:9/client.json"));
        assert!(!f.is_cimd_client_id("http://example.com/client.json"));
    }

    #[test]
    fn document_rules() {
        let ok = json!({"client_id": URL, "client_name": "App", "redirect_uris": ["http://localhost:3000/cb", "http://evil.example/cb"]});
        let c = to_client(URL, &ok, &AllowList::from_config(None).unwrap(), 0).unwrap();
        assert_eq!(
            c.redirect_uris,
            ["http://localhost:3000/cb"],
            "http to a non-loopback host fails native rules"
        );
        assert!(c.cimd);
        let allow = AllowList::from_config(Some(&["http://127.0.0.1:*".to_string()])).unwrap();
        let e = to_client(URL, &ok, &allow, 0).unwrap_err();
        assert!(e.contains("no redirect URI"), "{e}");

        let bad_id = json!({"client_id": "https://app.example.com/other.json", "redirect_uris": ["http://localhost/cb"]});
        assert!(
            validate_document(URL, &bad_id)
                .unwrap_err()
                .contains("not the document URL")
        );
        let slash =
            json!({"client_id": format!("{URL}/"), "redirect_uris": ["http://localhost/cb"]});
        assert!(
            validate_document(URL, &slash).is_err(),
            "exact match, not modulo a slash"
        );
        assert!(
            validate_document(URL, &json!({"client_id": URL}))
                .unwrap_err()
                .contains("redirect_uris is missing")
        );
        assert!(validate_document(URL, &json!({"client_id": URL, "redirect_uris": []})).is_err());
        let secret = json!({"client_id": URL, "redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "client_secret_post"});
        assert!(
            validate_document(URL, &secret)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(validate_document(URL, &json!([1])).is_err());
    }

    #[test]
    fn cache_headers() {
        let h = |v: &str| {
            let mut m = reqwest::header::HeaderMap::new();
            m.insert(reqwest::header::CACHE_CONTROL, v.parse().unwrap());
            m
        };
        assert_eq!(
            cache_lifetime(&reqwest::header::HeaderMap::new()),
            Some(DEFAULT_CACHE_SECS)
        );
        assert_eq!(cache_lifetime(&h("public, max-age=60")), Some(60));
        assert_eq!(
            cache_lifetime(&h("max-age=999999999")),
            Some(MAX_CACHE_SECS)
        );
        assert_eq!(cache_lifetime(&h("no-store")), None);
        assert_eq!(cache_lifetime(&h("max-age=0")), None);
        assert_eq!(cache_lifetime(&h("no-cache, max-age=60")), None);
    }
}
