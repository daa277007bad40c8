//! One upstream refresh per grant at a time, within this process and across instances.
//!
//! A rotating upstream refresh token may be spent only once: an IdP with reuse detection
//! revokes the whole session when it sees it twice. So every refresh of a grant (the token
//! endpoint's and the guard's) runs under a [`Flight`]:
//!
//! - in-process, a per-grant async mutex: concurrent requests queue behind the one refreshing
//!   and, once inside, re-read the grant and use its result instead of refreshing again. The
//!   map holds an entry only while someone holds or waits for it;
//! - across instances, a lock in the store ([`Collection::Locks`], `put_if_absent` with a
//!   TTL slightly longer than the upstream timeout, so a holder that died frees it by
//!   itself). Waiters poll it with a bounded wait, then give up (`temporarily_unavailable`).
//!
//! [`Collection::Locks`]: crate::proxy::store::Collection::Locks

use crate::proxy::store::{Records, StoreError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

type LocalMap = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// The first pause between two attempts at a lock held by another instance; it doubles up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(100);

/// Why a flight could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlightError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another request held the grant's lock for longer than the bounded wait.
    #[error("another refresh of this session is still running")]
    Busy,
}

/// The per-grant locks of one proxy instance.
#[derive(Default)]
pub struct Flights {
    local: LocalMap,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.local.lock().len())
            .finish()
    }
}

/// The right to refresh one grant; released by [`Flight::release`] (or, as a fallback, when
/// dropped).
pub struct Flight {
    key: String,
    local: LocalMap,
    guard: Option<OwnedMutexGuard<()>>,
    store: Option<(Records, String)>,
}

fn lock_name(grant_id: &str) -> String {
    format!("refresh:{grant_id}")
}

impl Flights {
    /// How many grants are being refreshed or waited for in this process.
    pub fn in_flight(&self) -> usize {
        self.local.lock().len()
    }

    /// Wait (at most about `ttl` in each stage) for the right to refresh `grant_id`.
    pub async fn acquire(
        &self,
        records: &Records,
        grant_id: &str,
        ttl: Duration,
    ) -> Result<Flight, FlightError> {
        let mutex = self
            .local
            .lock()
            .entry(grant_id.to_string())
            .or_default()
            .clone();
        let mut flight = Flight {
            key: grant_id.to_string(),
            local: self.local.clone(),
            guard: None,
            store: None,
        };
        // `flight` owns a clone of the entry from here on: dropping it (timeout, error,
        // cancellation) removes the entry when nobody else uses it.
        let guard = tokio::time::timeout(ttl, mutex.lock_owned())
            .await
            .map_err(|_| FlightError::Busy)?;
        flight.guard = Some(guard);
        let name = lock_name(grant_id);
        let owner = crate::oauth::random_token(12);
        let mut waited = Duration::ZERO;
        let mut pause = FIRST_POLL;
        loop {
            if records.try_lock(&name, &owner, ttl).await? {
                flight.store = Some((records.clone(), owner));
                return Ok(flight);
            }
            if waited >= ttl {
                return Err(FlightError::Busy);
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(MAX_POLL);
        }
    }
}

impl Flight {
    /// Release the store lock and the in-process lock.
    pub async fn release(mut self) {
        if let Some((records, owner)) = self.store.take()
            && let Err(e) = records.unlock(&lock_name(&self.key), &owner).await
        {
            // The lock expires by its TTL.
            tracing::warn!(error = %e, "cannot release a refresh lock");
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some((records, owner)) = self.store.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let name = lock_name(&self.key);
            rt.spawn(async move {
                let _ = records.unlock(&name, &owner).await;
            });
        }
        drop(self.guard.take());
        let mut map = self.local.lock();
        // Only the map holds the mutex now: nobody holds or waits for it.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::store::{Collection, MemoryStore, Store};
    use foundations::Clock;

    #[tokio::test]
    async fn one_holder_at_a_time_and_the_map_cleans_up() {
        let clock = Clock::frozen_at(1_000);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let records = Records::new(store.clone());
        let flights = Arc::new(Flights::default());
        let ttl = Duration::from_secs(5);
        let first = flights.acquire(&records, "g", ttl).await.unwrap();
        assert_eq!(flights.in_flight(), 1);
        assert!(
            store
                .get(Collection::Locks, "refresh:g")
                .await
                .unwrap()
                .is_some()
        );
        let (f2, r2) = (flights.clone(), records.clone());
        let waiter = tokio::spawn(async move {
            f2.acquire(&r2, "g", ttl).await?.release().await;
            Ok::<_, FlightError>(())
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the second request waits");
        first.release().await;
        waiter.await.unwrap().unwrap();
        assert_eq!(flights.in_flight(), 0, "no entry is left behind");
        // Dropping a flight (a cancelled request) releases both locks too.
        drop(flights.acquire(&records, "g", ttl).await.unwrap());
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(flights.in_flight(), 0);
        assert!(
            store
                .get(Collection::Locks, "refresh:g")
                .await
                .unwrap()
                .is_none(),
            "the dropped flight released its store lock"
        );
    }

    #[tokio::test]
    async fn another_instance_holding_the_lock_is_waited_for_then_busy() {
        let clock = Clock::frozen_at(1_000);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let records = Records::new(store);
        let (a, b) = (Flights::default(), Flights::default());
        let ttl = Duration::from_millis(50);
        let held = a.acquire(&records, "g", ttl).await.unwrap();
        assert_eq!(
            b.acquire(&records, "g", ttl).await.err(),
            Some(FlightError::Busy)
        );
        assert_eq!(b.in_flight(), 0);
        held.release().await;
        b.acquire(&records, "g", ttl).await.unwrap().release().await;
        // A holder that died: its lock expires by the clock and the next one gets it.
        std::mem::forget(a.acquire(&records, "h", ttl).await.unwrap());
        clock.advance(Duration::from_secs(1));
        b.acquire(&records, "h", ttl).await.unwrap().release().await;
    }
}
