//! `POST /revoke` (RFC 7009). Always 200 for tokens that are unknown, expired or belong to
//! another client (nothing is revealed).
//!
//! What a revocation ends (RFC 7009 §2.1 leaves the policy to the server):
//!
//! - **An access token of a grant with a refresh family**: that token alone. Its mapping goes,
//!   so it stops working at once. The grant lives on for the family's refresh token and the
//!   other access tokens it issued, so the upstream tokens behind the grant are *not* revoked:
//!   revoking them would leave every sibling token pointing at a dead upstream token. The
//!   upstream tokens never leave the proxy, so keeping them exposes nothing.
//! - **An access token of a grant without refresh** (the client may not refresh, or the
//!   upstream gave no refresh token): the grant has no other token, so the grant ends with it
//!   and its upstream tokens are revoked.
//! - **A refresh token** (the live one, or the one just rotated out while the grace window
//!   still honours it): its family and grant go, so every token of the grant stops working,
//!   and the upstream refresh token is revoked (RFC 7009 §2.1: the server SHOULD also
//!   invalidate the access tokens of the same grant). An older rotated refresh token is dead
//!   already: revoking it changes nothing.
//!
//! Upstream revocation goes to the upstream revocation endpoint, when there is one, with the
//! configured client authentication; the proxy's own token never goes upstream.

use crate::oauth::error::OAuthError;
use crate::oauth::sha256_hex;
use crate::proxy::grants::{revoke_family, revoke_upstream, unavailable};
use crate::proxy::jwt::TokenUse;
use crate::proxy::params::{OAuthForm, Params};
use crate::proxy::refresh::family::{self, Presented};
use crate::proxy::state::ProxyState;
use crate::proxy::token::authenticate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// The handler. Every answer is `no-store` ([`crate::proxy::server`] adds it).
pub async fn revoke(
    State(st): State<Arc<ProxyState>>,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<StatusCode, OAuthError> {
    handle(&st, &headers, params).await.map(|()| StatusCode::OK)
}

async fn handle(st: &ProxyState, headers: &HeaderMap, params: Params) -> Result<(), OAuthError> {
    params.check()?;
    let client = authenticate(st, headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let Ok(claims) = st.tokens.verify_ignoring_expiry(token) else {
        return Ok(());
    };
    if claims.client_id != client.client_id {
        return Ok(());
    }
    match claims.token_use {
        TokenUse::Access => {
            if let Some(mapping) = st
                .records
                .take_token(&claims.jti)
                .await
                .map_err(unavailable)?
                && mapping.family_id.is_none()
                && let Some(grant) = st
                    .records
                    .take_grant(&mapping.grant_id)
                    .await
                    .map_err(unavailable)?
            {
                revoke_upstream(st, &grant).await;
            }
        }
        TokenUse::Refresh => {
            let Some(fid) = claims.fid.as_deref() else {
                return Ok(());
            };
            let Some(family) = st.records.get_family(fid).await.map_err(unavailable)? else {
                return Ok(());
            };
            let presented = family::classify(
                &family,
                &sha256_hex(token.as_bytes()),
                st.clock.now_millis(),
                st.config.refresh_grace_window.get(),
            );
            if !matches!(presented, Presented::Current | Presented::PreviousInGrace) {
                return Ok(());
            }
            revoke_family(st, &family).await.map_err(unavailable)?;
        }
    }
    tracing::info!(client_id = %client.client_id, token_use = %claims.token_use, "token revoked");
    Ok(())
}
