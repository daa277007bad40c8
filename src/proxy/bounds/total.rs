//! The instance's total caps on the state unauthenticated requests create (provisional
//! registrations, pending authorizations). The store enforces them: a capped write evicts
//! the oldest entry of its kind when the cap is full ([`Store::put_capped`]), so the newest
//! always gets in and the store never holds more than the cap. [`TotalCap`] holds the limit
//! and logs the evictions: each at debug level, and the first of an episode (after a quiet
//! [`QUIET`]) once at warning, so a flood does not become a flood of log lines.
//!
//! [`Store::put_capped`]: crate::proxy::store::Store::put_capped

use crate::proxy::store::Cap;
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Evictions this far apart belong to separate episodes (each warned about once).
pub const QUIET: Duration = Duration::from_secs(60);

/// One total cap.
pub struct TotalCap {
    what: &'static str,
    limit: u64,
    /// When the last eviction happened (real time).
    last_eviction: Mutex<Option<Instant>>,
}

impl TotalCap {
    /// At most `limit` live `what` (for the logs: "provisional registrations").
    pub fn new(what: &'static str, limit: u32) -> Self {
        Self {
            what,
            limit: u64::from(limit.max(1)),
            last_eviction: Mutex::new(None),
        }
    }

    /// The most entries.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The store's cap for a write of this kind.
    pub fn cap(&self) -> Cap<'static> {
        Cap::new(self.limit)
    }

    /// Note a capped write that evicted `n` entries.
    pub fn evicted(&self, n: u64) {
        self.note(n, Instant::now());
    }

    /// `true` when this eviction opens an episode (and is logged at warning).
    fn note(&self, n: u64, now: Instant) -> bool {
        if n == 0 {
            return false;
        }
        tracing::debug!(
            evicted = n,
            "{}: the cap is full, the oldest made room",
            self.what
        );
        let mut last = self.last_eviction.lock();
        let opens = last.is_none_or(|t| now.saturating_duration_since(t) >= QUIET);
        *last = Some(now);
        drop(last);
        if opens {
            tracing::warn!(
                cap = self.limit,
                "cap reached: the instance holds as many {} as it may, evicting the oldest to make room for new ones",
                self.what
            );
        }
        opens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_episode_of_evictions() {
        let cap = TotalCap::new("pending authorizations", 10);
        let t0 = Instant::now();
        assert!(!cap.note(0, t0), "nothing evicted, nothing to say");
        assert!(cap.note(1, t0), "the first eviction is told");
        assert!(!cap.note(1, t0 + Duration::from_secs(1)));
        assert!(!cap.note(3, t0 + Duration::from_secs(50)));
        assert!(!cap.note(0, t0 + Duration::from_secs(200)));
        assert!(
            cap.note(1, t0 + Duration::from_secs(200)),
            "after a quiet minute, a new episode"
        );
        assert_eq!(cap.limit(), 10);
        assert_eq!(TotalCap::new("x", 0).limit(), 1);
    }
}
