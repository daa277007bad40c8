//! WorkOS AuthKit: `/oauth2/*` endpoints and its two different discovery documents.

use super::{MetadataInput, Paths};
use serde_json::{Value, json};

pub(super) const PATHS: Paths = Paths {
    authorize: "/oauth2/authorize",
    token: "/oauth2/token",
    login: "/oauth2/login",
    consent: "/oauth2/consent",
    userinfo: Some("/oauth2/userinfo"),
    jwks: Some("/oauth2/jwks"),
    register: Some("/oauth2/register"),
    revoke: Some("/oauth2/revoke"),
    introspect: Some("/oauth2/introspection"),
    user: None,
    user_emails: None,
};

const SCOPES: [&str; 4] = ["email", "offline_access", "openid", "profile"];

/// AuthKit's `openid-configuration`: userinfo and OIDC fields, no registration endpoint, no
/// PKCE methods, client_credentials among the grants.
pub(super) fn openid_configuration(m: &MetadataInput<'_>) -> Value {
    json!({
        "issuer": m.issuer,
        "authorization_endpoint": m.url(PATHS.authorize),
        "token_endpoint": m.url(PATHS.token),
        "userinfo_endpoint": m.url("/oauth2/userinfo"),
        "jwks_uri": m.url("/oauth2/jwks"),
        "introspection_endpoint": m.url("/oauth2/introspection"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": [m.signing_alg.as_str()],
        "subject_types_supported": ["public"],
    })
}

/// AuthKit's RFC 8414 document: registration endpoint (when DCR is on), CIMD flag, S256, no
/// userinfo, no client_credentials.
pub(super) fn authorization_server_metadata(m: &MetadataInput<'_>) -> Value {
    let mut d = json!({
        "issuer": m.issuer,
        "authorization_endpoint": m.url(PATHS.authorize),
        "token_endpoint": m.url(PATHS.token),
        "jwks_uri": m.url("/oauth2/jwks"),
        "introspection_endpoint": m.url("/oauth2/introspection"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": true,
    });
    if m.registration
        && let Some(o) = d.as_object_mut()
    {
        o.insert(
            "registration_endpoint".into(),
            json!(m.url("/oauth2/register")),
        );
    }
    d
}
