//! The refresh_token grant at the token endpoint.
//!
//! 1. Outside any lock: the token is checked (signature, expiry, client) and classified
//!    against its family; an older token, or the previous one after the grace window, is
//!    reuse and revokes the family and its grant at once.
//! 2. Under the grant's flight (so requests with the same token, and the guard's transparent
//!    refresh, take turns): the family is read again and classified again. The current token
//!    rotates, with one upstream refresh; the previous one inside the grace window gets a new
//!    successor in place of the current one (the upstream tokens were refreshed by that
//!    rotation moments ago, so only an expiring upstream token is refreshed again). A request
//!    that lost the race with a rotation (with the window off) is refused without revoking
//!    anything.
//! 3. The new access token's mapping is written before the family is swapped, and the family
//!    swap comes last: if anything fails earlier, the presented token is still the live one
//!    and the client can retry it. An upstream outage changes nothing.
//!
//! The locked part runs in its own task, so a client that disconnects cannot interrupt it.

use super::family::{self, Presented};
use super::upstream::{Need, RefreshError, lock_ttl, refresh_read, store_grant};
use crate::oauth::error::OAuthError;
use crate::oauth::sha256_hex;
use crate::proxy::grants::{
    TokenResponse, access_ttl, granted_scope, issue_access, revoke_family, sign_refresh,
    token_error, unavailable,
};
use crate::proxy::jwt::{Issued, TokenUse};
use crate::proxy::params::Params;
use crate::proxy::state::ProxyState;
use crate::proxy::store::{ClientRecord, Grant, RefreshFamily, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The configured grace window.
fn grace(st: &ProxyState) -> Duration {
    st.config.refresh_grace_window.get()
}

fn concurrent() -> OAuthError {
    OAuthError::invalid_grant("the refresh token was used concurrently; use the newest one")
}

/// Reuse of a rotated refresh token: revoke the family and its grant (RFC 9700 §4.14.2).
async fn reuse(st: &ProxyState, f: &RefreshFamily) -> OAuthError {
    tracing::warn!(client_id = %f.client_id, "rotated refresh token reused: revoking its family");
    if let Err(e) = revoke_family(st, f).await {
        tracing::warn!(error = %e, "cannot revoke the refresh family");
    }
    OAuthError::invalid_grant("the refresh token was already used; its grant is revoked")
}

/// The scopes of the new tokens: the family's, or fewer when `scope` is sent.
fn narrowed(requested: Option<&str>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    let Some(s) = requested else {
        return Ok(granted.to_vec());
    };
    let mut out: Vec<String> = Vec::new();
    for r in s.split_ascii_whitespace() {
        if !granted.iter().any(|g| g == r) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {} was not granted to this refresh token",
                crate::proxy::redirect::printable(r)
            )));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    }
    Ok(out)
}

/// `grant_type=refresh_token`; `arrived_us` is when the request arrived (clock, µs).
pub async fn refresh_token_grant(
    st: &Arc<ProxyState>,
    client: &ClientRecord,
    params: &Params,
    arrived_us: i64,
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
    let fam = st
        .records
        .get_family(fid)
        .await
        .map_err(unavailable)?
        .filter(|f| f.client_id == client.client_id)
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token was revoked or has expired"))?;
    let hash = sha256_hex(presented.as_bytes());
    let scopes = narrowed(params.get("scope"), &fam.scopes)?;
    let seen = family::classify(&fam, &hash, st.clock.now_millis(), grace(st));
    if matches!(seen, Presented::Stale | Presented::PreviousExpired) {
        return Err(if family::raced_rotation(&fam, false, arrived_us) {
            concurrent()
        } else {
            reuse(st, &fam).await
        });
    }
    let grant = st
        .records
        .get_grant(&fam.grant_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| OAuthError::invalid_grant("the authorization was revoked"))?;
    let job = Job {
        client: client.clone(),
        family_id: fid.to_string(),
        hash,
        scopes,
        saw_current: seen == Presented::Current,
        arrived_us,
        grant,
    };
    let st = st.clone();
    tokio::spawn(async move { job.run(&st).await })
        .await
        .unwrap_or_else(|e| Err(OAuthError::server_error(format!("refresh failed: {e}"))))
}

/// The locked part of one refresh request.
struct Job {
    client: ClientRecord,
    family_id: String,
    hash: String,
    scopes: Vec<String>,
    saw_current: bool,
    arrived_us: i64,
    /// The grant as the request first read it.
    grant: Grant,
}

impl Job {
    async fn run(self, st: &ProxyState) -> Result<TokenResponse, OAuthError> {
        if self.grant.upstream.refresh_token.is_some() {
            // Discovery (once per process) happens before the lock, not under it.
            st.upstream
                .endpoints()
                .await
                .map_err(|e| e.to_token_error())?;
        }
        let flight = st
            .upstream
            .flights()
            .acquire(&st.records, &self.grant.grant_id, lock_ttl(st))
            .await
            .map_err(|e| OAuthError::temporarily_unavailable(e.to_string()))?;
        let out = self.locked(st).await;
        flight.release().await;
        out
    }

    async fn locked(&self, st: &ProxyState) -> Result<TokenResponse, OAuthError> {
        // Under the flight, the family and the grant are read again, together, each for a
        // compare-and-swap over the bytes read.
        let (fam, stored) = tokio::join!(
            st.records.read_family(&self.family_id),
            st.records.read_grant(&self.grant.grant_id)
        );
        let fam = fam
            .map_err(unavailable)?
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token was revoked"))?;
        let stored = stored.map_err(unavailable)?;
        let now_ms = st.clock.now_millis();
        let presented = family::classify(&fam, &self.hash, now_ms, grace(st));
        let need = match presented {
            Presented::Current => Need::Always,
            Presented::PreviousInGrace => Need::IfExpiring,
            Presented::PreviousExpired | Presented::Stale => {
                return Err(
                    if family::raced_rotation(&fam, self.saw_current, self.arrived_us) {
                        concurrent()
                    } else {
                        reuse(st, &fam).await
                    },
                );
            }
        };
        let r = refresh_read(st, &self.grant, stored, need, Some(&self.family_id))
            .await
            .map_err(|e| e.to_token_error())?;
        let grant = &r.grant;
        let now = st.now();
        let expires_at = family::expiry(family::cap(&fam), &grant.upstream);
        if expires_at <= now {
            return Err(OAuthError::invalid_grant(
                "the upstream refresh token has expired",
            ));
        }
        let ttl = access_ttl(st, grant);
        let access_until = now.saturating_add(ttl.as_secs() as i64);
        let refresh = sign_refresh(
            st,
            &self.client,
            grant,
            &self.scopes,
            &self.family_id,
            family::ttl_until(expires_at, now),
        )?;
        let new_hash = sha256_hex(refresh.token.as_bytes());
        let mut next = if presented == Presented::Current {
            family::rotated(&fam, new_hash, now_ms, expires_at, access_until)
        } else {
            family::grace_successor(&fam, new_hash, expires_at, access_until)
        };
        // Three independent writes go to the store together (with the file store, usually one
        // commit; with Redis, one round trip): the grant's new upstream tokens, the access
        // token's mapping and the family's rotation. When any fails, the others are undone.
        next.swapped_at_us = st.clock.now_micros();
        let family_ttl = family::ttl_until(expires_at, now);
        let (stored, access, swapped) = tokio::join!(
            store_grant(st, &r, Some(&next), access_until),
            issue_access(
                st,
                &self.client,
                grant,
                &self.scopes,
                Some(&self.family_id),
                ttl,
            ),
            st.records.rotate_family(&fam, &next, family_ttl)
        );
        let access = match (stored, access, swapped) {
            (Ok(()), Ok(access), Ok(true)) => access,
            outcome => return Err(self.undo(st, &fam, &next, family_ttl, outcome).await),
        };
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: ttl.as_secs(),
            refresh_token: Some(refresh.token),
            scope: granted_scope(&self.scopes),
        })
    }

    /// After one of a refresh's writes failed (`outcome`: the grant's, the access token's and
    /// the family's): undo the others, and say why it failed.
    async fn undo(
        &self,
        st: &ProxyState,
        fam: &RefreshFamily,
        next: &RefreshFamily,
        family_ttl: Duration,
        outcome: (
            Result<(), RefreshError>,
            Result<Issued, OAuthError>,
            Result<bool, StoreError>,
        ),
    ) -> OAuthError {
        let (stored, access, swapped) = outcome;
        if let Ok(access) = &access {
            let _ = st.records.delete_token(&access.claims.jti).await;
        }
        if let Ok(true) = swapped {
            let undone = match &stored {
                // The grant is gone: so is its family.
                Err(RefreshError::Revoked) => st.records.delete_family(&self.family_id).await,
                // Put the family back, so that the client's refresh token is still the
                // current one when it tries again.
                _ => st.records.swap_family(next, fam, family_ttl).await,
            };
            if let Err(e) = undone {
                tracing::warn!(error = %e, "cannot undo a refresh token's rotation");
            }
        }
        match (stored, access, swapped) {
            (Err(e), _, _) => e.to_token_error(),
            (_, _, Ok(false)) => {
                OAuthError::invalid_grant("the refresh token was revoked meanwhile")
            }
            (_, Err(e), _) => e,
            (_, _, Err(e)) => unavailable(e),
            // Nothing failed (not called then): the most cautious answer.
            (Ok(()), Ok(_), Ok(true)) => {
                OAuthError::temporarily_unavailable("the refresh could not be completed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_may_only_narrow() {
        let granted = vec!["openid".to_string(), "email".to_string()];
        assert_eq!(narrowed(None, &granted).unwrap(), granted);
        assert_eq!(
            narrowed(Some("email email"), &granted).unwrap(),
            vec!["email"]
        );
        assert_eq!(narrowed(Some(""), &granted).unwrap(), Vec::<String>::new());
        assert_eq!(
            narrowed(Some("openid admin"), &granted).unwrap_err().error,
            "invalid_scope"
        );
    }
}
