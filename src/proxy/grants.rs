//! Issuing and ending the proxy's grants: the token response, access and refresh tokens
//! signed for a grant (an access token's jti maps to its grant for as long as it lives), and
//! revocation of a grant, its refresh family and its upstream tokens. Shared by the token
//! endpoint's two grants ([`crate::proxy::token`], [`crate::proxy::refresh`]) and by
//! revocation ([`crate::proxy::revoke`]).

use crate::oauth::error::OAuthError;
use crate::proxy::jwt::{Issued, NewToken, TokenError, TokenUse};
use crate::proxy::refresh::family;
use crate::proxy::state::ProxyState;
use crate::proxy::store::{ClientRecord, Grant, RefreshFamily, StoreError, TokenMapping};
use serde::Serialize;
use std::time::Duration;

/// A successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The proxy's access token (JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The proxy's refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes; absent when none were granted (RFC 6749 §3.3 defines a scope as one or
    /// more tokens, so an empty string is not a scope; §5.1 lets the server omit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The `scope` member of a token response for the granted `scopes`: `None` when empty.
pub(crate) fn granted_scope(scopes: &[String]) -> Option<String> {
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// A store failure, as the client sees it.
pub(crate) fn unavailable(e: StoreError) -> OAuthError {
    OAuthError::temporarily_unavailable(e.to_string())
}

/// Revoke a grant: its upstream tokens are deleted (so every proxy token backed by it stops
/// working) and revoked upstream when possible.
pub async fn revoke_grant(st: &ProxyState, grant_id: &str) {
    match st.records.take_grant(grant_id).await {
        Ok(Some(g)) => revoke_upstream(st, &g).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot revoke grant"),
    }
}

/// Revoke a refresh family: remove it, take its grant and revoke the grant upstream. A
/// storage error is returned (the caller decides whether that fails the request).
pub async fn revoke_family(st: &ProxyState, f: &RefreshFamily) -> Result<(), StoreError> {
    st.records.delete_family(&f.family_id).await?;
    if let Some(grant) = st.records.take_grant(&f.grant_id).await? {
        revoke_upstream(st, &grant).await;
    }
    Ok(())
}

/// Best-effort upstream revocation of a grant's tokens (refresh token first).
pub async fn revoke_upstream(st: &ProxyState, g: &Grant) {
    let (token, hint) = match &g.upstream.refresh_token {
        Some(rt) => (rt.as_str(), "refresh_token"),
        None => (g.upstream.access_token.as_str(), "access_token"),
    };
    if let Err(e) = st.upstream.revoke(token, hint).await {
        tracing::warn!(error = %e, "upstream revocation failed");
    }
}

/// How long an access token for `grant` lives: the configured TTL, and never longer than an
/// upstream access token that cannot be refreshed.
pub(crate) fn access_ttl(st: &ProxyState, grant: &Grant) -> Duration {
    let cfg = st.config.access_token_ttl.get();
    match (grant.upstream.expires_at, &grant.upstream.refresh_token) {
        (Some(exp), None) => cfg.min(family::ttl_until(exp, st.now())),
        _ => cfg,
    }
}

/// A refresh token that does not verify.
pub(crate) fn token_error(e: TokenError) -> OAuthError {
    OAuthError::invalid_grant(format!("refresh token rejected: {e}"))
}

pub(crate) fn signing_error(e: TokenError) -> OAuthError {
    OAuthError::server_error(e.to_string())
}

/// Sign a refresh token of family `fid`, valid for `ttl`.
pub(crate) fn sign_refresh(
    st: &ProxyState,
    client: &ClientRecord,
    grant: &Grant,
    scopes: &[String],
    fid: &str,
    ttl: Duration,
) -> Result<Issued, OAuthError> {
    st.tokens
        .issue(NewToken {
            subject: &grant.subject,
            client_id: &client.client_id,
            scopes,
            ttl,
            token_use: TokenUse::Refresh,
            family_id: Some(fid),
        })
        .map_err(signing_error)
}

/// Sign an access token valid for `ttl` and map its jti to the grant for as long.
pub(crate) async fn issue_access(
    st: &ProxyState,
    client: &ClientRecord,
    grant: &Grant,
    scopes: &[String],
    family_id: Option<&str>,
    ttl: Duration,
) -> Result<Issued, OAuthError> {
    let access = st
        .tokens
        .issue(NewToken {
            subject: &grant.subject,
            client_id: &client.client_id,
            scopes,
            ttl,
            token_use: TokenUse::Access,
            family_id: None,
        })
        .map_err(signing_error)?;
    let mapping = TokenMapping {
        grant_id: grant.grant_id.clone(),
        family_id: family_id.map(str::to_string),
    };
    st.records
        .put_token(&access.claims.jti, &mapping, ttl)
        .await
        .map_err(unavailable)?;
    Ok(access)
}
