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
use crate::proxy::upstream::verify::cache::{Keyed, MAX_ENTRIES, TokenKey, TtlCache};
use std::sync::{Arc, OnceLock, Weak};

/// A proxy access token whose signature and claims passed, and who it speaks for.
#[derive(Debug)]
pub struct CheckedToken {
    /// Its `jti` (the key of its mapping to a grant).
    pub jti: String,
    /// Its `exp` (Unix seconds).
    pub exp: i64,
    /// Who it speaks for.
    pub principal: Arc<Principal>,
    /// The cache key of the upstream access token behind it, as first seen.
    upstream_key: UpstreamKey,
}

/// The cache key (SHA-256) of the upstream access token of the first grant record a proxy
/// token was checked with, so that the upstream verifier's remembered verdict is found
/// without hashing the upstream token again on every request.
///
/// The key is reused only for that very record: the store hands out the same shared
/// decoded grant until a write replaces it, and a record behind an `Arc` cannot change. The
/// record is held weakly, so nothing of it (the upstream tokens) outlives the store's copy,
/// and its allocation cannot be reused for another record while the weak reference lives:
/// the same address is the same record. After a refresh (a new record) the key is computed
/// again on each request, as before.
#[derive(Debug, Default)]
struct UpstreamKey(OnceLock<(Weak<Grant>, TokenKey)>);

impl UpstreamKey {
    /// `grant`'s upstream access token with its key.
    fn of<'g>(&self, grant: &'g Arc<Grant>) -> Keyed<'g> {
        let token = grant.upstream.access_token.as_str();
        match self.0.get() {
            Some((seen, key)) if std::ptr::eq(seen.as_ptr(), Arc::as_ptr(grant)) => {
                Keyed::known(token, *key)
            }
            Some(_) => Keyed::new(token),
            None => {
                let keyed = Keyed::new(token);
                // Another request may have set it first, for the same record or another:
                // either is fine.
                let _ = self.0.set((Arc::downgrade(grant), keyed.key()));
                keyed
            }
        }
    }
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
        let keyed = Keyed::new(token);
        if let Some(c) = self.checked.get(&keyed, now) {
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
            upstream_key: UpstreamKey::default(),
        });
        // Kept until the token expires: the cache never answers for an expired token.
        self.checked.put(&keyed, c.clone(), c.exp, now);
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
        check_grant(&self.state, &grant, &token.upstream_key).await
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
async fn check_grant(
    st: &ProxyState,
    grant: &Arc<Grant>,
    key: &UpstreamKey,
) -> Result<(), BearerError> {
    st.upstream_verifier
        .verify_access_keyed(
            &st.upstream,
            || key.of(grant),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::store::UpstreamTokens;
    use crate::proxy::upstream::verify::cache::token_key;

    fn grant(access_token: &str) -> Arc<Grant> {
        Arc::new(Grant {
            grant_id: "g".into(),
            client_id: "c".into(),
            subject: "s".into(),
            scopes: vec![],
            resource: "r".into(),
            upstream: UpstreamTokens {
                access_token: access_token.into(),
                token_type: "Bearer".into(),
                refresh_token: None,
                id_token: None,
                expires_at: None,
                refresh_expires_at: None,
                scope: None,
            },
            created_at: 0,
        })
    }

    #[test]
    fn the_upstream_key_is_always_the_key_of_the_grant_given() {
        let memo = UpstreamKey::default();
        let first = grant("upstream-1");
        for _ in 0..3 {
            let k = memo.of(&first);
            assert_eq!(
                (k.token(), k.key()),
                ("upstream-1", token_key("upstream-1"))
            );
        }
        // A refreshed grant: another record, another token.
        let refreshed = grant("upstream-2");
        let k = memo.of(&refreshed);
        assert_eq!(
            (k.token(), k.key()),
            ("upstream-2", token_key("upstream-2"))
        );
        // The first record is gone from the store; whatever is allocated next is another
        // record, never taken for it.
        drop(first);
        for i in 3..50 {
            let t = format!("upstream-{i}");
            let next = grant(&t);
            let k = memo.of(&next);
            assert_eq!(k.key(), token_key(&t), "{t}");
        }
    }

    #[test]
    fn the_memo_holds_nothing_of_the_record_alive() {
        let memo = UpstreamKey::default();
        let g = grant("upstream-secret");
        memo.of(&g);
        assert_eq!(Arc::strong_count(&g), 1, "only a weak reference is kept");
    }
}
