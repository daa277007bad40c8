//! `POST /revoke` (RFC 7009). Always 200 for tokens that are unknown, expired or belong to
//! another client (nothing is revealed). Revoking an access token removes its mapping;
//! revoking a refresh token removes its family and grant (every token of the grant stops
//! working). The upstream token is revoked at the upstream revocation endpoint, when there is
//! one, with the configured client authentication; the proxy's own token never goes upstream.

use crate::oauth::error::OAuthError;
use crate::oauth::sha256_hex;
use crate::proxy::params::{Params, read_form};
use crate::proxy::state::ProxyState;
use crate::proxy::token::{authenticate, revoke_upstream, unavailable};
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
            if family.current_hash != sha256_hex(token.as_bytes()) {
                // An already rotated token: it is dead already.
                return Ok(());
            }
            st.records.delete_family(fid).await.map_err(unavailable)?;
            if let Some(grant) = st
                .records
                .take_grant(&family.grant_id)
                .await
                .map_err(unavailable)?
            {
                revoke_upstream(st, &grant).await;
            }
        }
    }
    tracing::info!(client_id = %client.client_id, token_use = %claims.token_use, "token revoked");
    Ok(())
}
