//! A generic OpenID Connect provider.

use super::{MetadataInput, Paths};
use serde_json::{Value, json};

pub(super) const PATHS: Paths = Paths {
    authorize: "/authorize",
    token: "/token",
    login: "/login",
    consent: "/consent",
    userinfo: Some("/userinfo"),
    jwks: Some("/jwks"),
    register: Some("/register"),
    revoke: Some("/revoke"),
    introspect: Some("/introspect"),
    user: None,
    user_emails: None,
};

const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "none",
    "private_key_jwt",
];

fn common(m: &MetadataInput<'_>) -> serde_json::Map<String, Value> {
    let mut d = json!({
        "issuer": m.issuer,
        "authorization_endpoint": m.url(PATHS.authorize),
        "token_endpoint": m.url(PATHS.token),
        "jwks_uri": m.url("/jwks"),
        "revocation_endpoint": m.url("/revoke"),
        "introspection_endpoint": m.url("/introspect"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256", "plain"],
        "authorization_response_iss_parameter_supported": true,
    });
    let mut map = d.as_object_mut().map(std::mem::take).unwrap_or_default();
    if m.registration {
        map.insert("registration_endpoint".into(), json!(m.url("/register")));
    }
    map
}

pub(super) fn openid_configuration(m: &MetadataInput<'_>) -> Value {
    let mut d = common(m);
    d.insert("userinfo_endpoint".into(), json!(m.url("/userinfo")));
    d.insert("subject_types_supported".into(), json!(["public"]));
    d.insert(
        "id_token_signing_alg_values_supported".into(),
        json!([m.signing_alg.as_str()]),
    );
    d.insert(
        "claims_supported".into(),
        json!([
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "given_name",
            "family_name",
            "email",
            "email_verified"
        ]),
    );
    d.insert("claims_parameter_supported".into(), json!(false));
    d.insert("request_parameter_supported".into(), json!(false));
    Value::Object(d)
}

pub(super) fn authorization_server_metadata(m: &MetadataInput<'_>) -> Value {
    Value::Object(common(m))
}
