//! Talking to the upstream IdP: discovery, the authorization URL, code exchange, refresh and
//! revocation, with the configured client authentication and a time limit on every call.
//!
//! Errors map to what the proxy's clients are told: the IdP down or slow →
//! `temporarily_unavailable`; an answer that is not a usable OAuth response →
//! `server_error`; the IdP's own `invalid_grant` → `invalid_grant`.

mod discovery;
pub mod verify;

use crate::proxy::outbound::{
    MAX_RESPONSE_BYTES, SchemeClients, TrustRoots, UpstreamError, read_limited, reqwest_error,
    upstream_http,
};
pub use discovery::{Discovered, Endpoints, OIDC_REQUIRED_FIELDS, discover};

use crate::oauth::client_auth::{ClientAuthMethod, basic_header};
use crate::proxy::config::UpstreamConfig;
use crate::proxy::refresh::flight::Flights;
use crate::proxy::store::UpstreamTokens;
use base64::Engine as _;
use foundations::Clock;
use serde_json::Value;
use std::time::Duration;

/// Form parameters the proxy sets itself on token and revocation requests; a configured
/// `extra_token_params` entry with one of these names is never sent.
const RESERVED_FORM_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
];

/// The upstream IdP as the proxy sees it.
pub struct Upstream {
    cfg: UpstreamConfig,
    /// Built on first use, per scheme (an https-capable client costs milliseconds to build).
    http: SchemeClients,
    timeout: Duration,
    endpoints: tokio::sync::OnceCell<Endpoints>,
    redirect_uri: String,
    clock: Clock,
    /// OIDC modes with `upstream.strict`: discovery must carry every OIDC-mandatory field.
    strict_oidc: bool,
    /// Scope sent on refresh requests that name none (Entra ID requires one).
    refresh_scope: Option<String>,
    /// OIDC modes: send a `nonce` derived from the upstream state (checked in the ID token).
    oidc_nonce: bool,
    /// One refresh per grant at a time (see [`crate::proxy::refresh::flight`]).
    flights: Flights,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("client_id", &self.cfg.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What a token request sends beyond the grant.
fn parse_token_response(
    body: &[u8],
    content_type: &str,
    status: u16,
) -> Result<Value, UpstreamError> {
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let json: Option<Value> = if is_form {
        let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Some(Value::Object(map))
    } else {
        serde_json::from_slice(body).ok()
    };
    let obj = json.filter(Value::is_object);
    if let Some(o) = &obj
        && let Some(err) = o.get("error").and_then(Value::as_str)
    {
        let description = o.get("error_description").and_then(Value::as_str).map(clip);
        if err == "temporarily_unavailable" || (status >= 500 && err != "invalid_grant") {
            return Err(UpstreamError::Unavailable(format!(
                "HTTP {status}, error {}",
                clip(err)
            )));
        }
        return Err(UpstreamError::Rejected {
            error: clip(err),
            description,
        });
    }
    if matches!(status, 429 | 502 | 503 | 504) {
        return Err(UpstreamError::Unavailable(format!("HTTP {status}")));
    }
    if !(200..300).contains(&status) {
        return Err(UpstreamError::BadResponse(format!(
            "HTTP {status} without an OAuth error"
        )));
    }
    obj.ok_or_else(|| UpstreamError::BadResponse("the body is not a JSON object".into()))
}

/// Keep IdP-provided text short and printable before passing it on.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Upstream {
    /// A client for the configured IdP; `redirect_uri` is the proxy's callback URL.
    ///
    /// Cheap: no HTTP client is built until the first upstream call.
    pub fn new(cfg: UpstreamConfig, redirect_uri: String, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            timeout: cfg.timeout.get(),
            cfg,
            http: SchemeClients::new(upstream_http),
            endpoints: tokio::sync::OnceCell::new(),
            redirect_uri,
            clock,
            strict_oidc: false,
            refresh_scope: None,
            oidc_nonce: false,
            flights: Flights::default(),
        })
    }

    /// Trust `roots` besides the system's for https calls to the IdP (before the first call).
    pub fn trust(&mut self, roots: &TrustRoots) {
        let http = std::mem::replace(&mut self.http, SchemeClients::new(upstream_http));
        self.http = http.trusting(roots);
    }

    /// The per-grant refresh locks of this instance.
    pub fn flights(&self) -> &Flights {
        &self.flights
    }

    /// The HTTP client for a request to `url` (each request must set `.timeout(self.timeout)`).
    fn http(&self, url: &str) -> Result<&reqwest::Client, UpstreamError> {
        self.http.for_url(url).map_err(|e| {
            UpstreamError::Unavailable(format!("the HTTP client cannot be built: {e}"))
        })
    }

    /// The proxy's callback URL registered at the IdP.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.cfg
    }

    /// Require a complete OIDC discovery document (OIDC modes with `upstream.strict`).
    pub fn set_strict_oidc(&mut self, on: bool) {
        self.strict_oidc = on;
    }

    /// Send `nonce` = [`verify::nonce_for`]`(state)` in authorization requests (OIDC modes).
    pub fn set_oidc_nonce(&mut self, on: bool) {
        self.oidc_nonce = on;
    }

    /// Apply what the provider mode changes in upstream requests: strict OIDC discovery and
    /// `nonce` in OIDC modes, the scope on refresh for Azure. The proxy and `validate` both
    /// call this, so a probe sends what the proxy would.
    pub fn configure_for(&mut self, config: &crate::proxy::config::ProxyConfig) {
        self.set_strict_oidc(config.provider.is_oidc() && config.upstream.strict);
        self.set_oidc_nonce(config.provider.is_oidc());
        if config.provider == crate::proxy::config::ProviderKind::Azure {
            // Entra ID refuses a refresh without scope.
            self.set_refresh_scope(Some(config.upstream.scopes.join(" ")));
        }
    }

    /// Send this scope on refresh requests that name none (`provider: azure`).
    pub fn set_refresh_scope(&mut self, scope: Option<String>) {
        self.refresh_scope = scope.filter(|s| !s.is_empty());
    }

    /// The IdP's endpoints: explicit ones from the configuration, the rest from discovery
    /// (fetched once; a failure is retried on the next call).
    pub async fn endpoints(&self) -> Result<&Endpoints, UpstreamError> {
        self.endpoints
            .get_or_try_init(|| async {
                let discovered = match &self.cfg.config_url {
                    Some(u) => {
                        let d = discover(self.http(u)?, u, self.timeout).await?;
                        if self.strict_oidc {
                            d.check_strict()?;
                        }
                        Some(d)
                    }
                    None => None,
                };
                Endpoints::merge(&self.cfg, discovered)
            })
            .await
    }

    /// The upstream authorization URL for an approved flow.
    pub fn authorize_url(
        &self,
        endpoints: &Endpoints,
        state: &str,
        code_challenge: &str,
        client_scopes: &[String],
        resource: &str,
        login_hint: Option<&str>,
    ) -> String {
        let mut url = endpoints.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code");
            q.append_pair("client_id", &self.cfg.client_id);
            q.append_pair("redirect_uri", &self.redirect_uri);
            q.append_pair("state", state);
            let scopes = if self.cfg.scopes.is_empty() {
                client_scopes
            } else {
                &self.cfg.scopes
            };
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            q.append_pair("code_challenge", code_challenge);
            q.append_pair("code_challenge_method", "S256");
            if self.cfg.forward_resource {
                q.append_pair("resource", resource);
            }
            if let Some(h) = login_hint {
                q.append_pair("login_hint", h);
            }
            if self.oidc_nonce {
                q.append_pair("nonce", &verify::nonce_for(state));
            }
            for (k, v) in &self.cfg.extra_authorize_params {
                q.append_pair(k, v);
            }
        }
        url.into()
    }

    /// Exchange an upstream authorization code (with the proxy's PKCE verifier).
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        resource: &str,
    ) -> Result<UpstreamTokens, UpstreamError> {
        let mut form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), self.redirect_uri.clone()),
            ("code_verifier".to_string(), code_verifier.to_string()),
        ];
        if self.cfg.forward_resource {
            form.push(("resource".into(), resource.into()));
        }
        let v = self.token_request(form).await?;
        self.tokens_from(&v, None)
    }

    /// A `client_credentials` grant for the proxy's own client, with the same client
    /// authentication, extra token parameters and `resource` handling as a code exchange.
    /// Only `authproof validate` uses it, to see what kind of access token the IdP issues.
    pub async fn client_credentials(
        &self,
        resource: &str,
    ) -> Result<UpstreamTokens, UpstreamError> {
        let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        if self.cfg.forward_resource {
            form.push(("resource".into(), resource.into()));
        }
        let v = self.token_request(form).await?;
        self.tokens_from(&v, None)
    }

    /// Refresh upstream; a response without a refresh token keeps `previous`'s.
    pub async fn refresh(
        &self,
        previous: &UpstreamTokens,
        scope: Option<&str>,
    ) -> Result<UpstreamTokens, UpstreamError> {
        let Some(rt) = &previous.refresh_token else {
            return Err(UpstreamError::Rejected {
                error: "invalid_grant".into(),
                description: Some("no upstream refresh token".into()),
            });
        };
        let mut form = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), rt.clone()),
        ];
        if let Some(s) = scope
            .filter(|s| !s.is_empty())
            .or(self.refresh_scope.as_deref())
        {
            form.push(("scope".into(), s.into()));
        }
        let v = self.token_request(form).await?;
        self.tokens_from(&v, Some(previous))
    }

    /// RFC 7009 revocation of an upstream token (when a revocation endpoint is known).
    /// Returns whether a request was made and accepted.
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<bool, UpstreamError> {
        let endpoints = self.endpoints().await?;
        let Some(endpoint) = endpoints.revocation_endpoint.clone() else {
            return Ok(false);
        };
        let form = vec![
            ("token".to_string(), token.to_string()),
            ("token_type_hint".to_string(), hint.to_string()),
        ];
        let resp = self.post_form(endpoint, form).await?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(true)
        } else if matches!(status, 429 | 502 | 503 | 504) {
            Err(UpstreamError::Unavailable(format!("HTTP {status}")))
        } else {
            Err(UpstreamError::BadResponse(format!(
                "revocation answered HTTP {status}"
            )))
        }
    }

    async fn token_request(&self, form: Vec<(String, String)>) -> Result<Value, UpstreamError> {
        let endpoint = self.endpoints().await?.token_endpoint.clone();
        let resp = self.post_form(endpoint, form).await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = read_limited(resp, MAX_RESPONSE_BYTES).await?;
        parse_token_response(&body, &content_type, status)
    }

    async fn post_form(
        &self,
        endpoint: url::Url,
        mut form: Vec<(String, String)>,
    ) -> Result<reqwest::Response, UpstreamError> {
        // Configuration validation refuses reserved keys already; this guards the request
        // itself: an extra parameter never replaces or duplicates one the proxy sets.
        for (k, v) in &self.cfg.extra_token_params {
            let taken = RESERVED_FORM_PARAMS.contains(&k.as_str())
                || form.iter().any(|(f, _)| f.eq_ignore_ascii_case(k));
            if !taken {
                form.push((k.clone(), v.clone()));
            }
        }
        let mut req = self
            .http(endpoint.as_str())?
            .post(endpoint)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        let secret = self
            .cfg
            .client_secret
            .as_ref()
            .map(|s| s.expose())
            .unwrap_or("");
        match self.cfg.auth_method() {
            ClientAuthMethod::ClientSecretBasic => {
                req = req.header(
                    reqwest::header::AUTHORIZATION,
                    basic_header(&self.cfg.client_id, secret),
                );
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), self.cfg.client_id.clone()));
                form.push(("client_secret".into(), secret.to_string()));
            }
            ClientAuthMethod::None => {
                form.push(("client_id".into(), self.cfg.client_id.clone()));
            }
        }
        req.form(&form).send().await.map_err(|e| reqwest_error(&e))
    }

    fn tokens_from(
        &self,
        v: &Value,
        previous: Option<&UpstreamTokens>,
    ) -> Result<UpstreamTokens, UpstreamError> {
        let now = self.clock.now_unix();
        let access_token = as_string(v.get("access_token")).ok_or_else(|| {
            UpstreamError::BadResponse("no access_token in the token response".into())
        })?;
        let token_type = as_string(v.get("token_type")).unwrap_or_else(|| "Bearer".into());
        let expires_at = as_i64(v.get("expires_in"))
            .filter(|s| *s > 0)
            .map(|s| now.saturating_add(s));
        let new_refresh = as_string(v.get("refresh_token"));
        let refresh_expires_at = as_i64(v.get("refresh_expires_in"))
            .filter(|s| *s > 0)
            .map(|s| now.saturating_add(s));
        let (refresh_token, refresh_expires_at) = match (new_refresh, previous) {
            (Some(rt), _) => (Some(rt), refresh_expires_at),
            (None, Some(p)) => (
                p.refresh_token.clone(),
                refresh_expires_at.or(p.refresh_expires_at),
            ),
            (None, None) => (None, None),
        };
        Ok(UpstreamTokens {
            access_token,
            token_type,
            refresh_token,
            id_token: as_string(v.get("id_token"))
                .or_else(|| previous.and_then(|p| p.id_token.clone())),
            expires_at,
            refresh_expires_at,
            scope: as_string(v.get("scope")),
        })
    }
}

/// The end user's subject: the ID token's `sub` (received directly from the token endpoint,
/// OIDC Core §3.1.3.7), else a JWT access token's `sub`, else `None`.
pub fn subject_of(tokens: &UpstreamTokens) -> Option<String> {
    let from_jwt = |t: &str| -> Option<String> {
        let payload = t.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        match v.get("sub")? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    tokens
        .id_token
        .as_deref()
        .and_then(from_jwt)
        .or_else(|| from_jwt(&tokens.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_classification() {
        let ok = parse_token_response(
            br#"{"access_token":"a","expires_in":"60"}"#,
            "application/json",
            200,
        )
        .unwrap();
        assert_eq!(ok["access_token"], "a");
        let form = parse_token_response(
            b"access_token=gho_x&scope=repo&token_type=bearer",
            "application/x-www-form-urlencoded; charset=utf-8",
            200,
        )
        .unwrap();
        assert_eq!(form["access_token"], "gho_x");
        // GitHub-style error with status 200.
        assert!(matches!(
            parse_token_response(br#"{"error":"bad_verification_code"}"#, "application/json", 200),
            Err(UpstreamError::Rejected { error, .. }) if error == "bad_verification_code"
        ));
        let e = parse_token_response(
            br#"{"error":"invalid_grant","error_description":"used"}"#,
            "application/json",
            400,
        )
        .unwrap_err();
        assert_eq!(e.to_token_error().error, "invalid_grant");
        assert_eq!(
            parse_token_response(b"<html>", "text/html", 503)
                .unwrap_err()
                .to_token_error()
                .error,
            "temporarily_unavailable"
        );
        assert_eq!(
            parse_token_response(b"<html>", "text/html", 500)
                .unwrap_err()
                .to_token_error()
                .error,
            "server_error"
        );
        assert_eq!(
            parse_token_response(b"not json", "application/json", 200)
                .unwrap_err()
                .to_token_error()
                .error,
            "server_error"
        );
        assert_eq!(
            parse_token_response(b"[1]", "application/json", 200)
                .unwrap_err()
                .to_token_error()
                .error,
            "server_error"
        );
        assert_eq!(
            parse_token_response(br#"{"error":"server_error"}"#, "application/json", 500)
                .unwrap_err()
                .to_token_error()
                .error,
            "temporarily_unavailable"
        );
    }

    #[test]
    fn subject_from_id_token_then_access_token() {
        let jwt = |claims: &str| {
            format!(
                "e30.{}.sig",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims)
            )
        };
        let mut t = UpstreamTokens {
            access_token: jwt(r#"{"sub":"from-access"}"#),
            token_type: "Bearer".into(),
            refresh_token: None,
            id_token: Some(jwt(r#"{"sub":"alice"}"#)),
            expires_at: None,
            refresh_expires_at: None,
            scope: None,
        };
        assert_eq!(subject_of(&t).as_deref(), Some("alice"));
        t.id_token = None;
        assert_eq!(subject_of(&t).as_deref(), Some("from-access"));
        t.access_token = "opaque".into();
        assert_eq!(subject_of(&t), None);
    }
}
