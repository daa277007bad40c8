//! The mock IdP's configuration: the YAML file of the `mock-idp` binary and the `idp:` section
//! of a scenario are both an [`IdpConfig`].
//!
//! Every struct denies unknown fields, so a typo is reported with its line and column by
//! [`crate::yaml`]. Durations are whole seconds (`*_secs`).

use crate::faults::FaultSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The whole mock IdP configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "mock-idp configuration")]
#[serde(deny_unknown_fields, default)]
pub struct IdpConfig {
    /// Which provider to play: `oidc` (default), `workos` (AuthKit) or `github`.
    pub flavor: Flavor,
    /// The exact issuer (scheme, host, path, trailing slash). Default `http://127.0.0.1:PORT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Static clients.
    pub clients: Vec<ClientConfig>,
    /// Users that can log in.
    pub users: Vec<UserConfig>,
    /// The user logged in when `/authorize` has no `login_hint` (headless: immediate redirect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_user: Option<String>,
    /// Whether an unknown `login_hint` (or name typed on the login page) logs in an ad-hoc
    /// user with that subject and no claims. Default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept_unknown_users: Option<bool>,
    /// `auto` approves every request; `prompt` shows an HTML consent page.
    pub consent: ConsentMode,
    /// Token lifetimes and refresh-token behaviour.
    pub tokens: TokensConfig,
    /// Dynamic client registration (RFC 7591).
    pub registration: RegistrationConfig,
    /// Faults active from the start.
    pub faults: Vec<FaultSpec>,
    /// WorkOS AuthKit specifics (used by the `workos` flavor).
    pub workos: WorkosConfig,
    /// GitHub specifics (used by the `github` flavor).
    pub github: GithubConfig,
    /// Request size limits.
    pub limits: LimitsConfig,
    /// Request journal.
    pub journal: JournalConfig,
}

/// The provider being emulated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// A generic OpenID Connect provider.
    #[default]
    Oidc,
    /// WorkOS AuthKit (`/oauth2/*` endpoints, AuthKit-shaped metadata and tokens).
    Workos,
    /// A GitHub OAuth app (not OIDC).
    Github,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Oidc => "oidc",
            Flavor::Workos => "workos",
            Flavor::Github => "github",
        })
    }
}

/// How the signing keys are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The JWS algorithm of every token the IdP signs (ID tokens, JWT access tokens):
    /// `RS256` (default), `ES256` (P-256) or `EdDSA` (Ed25519).
    pub algorithm: KeyAlgorithm,
    /// Seed for deterministic keys: an integer or a string. Same seed and algorithm → same
    /// JWKS.
    pub seed: KeySeed,
    /// PEM keys to use instead of (before) seeded ones; the first one signs. Each must be a
    /// key of `algorithm`.
    pub pem: Vec<PemKey>,
    /// RSA modulus size for seeded RS256 keys, 2048 to 8192 (ignored for ES256 and EdDSA).
    pub bits: usize,
    /// How long a rotated-out key stays in the JWKS.
    pub rotation_overlap_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            algorithm: KeyAlgorithm::default(),
            seed: KeySeed::default(),
            pem: Vec::new(),
            bits: 2048,
            rotation_overlap_secs: 3600,
        }
    }
}

/// The signing algorithm (`keys.algorithm`), spelled as in a JWS `alg` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (an RSA key of `keys.bits`).
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// EdDSA with Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl KeyAlgorithm {
    /// The JWS `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rs256 => "RS256",
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key loaded from PEM (PKCS#8 or PKCS#1), inline or from a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PemKey {
    /// The key id; default: the RFC 7638 thumbprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Inline PEM text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// A PEM file (relative to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A key seed: `seed: 42` or `seed: "my tests"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySeed {
    /// Used with `ChaCha20Rng::seed_from_u64`.
    Int(u64),
    /// Hashed with SHA-256 into a ChaCha20 seed.
    Text(String),
}

impl Default for KeySeed {
    fn default() -> Self {
        KeySeed::Text("mock-idp".to_string())
    }
}

impl fmt::Display for KeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySeed::Int(n) => write!(f, "{n}"),
            KeySeed::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for KeySeed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeySeed::Int(n) => s.serialize_u64(*n),
            KeySeed::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for KeySeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = KeySeed;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<KeySeed, E> {
                Ok(KeySeed::Int(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<KeySeed, E> {
                u64::try_from(v)
                    .map(KeySeed::Int)
                    .map_err(|_| E::custom("a key seed cannot be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeySeed, E> {
                Ok(KeySeed::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// What [`KeySeed`]'s deserializer accepts: a non-negative integer or any string.
impl JsonSchema for KeySeed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KeySeed".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A key seed: a non-negative integer or a string. Same seed → same JWKS.",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": u64::MAX },
                { "type": "string" }
            ]
        })
    }
}

/// A static client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// `client_id`.
    pub id: String,
    /// The client secret (confidential clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The one method this client must use at the token endpoint. Default:
    /// `client_secret_basic` with a secret, `none` without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Redirect URIs, matched exactly, except that a registered URI whose host is a loopback
    /// IP literal (`127.0.0.1`, `[::1]`) matches at any port (RFC 8252 §7.3); `localhost`
    /// URIs match exactly, port included. Empty: any loopback URL (http(s) to localhost,
    /// 127.0.0.0/8, ::1).
    pub redirect_uris: Vec<String>,
    /// PKCE policy: `optional` (default), `required` or `s256_required`.
    pub pkce: PkcePolicy,
    /// Scopes the client may request; empty means any.
    pub scopes: Vec<String>,
    /// Grant types the client may use; empty means every grant the flavor supports.
    pub grant_types: Vec<String>,
    /// Public keys (a JWK Set) for `private_key_jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Display name on the consent page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Extra claims put into access tokens issued to this client.
    pub access_token_claims: BTreeMap<String, serde_json::Value>,
    /// Auth0's API identifier: an authorization request with `audience=<this>` gets JWT
    /// access tokens with this `aud`; without `audience` the access token is opaque (good
    /// for userinfo only, as Auth0 does); another value is refused (`access_denied`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Entra ID: a `resource` parameter at the authorization or token endpoint is refused
    /// (`invalid_target`, AADSTS9010010).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reject_resource: bool,
    /// Entra ID: a refresh request without `scope` is refused (`invalid_request`, AADSTS90014).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refresh_requires_scope: bool,
    /// Google: refresh tokens only when the authorization request had `access_type=offline`
    /// and `prompt=consent` (otherwise none, whatever the refresh policy says).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline_via_access_type: bool,
}

impl ClientConfig {
    /// The method this client must use at the token endpoint.
    pub fn auth_method(&self) -> AuthMethod {
        self.token_endpoint_auth_method
            .unwrap_or(if self.secret.is_some() {
                AuthMethod::ClientSecretBasic
            } else {
                AuthMethod::None
            })
    }
}

/// A token-endpoint client authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// Public client: `client_id` only.
    None,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parse a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "client_secret_basic" => AuthMethod::ClientSecretBasic,
            "client_secret_post" => AuthMethod::ClientSecretPost,
            "none" => AuthMethod::None,
            "private_key_jwt" => AuthMethod::PrivateKeyJwt,
            _ => return None,
        })
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-client PKCE policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PkcePolicy {
    /// Checked when the authorization request carried a challenge (S256 or plain).
    #[default]
    Optional,
    /// A challenge is required (S256 or plain).
    Required,
    /// A challenge is required and must use S256.
    S256Required,
}

/// A user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// The subject (`sub`); for the workos flavor use an id like `user_01…`.
    pub sub: String,
    /// Claims released in ID tokens and userinfo (email, name, …). For github: login, id, …
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// `consent: auto | prompt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Approve without asking.
    #[default]
    Auto,
    /// Show an HTML consent page.
    Prompt,
}

/// Token lifetimes and refresh behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Authorization code lifetime.
    pub code_ttl_secs: u64,
    /// Access token lifetime (`expires_in`).
    pub access_token_ttl_secs: u64,
    /// ID token lifetime.
    pub id_token_ttl_secs: u64,
    /// Refresh token lifetime (0: no expiry).
    pub refresh_token_ttl_secs: u64,
    /// When refresh tokens are issued: `always`, `offline_access` (only when that scope was
    /// requested) or `never`. Default per flavor: oidc always, workos offline_access, github never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_tokens: Option<RefreshIssue>,
    /// Refresh-token rotation: `off`, `on` or `reuse_detection` (a replayed rotated token
    /// revokes the whole grant). Default on.
    pub refresh_rotation: Rotation,
    /// Access token format: `jwt` or `opaque`. Default jwt (github: always opaque).
    pub access_token_format: AccessTokenFormat,
    /// Send `refresh_expires_in` with every refresh token (Keycloak does; with a short
    /// `refresh_token_ttl_secs` this reproduces its short offline sessions).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub send_refresh_expires_in: bool,
    /// Issue a new ID token on refresh (OIDC Core §12.2 makes it optional). Default true.
    pub id_token_on_refresh: bool,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 60,
            access_token_ttl_secs: 3600,
            id_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            refresh_tokens: None,
            refresh_rotation: Rotation::On,
            access_token_format: AccessTokenFormat::Jwt,
            send_refresh_expires_in: false,
            id_token_on_refresh: true,
        }
    }
}

/// When refresh tokens are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshIssue {
    /// With every code grant.
    Always,
    /// Only when the `offline_access` scope was granted.
    OfflineAccess,
    /// Never.
    Never,
}

/// Refresh-token rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// The same refresh token stays valid.
    Off,
    /// Each refresh returns a new refresh token; the old one stops working.
    #[default]
    On,
    /// Like `on`, and presenting a used refresh token revokes the whole grant.
    ReuseDetection,
}

/// Access-token format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// A JWT signed with `keys.algorithm`.
    #[default]
    Jwt,
    /// Random string.
    Opaque,
}

/// Dynamic client registration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// On or off; default on for workos, off otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When set, registration requires `Authorization: Bearer <this>` (RFC 7591 §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_access_token: Option<String>,
}

/// WorkOS AuthKit specifics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkosConfig {
    /// `org_id` put into access tokens unless the user has an `org_id` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// GitHub specifics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// Answer token-endpoint errors with HTTP 200 and an `error` field, as GitHub does.
    pub errors_with_status_200: bool,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            errors_with_status_200: true,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
        }
    }
}

/// Request journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Oldest entries are dropped beyond this many.
    pub max_entries: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
        }
    }
}

impl IdpConfig {
    /// Parse a YAML document (strict YAML 1.2, line/column errors).
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, crate::yaml::YamlError> {
        crate::yaml::from_str(text, origin)
    }

    /// Read and parse a YAML file.
    pub fn from_yaml_file(path: &std::path::Path) -> Result<Self, crate::yaml::YamlError> {
        crate::yaml::from_file(path)
    }

    /// Whether DCR is on, after the flavor default.
    pub fn registration_enabled(&self) -> bool {
        self.registration
            .enabled
            .unwrap_or(self.flavor == Flavor::Workos)
    }

    /// When refresh tokens are issued, after the flavor default.
    pub fn refresh_issue(&self) -> RefreshIssue {
        self.tokens.refresh_tokens.unwrap_or(match self.flavor {
            Flavor::Oidc => RefreshIssue::Always,
            Flavor::Workos => RefreshIssue::OfflineAccess,
            Flavor::Github => RefreshIssue::Never,
        })
    }

    /// Whether unknown users may log in.
    pub fn accepts_unknown_users(&self) -> bool {
        self.accept_unknown_users.unwrap_or(true)
    }

    /// Check what serde cannot: unique ids, a known default user, parseable issuer.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(issuer) = &self.issuer {
            let url = url::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("issuer {issuer:?}: scheme must be http or https"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "issuer {issuer:?}: must not have a query or fragment"
                ));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for c in &self.clients {
            if c.id.is_empty() {
                return Err("a client has an empty id".into());
            }
            if !ids.insert(&c.id) {
                return Err(format!("client {:?} is defined twice", c.id));
            }
            let m = c.auth_method();
            if matches!(
                m,
                AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
            ) && c.secret.is_none()
            {
                return Err(format!("client {:?} uses {m} but has no secret", c.id));
            }
            if m == AuthMethod::PrivateKeyJwt && c.jwks.is_none() {
                return Err(format!(
                    "client {:?} uses private_key_jwt but has no jwks",
                    c.id
                ));
            }
        }
        let mut subs = std::collections::HashSet::new();
        for u in &self.users {
            if u.sub.is_empty() {
                return Err("a user has an empty sub".into());
            }
            if !subs.insert(&u.sub) {
                return Err(format!("user {:?} is defined twice", u.sub));
            }
        }
        if let Some(d) = &self.default_user
            && !subs.contains(d)
            && !self.accepts_unknown_users()
        {
            return Err(format!("default_user {d:?} is not one of the users"));
        }
        if self.limits.max_body_bytes == 0 {
            return Err("limits.max_body_bytes must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_document_parses_with_defaults() {
        let c = IdpConfig::from_yaml_str(
            "flavor: oidc\nclients: [{ id: app, secret: s, token_endpoint_auth_method: client_secret_post, redirect_uris: [http://127.0.0.1:1/cb] }]\nusers: [{ sub: alice, claims: { email: alice@example.com } }]\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.clients[0].auth_method(), AuthMethod::ClientSecretPost);
        assert_eq!(c.users[0].claims["email"], "alice@example.com");
        assert_eq!(c.tokens.access_token_ttl_secs, 3600);
        assert!(!c.registration_enabled());
        c.validate().unwrap();
    }

    #[test]
    fn rotation_off_is_a_string_not_a_boolean() {
        let c = IdpConfig::from_yaml_str("tokens: { refresh_rotation: off }\n", "t").unwrap();
        assert_eq!(c.tokens.refresh_rotation, Rotation::Off);
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let e = IdpConfig::from_yaml_str(
            "flavor: oidc\nclients:\n  - id: app\n    secrett: x\n",
            "idp.yaml",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (4, 5), "{e}");
        assert!(e.message.contains("secrett"), "{e}");
    }

    #[test]
    fn wrong_type_reports_line_and_column() {
        let e = IdpConfig::from_yaml_str("tokens:\n  access_token_ttl_secs: soon\n", "idp.yaml")
            .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().starts_with("idp.yaml:2:"), "{e}");
    }

    #[test]
    fn key_algorithms_parse_and_unknown_ones_say_where() {
        assert_eq!(
            IdpConfig::default().keys.algorithm,
            KeyAlgorithm::Rs256,
            "RS256 is the default"
        );
        for (text, alg) in [
            ("RS256", KeyAlgorithm::Rs256),
            ("ES256", KeyAlgorithm::Es256),
            ("EdDSA", KeyAlgorithm::EdDsa),
        ] {
            let c =
                IdpConfig::from_yaml_str(&format!("keys: {{ algorithm: {text} }}\n"), "t").unwrap();
            assert_eq!(c.keys.algorithm, alg);
            assert_eq!(alg.as_str(), text);
        }
        let e = IdpConfig::from_yaml_str("flavor: oidc\nkeys:\n  algorithm: HS256\n", "idp.yaml")
            .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.to_string().starts_with("idp.yaml:3:"), "{e}");
        assert!(e.message.contains("HS256"), "{e}");
        assert!(e.message.contains("ES256"), "lists the known ones: {e}");
    }

    #[test]
    fn seeds_are_integers_or_strings() {
        let c = IdpConfig::from_yaml_str("keys: { seed: 42 }\n", "t").unwrap();
        assert_eq!(c.keys.seed, KeySeed::Int(42));
        let c = IdpConfig::from_yaml_str("keys: { seed: tests }\n", "t").unwrap();
        assert_eq!(c.keys.seed, KeySeed::Text("tests".into()));
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = IdpConfig::from_yaml_str(
            "flavor: workos\nclients: [{ id: a, secret: b }]\nfaults: [{ match: { endpoint: token }, times: 2, action: close }]\n",
            "t",
        )
        .unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: IdpConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(c, back);
    }

    #[test]
    fn validation_catches_duplicates_and_missing_secrets() {
        let mut c = IdpConfig::default();
        c.clients.push(ClientConfig {
            id: "a".into(),
            token_endpoint_auth_method: Some(AuthMethod::ClientSecretPost),
            ..Default::default()
        });
        assert!(c.validate().unwrap_err().contains("no secret"));
        c.clients[0].secret = Some("s".into());
        c.clients.push(c.clients[0].clone());
        assert!(c.validate().unwrap_err().contains("twice"));
    }
}
