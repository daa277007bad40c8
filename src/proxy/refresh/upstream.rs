//! Refreshing a grant's upstream tokens under its [`Flight`](super::Flight), and keeping the
//! stored grant (and its family) alive exactly as long as the tokens they back.
//!
//! Every caller holds the grant's flight, so at most one upstream refresh per grant runs at a
//! time. Inside, the grant is read again: when it differs from the one the request started
//! with, another request or instance refreshed it meanwhile, and that result is used — the
//! upstream refresh token is never spent twice.
//!
//! Upstream outcomes: new tokens (a rotated refresh token, or none, in which case the old one
//! is kept; `refresh_expires_in` caps the family) are stored; `invalid_grant` ends the
//! session (grant and family removed); anything else (down, timeout, 503, garbage) changes
//! nothing, so the same request can be retried.

use super::family;
use super::flight::FlightError;
use crate::oauth::error::OAuthError;
use crate::proxy::outbound::UpstreamError;
use crate::proxy::state::ProxyState;
use crate::proxy::store::{Grant, Read, RefreshFamily, StoreError, UpstreamTokens};
use std::sync::Arc;
use std::time::Duration;

/// When the upstream tokens must be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// On every rotation of the proxy's refresh token (one upstream refresh per rotation).
    Always,
    /// Only when the upstream access token has expired or is within `upstream.expiry_threshold`.
    IfExpiring,
}

/// Why a grant could not be refreshed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The grant is gone (revoked, or its session ended).
    #[error("the authorization was revoked")]
    Revoked,
    /// The IdP's answer (`invalid_grant`: the session is over, the grant was removed).
    #[error(transparent)]
    Upstream(UpstreamError),
    /// The store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Another refresh of the grant took too long.
    #[error(transparent)]
    Flight(#[from] FlightError),
}

impl RefreshError {
    /// Whether the session is over (the client must sign in again).
    pub fn session_ended(&self) -> bool {
        match self {
            RefreshError::Revoked => true,
            RefreshError::Upstream(e) => e.is_invalid_grant(),
            _ => false,
        }
    }

    /// The error a client gets at the token endpoint.
    pub fn to_token_error(&self) -> OAuthError {
        match self {
            RefreshError::Revoked => OAuthError::invalid_grant(self.to_string()),
            RefreshError::Upstream(e) => e.to_token_error(),
            RefreshError::Store(_) | RefreshError::Flight(_) => {
                OAuthError::temporarily_unavailable(self.to_string())
            }
        }
    }
}

/// Whether the upstream access token has expired or expires within `threshold` of `now`.
pub fn needs_refresh(up: &UpstreamTokens, now: i64, threshold: Duration) -> bool {
    let ahead = i64::try_from(threshold.as_secs()).unwrap_or(i64::MAX);
    up.expires_at
        .is_some_and(|e| e <= now.saturating_add(ahead))
}

/// How long a flight's store lock lives: slightly more than one upstream call may take.
pub fn lock_ttl(st: &ProxyState) -> Duration {
    st.config.upstream.timeout.get() + Duration::from_secs(2)
}

/// A grant as stored before a refresh, and as it must be stored after it.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The stored value, as read (the expected value of the compare-and-swap).
    pub stored: Read<Grant>,
    /// The value to store (equal to `stored` when nothing was refreshed).
    pub grant: Grant,
}

impl Refreshed {
    /// Whether this call refreshed upstream.
    pub fn refreshed(&self) -> bool {
        self.stored.upstream != self.grant.upstream
    }
}

/// With the grant's flight held: the grant now, refreshed upstream when `need` says so and
/// nobody refreshed it since the request read `seen`. Upstream `invalid_grant` removes the
/// grant and the family `family_id`.
pub async fn refresh_locked(
    st: &ProxyState,
    seen: &Grant,
    need: Need,
    family_id: Option<&str>,
) -> Result<Refreshed, RefreshError> {
    let stored = st.records.read_grant(&seen.grant_id).await?;
    refresh_read(st, seen, stored, need, family_id).await
}

/// [`refresh_locked`] with the grant already read under the flight (`stored`, `None` when it
/// is gone).
pub async fn refresh_read(
    st: &ProxyState,
    seen: &Grant,
    stored: Option<Read<Grant>>,
    need: Need,
    family_id: Option<&str>,
) -> Result<Refreshed, RefreshError> {
    let stored = stored.ok_or(RefreshError::Revoked)?;
    let unchanged = |stored: Read<Grant>| Refreshed {
        grant: (*stored).clone(),
        stored,
    };
    if stored.upstream != seen.upstream {
        tracing::debug!("upstream tokens were refreshed by another request; using them");
        return Ok(unchanged(stored));
    }
    let due = match need {
        Need::Always => true,
        Need::IfExpiring => needs_refresh(
            &stored.upstream,
            st.now(),
            st.config.upstream.expiry_threshold.get(),
        ),
    };
    if !due || stored.upstream.refresh_token.is_none() {
        return Ok(unchanged(stored));
    }
    // The proxy's scope narrowing is not sent upstream: the upstream tokens back the whole
    // family, which may ask for its full scope again, and many IdPs narrow a grant for good.
    match st.upstream.refresh(&stored.upstream, None).await {
        Ok(tokens) => {
            let grant = Grant {
                upstream: tokens,
                ..(*stored).clone()
            };
            Ok(Refreshed { stored, grant })
        }
        Err(e) if e.is_invalid_grant() => {
            tracing::info!(error = %e, "upstream refused the refresh: the session is over");
            if let Some(fid) = family_id {
                let _ = st.records.delete_family(fid).await;
            }
            let _ = st.records.delete_grant(&stored.grant_id).await;
            Err(RefreshError::Upstream(e))
        }
        Err(e) => Err(RefreshError::Upstream(e)),
    }
}

/// Store `r.grant` for as long as the family `family` (as it will be stored) and `floor`
/// (Unix seconds, e.g. the newest access token's expiry) need it.
pub async fn store_grant(
    st: &ProxyState,
    r: &Refreshed,
    family: Option<&RefreshFamily>,
    floor: i64,
) -> Result<(), RefreshError> {
    let now = st.now();
    let ttl = family::ttl_until(family::grant_keep_until(family, floor), now);
    let mut expected = r.stored.clone();
    for _ in 0..3 {
        if st.records.swap_grant(&expected, &r.grant, ttl).await? {
            return Ok(());
        }
        match st.records.read_grant(&r.grant.grant_id).await? {
            // Only its lifetime was rewritten meanwhile: try again over it.
            Some(g) if g.upstream == r.stored.upstream => expected = g,
            // Written by something else: keep it.
            Some(_) if !r.refreshed() => return Ok(()),
            _ => break,
        }
    }
    if r.refreshed() {
        // The grant was revoked while refreshing: the new upstream tokens must not linger.
        crate::proxy::grants::revoke_upstream(st, &r.grant).await;
    }
    Err(RefreshError::Revoked)
}

/// The guard's transparent refresh: make sure `seen`'s upstream access token is usable,
/// sharing one upstream refresh among concurrent requests (of this and other instances).
/// `floor` is the presented access token's expiry: the grant is kept at least until then.
///
/// Runs in its own task, so a client that disconnects cannot interrupt a refresh halfway
/// (after the IdP spent its refresh token, before the new one is stored).
pub async fn ensure_fresh(
    st: &Arc<ProxyState>,
    seen: Grant,
    family_id: Option<String>,
    floor: i64,
) -> Result<Grant, RefreshError> {
    let st = st.clone();
    let task = tokio::spawn(async move {
        st.upstream
            .endpoints()
            .await
            .map_err(RefreshError::Upstream)?;
        let flight = st
            .upstream
            .flights()
            .acquire(&st.records, &seen.grant_id, lock_ttl(&st))
            .await?;
        let out = guard_refresh(&st, &seen, family_id.as_deref(), floor).await;
        flight.release().await;
        out
    });
    task.await.unwrap_or_else(|e| {
        Err(RefreshError::Store(StoreError::Unavailable(format!(
            "refresh task failed: {e}"
        ))))
    })
}

async fn guard_refresh(
    st: &ProxyState,
    seen: &Grant,
    family_id: Option<&str>,
    floor: i64,
) -> Result<Grant, RefreshError> {
    let r = refresh_locked(st, seen, Need::IfExpiring, family_id).await?;
    if !r.refreshed() {
        return Ok(r.grant);
    }
    // The proxy's refresh token must not outlive the new upstream refresh token.
    let mut family = match family_id {
        Some(fid) => st.records.get_family(fid).await?,
        None => None,
    };
    if let Some(f) = &family {
        let expires_at = family::expiry(family::cap(f), &r.grant.upstream);
        if expires_at != f.expires_at {
            let capped = RefreshFamily {
                expires_at,
                ..f.clone()
            };
            let ttl = family::ttl_until(expires_at, st.now());
            if st.records.swap_family(f, &capped, ttl).await? {
                family = Some(capped);
            }
        }
    }
    store_grant(st, &r, family.as_ref(), floor).await?;
    Ok(r.grant)
}
