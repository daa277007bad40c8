//! RFC 8414 authorization-server metadata and RFC 9728 protected-resource metadata.
//! No OIDC discovery document: the proxy issues no ID tokens. In remote-auth mode
//! (`provider: authkit`) the RFC 9728 document names AuthKit instead, and the RFC 8414
//! document is AuthKit's own ([`crate::proxy::providers::authkit`]).

use crate::proxy::state::ProxyState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Whether authorization responses carry `iss` (RFC 9207): always, and the metadata says so.
pub const ISS_PARAMETER_SUPPORTED: bool = true;

/// The RFC 8414 document.
pub fn authorization_server(st: &ProxyState) -> Value {
    let mut m = json!({
        "issuer": st.issuer,
        "authorization_endpoint": st.url("/authorize"),
        "token_endpoint": st.url("/token"),
        "registration_endpoint": st.url("/register"),
        "revocation_endpoint": st.url("/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": st.config.valid_scopes,
        "authorization_response_iss_parameter_supported": ISS_PARAMETER_SUPPORTED,
        "client_id_metadata_document_supported": st.config.cimd_enabled,
    });
    if !st.config.cimd_enabled
        && let Some(o) = m.as_object_mut()
    {
        o.remove("client_id_metadata_document_supported");
    }
    m
}

/// The RFC 9728 document.
pub fn protected_resource(st: &ProxyState) -> Value {
    json!({
        "resource": st.resource,
        "authorization_servers": [st.issuer],
        "scopes_supported": st.config.valid_scopes,
        "bearer_methods_supported": ["header"],
    })
}

pub(crate) fn cached_json(v: Value) -> Response {
    let mut r = Json(v).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// `GET /.well-known/oauth-authorization-server[/issuer-path]`.
pub async fn authorization_server_handler(State(st): State<Arc<ProxyState>>) -> Response {
    cached_json(authorization_server(&st))
}

/// `GET /.well-known/oauth-protected-resource{resource path}`.
pub async fn protected_resource_handler(State(st): State<Arc<ProxyState>>) -> Response {
    cached_json(protected_resource(&st))
}

/// The paths the RFC 8414 document is served at: the plain well-known path, the
/// path-suffixed form when the issuer has a path (RFC 8414 §3.1), and the well-known path
/// under base_path for clients that append it to the issuer.
pub fn authorization_server_paths(st: &ProxyState) -> Vec<String> {
    let mut paths = vec!["/.well-known/oauth-authorization-server".to_string()];
    if let Ok(u) = url::Url::parse(&st.issuer) {
        let p = u.path().trim_end_matches('/');
        if !p.is_empty() {
            paths.push(format!("/.well-known/oauth-authorization-server{p}"));
        }
    }
    if !st.base_path.is_empty() {
        paths.push(format!(
            "{}/.well-known/oauth-authorization-server",
            st.base_path
        ));
    }
    paths.dedup();
    paths
}
