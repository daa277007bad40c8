//! `POST /token`: the authorization_code and refresh_token grants for public clients.
//!
//! Form bodies only (another content type is `invalid_request`), no repeated parameters,
//! `Cache-Control: no-store` and `Pragma: no-cache` on every answer. Client authentication
//! for the public clients the proxy registers is the `client_id` in the form (an
//! `Authorization: Basic` header with the client id and an empty secret is accepted too; a
//! secret is refused, since none was ever issued).
//!
//! - authorization_code: single use (a replay revokes the tokens issued with the code and
//!   the upstream tokens behind them), bound to the client and the redirect URI, and the
//!   client's PKCE verifier must match its S256 challenge.
//! - refresh_token: every use rotates the refresh token; presenting an already rotated one
//!   revokes the whole family and its grant (RFC 9700 §4.14.2); the upstream refresh token is
//!   used on every refresh when there is one; `scope` may narrow.

use crate::oauth::client_auth::decode_basic;
use crate::oauth::error::OAuthError;
use crate::oauth::{pkce, random_token, sha256_hex};
use crate::proxy::params::{Params, read_form};
use crate::proxy::state::{ClientLookupError, ProxyState};
use crate::proxy::store::{ClientRecord, Grant, RefreshFamily, StoreError, TokenMapping, UsedCode};
use crate::proxy::tokens::{NewToken, TokenError, TokenUse};
use crate::proxy::upstream::UpstreamError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
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
    /// Granted scopes.
    pub scope: String,
}

/// The handler.
pub async fn token(State(st): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = match read_form(&parts.headers, body).await {
        Ok(params) => handle(&st, &parts.headers, params).await,
        Err(e) => Err(e),
    };
    let mut resp = match result {
        Ok(t) => Json(t).into_response(),
        Err(e) => e.into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

pub(crate) fn unavailable(e: StoreError) -> OAuthError {
    OAuthError::temporarily_unavailable(e.to_string())
}

/// Identify the (public) client of a token or revocation request.
pub async fn authenticate(
    st: &ProxyState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientRecord, OAuthError> {
    let form_id = params.get("client_id");
    let client_id = match headers.get(header::AUTHORIZATION) {
        Some(h) => {
            let (id, secret) = h.to_str().ok().and_then(decode_basic).ok_or_else(|| {
                OAuthError::invalid_client(
                    "unsupported Authorization header (public clients send client_id in the form)",
                )
            })?;
            if !secret.is_empty() {
                return Err(OAuthError::invalid_client(
                    "this client is public: it has no secret",
                ));
            }
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_client(
                    "client_id in the form and the Authorization header differ",
                ));
            }
            id
        }
        None => form_id
            .map(str::to_string)
            .ok_or_else(|| OAuthError::invalid_client("client_id is required"))?,
    };
    if params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_client(
            "this client is public: it has no secret",
        ));
    }
    if params.get("client_assertion").is_some() {
        return Err(OAuthError::invalid_client(
            "client assertions are not supported",
        ));
    }
    match st.find_client(&client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(OAuthError::invalid_client(
            "unknown client_id (register again)",
        )),
        Err(ClientLookupError::Cimd(e)) => Err(OAuthError::invalid_client(e.to_string())),
        Err(ClientLookupError::Store(e)) => Err(unavailable(e)),
    }
}

async fn handle(
    st: &ProxyState,
    headers: &HeaderMap,
    params: Params,
) -> Result<TokenResponse, OAuthError> {
    params.check()?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {} is not supported",
            crate::proxy::redirect::printable(grant_type)
        )));
    }
    let client = authenticate(st, headers, &params).await?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for {grant_type}"
        )));
    }
    if let Some(r) = params.get("resource")
        && !st.is_own_resource(r)
    {
        return Err(OAuthError::invalid_target(format!(
            "this server protects {}",
            st.resource
        )));
    }
    if grant_type == "authorization_code" {
        authorization_code(st, &client, &params).await
    } else {
        refresh_token(st, &client, &params).await
    }
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

async fn authorization_code(
    st: &ProxyState,
    client: &ClientRecord,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let key = sha256_hex(code.as_bytes());
    let used_ttl = st
        .config
        .access_token_ttl
        .get()
        .max(st.config.code_ttl.get());
    let rec = match st.records.take_code(&key).await.map_err(unavailable)? {
        Some(r) => r,
        None => {
            if let Some(used) = st.records.get_used_code(&key).await.map_err(unavailable)? {
                tracing::warn!(client_id = %client.client_id, "authorization code replayed: revoking its tokens");
                revoke_grant(st, &used.grant_id).await;
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used; the tokens issued with it are revoked",
                ));
            }
            return Err(OAuthError::invalid_grant(
                "unknown or expired authorization code",
            ));
        }
    };
    // The code is consumed now. Whatever happens next, remember it as used.
    let used = UsedCode {
        grant_id: rec.grant_id.clone(),
    };
    st.records
        .put_used_code(&key, &used, used_ttl)
        .await
        .map_err(unavailable)?;
    let reject = |msg: &str| OAuthError::invalid_grant(msg);
    let redirect_ok = match params.get("redirect_uri") {
        Some(sent) => sent == rec.redirect_uri,
        None => !rec.redirect_uri_explicit,
    };
    let problem = if rec.expires_at <= st.now() {
        Some(reject("the authorization code has expired"))
    } else if rec.client_id != client.client_id {
        Some(reject(
            "the authorization code was issued to another client",
        ))
    } else if !redirect_ok {
        Some(reject(
            "redirect_uri does not match the authorization request",
        ))
    } else if !pkce::verify_s256(verifier, &rec.code_challenge) {
        Some(reject("code_verifier does not match the code_challenge"))
    } else {
        None
    };
    if let Some(e) = problem {
        revoke_grant(st, &rec.grant_id).await;
        return Err(e);
    }
    let grant = st
        .records
        .get_grant(&rec.grant_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| reject("the authorization was revoked"))?;
    let family_id = wants_refresh(client, &grant).then(|| random_token(24));
    issue(st, client, &grant, &rec.scopes, family_id.as_deref(), None).await
}

fn wants_refresh(client: &ClientRecord, grant: &Grant) -> bool {
    client.allows_grant("refresh_token")
        && (grant.upstream.refresh_token.is_some() || grant.upstream.expires_at.is_none())
}

fn access_ttl(st: &ProxyState, grant: &Grant) -> Duration {
    let cfg = st.config.access_token_ttl.get();
    match (grant.upstream.expires_at, &grant.upstream.refresh_token) {
        (Some(exp), None) => cfg.min(Duration::from_secs((exp - st.now()).max(1) as u64)),
        _ => cfg,
    }
}

fn refresh_ttl(st: &ProxyState, grant: &Grant) -> Duration {
    let cfg = st.config.refresh_token_ttl.get();
    match grant.upstream.refresh_expires_at {
        Some(exp) => cfg.min(Duration::from_secs((exp - st.now()).max(1) as u64)),
        None => cfg,
    }
}

fn token_error(e: TokenError) -> OAuthError {
    OAuthError::invalid_grant(format!("refresh token rejected: {e}"))
}

fn signing_error(e: TokenError) -> OAuthError {
    OAuthError::server_error(e.to_string())
}

/// Sign a refresh token for family `fid`.
fn sign_refresh(
    st: &ProxyState,
    client: &ClientRecord,
    grant: &Grant,
    scopes: &[String],
    fid: &str,
    ttl: Duration,
) -> Result<crate::proxy::tokens::Issued, OAuthError> {
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

/// Issue an access token (and, for a new grant, a refresh token and its family).
async fn issue(
    st: &ProxyState,
    client: &ClientRecord,
    grant: &Grant,
    scopes: &[String],
    family_id: Option<&str>,
    rotated_refresh: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let mut refresh_token = rotated_refresh;
    let mut new_family = None;
    if refresh_token.is_none()
        && let Some(fid) = family_id
    {
        let rttl = refresh_ttl(st, grant);
        let refresh = sign_refresh(st, client, grant, scopes, fid, rttl)?;
        let fam = RefreshFamily {
            family_id: fid.to_string(),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            scopes: scopes.to_vec(),
            current_hash: sha256_hex(refresh.token.as_bytes()),
            generation: 0,
            expires_at: refresh.claims.exp,
        };
        st.records
            .put_family(fid, &fam, rttl)
            .await
            .map_err(unavailable)?;
        new_family = Some(fid);
        refresh_token = Some(refresh.token);
    }
    let ttl = access_ttl(st, grant);
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
        client_id: client.client_id.clone(),
        family_id: family_id.map(str::to_string),
    };
    if let Err(e) = st
        .records
        .put_token(&access.claims.jti, &mapping, ttl)
        .await
    {
        if let Some(fid) = new_family {
            let _ = st.records.delete_family(fid).await;
        }
        return Err(unavailable(e));
    }
    Ok(TokenResponse {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: ttl.as_secs(),
        refresh_token,
        scope: scopes.join(" "),
    })
}

async fn refresh_token(
    st: &ProxyState,
    client: &ClientRecord,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let claims = st
        .tokens
        .verify(presented, TokenUse::Refresh)
        .map_err(token_error)?;
    if claims.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let fid = claims
        .fid
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_grant("not a refresh token of this server"))?;
    let family = st
        .records
        .get_family(fid)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token was revoked or has expired"))?;
    if !crate::oauth::constant_time_eq(
        sha256_hex(presented.as_bytes()).as_bytes(),
        family.current_hash.as_bytes(),
    ) {
        tracing::warn!(client_id = %client.client_id, "rotated refresh token reused: revoking its family");
        let _ = st.records.delete_family(fid).await;
        revoke_grant(st, &family.grant_id).await;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; its grant is revoked",
        ));
    }
    let scopes = match params.get("scope") {
        None => family.scopes.clone(),
        Some(s) => {
            let req: Vec<String> = s.split_ascii_whitespace().map(str::to_string).collect();
            if let Some(bad) = req.iter().find(|r| !family.scopes.contains(r)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad} was not granted to this refresh token"
                )));
            }
            req
        }
    };
    let grant = st
        .records
        .get_grant(&family.grant_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| OAuthError::invalid_grant("the authorization was revoked"))?;

    // 1. Claim the rotation: exactly one concurrent request replaces the current hash.
    let rttl = Duration::from_secs((family.expires_at - st.now()).max(1) as u64);
    let refresh = sign_refresh(st, client, &grant, &scopes, fid, rttl)?;
    let next = RefreshFamily {
        current_hash: sha256_hex(refresh.token.as_bytes()),
        generation: family.generation + 1,
        ..family.clone()
    };
    if !st
        .records
        .swap_family(&family, &next, rttl)
        .await
        .map_err(unavailable)?
    {
        return Err(OAuthError::invalid_grant(
            "the refresh token was used concurrently; use the newest one",
        ));
    }
    // 2. Refresh upstream. If the IdP is down, undo the rotation so the client can retry
    //    with the same refresh token: nothing is lost.
    let grant = match refresh_upstream(st, &grant).await {
        Ok(g) => g,
        Err(UpstreamError::Rejected { error, description }) if error == "invalid_grant" => {
            let _ = st.records.delete_family(fid).await;
            let _ = st.records.delete_grant(&grant.grant_id).await;
            return Err(UpstreamError::Rejected { error, description }.to_token_error());
        }
        Err(e) => {
            let _ = st.records.swap_family(&next, &family, rttl).await;
            return Err(e.to_token_error());
        }
    };
    // 3. The new access token.
    issue(st, client, &grant, &scopes, Some(fid), Some(refresh.token)).await
}

/// Refresh the grant's upstream tokens when it has a refresh token, and store the result.
async fn refresh_upstream(st: &ProxyState, grant: &Grant) -> Result<Grant, UpstreamError> {
    if grant.upstream.refresh_token.is_none() {
        return Ok(grant.clone());
    }
    let tokens = st.upstream.refresh(&grant.upstream, None).await?;
    let next = Grant {
        upstream: tokens,
        ..grant.clone()
    };
    let ttl = st
        .config
        .refresh_token_ttl
        .get()
        .max(st.config.access_token_ttl.get());
    match st.records.swap_grant(grant, &next, ttl).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!("grant changed concurrently; keeping the newest upstream tokens")
        }
        Err(e) => return Err(UpstreamError::Unavailable(format!("storage: {e}"))),
    }
    Ok(next)
}
