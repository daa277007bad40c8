//! An injectable clock shared by the mock IdP, the proxy and the scenario runner.
//!
//! A [`Clock`] is either the system clock or a controlled one (frozen at a given instant or
//! running with an offset). Cloning shares the same underlying clock, so a scenario that
//! advances the IdP's clock advances the proxy's too when both were given the same handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Real time plus an offset in milliseconds (the offset may be advanced).
    Offset(i64),
    /// Stopped at this many milliseconds since the epoch.
    Frozen(i64),
}

/// Milliseconds kept in a [`Mode`]: ±2^61 ms, some 73 million years either way.
const LIMIT: i64 = 1 << 61;

impl Mode {
    /// One word: the milliseconds shifted left by one, the low bit set when frozen. Every
    /// read of the time is then a plain load of that word, with no lock whose cache line the
    /// cores would pass back and forth on every request.
    fn pack(self) -> i64 {
        match self {
            Mode::Offset(ms) => ms.clamp(-LIMIT, LIMIT) << 1,
            Mode::Frozen(ms) => (ms.clamp(-LIMIT, LIMIT) << 1) | 1,
        }
    }

    fn unpack(word: i64) -> Mode {
        // An arithmetic shift: negative offsets come back as they went in.
        let ms = word >> 1;
        if word & 1 == 1 {
            Mode::Frozen(ms)
        } else {
            Mode::Offset(ms)
        }
    }
}

/// A cheaply cloneable clock handle.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: Arc<AtomicI64>,
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
    fn with(mode: Mode) -> Self {
        Self {
            mode: Arc::new(AtomicI64::new(mode.pack())),
        }
    }

    fn mode(&self) -> Mode {
        Mode::unpack(self.mode.load(Ordering::Acquire))
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode.pack(), Ordering::Release);
    }

    /// Changes the mode as `change` says, atomically against other changes.
    fn update(&self, change: impl Fn(Mode) -> Mode) {
        let _ = self
            .mode
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                Some(change(Mode::unpack(word)).pack())
            });
    }

    /// Real time (it can still be advanced later, which adds an offset).
    pub fn system() -> Self {
        Self::with(Mode::Offset(0))
    }

    /// A clock frozen at `unix_secs`.
    pub fn frozen_at(unix_secs: i64) -> Self {
        Self::with(Mode::Frozen(unix_secs.saturating_mul(1000)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        match self.mode() {
            Mode::Offset(off) => system_millis().saturating_add(off),
            Mode::Frozen(at) => at,
        }
    }

    /// Microseconds since the Unix epoch (a controlled clock moves in whole milliseconds).
    pub fn now_micros(&self) -> i64 {
        match self.mode() {
            Mode::Offset(off) => system_micros().saturating_add(off.saturating_mul(1000)),
            Mode::Frozen(at) => at.saturating_mul(1000),
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

    /// Move time forward (frozen clocks stay frozen at the new instant). A step past the
    /// clock's range (±2^61 ms) stops at its end.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.update(|mode| match mode {
            Mode::Offset(off) => Mode::Offset(off.saturating_add(by)),
            Mode::Frozen(at) => Mode::Frozen(at.saturating_add(by)),
        });
    }

    /// Stop the clock at the current instant.
    pub fn freeze(&self) {
        self.update(|mode| match mode {
            Mode::Offset(off) => Mode::Frozen(system_millis().saturating_add(off)),
            frozen => frozen,
        });
    }

    /// Let a frozen clock run again from where it stands.
    pub fn resume(&self) {
        self.update(|mode| match mode {
            Mode::Frozen(at) => Mode::Offset(at.saturating_sub(system_millis())),
            running => running,
        });
    }

    /// Set the clock to `unix_secs`, keeping it frozen or running as it was.
    pub fn set_unix(&self, unix_secs: i64) {
        let target = unix_secs.saturating_mul(1000);
        self.update(|mode| match mode {
            Mode::Offset(_) => Mode::Offset(target.saturating_sub(system_millis())),
            Mode::Frozen(_) => Mode::Frozen(target),
        });
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.set(Mode::Offset(0));
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        matches!(self.mode(), Mode::Frozen(_))
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
    fn modes_pack_into_one_word_and_back() {
        for mode in [
            Mode::Offset(0),
            Mode::Offset(-7_200_000),
            Mode::Offset(86_400_000 * 91),
            Mode::Frozen(1_764_800_000_000),
            Mode::Frozen(-1),
            Mode::Frozen(0),
        ] {
            assert_eq!(Mode::unpack(mode.pack()), mode);
        }
        assert_eq!(
            Mode::unpack(Mode::Frozen(i64::MAX).pack()),
            Mode::Frozen(LIMIT)
        );
        assert_eq!(
            Mode::unpack(Mode::Offset(i64::MIN).pack()),
            Mode::Offset(-LIMIT)
        );
    }

    #[test]
    fn freeze_resume_and_set_keep_the_instant() {
        let c = Clock::system();
        c.set_unix(2_000_000_000);
        assert!((c.now_unix() - 2_000_000_000).abs() <= 1);
        c.freeze();
        assert!(c.is_frozen());
        let at = c.now_millis();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now_millis(), at);
        c.resume();
        assert!(!c.is_frozen());
        assert!(c.now_millis() >= at && c.now_millis() - at < 1_000);
        c.set_unix(1_000);
        assert!((c.now_unix() - 1_000).abs() <= 1);
        c.freeze();
        c.set_unix(5);
        assert_eq!(c.now_millis(), 5_000);
    }

    /// The mock IdP's control API takes the step and the instant from a request body: the
    /// largest ones stop at the clock's range instead of overflowing.
    #[test]
    fn steps_and_instants_past_the_range_stop_at_its_end() {
        let c = Clock::system();
        c.advance(Duration::MAX);
        c.advance(Duration::from_secs(u64::MAX));
        assert!(c.now_millis() >= LIMIT);
        assert!(c.now_micros() > 0);
        c.freeze();
        assert!(c.now_millis() >= LIMIT);
        c.set_unix(i64::MIN);
        assert_eq!(c.now_millis(), -LIMIT);
        assert!(c.now_micros() < 0);
        c.resume();
        assert!(c.now_millis() < 0);
        let frozen = Clock::frozen_at(i64::MAX);
        assert_eq!(frozen.now_millis(), LIMIT);
    }

    #[test]
    fn concurrent_advances_all_count() {
        let c = Clock::frozen_at(0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        c.advance(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(c.now_millis(), 4_000);
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
