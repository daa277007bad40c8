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
//! - refresh_token: see [`crate::proxy::refresh`] (rotation with a grace window, reuse
//!   detection, single-flight upstream refresh); `scope` may narrow.
//!
//! The tokens issued from a code: the access token (its jti mapped to the grant for as long
//! as it lives) and, when the client may refresh, the first refresh token of a new family.
//! The grant is then kept exactly as long as the longest of them needs it.

use crate::oauth::client_auth::decode_basic;
use crate::oauth::error::OAuthError;
use crate::oauth::{pkce, random_token, sha256_hex};
use crate::proxy::grants::{
    TokenResponse, access_ttl, granted_scope, issue_access, revoke_grant, sign_refresh, unavailable,
};
use crate::proxy::params::{OAuthForm, Params};
use crate::proxy::refresh::family;
use crate::proxy::state::{ClientLookupError, ProxyState};
use crate::proxy::store::{ClientRecord, Grant, Read, RefreshFamily, UsedCode};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use std::sync::Arc;

/// The handler. Every answer is `no-store` ([`crate::proxy::server`] adds it).
pub async fn token(
    State(st): State<Arc<ProxyState>>,
    headers: HeaderMap,
    OAuthForm(params): OAuthForm,
) -> Result<Json<TokenResponse>, OAuthError> {
    let arrived_us = st.clock.now_micros();
    handle(&st, &headers, params, arrived_us).await.map(Json)
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
    st: &Arc<ProxyState>,
    headers: &HeaderMap,
    params: Params,
    arrived_us: i64,
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
        crate::proxy::refresh::refresh_token_grant(st, &client, &params, arrived_us).await
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
    // Taken atomically, so that of two concurrent redemptions one gets it. A made-up code
    // (what a flood sends) takes nothing, and costs no disk commit: no store keeps codes in a
    // file (see `store::file`).
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
    // The code is consumed now. Whatever happens next, it is remembered as used (so that a
    // replay revokes what it issued): on the way out of a refused exchange, or together with
    // the tokens of a successful one.
    let used = UsedCode {
        grant_id: rec.grant_id.clone(),
    };
    let remember_used = || async {
        if let Err(e) = st.records.put_used_code(&key, &used, used_ttl).await {
            tracing::warn!(error = %e, "cannot remember a redeemed authorization code");
        }
    };
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
        remember_used().await;
        revoke_grant(st, &rec.grant_id).await;
        return Err(e);
    }
    let grant = match st.records.read_grant(&rec.grant_id).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            remember_used().await;
            return Err(reject("the authorization was revoked"));
        }
        Err(e) => {
            remember_used().await;
            return Err(unavailable(e));
        }
    };
    // The code passed every check: the used-code record, the tokens and the durable
    // registration are independent writes, sent together.
    let (issued, (), ()) = tokio::join!(
        issue_first(
            st,
            client,
            &grant,
            &rec.scopes,
            wants_refresh(client, &grant),
        ),
        remember_used(),
        make_durable(st, client)
    );
    issued
}

/// A provisional registration's first token exchange that passes every check (a real code,
/// its client, redirect URI and verifier) makes it durable: from now on it lives
/// `client_ttl`. (Failing to store that is logged, not fatal: the client can register again
/// when the registration lapses.)
async fn make_durable(st: &ProxyState, client: &ClientRecord) {
    if !client.provisional {
        return;
    }
    let durable = ClientRecord {
        provisional: false,
        ..client.clone()
    };
    if let Err(e) = st
        .records
        .put_client(&durable.client_id, &durable, st.config.client_ttl.get())
        .await
    {
        tracing::warn!(client_id = %client.client_id, error = %e, "could not make the registration durable");
    }
}

fn wants_refresh(client: &ClientRecord, grant: &Grant) -> bool {
    client.allows_grant("refresh_token")
        && (grant.upstream.refresh_token.is_some() || grant.upstream.expires_at.is_none())
}

/// The tokens for a redeemed code: an access token, and with `with_refresh` the first
/// refresh token of a new family (which never outlives the upstream refresh token).
async fn issue_first(
    st: &ProxyState,
    client: &ClientRecord,
    grant: &Read<Grant>,
    scopes: &[String],
    with_refresh: bool,
) -> Result<TokenResponse, OAuthError> {
    let now = st.now();
    let ttl = access_ttl(st, grant);
    let access_until = now.saturating_add(ttl.as_secs() as i64);
    let mut fam = None;
    let mut refresh_token = None;
    if with_refresh {
        let fid = random_token(24);
        let cap = now.saturating_add(st.config.refresh_token_ttl.as_secs() as i64);
        let expires_at = family::expiry(cap, &grant.upstream);
        let refresh = sign_refresh(
            st,
            client,
            grant,
            scopes,
            &fid,
            family::ttl_until(expires_at, now),
        )?;
        let f = RefreshFamily {
            family_id: fid.clone(),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            scopes: scopes.to_vec(),
            current_hash: sha256_hex(refresh.token.as_bytes()),
            expires_at,
            previous_hash: None,
            rotated_at_ms: 0,
            swapped_at_us: 0,
            max_expires_at: cap,
            access_until,
        };
        fam = Some(f);
        refresh_token = Some(refresh.token);
    }
    // The grant lives exactly as long as the longest token it backs.
    let keep = family::ttl_until(family::grant_keep_until(fam.as_ref(), access_until), now);
    let fid = fam.as_ref().map(|f| f.family_id.as_str());
    // Three independent writes, sent together (with the file store, usually one commit; with
    // Redis, one round trip): the refresh family, the grant's lifetime, the access token's
    // mapping. Each of the first and last undoes the other when it alone fails.
    let put_family = async {
        match &fam {
            Some(f) => st
                .records
                .put_family(&f.family_id, f, family::ttl_until(f.expires_at, now))
                .await
                .map_err(unavailable),
            None => Ok(()),
        }
    };
    let (family_stored, lifetime, access) = tokio::join!(
        put_family,
        st.records.swap_grant(grant, grant, keep),
        issue_access(st, client, grant, scopes, fid, ttl)
    );
    if let Err(e) = lifetime {
        tracing::warn!(error = %e, "cannot set the grant's lifetime");
    }
    match (family_stored, access) {
        (Ok(()), Ok(access)) => Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            refresh_token,
            scope: granted_scope(scopes),
        }),
        (Err(e), access) => {
            if let Ok(access) = access {
                let _ = st.records.delete_token(&access.claims.jti).await;
            }
            Err(e)
        }
        (Ok(()), Err(e)) => {
            if let Some(fid) = fid {
                let _ = st.records.delete_family(fid).await;
            }
            Err(e)
        }
    }
}
