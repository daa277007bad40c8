//! The rotation rules of a refresh family, as pure functions over [`RefreshFamily`].
//!
//! A family holds one live refresh token (its hash) at a time. Using it rotates it: the used
//! token becomes `previous`, a new one becomes `current`. Presenting `previous` again inside
//! the grace window (a client retrying after a lost response) yields a new successor that
//! *replaces* `current`, so exactly one successor is ever live; the window counts from the
//! first rotation and is not extended by retries. Anything else (an older token, `previous`
//! after the window) is reuse, which revokes the family (RFC 9700 §4.14.2) — unless the
//! request demonstrably raced the rotation (see [`Presented`]).

use crate::proxy::store::{RefreshFamily, UpstreamTokens};
use std::time::Duration;

/// What a presented refresh token is to its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The live token: rotate.
    Current,
    /// The token rotated out last, inside the grace window: issue a successor in place of
    /// the current one.
    PreviousInGrace,
    /// The token rotated out last, after the grace window (or with the window off).
    PreviousExpired,
    /// Not a live or just-rotated token of this family: an older one.
    Stale,
}

/// Classify `hash` (SHA-256 hex of the presented token) at `now_ms` with a `grace` window.
pub fn classify(f: &RefreshFamily, hash: &str, now_ms: i64, grace: Duration) -> Presented {
    let eq = |stored: &str| crate::oauth::constant_time_eq(stored.as_bytes(), hash.as_bytes());
    if eq(&f.current_hash) {
        return Presented::Current;
    }
    match &f.previous_hash {
        Some(prev) if eq(prev) => {
            let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
            if grace_ms > 0 && now_ms < f.rotated_at_ms.saturating_add(grace_ms) {
                Presented::PreviousInGrace
            } else {
                Presented::PreviousExpired
            }
        }
        _ => Presented::Stale,
    }
}

/// Whether a request that presented a token which is no longer current lost a race with the
/// swap that retired it rather than replaying it: it saw the token current when it first read
/// the family, or it arrived (by the clock, in microseconds) before the swap. Such a request
/// is refused without revoking the family, so that concurrent refreshes with the grace window
/// off leave exactly one live successor instead of none. A request arriving at or after the
/// swap (always, with a frozen clock) presents a token that was already retired: a replay.
pub fn raced_rotation(f: &RefreshFamily, saw_current: bool, arrived_us: i64) -> bool {
    saw_current || (f.swapped_at_us > 0 && arrived_us < f.swapped_at_us)
}

/// The family's expiry cap (records older than the field use `expires_at`).
pub fn cap(f: &RefreshFamily) -> i64 {
    if f.max_expires_at > 0 {
        f.max_expires_at
    } else {
        f.expires_at
    }
}

/// The family expiry for a cap and the upstream tokens: never past the upstream refresh
/// token's expiry, when the IdP told it.
pub fn expiry(cap: i64, upstream: &UpstreamTokens) -> i64 {
    match upstream.refresh_expires_at {
        Some(up) => cap.min(up),
        None => cap,
    }
}

/// The family after the current token was used: it becomes `previous`.
pub fn rotated(
    f: &RefreshFamily,
    new_hash: String,
    now_ms: i64,
    expires_at: i64,
    access_until: i64,
) -> RefreshFamily {
    RefreshFamily {
        previous_hash: Some(f.current_hash.clone()),
        current_hash: new_hash,
        rotated_at_ms: now_ms,
        expires_at,
        max_expires_at: cap(f),
        access_until: f.access_until.max(access_until),
        ..f.clone()
    }
}

/// The family after `previous` was presented inside the grace window: a new successor
/// replaces the current one (which is thereby revoked); `previous` and the window stay.
pub fn grace_successor(
    f: &RefreshFamily,
    new_hash: String,
    expires_at: i64,
    access_until: i64,
) -> RefreshFamily {
    RefreshFamily {
        current_hash: new_hash,
        expires_at,
        max_expires_at: cap(f),
        access_until: f.access_until.max(access_until),
        ..f.clone()
    }
}

/// Until when (Unix seconds) the grant behind a family must be kept: the later of the
/// family's expiry, the newest access token it issued, and `floor`.
pub fn grant_keep_until(family: Option<&RefreshFamily>, floor: i64) -> i64 {
    family.map_or(floor, |f| f.expires_at.max(f.access_until).max(floor))
}

/// A TTL reaching `until` from `now` (at least one second).
pub fn ttl_until(until: i64, now: i64) -> Duration {
    Duration::from_secs(until.saturating_sub(now).max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> RefreshFamily {
        RefreshFamily {
            family_id: "f".into(),
            grant_id: "g".into(),
            client_id: "c".into(),
            scopes: vec!["openid".into()],
            current_hash: "h0".into(),
            expires_at: 1_000,
            previous_hash: None,
            rotated_at_ms: 0,
            swapped_at_us: 0,
            max_expires_at: 2_000,
            access_until: 50,
        }
    }

    const GRACE: Duration = Duration::from_secs(10);

    #[test]
    fn rotation_and_grace() {
        let f0 = family();
        assert_eq!(classify(&f0, "h0", 0, GRACE), Presented::Current);
        assert_eq!(classify(&f0, "hx", 0, GRACE), Presented::Stale);
        let f1 = rotated(&f0, "h1".into(), 100_000, 900, 40);
        assert_eq!(f1.previous_hash.as_deref(), Some("h0"));
        assert_eq!((f1.expires_at, f1.max_expires_at), (900, 2_000));
        assert_eq!(f1.access_until, 50, "access_until never shrinks");
        assert_eq!(classify(&f1, "h1", 100_001, GRACE), Presented::Current);
        assert_eq!(
            classify(&f1, "h0", 109_999, GRACE),
            Presented::PreviousInGrace
        );
        assert_eq!(
            classify(&f1, "h0", 110_000, GRACE),
            Presented::PreviousExpired
        );
        assert_eq!(
            classify(&f1, "h0", 100_000, Duration::ZERO),
            Presented::PreviousExpired,
            "0s turns the window off"
        );
        // A retry inside the window replaces the earlier successor; the window does not move.
        let f2 = grace_successor(&f1, "h2".into(), 900, 60);
        assert_eq!(classify(&f2, "h1", 105_000, GRACE), Presented::Stale);
        assert_eq!(classify(&f2, "h2", 105_000, GRACE), Presented::Current);
        assert_eq!(
            classify(&f2, "h0", 105_000, GRACE),
            Presented::PreviousInGrace
        );
        assert_eq!(f2.rotated_at_ms, 100_000);
        assert_eq!(f2.access_until, 60);
        // Rotating the successor retires the first token for good.
        let f3 = rotated(&f2, "h3".into(), 106_000, 900, 60);
        assert_eq!(classify(&f3, "h0", 106_001, GRACE), Presented::Stale);
        assert_eq!(
            classify(&f3, "h2", 106_001, GRACE),
            Presented::PreviousInGrace
        );
    }

    #[test]
    fn racing_requests_are_not_replays() {
        let mut f1 = rotated(&family(), "h1".into(), 5, 900, 40);
        f1.swapped_at_us = 5_000_250;
        assert!(raced_rotation(&f1, true, 9_000_000));
        assert!(
            raced_rotation(&f1, false, 5_000_249),
            "arrived before the swap"
        );
        assert!(
            !raced_rotation(&f1, false, 5_000_250),
            "arrived as the swap was stamped: a replay"
        );
        assert!(!raced_rotation(&f1, false, 5_000_251));
        assert!(!raced_rotation(&family(), false, 0), "never swapped");
    }

    #[test]
    fn expiry_follows_the_upstream_refresh_token() {
        let mut up = UpstreamTokens {
            access_token: "a".into(),
            token_type: "Bearer".into(),
            refresh_token: Some("r".into()),
            id_token: None,
            expires_at: Some(100),
            refresh_expires_at: Some(30),
            scope: None,
        };
        assert_eq!(expiry(2_000, &up), 30);
        up.refresh_expires_at = Some(5_000);
        assert_eq!(expiry(2_000, &up), 2_000, "never past the cap");
        up.refresh_expires_at = None;
        assert_eq!(expiry(2_000, &up), 2_000);
        let mut old = family();
        old.max_expires_at = 0;
        assert_eq!(cap(&old), 1_000);
    }

    #[test]
    fn grants_outlive_every_token_they_back() {
        let mut f = family();
        assert_eq!(grant_keep_until(Some(&f), 0), 1_000);
        f.access_until = 3_000;
        assert_eq!(grant_keep_until(Some(&f), 0), 3_000);
        assert_eq!(grant_keep_until(Some(&f), 4_000), 4_000);
        assert_eq!(grant_keep_until(None, 70), 70);
        assert_eq!(ttl_until(70, 100), Duration::from_secs(1));
        assert_eq!(ttl_until(170, 100), Duration::from_secs(70));
    }
}
