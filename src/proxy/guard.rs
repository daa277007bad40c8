//! The bearer verifier for the proxy's own access tokens, used by the resource guard.
//!
//! A token is accepted when it is a proxy JWT (signature, issuer, audience = the resource,
//! not expired by the clock), its `token_use` is `access`, its jti still maps to a grant, and
//! that grant's upstream access token is usable. Refresh tokens, upstream tokens and revoked
//! tokens are refused.
//!
//! When the upstream access token has expired (or is within `upstream.expiry_threshold` of
//! expiring) while the proxy's token is still valid, the upstream tokens are refreshed
//! transparently, once for all concurrent requests of the grant (see
//! [`crate::proxy::refresh`]), instead of failing the MCP call: the IdP's `invalid_grant`
//! ends the session (401 `invalid_token`); the IdP being down is a 503 — unless the upstream
//! token is merely close to expiry, in which case the request goes through and a later one
//! refreshes.

use crate::proxy::bearer::{BearerError, BearerVerifier, Principal};
use crate::proxy::jwt::{TokenError, TokenUse};
use crate::proxy::refresh::{self, RefreshError};
use crate::proxy::state::ProxyState;
use crate::proxy::store::{Grant, TokenMapping};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Verifies the proxy's access tokens.
#[derive(Clone)]
pub struct ProxyVerifier {
    state: Arc<ProxyState>,
}

impl ProxyVerifier {
    /// A verifier over the proxy's state.
    pub fn new(state: Arc<ProxyState>) -> Self {
        Self { state }
    }

    /// Verify a token (the async body of [`BearerVerifier::verify`]).
    pub async fn check(&self, token: &str) -> Result<Principal, BearerError> {
        let st = &self.state;
        let claims = st
            .tokens
            .verify(token, TokenUse::Access)
            .map_err(|e| match e {
                TokenError::Expired => BearerError::Expired,
                TokenError::WrongUse { .. } => {
                    BearerError::Invalid("refresh tokens are not accepted as bearer tokens".into())
                }
                TokenError::Invalid(m) => BearerError::Invalid(m),
            })?;
        let unavailable =
            |e: crate::proxy::store::StoreError| BearerError::Unavailable(e.to_string());
        let mapping = st
            .records
            .get_token(&claims.jti)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the token was revoked".into()))?;
        let grant = st
            .records
            .get_grant(&mapping.grant_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the authorization was revoked".into()))?;
        // `grant.upstream.access_token` is now usable: what an upstream-token check verifies.
        let grant = self.usable_upstream(grant, &mapping, claims.exp).await?;
        check_grant(st, &grant).await?;
        let scopes = claims.scopes();
        Ok(Principal {
            subject: claims.sub.clone(),
            client_id: Some(claims.client_id.clone()),
            scopes,
            claims: serde_json::to_value(&claims).unwrap_or_default(),
        })
    }

    /// The grant with a usable upstream access token, refreshed upstream when needed.
    /// `token_exp` is the presented token's expiry (the grant is kept at least that long).
    async fn usable_upstream(
        &self,
        grant: Grant,
        mapping: &TokenMapping,
        token_exp: i64,
    ) -> Result<Grant, BearerError> {
        let st = &self.state;
        let now = st.now();
        let threshold = st.config.upstream.expiry_threshold.get();
        if !refresh::needs_refresh(&grant.upstream, now, threshold) {
            return Ok(grant);
        }
        let expired = refresh::needs_refresh(&grant.upstream, now, std::time::Duration::ZERO);
        if grant.upstream.refresh_token.is_none() {
            return if expired {
                // The upstream session behind the token is over: the client should refresh.
                Err(BearerError::Expired)
            } else {
                Ok(grant)
            };
        }
        let family = mapping.family_id.clone();
        match refresh::ensure_fresh(st, grant.clone(), family, token_exp).await {
            Ok(g) => Ok(g),
            Err(e) if e.session_ended() => Err(BearerError::Invalid(match e {
                RefreshError::Revoked => "the authorization was revoked".into(),
                _ => "the upstream session has ended; sign in again".into(),
            })),
            Err(e) if !expired => {
                tracing::warn!(error = %e, "early upstream refresh failed; the token is still valid");
                Ok(grant)
            }
            Err(e) => Err(BearerError::Unavailable(e.to_string())),
        }
    }
}

/// The check of the upstream tokens behind a proxy token: the configured verifier must still
/// accept them.
async fn check_grant(st: &ProxyState, grant: &Grant) -> Result<(), BearerError> {
    st.upstream_verifier
        .verify_access(
            &st.upstream,
            &grant.upstream.access_token,
            grant.upstream.id_token.as_deref(),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::debug!(client_id = %grant.client_id, error = %e, "upstream token refused");
            e.to_bearer()
        })
}

impl BearerVerifier for ProxyVerifier {
    fn verify<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, BearerError>> + Send + 'a>> {
        Box::pin(self.check(token))
    }
}
