//! Provider presets (`provider:`) and the upstream-token verifier settings (`upstream.verifier`).
//!
//! A preset fills in what a provider always needs (endpoints built from `upstream.domain` or
//! `upstream.tenant`, the client authentication its token endpoint wants, extra authorize
//! parameters, the default verifier) **without overriding anything set explicitly**: an
//! explicit `config_url` or explicit endpoints win over the ones a preset would build, which
//! is also how tests point a preset at the mock IdP. [`ProxyConfig::resolved`] applies it.
//!
//! | provider | mode | defaults |
//! |---|---|---|
//! | `oauth` | OAuth proxy | nothing (explicit endpoints or `config_url`) |
//! | `oidc` | OIDC proxy | strict discovery from `config_url`, ID token verified at the callback, JWT verifier |
//! | `workos` | OAuth proxy | `{domain}/oauth2/authorize|token`, userinfo verifier `{domain}/oauth2/userinfo` |
//! | `authkit` | remote auth | no proxying; RFC 9728 metadata names `domain`; JWKS `{domain}/oauth2/jwks`, RS256, issuer = domain, audience = the resource |
//! | `auth0` | OIDC proxy | discovery `{domain}/.well-known/openid-configuration`; `audience` required |
//! | `google` | OIDC proxy | Google discovery, `client_secret_post`, `access_type=offline`, `prompt=consent` |
//! | `github` | OAuth proxy | `{domain or https://github.com}/login/oauth/*`, userinfo `GET /user`, no discovery |
//! | `azure` | OIDC proxy | discovery for `tenant` (default `common`); never forwards `resource`; scope on refresh |
//! | `keycloak` | OIDC proxy | discovery `{domain}/.well-known/openid-configuration` (domain = realm URL) |

use super::{HumanDuration, ProxyConfig};
use crate::oauth::client_auth::ClientAuthMethod;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which provider the proxy fronts (default `oauth`: the generic OAuth proxy).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Generic OAuth 2.x proxy: explicit endpoints or `config_url`.
    #[default]
    Oauth,
    /// Generic OIDC proxy: strict discovery, ID token checked at the callback.
    Oidc,
    /// WorkOS Connect / AuthKit OAuth, proxied; tokens checked at `/oauth2/userinfo`.
    Workos,
    /// WorkOS AuthKit as the authorization server itself (remote auth, no proxying).
    Authkit,
    /// Auth0 (OIDC; needs `audience` for usable access tokens).
    Auth0,
    /// Google (OIDC; `client_secret_post`, offline access).
    Google,
    /// GitHub OAuth apps (not OIDC).
    Github,
    /// Microsoft Entra ID / Azure AD (OIDC; no `resource`, scope on refresh).
    Azure,
    /// Keycloak (OIDC; `domain` is the realm URL).
    Keycloak,
}

impl ProviderKind {
    /// Every provider, in documentation order.
    pub const ALL: [ProviderKind; 9] = [
        ProviderKind::Oauth,
        ProviderKind::Oidc,
        ProviderKind::Workos,
        ProviderKind::Authkit,
        ProviderKind::Auth0,
        ProviderKind::Google,
        ProviderKind::Github,
        ProviderKind::Azure,
        ProviderKind::Keycloak,
    ];

    /// The configuration value (`workos`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Oauth => "oauth",
            ProviderKind::Oidc => "oidc",
            ProviderKind::Workos => "workos",
            ProviderKind::Authkit => "authkit",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Google => "google",
            ProviderKind::Github => "github",
            ProviderKind::Azure => "azure",
            ProviderKind::Keycloak => "keycloak",
        }
    }

    /// OIDC proxies: strict discovery, and the upstream ID token is verified at the callback.
    pub fn is_oidc(self) -> bool {
        matches!(
            self,
            ProviderKind::Oidc
                | ProviderKind::Auth0
                | ProviderKind::Google
                | ProviderKind::Azure
                | ProviderKind::Keycloak
        )
    }

    /// Remote-auth mode (AuthKit): the proxy is only a resource server.
    pub fn is_remote_auth(self) -> bool {
        self == ProviderKind::Authkit
    }

    /// Whether the preset builds its endpoints from `upstream.domain`.
    pub fn uses_domain(self) -> bool {
        matches!(
            self,
            ProviderKind::Workos
                | ProviderKind::Authkit
                | ProviderKind::Auth0
                | ProviderKind::Github
                | ProviderKind::Keycloak
        )
    }

    /// The verifier used when `upstream.verifier.kind` is not set.
    pub fn default_verifier(self) -> VerifierKind {
        match self {
            ProviderKind::Oauth => VerifierKind::None,
            ProviderKind::Oidc | ProviderKind::Auth0 | ProviderKind::Keycloak => VerifierKind::Jwt,
            ProviderKind::Authkit => VerifierKind::Jwt,
            ProviderKind::Workos | ProviderKind::Github | ProviderKind::Google => {
                VerifierKind::Userinfo
            }
            ProviderKind::Azure => VerifierKind::IdToken,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How upstream tokens are verified.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VerifierKind {
    /// Not verified (the upstream token is only used as the IdP's answer to a code exchange).
    #[default]
    None,
    /// The upstream access token is a JWT checked against the IdP's JWKS.
    Jwt,
    /// The upstream access token is sent to the userinfo endpoint (cached by token hash).
    Userinfo,
    /// RFC 7662 introspection with the configured client authentication (cached).
    Introspection,
    /// The upstream ID token (kept with the grant) is checked against the JWKS, audience = client_id.
    IdToken,
}

impl VerifierKind {
    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifierKind::None => "none",
            VerifierKind::Jwt => "jwt",
            VerifierKind::Userinfo => "userinfo",
            VerifierKind::Introspection => "introspection",
            VerifierKind::IdToken => "id_token",
        }
    }
}

impl fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JWS algorithm a JWT verifier may accept. `none` does not exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum JwtAlgorithm {
    /// HMAC SHA-256 (never accepted with a JWKS: configuring it is an error).
    #[serde(rename = "HS256")]
    Hs256,
    /// HMAC SHA-384 (never accepted with a JWKS).
    #[serde(rename = "HS384")]
    Hs384,
    /// HMAC SHA-512 (never accepted with a JWKS).
    #[serde(rename = "HS512")]
    Hs512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    #[serde(rename = "RS384")]
    Rs384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    #[serde(rename = "RS512")]
    Rs512,
    /// RSASSA-PSS SHA-256.
    #[serde(rename = "PS256")]
    Ps256,
    /// RSASSA-PSS SHA-384.
    #[serde(rename = "PS384")]
    Ps384,
    /// RSASSA-PSS SHA-512.
    #[serde(rename = "PS512")]
    Ps512,
    /// ECDSA P-256 SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA P-384 SHA-384.
    #[serde(rename = "ES384")]
    Es384,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl JwtAlgorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Hs384 => "HS384",
            JwtAlgorithm::Hs512 => "HS512",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Rs384 => "RS384",
            JwtAlgorithm::Rs512 => "RS512",
            JwtAlgorithm::Ps256 => "PS256",
            JwtAlgorithm::Ps384 => "PS384",
            JwtAlgorithm::Ps512 => "PS512",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::Es384 => "ES384",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// Symmetric (HMAC) algorithms: never usable with keys from a JWKS.
    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::Hs256 | JwtAlgorithm::Hs384 | JwtAlgorithm::Hs512
        )
    }

    /// The jsonwebtoken algorithm.
    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            JwtAlgorithm::Hs256 => A::HS256,
            JwtAlgorithm::Hs384 => A::HS384,
            JwtAlgorithm::Hs512 => A::HS512,
            JwtAlgorithm::Rs256 => A::RS256,
            JwtAlgorithm::Rs384 => A::RS384,
            JwtAlgorithm::Rs512 => A::RS512,
            JwtAlgorithm::Ps256 => A::PS256,
            JwtAlgorithm::Ps384 => A::PS384,
            JwtAlgorithm::Ps512 => A::PS512,
            JwtAlgorithm::Es256 => A::ES256,
            JwtAlgorithm::Es384 => A::ES384,
            JwtAlgorithm::EdDsa => A::EdDSA,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How upstream tokens are verified (`upstream.verifier`); the default depends on the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// `none` | `jwt` | `userinfo` | `introspection` | `id_token`. Default: per provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<VerifierKind>,
    /// Algorithms a JWT may be signed with (JWT and ID-token verifiers). Default `[RS256]`.
    /// `none` is never accepted; HS* cannot be used with a JWKS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<JwtAlgorithm>,
    /// Expected `iss`. Default: the discovered issuer (AuthKit: the domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Expected `aud`. Default: `upstream.audience` (jwt; AuthKit: the resource URL) or the
    /// client_id (id_token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Scopes the upstream token must carry (from the token's `scope`/`scp`, or what userinfo
    /// or introspection say; never taken from this configuration).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// How long a verification is reused, keyed by the token's SHA-256: userinfo and
    /// introspection answers, and JWTs that passed every check (never past their `exp`).
    /// `0s` asks the IdP / verifies the signature every time.
    pub cache_ttl: HumanDuration,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            kind: None,
            algorithms: Vec::new(),
            issuer: None,
            audience: None,
            required_scopes: Vec::new(),
            cache_ttl: HumanDuration::secs(300),
        }
    }
}

impl VerifierConfig {
    /// The algorithms allowed (default `[RS256]`).
    pub fn algorithms(&self) -> Vec<JwtAlgorithm> {
        if self.algorithms.is_empty() {
            vec![JwtAlgorithm::Rs256]
        } else {
            self.algorithms.clone()
        }
    }
}

/// A provider rule that `serve` refuses to start without: the one place these rules are
/// written. [`ProxyConfig::problems`] prints each as `key: message`; `authproof validate`
/// reports each as its own `preset.*` finding with a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetViolation {
    /// `workos` / `authkit` without `upstream.domain`: no URL can be built.
    DomainMissing(ProviderKind),
    /// Entra ID with `forward_resource: true` (AADSTS9010010 on every login).
    AzureForwardResource,
    /// Auth0 without `audience`: opaque access tokens good for /userinfo only.
    Auth0AudienceMissing,
    /// GitHub with a `config_url`: GitHub has no discovery document.
    GithubConfigUrl,
    /// A verifier that needs JWTs from a provider whose tokens are not (GitHub: opaque tokens
    /// and no ID tokens; Google: opaque access tokens).
    OpaqueTokens(ProviderKind, VerifierKind),
}

impl PresetViolation {
    /// The configuration key to change.
    pub fn key(&self) -> &'static str {
        match self {
            PresetViolation::DomainMissing(_) => "upstream.domain",
            PresetViolation::AzureForwardResource => "upstream.forward_resource",
            PresetViolation::Auth0AudienceMissing => "upstream.audience",
            PresetViolation::GithubConfigUrl => "upstream.config_url",
            PresetViolation::OpaqueTokens(..) => "upstream.verifier.kind",
        }
    }

    /// What is wrong (after the key, in `serve`'s message).
    pub fn message(&self) -> String {
        match self {
            PresetViolation::DomainMissing(p) => format!(
                "required for provider {p} (your AuthKit domain, e.g. https://your-app.authkit.app)"
            ),
            PresetViolation::AzureForwardResource => {
                "Entra ID rejects the `resource` parameter (AADSTS9010010); set it to false".into()
            }
            PresetViolation::Auth0AudienceMissing => {
                "required for provider auth0 (your API identifier); without it Auth0 issues opaque access tokens for /userinfo only".into()
            }
            PresetViolation::GithubConfigUrl => {
                "GitHub has no discovery document; use upstream.domain (GitHub Enterprise) or explicit endpoints".into()
            }
            PresetViolation::OpaqueTokens(ProviderKind::Github, v) => format!(
                "{v} cannot work with GitHub (opaque tokens, no ID tokens); use userinfo"
            ),
            PresetViolation::OpaqueTokens(p, v) => format!(
                "{v} cannot work with provider {p}: its access tokens are opaque, not JWTs, so every login would fail at the callback; use userinfo (or id_token)"
            ),
        }
    }
}

impl fmt::Display for PresetViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key(), self.message())
    }
}

/// `https://` prepended when the domain has no scheme; trailing `/` removed.
pub fn normalize_domain(domain: &str) -> String {
    let d = domain.trim();
    let d = if d.contains("://") {
        d.to_string()
    } else {
        format!("https://{d}")
    };
    d.trim_end_matches('/').to_string()
}

/// The default Google discovery URL.
pub const GOOGLE_CONFIG_URL: &str = "https://accounts.google.com/.well-known/openid-configuration";
/// GitHub's web host (authorize and token endpoints).
pub const GITHUB_WEB: &str = "https://github.com";
/// GitHub's API user endpoint.
pub const GITHUB_USER_ENDPOINT: &str = "https://api.github.com/user";
/// The Entra ID tenant used when `upstream.tenant` is not set.
pub const AZURE_DEFAULT_TENANT: &str = "common";

/// The Entra ID discovery URL of a tenant.
pub fn azure_config_url(tenant: &str) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration")
}

impl ProxyConfig {
    /// This configuration with its provider preset's defaults applied (endpoints or
    /// `config_url` from `upstream.domain`/`tenant`, client authentication, extra parameters,
    /// the verifier kind and issuer, `audience` into the authorize and token parameters).
    /// Nothing set explicitly is changed. Fails only when the preset cannot be built (e.g.
    /// `provider: workos` without `upstream.domain`); use [`ProxyConfig::problems`] for
    /// everything else.
    pub fn resolved(&self) -> Result<ProxyConfig, super::ConfigError> {
        let blockers = self.preset_blockers();
        if !blockers.is_empty() {
            return Err(super::ConfigError::Invalid {
                origin: None,
                problems: blockers,
            });
        }
        Ok(self.with_preset_defaults())
    }

    /// Whether preset defaults were already applied (the verifier kind is always set then).
    pub fn is_resolved(&self) -> bool {
        self.upstream.verifier.kind.is_some()
    }

    /// What keeps the preset from being built (one line each, naming the key).
    pub(super) fn preset_blockers(&self) -> Vec<String> {
        let u = &self.upstream;
        let mut p = Vec::new();
        let has_domain = u.domain.as_deref().is_some_and(|d| !d.trim().is_empty());
        let has_endpoints = u.authorization_endpoint.is_some() && u.token_endpoint.is_some();
        match self.provider {
            ProviderKind::Workos | ProviderKind::Authkit if !has_domain => {
                p.push(PresetViolation::DomainMissing(self.provider).to_string())
            }
            ProviderKind::Auth0 | ProviderKind::Keycloak
                if !has_domain && u.config_url.is_none() && !has_endpoints =>
            {
                p.push(format!(
                    "upstream.domain: required for provider {} ({}), or set upstream.config_url",
                    self.provider,
                    if self.provider == ProviderKind::Auth0 {
                        "your tenant domain, e.g. https://tenant.us.auth0.com"
                    } else {
                        "the realm URL, e.g. https://keycloak.example.com/realms/myrealm"
                    }
                ))
            }
            ProviderKind::Oidc if u.config_url.is_none() => p.push(
                "upstream.config_url: required for provider oidc (the IdP's /.well-known/openid-configuration)"
                    .into(),
            ),
            _ => {}
        }
        if let Some(d) = u.domain.as_deref().filter(|d| !d.trim().is_empty()) {
            let n = normalize_domain(d);
            match url::Url::parse(&n) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    if url.query().is_some() || url.fragment().is_some() {
                        p.push(format!(
                            "upstream.domain: {d:?} must not have a query or fragment"
                        ));
                    }
                }
                _ => p.push(format!(
                    "upstream.domain: {d:?} is not an http(s) URL or host"
                )),
            }
        }
        if let Some(t) = &u.tenant
            && (t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            p.push(format!(
                "upstream.tenant: {t:?} is not a tenant id or domain (e.g. common, organizations, contoso.onmicrosoft.com)"
            ));
        }
        p
    }

    /// The preset applied; whatever cannot be built is left unset (see [`Self::resolved`]).
    pub fn with_preset_defaults(&self) -> ProxyConfig {
        let mut c = self.clone();
        let provider = c.provider;
        let u = &mut c.upstream;
        let domain = u
            .domain
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(normalize_domain);
        // Endpoints are built only when the user has not pointed the preset elsewhere.
        let explicit_location = u.config_url.is_some()
            || (u.authorization_endpoint.is_some() && u.token_endpoint.is_some());
        let set = |slot: &mut Option<String>, v: String| {
            if slot.is_none() {
                *slot = Some(v);
            }
        };
        match provider {
            ProviderKind::Oauth | ProviderKind::Oidc => {}
            ProviderKind::Workos => {
                if let Some(d) = &domain
                    && u.config_url.is_none()
                {
                    set(
                        &mut u.authorization_endpoint,
                        format!("{d}/oauth2/authorize"),
                    );
                    set(&mut u.token_endpoint, format!("{d}/oauth2/token"));
                    set(&mut u.userinfo_endpoint, format!("{d}/oauth2/userinfo"));
                    set(&mut u.jwks_uri, format!("{d}/oauth2/jwks"));
                }
            }
            ProviderKind::Authkit => {
                if let Some(d) = &domain {
                    set(&mut u.jwks_uri, format!("{d}/oauth2/jwks"));
                    set(&mut u.verifier.issuer, d.clone());
                }
                if u.verifier.algorithms.is_empty() {
                    u.verifier.algorithms = vec![JwtAlgorithm::Rs256];
                }
            }
            ProviderKind::Auth0 | ProviderKind::Keycloak => {
                if let Some(d) = &domain
                    && !explicit_location
                {
                    u.config_url = Some(format!("{d}/.well-known/openid-configuration"));
                }
                if provider == ProviderKind::Auth0 && u.token_endpoint_auth_method.is_none() {
                    u.token_endpoint_auth_method = Some(ClientAuthMethod::ClientSecretPost);
                }
            }
            ProviderKind::Google => {
                if !explicit_location {
                    u.config_url = Some(GOOGLE_CONFIG_URL.to_string());
                }
                if u.token_endpoint_auth_method.is_none() {
                    u.token_endpoint_auth_method = Some(ClientAuthMethod::ClientSecretPost);
                }
                for (k, v) in [("access_type", "offline"), ("prompt", "consent")] {
                    u.extra_authorize_params
                        .entry(k.to_string())
                        .or_insert_with(|| v.to_string());
                }
                if u.scopes.is_empty() {
                    u.scopes = ["openid", "email", "profile"].map(String::from).to_vec();
                }
            }
            ProviderKind::Github => {
                let (web, user) = match &domain {
                    Some(d) => (d.clone(), format!("{d}/user")),
                    None => (GITHUB_WEB.to_string(), GITHUB_USER_ENDPOINT.to_string()),
                };
                if u.config_url.is_none() {
                    set(
                        &mut u.authorization_endpoint,
                        format!("{web}/login/oauth/authorize"),
                    );
                    set(
                        &mut u.token_endpoint,
                        format!("{web}/login/oauth/access_token"),
                    );
                    set(&mut u.userinfo_endpoint, user);
                }
                if u.token_endpoint_auth_method.is_none() {
                    u.token_endpoint_auth_method = Some(ClientAuthMethod::ClientSecretPost);
                }
                if u.scopes.is_empty() {
                    u.scopes = vec!["read:user".to_string(), "user:email".to_string()];
                }
            }
            ProviderKind::Azure => {
                if !explicit_location {
                    let tenant = u.tenant.as_deref().unwrap_or(AZURE_DEFAULT_TENANT);
                    u.config_url = Some(azure_config_url(tenant));
                }
                if u.scopes.is_empty() {
                    u.scopes = ["openid", "profile", "email", "offline_access"]
                        .map(String::from)
                        .to_vec();
                }
            }
        }
        if let Some(a) = u.audience.clone().filter(|a| !a.is_empty()) {
            u.extra_authorize_params
                .entry("audience".into())
                .or_insert_with(|| a.clone());
            u.extra_token_params.entry("audience".into()).or_insert(a);
        }
        if u.verifier.kind.is_none() {
            u.verifier.kind = Some(provider.default_verifier());
        }
        c
    }

    /// The verifier in effect (after preset defaults).
    pub fn verifier_kind(&self) -> VerifierKind {
        self.upstream
            .verifier
            .kind
            .unwrap_or_else(|| self.provider.default_verifier())
    }

    /// The provider rules this configuration (as written) breaks.
    pub fn preset_violations(&self) -> Vec<PresetViolation> {
        let mut v = Vec::new();
        let has_domain = self
            .upstream
            .domain
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty());
        if matches!(self.provider, ProviderKind::Workos | ProviderKind::Authkit) && !has_domain {
            v.push(PresetViolation::DomainMissing(self.provider));
        }
        v.extend(self.violations_of(&self.with_preset_defaults()));
        v
    }

    /// The rules that look at the configuration with preset defaults applied (`c`); `self`
    /// is the configuration as written.
    fn violations_of(&self, c: &ProxyConfig) -> Vec<PresetViolation> {
        let u = &c.upstream;
        let verifier = c.verifier_kind();
        let mut v = Vec::new();
        match self.provider {
            ProviderKind::Azure if u.forward_resource => {
                v.push(PresetViolation::AzureForwardResource)
            }
            ProviderKind::Auth0 if u.audience_missing() => {
                v.push(PresetViolation::Auth0AudienceMissing)
            }
            ProviderKind::Github => {
                if self.upstream.config_url.is_some() {
                    v.push(PresetViolation::GithubConfigUrl);
                }
                if matches!(verifier, VerifierKind::Jwt | VerifierKind::IdToken) {
                    v.push(PresetViolation::OpaqueTokens(
                        ProviderKind::Github,
                        verifier,
                    ));
                }
            }
            ProviderKind::Google if verifier == VerifierKind::Jwt => v.push(
                PresetViolation::OpaqueTokens(ProviderKind::Google, verifier),
            ),
            _ => {}
        }
        v
    }

    /// Provider- and verifier-specific problems of the configuration with preset defaults
    /// applied (`c`); `self` is the configuration as written.
    pub(super) fn preset_problems(&self, c: &ProxyConfig) -> Vec<String> {
        let mut p: Vec<String> = self
            .violations_of(c)
            .iter()
            .map(PresetViolation::to_string)
            .collect();
        let u = &c.upstream;
        let provider = self.provider;
        let verifier = c.verifier_kind();
        let has_domain = u.domain.as_deref().is_some_and(|d| !d.trim().is_empty());
        if has_domain && !provider.uses_domain() {
            p.push(format!(
                "upstream.domain: not used by provider {provider} (it is for workos, authkit, auth0, github and keycloak)"
            ));
        }
        if u.tenant.is_some() && provider != ProviderKind::Azure {
            p.push(format!(
                "upstream.tenant: not used by provider {provider} (it is for azure)"
            ));
        }
        if provider == ProviderKind::Authkit {
            if !matches!(verifier, VerifierKind::Jwt | VerifierKind::Introspection) {
                p.push(format!(
                    "upstream.verifier.kind: provider authkit verifies bearer tokens itself; use jwt (default) or introspection, not {verifier}"
                ));
            }
            if u.forward_resource {
                p.push(
                    "upstream.forward_resource: not used by provider authkit (clients talk to AuthKit directly)"
                        .into(),
                );
            }
        }
        if provider.is_remote_auth() {
            // Nothing is proxied: endpoints and client credentials would be ignored.
            for (key, set) in [
                (
                    "upstream.authorization_endpoint",
                    self.upstream.authorization_endpoint.is_some(),
                ),
                (
                    "upstream.token_endpoint",
                    self.upstream.token_endpoint.is_some(),
                ),
                (
                    "upstream.client_secret",
                    self.upstream.client_secret.is_some(),
                ),
            ] {
                if set {
                    p.push(format!(
                        "{key}: not used by provider authkit (AuthKit is the authorization server)"
                    ));
                }
            }
        }
        let discovery = u.config_url.is_some();
        match verifier {
            VerifierKind::Jwt | VerifierKind::IdToken => {
                if u.jwks_uri.is_none() && !discovery {
                    p.push(format!(
                        "upstream.verifier.kind: {verifier} needs upstream.jwks_uri or upstream.config_url (discovery)"
                    ));
                }
                for a in &u.verifier.algorithms {
                    if a.is_symmetric() {
                        p.push(format!(
                            "upstream.verifier.algorithms: {a} is an HMAC algorithm and cannot be verified with a JWKS (RS/HS confusion); use RS256, PS256, ES256 or EdDSA"
                        ));
                    }
                }
            }
            VerifierKind::Userinfo if u.userinfo_endpoint.is_none() && !discovery => p.push(
                "upstream.verifier.kind: userinfo needs upstream.userinfo_endpoint or upstream.config_url (discovery)"
                    .into(),
            ),
            VerifierKind::Introspection => {
                if u.introspection_endpoint.is_none() && !discovery {
                    p.push(
                        "upstream.verifier.kind: introspection needs upstream.introspection_endpoint or upstream.config_url (discovery)"
                            .into(),
                    );
                }
                if u.client_secret.is_none() && !provider.is_remote_auth() {
                    p.push(
                        "upstream.verifier.kind: introspection needs upstream.client_secret (RFC 7662 requires client authentication)"
                            .into(),
                    );
                }
            }
            _ => {}
        }
        if verifier == VerifierKind::None && !u.verifier.required_scopes.is_empty() {
            p.push(
                "upstream.verifier.required_scopes: set, but no verifier checks upstream tokens (set upstream.verifier.kind)"
                    .into(),
            );
        }
        for s in &u.verifier.required_scopes {
            if !super::is_scope_token(s) {
                p.push(format!(
                    "upstream.verifier.required_scopes: {s:?} is not a valid scope token"
                ));
            }
        }
        for (key, v) in [
            ("upstream.jwks_uri", &u.jwks_uri),
            ("upstream.userinfo_endpoint", &u.userinfo_endpoint),
            ("upstream.introspection_endpoint", &u.introspection_endpoint),
        ] {
            if let Some(v) = v
                && let Err(e) = super::check_http_url(v)
            {
                p.push(format!("{key}: {e}"));
            }
        }
        if let Some(a) = &u.audience
            && a.trim().is_empty()
        {
            p.push("upstream.audience: empty".into());
        }
        p
    }
}
