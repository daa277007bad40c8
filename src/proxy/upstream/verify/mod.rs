//! Verifying what the upstream IdP issued: ID tokens at the callback (OIDC modes), upstream
//! access tokens at the callback and whenever the guard accepts a proxy token, and bearer
//! tokens in remote-auth (AuthKit) mode.
//!
//! `upstream.verifier.kind` picks the verifier (default per provider, see
//! [`crate::proxy::config::ProviderKind::default_verifier`]):
//!
//! | kind | checks | source |
//! |---|---|---|
//! | `none` | nothing (the generic OAuth proxy) | |
//! | `jwt` | JWKS signature, algorithm allow-list, issuer, audience, exp, scopes | [`jwt`] |
//! | `userinfo` | the IdP accepts the token at userinfo; scopes it states | [`userinfo`] |
//! | `introspection` | RFC 7662 `active`, exp, audience, scopes | [`introspection`] |
//! | `id_token` | the grant's ID token as for `jwt`, audience = client_id | [`jwt`] |
//!
//! The verifiers are built on first use (their endpoints may come from discovery); a
//! failure to build is retried on the next call.

pub mod cache;
pub mod introspection;
pub mod jwks;
pub mod jwt;
pub mod userinfo;

use super::{SchemeClients, TrustRoots, Upstream, UpstreamError, upstream_http};
use crate::proxy::bearer::BearerError;
use crate::proxy::config::{ProviderKind, UpstreamConfig, VerifierKind};
use crate::proxy::store::UpstreamTokens;
use cache::Keyed;
use foundations::Clock;
use introspection::IntrospectionVerifier;
use jwks::JwksCache;
use jwt::{JwtRules, JwtVerifier};
use serde_json::Value;
use std::sync::Arc;
use userinfo::UserinfoVerifier;

/// The OIDC `nonce` sent with the upstream authorization request whose `state` is given:
/// derived from the state (random, single use, bound to the browser), so the callback can
/// check the ID token's `nonce` without storing anything more.
pub fn nonce_for(state: &str) -> String {
    use base64::Engine as _;
    let mut input = b"authproof oidc nonce\0".to_vec();
    input.extend_from_slice(state.as_bytes());
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// What a verified upstream token says.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The end user, when the token or the IdP names one.
    pub subject: Option<String>,
    /// The client the token was issued to, when known.
    pub client_id: Option<String>,
    /// The token's scopes (as the token or the IdP states them).
    pub scopes: Vec<String>,
    /// Expiry (Unix seconds), when known.
    pub expires_at: Option<i64>,
    /// The claims (JWT) or the IdP's answer (userinfo, introspection).
    pub claims: Value,
}

/// Why an upstream token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a valid token (signature, issuer, audience, algorithm, refused by the IdP…).
    #[error("{0}")]
    Invalid(String),
    /// It has expired.
    #[error("the upstream token has expired")]
    Expired,
    /// It lacks a required scope.
    #[error("the upstream token lacks the required scope {0}")]
    InsufficientScope(String),
    /// The IdP (JWKS, userinfo, introspection) could not be asked.
    #[error("upstream token verification is unavailable: {0}")]
    Unavailable(String),
}

impl VerifyError {
    /// The guard's view.
    pub fn to_bearer(&self) -> BearerError {
        match self {
            VerifyError::Expired => BearerError::Expired,
            VerifyError::Unavailable(m) => BearerError::Unavailable(m.clone()),
            other => BearerError::Invalid(other.to_string()),
        }
    }

    /// The RFC 6749 §4.1.2.1 error code for the client's redirect at the callback.
    pub fn authorization_error_code(&self) -> &'static str {
        match self {
            VerifyError::Unavailable(_) => "temporarily_unavailable",
            VerifyError::InsufficientScope(_) => "access_denied",
            _ => "server_error",
        }
    }
}

fn from_upstream(e: UpstreamError) -> VerifyError {
    match e {
        UpstreamError::Unavailable(m) => VerifyError::Unavailable(m),
        other => VerifyError::Unavailable(other.to_string()),
    }
}

/// The access-token verifier in force.
#[derive(Debug)]
enum Access {
    None,
    Jwt(JwtVerifier),
    Userinfo(UserinfoVerifier),
    Introspection(IntrospectionVerifier),
    IdToken,
}

#[derive(Debug)]
struct Built {
    access: Access,
    /// ID tokens (OIDC modes and the `id_token` kind).
    id_token: Option<JwtVerifier>,
}

/// Who the callback established.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallbackIdentity {
    /// The verified subject (ID token, else the access-token verifier), if any.
    pub subject: Option<String>,
    /// Whether an ID token was verified.
    pub id_token_verified: bool,
}

/// The upstream token verifier of a proxy.
pub struct UpstreamVerifier {
    provider: ProviderKind,
    kind: VerifierKind,
    cfg: UpstreamConfig,
    /// The proxy's resource (AuthKit's audience).
    resource: String,
    clock: Clock,
    http: Arc<SchemeClients>,
    built: tokio::sync::OnceCell<Built>,
}

impl std::fmt::Debug for UpstreamVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamVerifier")
            .field("provider", &self.provider)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl UpstreamVerifier {
    /// A verifier for a resolved configuration (`provider`, `upstream`) guarding `resource`.
    pub fn new(
        provider: ProviderKind,
        cfg: UpstreamConfig,
        resource: String,
        clock: Clock,
    ) -> Self {
        let kind = cfg
            .verifier
            .kind
            .unwrap_or_else(|| provider.default_verifier());
        Self {
            provider,
            kind,
            cfg,
            resource,
            clock,
            http: Arc::new(SchemeClients::new(upstream_http)),
            built: tokio::sync::OnceCell::new(),
        }
    }

    /// The same verifier, trusting `roots` besides the system's for https (JWKS, userinfo,
    /// introspection); call before the first verification.
    pub fn trusting(mut self, roots: &TrustRoots) -> Self {
        self.http = Arc::new(SchemeClients::new(upstream_http).trusting(roots));
        self
    }

    /// The HTTP client (no redirects, no cookies) for a request to `url`.
    pub fn client_for(&self, url: &str) -> Result<&reqwest::Client, String> {
        self.http
            .for_url(url)
            .map_err(|e| format!("HTTP client: {e}"))
    }

    /// The verifier kind in force.
    pub fn kind(&self) -> VerifierKind {
        self.kind
    }

    /// Whether ID tokens are verified at the callback.
    pub fn verifies_id_tokens(&self) -> bool {
        self.provider.is_oidc() || self.kind == VerifierKind::IdToken
    }

    fn algorithms(&self) -> Vec<jsonwebtoken::Algorithm> {
        self.cfg
            .verifier
            .algorithms()
            .into_iter()
            .map(|a| a.to_jsonwebtoken())
            .collect()
    }

    async fn built(&self, upstream: &Upstream) -> Result<&Built, VerifyError> {
        self.built
            .get_or_try_init(|| async { self.build(upstream).await })
            .await
    }

    async fn build(&self, upstream: &Upstream) -> Result<Built, VerifyError> {
        let v = &self.cfg.verifier;
        let timeout = self.cfg.timeout.get();
        let needs_endpoints = !self.provider.is_remote_auth() || self.cfg.config_url.is_some();
        let endpoints =
            if needs_endpoints && (self.kind != VerifierKind::None || self.verifies_id_tokens()) {
                Some(upstream.endpoints().await.map_err(from_upstream)?.clone())
            } else {
                None
            };
        let discovered_issuer = endpoints.as_ref().and_then(|e| e.issuer.clone());
        let jwks_uri = match (
            &self.cfg.jwks_uri,
            endpoints.as_ref().and_then(|e| e.jwks_uri.clone()),
        ) {
            (Some(explicit), _) => Some(
                url::Url::parse(explicit)
                    .map_err(|e| VerifyError::Unavailable(format!("upstream.jwks_uri: {e}")))?,
            ),
            (None, found) => found,
        };
        let jwks = jwks_uri.map(|u| {
            Arc::new(JwksCache::new(
                u,
                self.http.clone(),
                timeout,
                self.clock.clone(),
            ))
        });
        let need_jwks = |what: &str| {
            jwks.clone().ok_or_else(|| {
                VerifyError::Unavailable(format!(
                    "{what} needs the IdP's JWKS: set upstream.jwks_uri or use discovery"
                ))
            })
        };
        let id_token = if self.verifies_id_tokens() {
            let (issuer, audience) = if self.kind == VerifierKind::IdToken {
                (
                    v.issuer.clone().or(discovered_issuer.clone()),
                    v.audience.clone().or(Some(self.cfg.client_id.clone())),
                )
            } else {
                (discovered_issuer.clone(), Some(self.cfg.client_id.clone()))
            };
            Some(JwtVerifier::new(
                need_jwks("ID-token verification")?,
                JwtRules {
                    issuer,
                    audience,
                    algorithms: self.algorithms(),
                    required_scopes: Vec::new(),
                    cache_ttl: v.cache_ttl.get(),
                },
                self.clock.clone(),
            ))
        } else {
            None
        };
        let access = match self.kind {
            VerifierKind::None => Access::None,
            VerifierKind::IdToken => Access::IdToken,
            VerifierKind::Jwt => {
                let audience = if self.provider.is_remote_auth() {
                    Some(v.audience.clone().unwrap_or_else(|| self.resource.clone()))
                } else {
                    v.audience.clone().or(self.cfg.audience.clone())
                };
                Access::Jwt(JwtVerifier::new(
                    need_jwks("the jwt verifier")?,
                    JwtRules {
                        issuer: v.issuer.clone().or(discovered_issuer),
                        audience,
                        algorithms: self.algorithms(),
                        // In remote-auth mode the guard enforces them (403 with a challenge).
                        required_scopes: if self.provider.is_remote_auth() {
                            Vec::new()
                        } else {
                            v.required_scopes.clone()
                        },
                        cache_ttl: v.cache_ttl.get(),
                    },
                    self.clock.clone(),
                ))
            }
            VerifierKind::Userinfo => {
                let endpoint = endpoints
                    .as_ref()
                    .and_then(|e| e.userinfo_endpoint.clone())
                    .ok_or_else(|| {
                        VerifyError::Unavailable(
                            "the userinfo verifier needs upstream.userinfo_endpoint or discovery"
                                .into(),
                        )
                    })?;
                Access::Userinfo(UserinfoVerifier::new(
                    endpoint,
                    self.http.clone(),
                    timeout,
                    v.cache_ttl.get(),
                    v.required_scopes.clone(),
                    self.clock.clone(),
                ))
            }
            VerifierKind::Introspection => {
                let endpoint = match (&self.cfg.introspection_endpoint, &endpoints) {
                    (Some(e), _) => Some(url::Url::parse(e).map_err(|e| {
                        VerifyError::Unavailable(format!("upstream.introspection_endpoint: {e}"))
                    })?),
                    (None, Some(e)) => e.introspection_endpoint.clone(),
                    (None, None) => None,
                }
                .ok_or_else(|| {
                    VerifyError::Unavailable(
                        "the introspection verifier needs upstream.introspection_endpoint or discovery"
                            .into(),
                    )
                })?;
                let audience = if self.provider.is_remote_auth() {
                    Some(v.audience.clone().unwrap_or_else(|| self.resource.clone()))
                } else {
                    v.audience.clone()
                };
                Access::Introspection(IntrospectionVerifier::new(
                    endpoint,
                    self.http.clone(),
                    &self.cfg,
                    audience,
                    self.clock.clone(),
                ))
            }
        };
        Ok(Built { access, id_token })
    }

    /// Verify an upstream access token (or, for `id_token`, the ID token given).
    pub async fn verify_access(
        &self,
        upstream: &Upstream,
        access_token: &str,
        id_token: Option<&str>,
    ) -> Result<Option<Arc<VerifiedToken>>, VerifyError> {
        self.verify_access_keyed(upstream, || Keyed::new(access_token), id_token)
            .await
    }

    /// [`Self::verify_access`] of an access token whose cache key `access` gives, called
    /// only by the verifiers that remember verdicts by it (the guard knows the key of a
    /// grant's token it has seen before, and saves hashing it on every request).
    pub async fn verify_access_keyed<'t>(
        &self,
        upstream: &Upstream,
        access: impl FnOnce() -> Keyed<'t>,
        id_token: Option<&str>,
    ) -> Result<Option<Arc<VerifiedToken>>, VerifyError> {
        if self.kind == VerifierKind::None {
            return Ok(None);
        }
        let built = self.built(upstream).await?;
        match &built.access {
            Access::None => Ok(None),
            Access::Jwt(j) => j.verify_keyed(access()).await.map(Some),
            Access::Userinfo(u) => u.verify_keyed(access()).await.map(Some),
            Access::Introspection(i) => i.verify_keyed(access()).await.map(Some),
            Access::IdToken => {
                let t = id_token.ok_or_else(|| {
                    VerifyError::Invalid("the identity provider sent no ID token".into())
                })?;
                let j = built
                    .id_token
                    .as_ref()
                    .ok_or_else(|| VerifyError::Unavailable("no ID-token verifier".into()))?;
                match j.verify(t).await {
                    Ok(v) => Ok(Some(v)),
                    // Authentic (signature, issuer, audience checked before expiry) but past
                    // its exp: the ID token attests the sign-in; how long the session lasts
                    // is the upstream access and refresh tokens' business (checked by the
                    // guard), and IdPs often issue ID tokens shorter-lived than those. The
                    // callback refuses an expired ID token (see `at_callback`).
                    Err(VerifyError::Expired) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Verify an upstream ID token (signature, iss, aud = client_id, exp, and `nonce` when
    /// one is expected).
    pub async fn verify_id_token(
        &self,
        upstream: &Upstream,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<Arc<VerifiedToken>, VerifyError> {
        let built = self.built(upstream).await?;
        let j = built.id_token.as_ref().ok_or_else(|| {
            VerifyError::Unavailable("ID tokens are not verified in this mode".into())
        })?;
        let v = j.verify(id_token).await?;
        if let Some(n) = expected_nonce
            && v.claims.get("nonce").and_then(Value::as_str) != Some(n)
        {
            return Err(VerifyError::Invalid(
                "the nonce does not match this sign-in".into(),
            ));
        }
        Ok(v)
    }

    /// At the callback of the flow with upstream `state`: verify the ID token (OIDC modes;
    /// its `nonce` must be [`nonce_for`]`(state)`) and the access token (configured
    /// verifier); the subject is the ID token's, else the verifier's.
    pub async fn at_callback(
        &self,
        upstream: &Upstream,
        tokens: &UpstreamTokens,
        state: &str,
    ) -> Result<CallbackIdentity, VerifyError> {
        let mut out = CallbackIdentity::default();
        if self.verifies_id_tokens()
            && let Some(t) = tokens.id_token.as_deref()
        {
            let nonce = self.provider.is_oidc().then(|| nonce_for(state));
            let v = self
                .verify_id_token(upstream, t, nonce.as_deref())
                .await
                .map_err(|e| match e {
                    VerifyError::Invalid(m) => VerifyError::Invalid(format!("ID token: {m}")),
                    VerifyError::Expired => VerifyError::Invalid("ID token: expired".into()),
                    other => other,
                })?;
            out.subject = v.subject.clone();
            out.id_token_verified = true;
        }
        if let Some(v) = self
            .verify_access(upstream, &tokens.access_token, tokens.id_token.as_deref())
            .await?
            && out.subject.is_none()
        {
            out.subject = v.subject.clone();
        }
        Ok(out)
    }

    /// Verify a bearer token presented directly (remote-auth mode).
    pub async fn verify_bearer(
        &self,
        upstream: &Upstream,
        token: &str,
    ) -> Result<Arc<VerifiedToken>, VerifyError> {
        match self.verify_access(upstream, token, None).await? {
            Some(v) => Ok(v),
            None => Err(VerifyError::Unavailable(
                "no verifier is configured for bearer tokens".into(),
            )),
        }
    }
}
