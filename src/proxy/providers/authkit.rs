//! `provider: authkit`: remote auth. No `/register`, `/authorize`, `/token`, `/revoke`,
//! consent or callback of our own; AuthKit (`upstream.domain`) is the authorization server.
//!
//! | route | answer |
//! |---|---|
//! | `/.well-known/oauth-protected-resource{mcp_path}` | RFC 9728: `authorization_servers: [domain]` |
//! | `/.well-known/oauth-authorization-server` | AuthKit's own document, fetched live; unreachable or unusable → 502 JSON `server_error` |
//! | `{mcp_path}` | bearer guard: RS256 JWT from AuthKit's JWKS, `iss` = domain, `aud` = the resource URL |
//!
//! Configure the resource URL (base_url + mcp_path) as a Resource Indicator in WorkOS so that
//! AuthKit puts it in the tokens' `aud`.

use crate::proxy::bearer::{BearerError, BearerVerifier, Principal, Verdict};
use crate::proxy::config::normalize_domain;
use crate::proxy::metadata::cached_json;
use crate::proxy::outbound::{MAX_RESPONSE_BYTES, read_limited};
use crate::proxy::resource::ResourceGuard;
use crate::proxy::state::ProxyState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{Any, CorsLayer};

/// AuthKit's domain (normalized: scheme, no trailing slash).
pub fn domain(st: &ProxyState) -> String {
    normalize_domain(st.config.upstream.domain.as_deref().unwrap_or_default())
}

/// AuthKit's RFC 8414 document URL.
pub fn metadata_url(st: &ProxyState) -> String {
    format!("{}/.well-known/oauth-authorization-server", domain(st))
}

/// Scopes the guard requires: the proxy's `required_scopes` plus the verifier's.
pub fn required_scopes(st: &ProxyState) -> Vec<String> {
    let mut out = st.required_scopes.clone();
    for s in &st.config.upstream.verifier.required_scopes {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Verifies bearer tokens issued by AuthKit.
#[derive(Clone)]
pub struct RemoteVerifier {
    state: Arc<ProxyState>,
}

impl RemoteVerifier {
    /// A verifier over the proxy's state.
    pub fn new(state: Arc<ProxyState>) -> Self {
        Self { state }
    }

    /// Verify a token (the async body of [`BearerVerifier::verify`]).
    pub async fn check(&self, token: &str) -> Result<Arc<Principal>, BearerError> {
        let st = &self.state;
        let v = st
            .upstream_verifier
            .verify_bearer(&st.upstream, token)
            .await
            .map_err(|e| e.to_bearer())?;
        let subject = v
            .subject
            .clone()
            .ok_or_else(|| BearerError::Invalid("the token names no subject".into()))?;
        Ok(Arc::new(Principal {
            subject,
            client_id: v.client_id.clone(),
            scopes: v.scopes.clone(),
            claims: v.claims.clone(),
        }))
    }
}

impl BearerVerifier for RemoteVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a> {
        Box::pin(self.check(token))
    }
}

fn fetch_failed(reason: &str) -> Response {
    let mut r = (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({
            "error": "server_error",
            "error_description": format!("Failed to fetch AuthKit metadata: {reason}"),
        })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /.well-known/oauth-authorization-server`: AuthKit's document, fetched on each request.
pub async fn authorization_server_handler(State(st): State<Arc<ProxyState>>) -> Response {
    let url = metadata_url(&st);
    let http = match st.upstream_verifier.client_for(&url) {
        Ok(c) => c,
        Err(e) => return fetch_failed(&e),
    };
    let resp = match http
        .get(&url)
        .timeout(st.config.upstream.timeout.get())
        .header(header::ACCEPT, "application/json")
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                "timed out".to_string()
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                "request failed".to_string()
            };
            tracing::warn!(%url, %reason, "AuthKit metadata unavailable");
            return fetch_failed(&reason);
        }
    };
    let status = resp.status();
    if !status.is_success() {
        tracing::warn!(%url, %status, "AuthKit metadata unavailable");
        return fetch_failed(&format!("AuthKit answered HTTP {}", status.as_u16()));
    }
    let body = match read_limited(resp, MAX_RESPONSE_BYTES).await {
        Ok(b) => b,
        Err(e) => return fetch_failed(&e.to_string()),
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => axum::Json(v).into_response(),
        _ => fetch_failed("AuthKit's answer is not a JSON object"),
    }
}

/// The RFC 9728 document in remote-auth mode.
pub fn protected_resource(st: &ProxyState) -> Value {
    let scopes = if st.config.valid_scopes.is_empty() {
        required_scopes(st)
    } else {
        st.config.valid_scopes.clone()
    };
    json!({
        "resource": st.resource,
        "authorization_servers": [domain(st)],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    })
}

/// The metadata routes in remote-auth mode. With the guarded MCP endpoint ([`guard`]) they are
/// all the proxy serves ([`crate::proxy::server::router`] puts them together).
pub fn metadata_router(st: Arc<ProxyState>) -> Router {
    let bp = st.base_path.clone();
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(600));
    let mut api = Router::new().route(&st.resource_metadata_path, get(protected_resource_handler));
    let mut paths = vec!["/.well-known/oauth-authorization-server".to_string()];
    if !bp.is_empty() {
        paths.push(format!("{bp}/.well-known/oauth-authorization-server"));
    }
    for p in paths {
        api = api.route(&p, get(authorization_server_handler));
    }
    api.layer(cors).with_state(st)
}

/// The guard of the MCP endpoint in remote-auth mode: AuthKit's tokens, checked directly.
pub fn guard(st: &Arc<ProxyState>) -> ResourceGuard {
    ResourceGuard {
        verifier: Arc::new(RemoteVerifier::new(st.clone())),
        resource: st.resource.clone(),
        resource_metadata_url: st.resource_metadata_url.clone(),
        required_scopes: required_scopes(st),
        backend: st
            .config
            .backend
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok()),
        backend_roots: st.outbound_roots.clone(),
    }
}

async fn protected_resource_handler(State(st): State<Arc<ProxyState>>) -> Response {
    cached_json(protected_resource(&st))
}
