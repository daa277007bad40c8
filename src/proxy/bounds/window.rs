//! A count of events in a sliding window (the injected clock's time): the global caps on
//! live provisional registrations and pending authorizations.
//!
//! Every entry counted here lives at most `window` (its TTL), so the events of the last
//! `window` are an upper bound of the live entries; entries consumed early (a transaction
//! approved at once) still count until their window passes, which keeps the bound safe.

use foundations::Clock;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Buckets per window: the cap frees up in steps of a sixtieth of the window.
const BUCKETS: i64 = 60;

/// A change in whether a [`WindowCap`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The cap has just been reached: this event was refused, the one before was admitted.
    Reached,
    /// Room has just come back: this event was admitted, the one before was refused.
    Freed,
}

/// A capped sliding-window counter.
pub struct WindowCap {
    clock: Clock,
    window_ms: i64,
    bucket_ms: i64,
    limit: u64,
    /// (bucket start, events), oldest first.
    buckets: Mutex<VecDeque<(i64, u64)>>,
    /// Whether the last [`WindowCap::try_add`] was refused.
    full: AtomicBool,
}

impl WindowCap {
    /// At most `limit` events in any `window`.
    pub fn new(clock: Clock, window: Duration, limit: u32) -> Self {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        Self {
            clock,
            window_ms,
            bucket_ms: (window_ms / BUCKETS).max(1),
            limit: u64::from(limit),
            buckets: Mutex::new(VecDeque::new()),
            full: AtomicBool::new(false),
        }
    }

    /// The most events in a window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether there is room for one more event now, without counting one (`Err(seconds)`
    /// as [`WindowCap::try_add`]), also telling whether the cap has just been reached (the
    /// first answer "full" after "room") or just freed up, so that callers can log those
    /// moments only.
    pub fn room_noting(&self) -> (Result<(), u64>, Option<Change>) {
        let r = self.check(false);
        let was_full = self.full.swap(r.is_err(), Ordering::Relaxed);
        let change = match (was_full, r.is_err()) {
            (false, true) => Some(Change::Reached),
            (true, false) => Some(Change::Freed),
            _ => None,
        };
        (r, change)
    }

    /// Count one event; `Err(seconds)` (until room frees up) when the cap is reached.
    pub fn try_add(&self) -> Result<(), u64> {
        self.check(true)
    }

    fn check(&self, add: bool) -> Result<(), u64> {
        let now = self.clock.now_millis();
        let mut b = self.buckets.lock();
        while b
            .front()
            .is_some_and(|(start, _)| start + self.bucket_ms + self.window_ms <= now)
        {
            b.pop_front();
        }
        let total: u64 = b.iter().map(|(_, n)| n).sum();
        if total >= self.limit {
            let oldest_end = b
                .front()
                .map_or(now, |(s, _)| s + self.bucket_ms + self.window_ms);
            let wait_ms = (oldest_end - now).max(1000);
            return Err(u64::try_from(wait_ms).map_or(1, |ms| ms.div_ceil(1000)));
        }
        if add {
            let start = now - now.rem_euclid(self.bucket_ms);
            match b.back_mut() {
                Some((s, n)) if *s == start => *n += 1,
                _ => b.push_back((start, 1)),
            }
        }
        Ok(())
    }

    /// Events counted in the current window.
    pub fn count(&self) -> u64 {
        let now = self.clock.now_millis();
        self.buckets
            .lock()
            .iter()
            .filter(|(s, _)| s + self.bucket_ms + self.window_ms > now)
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_at_the_cap_and_frees_up_after_the_window() {
        let clock = Clock::frozen_at(1_700_000_000);
        let cap = WindowCap::new(clock.clone(), Duration::from_secs(600), 3);
        assert!(cap.try_add().is_ok());
        clock.advance(Duration::from_secs(100));
        assert!(cap.try_add().is_ok());
        assert!(cap.try_add().is_ok());
        let wait = cap.try_add().unwrap_err();
        assert!((500..=611).contains(&wait), "retry after {wait}s");
        assert_eq!(cap.count(), 3);
        // The first event leaves the window: one slot frees up, not more.
        clock.advance(Duration::from_secs(511));
        assert!(cap.try_add().is_ok());
        assert!(cap.try_add().is_err());
        clock.advance(Duration::from_secs(500));
        assert_eq!(cap.count(), 1);
    }

    #[test]
    fn tells_when_the_cap_is_reached_and_freed_once_each() {
        let clock = Clock::frozen_at(0);
        let cap = WindowCap::new(clock.clone(), Duration::from_secs(60), 1);
        assert_eq!(cap.room_noting(), (Ok(()), None));
        assert_eq!(cap.room_noting(), (Ok(()), None), "looking counts nothing");
        assert_eq!(cap.try_add(), Ok(()));
        let (r, change) = cap.room_noting();
        assert!(r.is_err());
        assert_eq!(change, Some(Change::Reached));
        assert_eq!(cap.room_noting().1, None, "still full: no news");
        clock.advance(Duration::from_secs(62));
        assert_eq!(cap.room_noting(), (Ok(()), Some(Change::Freed)));
        assert_eq!(cap.try_add(), Ok(()));
        assert_eq!(cap.room_noting().1, Some(Change::Reached));
    }
}
