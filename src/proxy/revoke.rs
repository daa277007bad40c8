//! `POST /revoke` (RFC 7009). Always 200 for tokens that are unknown, expired or belong to
//! another client (nothing is revealed). Revoking an access token removes its mapping and
//! revokes the upstream access token; revoking a refresh token (the live one, or the one just
//! rotated out while the grace window still honours it) removes its family and grant, so every
//! token of the grant stops working, and revokes the upstream refresh token. Upstream
//! revocation goes to the upstream revocation endpoint, when there is one, with the configured
//! client authentication; the proxy's own token never goes upstream. An older rotated refresh
//! token is dead already: revoking it changes nothing.

use crate::oauth::error::OAuthError;
use crate::oauth::sha256_hex;
use crate::proxy::params::{Params, read_form};
use crate::proxy::refresh::family::{self, Presented};
use crate::proxy::state::ProxyState;
use crate::proxy::token::{authenticate, revoke_family, unavailable};
use crate::proxy::tokens::TokenUse;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The handler.
pub async fn revoke(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = match read_form(&parts.headers, body).await {
        Ok(p) => handle(&st, &parts.headers, p).await,
        Err(e) => Err(e),
    };
    let mut resp = match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
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
                && let Some(grant) = st
                    .records
                    .get_grant(&mapping.grant_id)
                    .await
                    .map_err(unavailable)?
                && let Err(e) = st
                    .upstream
                    .revoke(&grant.upstream.access_token, "access_token")
                    .await
            {
                tracing::warn!(error = %e, "upstream revocation failed");
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
