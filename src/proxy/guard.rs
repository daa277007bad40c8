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
//!
//! **What is remembered, and why revocation still wins at once.** The signature and claims
//! of a token are checked once: a token that passed is remembered by its SHA-256 (never the
//! token itself) until its `exp`, with the principal it speaks for, so a client repeating its
//! bearer token costs a hash instead of an HMAC and two JSON parses. Those are facts of the
//! token's bytes, which cannot change. Whether the token still counts is not remembered here:
//! every request reads its mapping and its grant from the store, and revocation deletes one
//! of them, so the next request after a revocation is refused. (The store may keep the
//! decoded forms of those records, but only a store every write passes through does, and a
//! write replaces them: see [`crate::proxy::store::Store::get_decoded`].)

use crate::proxy::bearer::{BearerError, BearerVerifier, Principal, Verdict};
use crate::proxy::jwt::{Claims, TokenError, TokenUse};
use crate::proxy::refresh::{self, RefreshError};
use crate::proxy::state::ProxyState;
use crate::proxy::store::{Grant, TokenMapping};
use crate::proxy::upstream::verify::cache::{MAX_ENTRIES, TtlCache};
use std::sync::Arc;

/// A proxy access token whose signature and claims passed, and who it speaks for.
#[derive(Debug)]
pub struct CheckedToken {
    /// Its `jti` (the key of its mapping to a grant).
    pub jti: String,
    /// Its `exp` (Unix seconds).
    pub exp: i64,
    /// Who it speaks for.
    pub principal: Arc<Principal>,
}

/// Verifies the proxy's access tokens, in three steps: [`ProxyVerifier::token`],
/// [`ProxyVerifier::records`] and [`ProxyVerifier::upstream`] ([`ProxyVerifier::check`] runs
/// them all; the guard benchmark times each).
pub struct ProxyVerifier {
    state: Arc<ProxyState>,
    checked: TtlCache<Arc<CheckedToken>>,
}

impl ProxyVerifier {
    /// A verifier over the proxy's state.
    pub fn new(state: Arc<ProxyState>) -> Self {
        Self {
            state,
            checked: TtlCache::new(MAX_ENTRIES),
        }
    }

    /// Step 1: the token's signature and claims (or the same token found checked before,
    /// until its `exp`).
    pub fn token(&self, token: &str) -> Result<Arc<CheckedToken>, BearerError> {
        let st = &self.state;
        let now = st.now();
        if let Some(c) = self.checked.get(token, now) {
            return Ok(c);
        }
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
        let c = Arc::new(CheckedToken {
            principal: Arc::new(principal(&claims)),
            jti: claims.jti,
            exp: claims.exp,
        });
        // Kept until the token expires: the cache never answers for an expired token.
        self.checked.put(token, c.clone(), c.exp, now);
        Ok(c)
    }

    /// Step 2: the token's mapping and its grant, read from the store on every request (a
    /// revoked token has lost one of them).
    pub async fn records(
        &self,
        token: &CheckedToken,
    ) -> Result<(Arc<TokenMapping>, Arc<Grant>), BearerError> {
        let st = &self.state;
        let unavailable =
            |e: crate::proxy::store::StoreError| BearerError::Unavailable(e.to_string());
        let mapping = st
            .records
            .token_shared(&token.jti)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the token was revoked".into()))?;
        let grant = st
            .records
            .grant_shared(&mapping.grant_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| BearerError::Invalid("the authorization was revoked".into()))?;
        Ok((mapping, grant))
    }

    /// Step 3: the grant's upstream access token is usable (refreshed upstream if it is
    /// expiring) and the upstream verifier accepts it.
    pub async fn upstream(
        &self,
        token: &CheckedToken,
        mapping: &TokenMapping,
        grant: Arc<Grant>,
    ) -> Result<(), BearerError> {
        let grant = self.usable_upstream(grant, mapping, token.exp).await?;
        check_grant(&self.state, &grant).await
    }

    /// Verify a token (the async body of [`BearerVerifier::verify`]).
    pub async fn check(&self, token: &str) -> Result<Arc<Principal>, BearerError> {
        let checked = self.token(token)?;
        let (mapping, grant) = self.records(&checked).await?;
        self.upstream(&checked, &mapping, grant).await?;
        Ok(checked.principal.clone())
    }

    /// The grant with a usable upstream access token, refreshed upstream when needed.
    /// `token_exp` is the presented token's expiry (the grant is kept at least that long).
    async fn usable_upstream(
        &self,
        grant: Arc<Grant>,
        mapping: &TokenMapping,
        token_exp: i64,
    ) -> Result<Arc<Grant>, BearerError> {
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
        match refresh::ensure_fresh(st, grant.as_ref().clone(), family, token_exp).await {
            Ok(g) => Ok(Arc::new(g)),
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

/// Who a verified proxy access token speaks for.
pub fn principal(claims: &Claims) -> Principal {
    Principal {
        subject: claims.sub.clone(),
        client_id: Some(claims.client_id.clone()),
        scopes: claims.scopes(),
        claims: serde_json::to_value(claims).unwrap_or_default(),
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
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a> {
        Box::pin(self.check(token))
    }
}
