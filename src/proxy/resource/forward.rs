//! The reverse proxy from the guarded MCP path to the backend MCP server: streaming in both
//! directions, hop-by-hop headers dropped, the client's credentials never forwarded, the
//! verified identity added in `X-Authproof-*` headers (see the parent module).

use super::{MAX_REQUEST_BODY_BYTES, Principal, error_json, is_body_limit_error, too_large};
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::Limited;
use std::time::Duration;
use url::Url;

/// Header carrying the verified subject (`sub`).
pub const SUBJECT_HEADER: HeaderName = HeaderName::from_static("x-authproof-subject");
/// Header carrying the OAuth client the token was issued to (absent when unknown).
pub const CLIENT_ID_HEADER: HeaderName = HeaderName::from_static("x-authproof-client-id");
/// Header carrying the token's scopes, space-separated (present, possibly empty).
pub const SCOPES_HEADER: HeaderName = HeaderName::from_static("x-authproof-scopes");

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus the
/// non-standard `proxy-connection` and `keep-alive`.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The backend MCP server and the HTTP client that talks to it.
#[derive(Clone)]
pub(super) struct Backend {
    url: Url,
    /// Built on the first forwarded request: an https-capable client costs milliseconds.
    http: std::sync::Arc<crate::proxy::outbound::SchemeClients>,
}

impl Backend {
    pub(super) fn new(url: Url, roots: &crate::proxy::outbound::TrustRoots) -> Backend {
        // Connect timeout and idle-pool timeout only: a total or read timeout would cut
        // long-lived SSE streams. No redirects, no environment proxies, no cookie jar.
        let http = crate::proxy::outbound::SchemeClients::new(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .no_proxy()
        })
        .trusting(roots);
        Backend {
            url,
            http: std::sync::Arc::new(http),
        }
    }

    /// Sends the authorized request to the backend and streams the answer back.
    pub(super) async fn forward(
        &self,
        principal: &Principal,
        parts: Parts,
        body: Body,
    ) -> Response {
        let Some(target) = target_url(&self.url, parts.uri.path(), parts.uri.query()) else {
            return error_json(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request path contains a dot segment, a backslash or an encoded separator",
            );
        };
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let mut headers = request_headers(&parts.headers, principal);
        if let Some(ip) = peer
            && let Ok(v) = HeaderValue::from_str(&ip.to_string())
        {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
        let body = Body::new(Limited::new(body, MAX_REQUEST_BODY_BYTES));
        let http = match self.http.for_url(target.as_str()) {
            Ok(h) => h,
            Err(err) => {
                tracing::warn!(error = %err, "cannot build the HTTP client for the MCP backend");
                return error_json(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "The MCP backend cannot be reached (HTTP client setup failed)",
                );
            }
        };
        let request = http
            .request(parts.method, target)
            .headers(headers)
            .body(reqwest::Body::wrap_stream(body.into_data_stream()));
        match request.send().await {
            Ok(upstream) => {
                let status = upstream.status();
                let headers = response_headers(upstream.headers());
                let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(err) if is_body_limit_error(&err) => too_large(),
            Err(err) => {
                tracing::warn!(backend = %self.url, error = %err, "MCP backend request failed");
                let description = if err.is_connect() {
                    "The MCP backend is unreachable"
                } else {
                    "The MCP backend failed to answer"
                };
                error_json(StatusCode::BAD_GATEWAY, "bad_gateway", description)
            }
        }
    }
}

/// The backend URL for a request whose path, relative to the guarded MCP path, is
/// `sub_path` (`/` or empty for the MCP path itself). `access_token` query parameters are
/// removed; everything else in the query is kept.
///
/// `None` when the sub-path could leave the backend path: a `.` or `..` segment (raw or
/// percent-encoded, in any mix such as `.%2e`), a backslash raw or encoded (`\`, `%5C`: URL
/// parsers and many servers treat it as `/`), or an encoded slash (`%2F`: a backend that
/// decodes it sees a separator the proxy never checked). As a second line of defence, the
/// joined URL must still lie under the backend path after the URL parser normalised it.
pub fn target_url(backend: &Url, sub_path: &str, query: Option<&str>) -> Option<Url> {
    if escapes_base(sub_path) {
        return None;
    }
    let mut url = backend.clone();
    if !sub_path.is_empty() && sub_path != "/" {
        let base = backend.path().trim_end_matches('/');
        url.set_path(&format!("{base}{sub_path}"));
        let joined = url.path();
        let under = joined == base || joined.starts_with(&format!("{base}/"));
        if !under {
            return None;
        }
    }
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Some(url);
    };
    let has_token = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token");
    if has_token {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != "access_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
    } else {
        let joined = match backend.query() {
            Some(b) if !b.is_empty() => format!("{b}&{query}"),
            _ => query.to_owned(),
        };
        url.set_query(Some(&joined));
    }
    Some(url)
}

/// Whether a sub-path could resolve outside the guarded prefix (see [`target_url`]).
fn escapes_base(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains('\\') || lower.contains("%5c") || lower.contains("%2f") {
        return true;
    }
    lower.split('/').any(|segment| {
        let segment = segment.replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &HeaderName, listed: &[String]) -> bool {
    HOP_BY_HOP.contains(&name.as_str()) || listed.iter().any(|l| l == name.as_str())
}

/// Forwarding headers a client could forge; the proxy sets `X-Forwarded-For` itself.
const FORWARDING: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
];

/// The headers sent to the backend: the client's, minus hop-by-hop headers, `Host`,
/// `Authorization` (no token passthrough), every incoming `X-Authproof-*` header (no
/// identity spoofing), forwarding headers the client sent (`Forwarded`, `X-Forwarded-*`,
/// `X-Real-IP`: the proxy sets `X-Forwarded-For` from the socket) and the proxy's own cookies
/// (other cookies pass), plus the verified identity.
pub fn request_headers(incoming: &HeaderMap, principal: &Principal) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 3);
    for (name, value) in incoming {
        if is_hop_by_hop(name, &listed)
            || name == header::HOST
            || name == header::AUTHORIZATION
            || name.as_str().starts_with("x-authproof-")
            || FORWARDING.contains(&name.as_str())
        {
            continue;
        }
        if name == header::COOKIE {
            if let Some(kept) = without_own_cookies(value) {
                out.append(header::COOKIE, kept);
            }
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(SUBJECT_HEADER, identity_value(&principal.subject));
    if let Some(client_id) = &principal.client_id {
        out.insert(CLIENT_ID_HEADER, identity_value(client_id));
    }
    let scopes: Vec<String> = principal
        .scopes
        .iter()
        .map(|s| encode_identity(s))
        .collect();
    out.insert(SCOPES_HEADER, header_value(scopes.join(" ")));
    out
}

/// A `Cookie` header without the proxy's own cookies (`authproof-*`, `__Host-authproof-*`);
/// `None` when nothing is left.
fn without_own_cookies(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| {
            let name = c.split('=').next().unwrap_or("");
            !(name.starts_with("authproof-") || name.starts_with("__Host-authproof-"))
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// The backend's headers passed back to the client, minus hop-by-hop headers.
pub fn response_headers(incoming: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if !is_hop_by_hop(name, &listed) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Percent-encodes every byte outside visible ASCII (`!`..`~`) and `%` itself, so any
/// subject or client id fits in a header and decodes back exactly.
pub fn encode_identity(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn identity_value(value: &str) -> HeaderValue {
    header_value(encode_identity(value))
}

fn header_value(text: String) -> HeaderValue {
    // `encode_identity` output is visible ASCII (plus the spaces joining scopes): always valid.
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            subject: "alice".into(),
            client_id: Some("client-1".into()),
            scopes: vec!["openid".into(), "email".into()],
            claims: serde_json::json!({}),
        }
    }

    #[test]
    fn target_keeps_path_and_query_but_not_tokens() {
        let base = Url::parse("http://b:7/mcp").unwrap();
        assert_eq!(
            target_url(&base, "/", None).unwrap().as_str(),
            "http://b:7/mcp"
        );
        assert_eq!(
            target_url(&base, "", None).unwrap().as_str(),
            "http://b:7/mcp"
        );
        assert_eq!(
            target_url(&base, "/x/y", None).unwrap().as_str(),
            "http://b:7/mcp/x/y"
        );
        assert_eq!(
            target_url(&base, "/", Some("a=1&b=%20")).unwrap().as_str(),
            "http://b:7/mcp?a=1&b=%20"
        );
        assert_eq!(
            target_url(&base, "/", Some("access_token=s3cret&a=1"))
                .unwrap()
                .as_str(),
            "http://b:7/mcp?a=1"
        );
        assert_eq!(
            target_url(&base, "/", Some("access_token=s3cret"))
                .unwrap()
                .as_str(),
            "http://b:7/mcp"
        );
        let slash = Url::parse("http://b:7/mcp/").unwrap();
        assert_eq!(
            target_url(&slash, "/s", None).unwrap().as_str(),
            "http://b:7/mcp/s"
        );
        assert!(target_url(&base, "/../admin", None).is_none());
        assert!(target_url(&base, "/%2E%2e/admin", None).is_none());
        assert!(target_url(&base, "/a/./b", None).is_none());
    }

    /// The review's escapes: a backslash (raw or encoded) or an encoded slash never reaches
    /// the backend, whatever dot segments surround it.
    #[test]
    fn backslashes_and_encoded_separators_never_escape() {
        let base = Url::parse("http://b:7/mcp").unwrap();
        for path in [
            "/..\\admin",
            "/.%2e\\admin",
            "/x/..\\..\\admin",
            "/..%5cadmin",
            "/..%5Cadmin",
            "/x%5c..%5c..%5cadmin",
            "/..%2fadmin",
            "/x%2F..%2F..%2Fadmin",
            "/%2e%2E/admin",
            "/.%2E/admin",
            "/a\\b",
        ] {
            assert!(
                target_url(&base, path, None).is_none(),
                "{path} must be refused"
            );
        }
        // Dots inside a segment are ordinary characters.
        assert_eq!(
            target_url(&base, "/a..b/.well-known", None)
                .unwrap()
                .as_str(),
            "http://b:7/mcp/a..b/.well-known"
        );
        assert!(escapes_base("/..\\admin"));
        assert!(!escapes_base("/tools/list"));
    }

    #[test]
    fn request_headers_strip_credentials_and_spoofing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        h.insert(header::HOST, HeaderValue::from_static("proxy"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("X-Authproof-Subject", HeaderValue::from_static("mallory"));
        h.insert("x-authproof-admin", HeaderValue::from_static("yes"));
        h.insert("mcp-session-id", HeaderValue::from_static("s1"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let out = request_headers(&h, &principal());
        assert!(out.get(header::AUTHORIZATION).is_none());
        assert!(out.get(header::HOST).is_none());
        assert!(out.get(header::CONNECTION).is_none());
        assert!(out.get("x-secret").is_none());
        assert!(out.get("te").is_none());
        assert!(out.get("x-authproof-admin").is_none());
        assert_eq!(out.get_all(SUBJECT_HEADER).iter().count(), 1);
        assert_eq!(out[SUBJECT_HEADER], "alice");
        assert_eq!(out[CLIENT_ID_HEADER], "client-1");
        assert_eq!(out[SCOPES_HEADER], "openid email");
        assert_eq!(out["mcp-session-id"], "s1");
        assert_eq!(out[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn own_cookies_and_forged_forwarding_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("authproof-binding=abc; app=1; __Host-authproof-csrf=x; b=2"),
        );
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        let out = request_headers(&h, &principal());
        assert_eq!(out[header::COOKIE], "app=1; b=2");
        assert!(out.get("forwarded").is_none());
        assert!(out.get("x-forwarded-for").is_none());
        assert!(out.get("x-real-ip").is_none());
        let mut only_own = HeaderMap::new();
        only_own.insert(
            header::COOKIE,
            HeaderValue::from_static("authproof-binding=abc"),
        );
        assert!(
            request_headers(&only_own, &principal())
                .get(header::COOKIE)
                .is_none()
        );
    }

    #[test]
    fn identity_is_percent_encoded_when_needed() {
        let mut p = principal();
        p.subject = "zoë 100%\n".into();
        p.client_id = None;
        p.scopes = vec![];
        let out = request_headers(&HeaderMap::new(), &p);
        assert_eq!(out[SUBJECT_HEADER], "zo%C3%AB%20100%25%0A");
        assert!(out.get(CLIENT_ID_HEADER).is_none());
        assert_eq!(out[SCOPES_HEADER], "");
    }

    #[test]
    fn response_headers_drop_hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("mcp-session-id", HeaderValue::from_static("s1"));
        let out = response_headers(&h);
        assert!(out.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(out[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(out["mcp-session-id"], "s1");
    }
}
