//! [`Held`]: how many entries a store holds per collection, and [`log_held`], the debug log
//! that reports them once a second (`RUST_LOG=…,authproof::store::held=debug`), so the size of
//! the state can be watched from outside the process (`benches/flood.rs` does).
//!
//! "Held" counts what occupies the backend's memory or disk: live entries and expired ones it
//! has not dropped yet (the memory store sweeps a shard every 30 s of writes, the file store
//! purges every minute, Redis drops keys by their TTL). It is not on any request path: memory
//! and file answer from their own counts at once, Redis walks its keys with `SCAN`.

use super::{Collection, Store};
use std::sync::Arc;
use std::time::Duration;

/// The log target of [`log_held`].
pub const LOG_TARGET: &str = "authproof::store::held";
/// How often [`log_held`] logs.
pub const LOG_EVERY: Duration = Duration::from_secs(1);

/// Entries held per collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held([u64; Collection::ALL.len()]);

impl Held {
    /// Entries held in `c`.
    pub fn get(&self, c: Collection) -> u64 {
        self.0[c.index()]
    }

    /// Set the entries held in `c`.
    pub fn set(&mut self, c: Collection, n: u64) {
        self.0[c.index()] = n;
    }

    /// Add `n` to the entries held in `c`.
    pub fn add(&mut self, c: Collection, n: u64) {
        self.0[c.index()] = self.0[c.index()].saturating_add(n);
    }

    /// Entries held in every collection.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in Collection::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", c.name(), self.get(*c))?;
        }
        Ok(())
    }
}

/// Log what `store` holds every [`LOG_EVERY`] at debug level on [`LOG_TARGET`], until
/// `stop` changes; returns at once when that target is not enabled (the default), so it costs
/// nothing unless asked for. One line: `store entries held clients=… transactions=… …`.
pub async fn log_held(store: Arc<dyn Store>, mut stop: tokio::sync::watch::Receiver<bool>) {
    if !tracing::enabled!(target: LOG_TARGET, tracing::Level::DEBUG) {
        return;
    }
    let mut every = tokio::time::interval(LOG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        match store.held().await {
            Ok(held) => {
                tracing::debug!(target: LOG_TARGET, total = held.total(), "store entries held {held}")
            }
            Err(e) => {
                tracing::debug!(target: LOG_TARGET, error = %e, "store entries held: unknown")
            }
        }
    }
}
