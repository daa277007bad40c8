//! An injectable clock shared by the mock IdP, the proxy and the scenario runner.
//!
//! A [`Clock`] is either the system clock or a controlled one (frozen at a given instant or
//! running with an offset). Cloning shares the same underlying clock, so a scenario that
//! advances the IdP's clock advances the proxy's too when both were given the same handle.

use parking_lot::RwLock;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Real time plus an offset in milliseconds (the offset may be advanced).
    Offset(i64),
    /// Stopped at this many milliseconds since the epoch.
    Frozen(i64),
}

/// A cheaply cloneable clock handle.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: Arc<RwLock<Mode>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

fn system_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn system_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// Real time (it can still be advanced later, which adds an offset).
    pub fn system() -> Self {
        Self {
            mode: Arc::new(RwLock::new(Mode::Offset(0))),
        }
    }

    /// A clock frozen at `unix_secs`.
    pub fn frozen_at(unix_secs: i64) -> Self {
        Self {
            mode: Arc::new(RwLock::new(Mode::Frozen(unix_secs * 1000))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        match *self.mode.read() {
            Mode::Offset(off) => system_millis() + off,
            Mode::Frozen(at) => at,
        }
    }

    /// Microseconds since the Unix epoch (a controlled clock moves in whole milliseconds).
    pub fn now_micros(&self) -> i64 {
        match *self.mode.read() {
            Mode::Offset(off) => system_micros() + off * 1000,
            Mode::Frozen(at) => at * 1000,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now_unix(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// The current time as a `SystemTime`.
    pub fn now(&self) -> SystemTime {
        let ms = self.now_millis();
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH
        }
    }

    /// Move time forward (frozen clocks stay frozen at the new instant).
    pub fn advance(&self, by: Duration) {
        let by = by.as_millis() as i64;
        let mut mode = self.mode.write();
        *mode = match *mode {
            Mode::Offset(off) => Mode::Offset(off + by),
            Mode::Frozen(at) => Mode::Frozen(at + by),
        };
    }

    /// Stop the clock at the current instant.
    pub fn freeze(&self) {
        let now = self.now_millis();
        *self.mode.write() = Mode::Frozen(now);
    }

    /// Let a frozen clock run again from where it stands.
    pub fn resume(&self) {
        let now = self.now_millis();
        *self.mode.write() = Mode::Offset(now - system_millis());
    }

    /// Set the clock to `unix_secs`, keeping it frozen or running as it was.
    pub fn set_unix(&self, unix_secs: i64) {
        let target = unix_secs * 1000;
        let mut mode = self.mode.write();
        *mode = match *mode {
            Mode::Offset(_) => Mode::Offset(target - system_millis()),
            Mode::Frozen(_) => Mode::Frozen(target),
        };
    }

    /// Back to real time.
    pub fn reset(&self) {
        *self.mode.write() = Mode::Offset(0);
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        matches!(*self.mode.read(), Mode::Frozen(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let c = Clock::frozen_at(1_000);
        assert_eq!(c.now_unix(), 1_000);
        c.advance(Duration::from_secs(3600));
        assert_eq!(c.now_unix(), 4_600);
        let shared = c.clone();
        shared.advance(Duration::from_secs(1));
        assert_eq!(c.now_unix(), 4_601);
    }

    #[test]
    fn system_clock_advances_by_offset() {
        let c = Clock::system();
        let before = c.now_unix();
        c.advance(Duration::from_secs(7200));
        assert!(c.now_unix() >= before + 7200);
        c.reset();
        assert!(c.now_unix() < before + 7200);
    }
}
