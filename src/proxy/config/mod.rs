//! `ProxyConfig`: the proxy's configuration, from a YAML file and `AUTHPROOF_*` variables.
//!
//! YAML goes through [`foundations::yaml`] (YAML 1.2 booleans, so `consent: off` is the string
//! `"off"`; unknown keys are errors with `file:line:column`). Environment variables override
//! the file: `AUTHPROOF_` + the key path in capitals joined by `__`
//! (`AUTHPROOF_UPSTREAM__CLIENT_SECRET`), lists and maps as JSON
//! (`AUTHPROOF_VALID_SCOPES='["openid","email"]'`), booleans as `true`/`false`; an empty
//! value removes the key (its default applies).

mod bounds;
mod duration;
mod env;
mod provider;

pub use bounds::{CapsConfig, Off, Rate, RateLimits, RateTable, TimeoutsConfig};
pub use duration::HumanDuration;
pub use env::{ENV_PREFIX, apply_env, env_keys, storage_is_set_in};
pub use provider::{
    AZURE_DEFAULT_TENANT, GITHUB_USER_ENDPOINT, GITHUB_WEB, GOOGLE_CONFIG_URL, JwtAlgorithm,
    PresetViolation, ProviderKind, VerifierConfig, VerifierKind, azure_config_url,
    normalize_domain,
};

use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::redirect::AllowList;
use foundations::yaml::YamlError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The proxy's configuration (issue 3's keys, plus lifetimes and limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "authproof proxy configuration")]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// `oauth` (default) | `oidc` | `workos` | `authkit` | `auth0` | `google` | `github` |
    /// `azure` | `keycloak`: the provider preset whose defaults fill in what is not set.
    pub provider: ProviderKind,
    /// Public URL of the proxy. May be omitted in-process: it becomes `http://<bound address>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The issuer identifier (metadata `issuer`, JWT `iss`, RFC 9207 `iss`). Default: base_url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    /// Path of the guarded MCP endpoint; the resource is `base_url + mcp_path`.
    pub mcp_path: String,
    /// The upstream identity provider.
    pub upstream: UpstreamConfig,
    /// Path of the callback the upstream IdP redirects to.
    pub redirect_path: String,
    /// Patterns a client's redirect URIs must match: absent = any safe URI, `[]` = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_client_redirect_uris: Option<Vec<String>>,
    /// Scopes clients may request (empty: any scope string is refused except none at all).
    pub valid_scopes: Vec<String>,
    /// Scopes a token needs at the MCP path. Default: `valid_scopes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scopes: Option<Vec<String>>,
    /// `always` | `remember` | `off`.
    pub consent: ConsentMode,
    /// Secret the proxy's token key is derived from (HKDF-SHA256). Default: the upstream secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_signing_key: Option<Secret>,
    /// Lifetime of the proxy's access tokens.
    pub access_token_ttl: HumanDuration,
    /// Lifetime of the proxy's refresh tokens.
    pub refresh_token_ttl: HumanDuration,
    /// How long the refresh token just rotated out stays usable once more (a client retrying
    /// a lost response): within it, it yields a new successor and the earlier successor is
    /// revoked. `0s` turns it off: a replayed token revokes the family (a request that merely
    /// lost a race with the rotation is refused without revoking).
    pub refresh_grace_window: HumanDuration,
    /// Lifetime of the proxy's authorization codes.
    pub code_ttl: HumanDuration,
    /// How long an authorization may wait at consent and at the upstream IdP.
    pub transaction_ttl: HumanDuration,
    /// How long a registration is kept (a client registers again after it lapses).
    pub client_ttl: HumanDuration,
    /// The MCP server behind the proxy; absent → the built-in echo MCP endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// `memory` | `file:PATH` | `redis://HOST:PORT/DB`.
    pub storage: StorageSpec,
    /// Key that seals upstream tokens and secrets at rest (AES-256-GCM; at least 32
    /// characters, e.g. `openssl rand -base64 32`). Also `AUTHPROOF_STORAGE_KEY`.
    /// Default: derived from jwt_signing_key (or the upstream secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_key: Option<Secret>,
    /// Earlier storage keys, still accepted for reading (key rotation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_previous_keys: Vec<Secret>,
    /// Accept client ID metadata documents (CIMD) for https URL client_ids.
    pub cimd_enabled: bool,
    /// Also fetch CIMD documents from loopback hosts, over http as well as https (tests and
    /// local development only: it lifts the SSRF rule that refuses loopback addresses).
    pub cimd_allow_http_loopback: bool,
    /// A PEM bundle of extra root certificates that every outbound https call trusts besides
    /// the system's: the IdP, client metadata document hosts and the MCP backend (for
    /// deployments behind a private certificate authority).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_ca_file: Option<PathBuf>,
    /// How long a DCR registration lives until its first successful token exchange makes it
    /// durable (`client_ttl`). Registrations nobody uses expire this soon.
    pub registration_provisional_ttl: HumanDuration,
    /// Caps on live state that unauthenticated requests create (per instance).
    pub caps: CapsConfig,
    /// Per-client-address request rates at the OAuth endpoints; `off` turns them off.
    pub rate_limits: RateLimits,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client
    /// address; from anyone else the socket's peer address is the client address.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Origins a browser may call the MCP endpoint from (`Origin` header). Default: the
    /// origin of base_url. A request without `Origin` (a non-browser client) passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// `Host` header values accepted on every route (`host` or `host:port`). Default: the
    /// host of base_url (for a loopback base_url, every loopback name on its port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Connection timeouts.
    pub timeouts: TimeoutsConfig,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Oauth,
            base_url: None,
            issuer_url: None,
            mcp_path: "/mcp".into(),
            upstream: UpstreamConfig::default(),
            redirect_path: "/auth/callback".into(),
            allowed_client_redirect_uris: None,
            valid_scopes: Vec::new(),
            required_scopes: None,
            consent: ConsentMode::Always,
            jwt_signing_key: None,
            access_token_ttl: HumanDuration::secs(3600),
            refresh_token_ttl: HumanDuration::secs(30 * 86_400),
            refresh_grace_window: HumanDuration::secs(10),
            code_ttl: HumanDuration::secs(300),
            transaction_ttl: HumanDuration::secs(600),
            client_ttl: HumanDuration::secs(90 * 86_400),
            backend: None,
            storage: StorageSpec::Memory,
            storage_key: None,
            storage_previous_keys: Vec::new(),
            cimd_enabled: true,
            cimd_allow_http_loopback: false,
            outbound_ca_file: None,
            registration_provisional_ttl: HumanDuration::secs(3600),
            caps: CapsConfig::default(),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            allowed_origins: None,
            allowed_hosts: None,
            timeouts: TimeoutsConfig::default(),
        }
    }
}

/// The upstream identity provider and how the proxy is registered there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// workos/authkit: the AuthKit domain; auth0: the tenant domain; keycloak: the realm URL;
    /// github: a GitHub Enterprise host. `https://` is assumed without a scheme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// azure: the Entra ID tenant (default `common`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// OIDC discovery: require every OIDC-mandatory field (issuer, authorization and token
    /// endpoints, jwks_uri, response_types_supported, subject_types_supported,
    /// id_token_signing_alg_values_supported). `false` needs only the two endpoints.
    pub strict: bool,
    /// Added as `audience` to the upstream authorize and token requests (Auth0's API identifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The IdP's JWKS; default: discovered `jwks_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The userinfo endpoint; default: discovered `userinfo_endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// The RFC 7662 introspection endpoint; default: discovered `introspection_endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// How upstream tokens are verified (default per provider).
    pub verifier: VerifierConfig,
    /// OIDC discovery / RFC 8414 metadata URL; explicit endpoints below override it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_url: Option<String>,
    /// Upstream authorization endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Upstream token endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Upstream revocation endpoint (RFC 7009); optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The proxy's client id at the upstream.
    pub client_id: String,
    /// The proxy's client secret at the upstream (optional for `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// `client_secret_basic` | `client_secret_post` | `none`. Default: basic with a secret,
    /// none without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// Scopes requested upstream. Empty: the scopes the client asked for.
    pub scopes: Vec<String>,
    /// Extra query parameters for the upstream authorization request.
    pub extra_authorize_params: BTreeMap<String, String>,
    /// Extra form parameters for upstream token requests.
    pub extra_token_params: BTreeMap<String, String>,
    /// Send the RFC 8707 `resource` to the upstream authorization request.
    pub forward_resource: bool,
    /// Total time limit of each upstream call (connect: at most 5 s of it).
    pub timeout: HumanDuration,
    /// Treat the upstream access token as expired this long before it does (the guard then
    /// refreshes it upstream ahead of time).
    pub expiry_threshold: HumanDuration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            domain: None,
            tenant: None,
            strict: true,
            audience: None,
            jwks_uri: None,
            userinfo_endpoint: None,
            introspection_endpoint: None,
            verifier: VerifierConfig::default(),
            config_url: None,
            authorization_endpoint: None,
            token_endpoint: None,
            revocation_endpoint: None,
            client_id: String::new(),
            client_secret: None,
            token_endpoint_auth_method: None,
            scopes: Vec::new(),
            extra_authorize_params: BTreeMap::new(),
            extra_token_params: BTreeMap::new(),
            forward_resource: false,
            timeout: HumanDuration::secs(10),
            expiry_threshold: HumanDuration::secs(0),
        }
    }
}

impl UpstreamConfig {
    /// Whether `audience` is absent or blank (Auth0 then issues opaque tokens).
    pub fn audience_missing(&self) -> bool {
        self.audience.as_deref().is_none_or(|a| a.trim().is_empty())
    }

    /// The configured method, or its default (basic with a secret, none without).
    pub fn auth_method(&self) -> ClientAuthMethod {
        self.token_endpoint_auth_method
            .unwrap_or(if self.client_secret.is_some() {
                ClientAuthMethod::ClientSecretBasic
            } else {
                ClientAuthMethod::None
            })
    }
}

/// Consent before the upstream IdP is involved.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ConsentMode {
    /// Ask every time.
    #[default]
    Always,
    /// Ask once per browser and client (server-side record, random browser cookie).
    Remember,
    /// Never ask (trusted setups and tests; the proxy warns at start).
    Off,
}

/// Where the proxy keeps its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StorageSpec {
    /// In memory, bounded by TTL eviction (lost on restart).
    #[default]
    Memory,
    /// An embedded database file (`file:PATH`).
    File(PathBuf),
    /// A Redis server (`redis://HOST:PORT/DB` or `rediss://…`).
    Redis(String),
}

impl StorageSpec {
    /// Parse `memory`, `file:PATH`, `redis://…`, `rediss://…`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "memory" {
            Ok(StorageSpec::Memory)
        } else if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                Err("storage file: needs a path (file:/var/lib/authproof/state.redb)".into())
            } else {
                Ok(StorageSpec::File(PathBuf::from(path)))
            }
        } else if s.starts_with("redis://") || s.starts_with("rediss://") {
            url::Url::parse(s).map_err(|e| format!("invalid redis URL: {e}"))?;
            Ok(StorageSpec::Redis(s.to_string()))
        } else {
            Err(format!(
                "unknown storage {s:?} (expected memory, file:PATH or redis://HOST:PORT/DB)"
            ))
        }
    }
}

impl fmt::Display for StorageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageSpec::Memory => f.write_str("memory"),
            StorageSpec::File(p) => write!(f, "file:{}", p.display()),
            StorageSpec::Redis(u) => match url::Url::parse(u) {
                Ok(mut url) if url.password().is_some() => {
                    let _ = url.set_password(Some("***"));
                    f.write_str(url.as_str())
                }
                _ => f.write_str(u),
            },
        }
    }
}

fn string_schema(name: &'static str, description: &str, pattern: Option<&str>) -> schemars::Schema {
    let mut s =
        schemars::json_schema!({ "type": "string", "title": name, "description": description });
    if let Some(p) = pattern {
        s.insert("pattern".into(), p.into());
    }
    s
}

impl schemars::JsonSchema for StorageSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StorageSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "StorageSpec",
            "memory | file:PATH | redis://HOST:PORT/DB",
            Some("^(memory|file:.+|rediss?://.+)$"),
        )
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        string_schema(
            "Secret",
            "a secret (prefer an AUTHPROOF_* environment variable)",
            None,
        )
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HumanDuration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "title": "HumanDuration",
            "description": "a duration such as 1h, 30m, 3600s, 1h30m, 2d, 250ms, or a number of seconds",
            "oneOf": [
                { "type": "string", "pattern": "^([0-9]+|([0-9]+(ms|s|sec|secs|m|min|mins|h|d))+)$" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

impl Serialize for StorageSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StorageSpec::Redis(u) => s.serialize_str(u),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for StorageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StorageSpec::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A secret string: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or does not fit (with file:line:column).
    #[error("{0}")]
    Yaml(#[from] YamlError),
    /// An `AUTHPROOF_*` variable is wrong.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The merged file + environment does not fit the schema.
    #[error("configuration (after AUTHPROOF_* overrides): {0}")]
    Merged(String),
    /// Values that parse but cannot work together.
    #[error("invalid proxy configuration{}:\n{}", origin_suffix(.origin), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Where the configuration came from.
        origin: Option<String>,
        /// One line per problem, each naming its key.
        problems: Vec<String>,
    },
}

fn origin_suffix(origin: &Option<String>) -> String {
    origin
        .as_ref()
        .map(|o| format!(" ({o})"))
        .unwrap_or_default()
}

/// Paths the proxy serves itself; mcp_path and redirect_path must not take them.
const RESERVED_PATHS: &[&str] = &["/authorize", "/token", "/register", "/revoke", "/consent"];
/// Upstream authorize parameters the proxy sets itself.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
];
/// Upstream token parameters the proxy sets itself.
const RESERVED_TOKEN_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
];

impl ProxyConfig {
    /// Parse YAML `text` (from `origin`, used in messages) and validate it.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<ProxyConfig, ConfigError> {
        let cfg: ProxyConfig = foundations::yaml::from_str(text, origin)?;
        cfg.validate_from(Some(origin))?;
        Ok(cfg)
    }

    /// Load from an optional file plus the process's `AUTHPROOF_*` variables, and validate.
    pub fn load(path: Option<&Path>) -> Result<ProxyConfig, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// [`ProxyConfig::load`] with the variables given explicitly (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ProxyConfig, ConfigError> {
        let (text, origin) = match path {
            Some(p) => {
                let origin = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| YamlError {
                    origin: origin.clone(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read file: {e}"),
                })?;
                (text, origin)
            }
            None => (String::new(), "<environment>".to_string()),
        };
        let cfg = Self::from_yaml_and_env(&text, &origin, vars)?;
        cfg.validate_from(Some(&origin))?;
        Ok(cfg)
    }

    /// Parse `text`, apply the `AUTHPROOF_*` entries of `vars`; no validation.
    pub fn from_yaml_and_env(
        text: &str,
        origin: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ProxyConfig, ConfigError> {
        // Typed first: unknown keys and wrong types in the file get their line and column.
        let typed: ProxyConfig = if text.trim().is_empty() {
            ProxyConfig::default()
        } else {
            foundations::yaml::from_str(text, origin)?
        };
        let mut value: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            foundations::yaml::from_str(text, origin)?
        };
        if value.is_null() {
            value = serde_json::Value::Object(Default::default());
        }
        let applied = apply_env(&mut value, vars)?;
        if applied == 0 {
            return Ok(typed);
        }
        serde_json::from_value(value).map_err(|e| ConfigError::Merged(e.to_string()))
    }

    /// Check that the values can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_from(None)
    }

    fn validate_from(&self, origin: Option<&str>) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: origin.map(str::to_string),
                problems,
            })
        }
    }

    /// Every problem, one line each (preset defaults applied first, so a preset's endpoints
    /// count as configured).
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.preset_blockers();
        let blocked = !p.is_empty();
        let resolved = self.with_preset_defaults();
        p.extend(self.preset_problems(&resolved));
        // A preset that cannot be built has no endpoints: say why once, not twice.
        p.extend(
            resolved
                .base_problems()
                .into_iter()
                .filter(|m| !(blocked && m.starts_with("upstream: set config_url"))),
        );
        p.extend(bounds::problems(self));
        if let Err(e) = crate::proxy::outbound::TrustRoots::load(self.outbound_ca_file.as_deref()) {
            p.push(format!("{e:#}"));
        }
        p
    }

    fn base_problems(&self) -> Vec<String> {
        let remote = self.provider.is_remote_auth();
        let mut p = Vec::new();
        if let Some(b) = &self.base_url
            && let Err(e) = check_base_url(b)
        {
            p.push(format!("base_url: {e}"));
        }
        if let Some(i) = &self.issuer_url
            && let Err(e) = check_base_url(i)
        {
            p.push(format!("issuer_url: {e}"));
        }
        for (key, path) in [
            ("mcp_path", &self.mcp_path),
            ("redirect_path", &self.redirect_path),
        ] {
            if !path.starts_with('/') {
                p.push(format!("{key}: must start with '/' (got {path:?})"));
            } else if path.contains(['?', '#', ' ', '*']) || path.contains("{") {
                p.push(format!(
                    "{key}: must be a plain path without ?, #, *, braces or spaces"
                ));
            } else if RESERVED_PATHS.contains(&path.as_str())
                || path.starts_with("/.well-known/")
                || path == "/"
            {
                p.push(format!(
                    "{key}: {path} is reserved for the proxy's own endpoints"
                ));
            }
        }
        if self.mcp_path == self.redirect_path {
            p.push("redirect_path: must differ from mcp_path".into());
        }
        let u = &self.upstream;
        if u.client_id.trim().is_empty() && !remote {
            p.push("upstream.client_id: required".into());
        }
        match (&u.config_url, &u.authorization_endpoint, &u.token_endpoint) {
            _ if remote => {}
            (None, None, _) | (None, _, None) => p.push(
                "upstream: set config_url (OIDC discovery) or both authorization_endpoint and token_endpoint"
                    .into(),
            ),
            _ => {}
        }
        for (key, v) in [
            ("upstream.config_url", &u.config_url),
            ("upstream.authorization_endpoint", &u.authorization_endpoint),
            ("upstream.token_endpoint", &u.token_endpoint),
            ("upstream.revocation_endpoint", &u.revocation_endpoint),
        ] {
            if let Some(v) = v
                && let Err(e) = check_http_url(v)
            {
                p.push(format!("{key}: {e}"));
            }
        }
        let method = u.auth_method();
        if !remote
            && method != ClientAuthMethod::None
            && u.client_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
        {
            p.push(format!(
                "upstream.client_secret: required for token_endpoint_auth_method {method}"
            ));
        }
        for k in u.extra_authorize_params.keys() {
            if RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
                p.push(format!("upstream.extra_authorize_params: {k} is set by the proxy and cannot be overridden"));
            }
        }
        for k in u.extra_token_params.keys() {
            if RESERVED_TOKEN_PARAMS.contains(&k.as_str()) {
                p.push(format!(
                    "upstream.extra_token_params: {k} is set by the proxy and cannot be overridden"
                ));
            }
        }
        if u.timeout.get().is_zero() {
            p.push("upstream.timeout: must be more than 0".into());
        }
        match (&self.jwt_signing_key, &u.client_secret) {
            (Some(k), _) if k.expose().len() < 16 => {
                p.push("jwt_signing_key: use at least 16 characters (random)".into())
            }
            (None, None) if !remote => p.push(
                "jwt_signing_key: required when upstream.client_secret is not set (the token key is derived from one of them)"
                    .into(),
            ),
            _ => {}
        }
        for (i, k) in self
            .storage_key
            .iter()
            .chain(self.storage_previous_keys.iter())
            .enumerate()
        {
            if k.expose().chars().count() < 32 {
                let key = if i == 0 && self.storage_key.is_some() {
                    "storage_key".to_string()
                } else {
                    "storage_previous_keys".to_string()
                };
                p.push(format!(
                    "{key}: use at least 32 random characters (e.g. `openssl rand -base64 32`)"
                ));
            }
        }
        if let Err(e) = AllowList::from_config(self.allowed_client_redirect_uris.as_deref()) {
            p.push(format!("allowed_client_redirect_uris: {e}"));
        }
        for (key, list) in [
            ("valid_scopes", Some(&self.valid_scopes)),
            ("required_scopes", self.required_scopes.as_ref()),
            ("upstream.scopes", Some(&u.scopes)),
        ] {
            for s in list.into_iter().flatten() {
                if !is_scope_token(s) {
                    p.push(format!("{key}: {s:?} is not a valid scope token"));
                }
            }
        }
        if let Some(req) = &self.required_scopes {
            for s in req {
                if !self.valid_scopes.contains(s) {
                    p.push(format!(
                        "required_scopes: {s} is not in valid_scopes, so no client could obtain it"
                    ));
                }
            }
        }
        for (key, d) in [
            ("access_token_ttl", self.access_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("code_ttl", self.code_ttl),
            ("transaction_ttl", self.transaction_ttl),
            ("client_ttl", self.client_ttl),
        ] {
            if d.as_secs() == 0 {
                p.push(format!("{key}: must be at least 1s"));
            }
        }
        // Lifetimes are added to clock times and sent to Redis in milliseconds: keep them
        // far from overflow (a century is more than any token needs).
        for (key, d) in [
            ("access_token_ttl", self.access_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("refresh_grace_window", self.refresh_grace_window),
            ("code_ttl", self.code_ttl),
            ("transaction_ttl", self.transaction_ttl),
            ("client_ttl", self.client_ttl),
            ("upstream.timeout", self.upstream.timeout),
            ("upstream.expiry_threshold", self.upstream.expiry_threshold),
        ] {
            if d.as_secs() > MAX_DURATION_SECS {
                p.push(format!("{key}: must be at most 100 years"));
            }
        }
        if let Some(b) = &self.backend
            && let Err(e) = check_http_url(b)
        {
            p.push(format!("backend: {e}"));
        }
        p
    }

    /// Scopes a token needs at the MCP path.
    pub fn effective_required_scopes(&self) -> Vec<String> {
        self.required_scopes
            .clone()
            .unwrap_or_else(|| self.valid_scopes.clone())
    }
}

/// The longest lifetime or time limit the configuration accepts (100 years).
pub const MAX_DURATION_SECS: u64 = 100 * 365 * 86_400;

/// RFC 6749 §3.3 scope-token: one or more of %x21 / %x23-5B / %x5D-7E.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn check_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?} must be an http or https URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{s:?} must not contain credentials"));
    }
    Ok(u)
}

fn check_base_url(s: &str) -> Result<(), String> {
    let u = check_http_url(s)?;
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
