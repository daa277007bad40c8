//! The in-memory [`Store`]: sharded maps with TTL eviction against the injected clock and a
//! size limit per collection, so memory stays bounded whatever clients do.
//!
//! [`Store::get_decoded`] keeps the decoded form of a value in its entry: a write replaces the
//! entry (and with it the decoded form), so a read never sees a decoded value older than the
//! stored one, whichever of the proxies sharing this store wrote it.

use super::{Collection, Decoded, Decoder, Held, Store, StoreError, StoreFuture};
use foundations::Clock;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

const SHARDS: usize = 16;
/// How often (in clock time) a shard drops its expired entries when written to.
const SWEEP_EVERY_MS: i64 = 30_000;
/// Default limit of live entries per collection.
pub const DEFAULT_MAX_ENTRIES: usize = 250_000;

struct Entry {
    value: Vec<u8>,
    expires_at_ms: i64,
    /// What [`Store::get_decoded`] made of `value`, once asked.
    decoded: Option<Decoded>,
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    next_sweep_ms: i64,
}

impl Shard {
    fn sweep(&mut self, now: i64) {
        self.map.retain(|_, e| e.expires_at_ms > now);
        self.next_sweep_ms = now + SWEEP_EVERY_MS;
    }

    fn live(&mut self, key: &str, now: i64) -> Option<&mut Entry> {
        let expired = self.map.get(key).is_some_and(|e| e.expires_at_ms <= now);
        if expired {
            self.map.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }
}

/// In-memory storage for a single proxy instance.
pub struct MemoryStore {
    clock: Clock,
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    max_per_shard: usize,
}

impl MemoryStore {
    /// A store reading time from `clock`, with [`DEFAULT_MAX_ENTRIES`] per collection.
    pub fn new(clock: Clock) -> Self {
        Self::with_limit(clock, DEFAULT_MAX_ENTRIES)
    }

    /// A store holding at most about `max_entries` live entries per collection.
    pub fn with_limit(clock: Clock, max_entries: usize) -> Self {
        let n = Collection::ALL.len() * SHARDS;
        Self {
            clock,
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            max_per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, c: Collection, key: &str) -> &Mutex<Shard> {
        let h = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[c.index() * SHARDS + h]
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Live entries in a collection (expired ones are not counted).
    pub fn len(&self, c: Collection) -> usize {
        let now = self.now();
        self.shards[c.index() * SHARDS..(c.index() + 1) * SHARDS]
            .iter()
            .map(|s| {
                s.lock()
                    .map
                    .values()
                    .filter(|e| e.expires_at_ms > now)
                    .count()
            })
            .sum()
    }

    /// Entries held per collection, expired ones not swept yet included (a lock per shard, no
    /// walk over the entries).
    pub fn held_now(&self) -> Held {
        let mut held = Held::default();
        for c in Collection::ALL {
            let shards = &self.shards[c.index() * SHARDS..(c.index() + 1) * SHARDS];
            held.set(c, shards.iter().map(|s| s.lock().map.len() as u64).sum());
        }
        held
    }

    /// Whether a collection holds no live entries.
    pub fn is_empty(&self, c: Collection) -> bool {
        self.len(c) == 0
    }

    /// Drop every expired entry now (also happens on its own as writes come in).
    pub fn sweep(&self) {
        let now = self.now();
        for s in &self.shards {
            s.lock().sweep(now);
        }
    }

    fn insert(
        &self,
        c: Collection,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        if now >= shard.next_sweep_ms {
            shard.sweep(now);
        }
        if only_if_absent && shard.live(key, now).is_some() {
            return Ok(false);
        }
        if !shard.map.contains_key(key) && shard.map.len() >= self.max_per_shard {
            shard.sweep(now);
            if shard.map.len() >= self.max_per_shard {
                return Err(StoreError::Full(c.name()));
            }
        }
        let expires_at_ms = super::expiry(now, ttl);
        shard.map.insert(
            key.to_string(),
            Entry {
                value,
                expires_at_ms,
                decoded: None,
            },
        );
        Ok(true)
    }
}

fn ready<'a, T: Send + 'a>(v: Result<T, StoreError>) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl Store for MemoryStore {
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        ready(Ok(shard.live(key, now).map(|e| e.value.clone())))
    }

    fn get_decoded<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        decode: Decoder<'a>,
    ) -> StoreFuture<'a, Option<Decoded>> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        let out = match shard.live(key, now) {
            None => Ok(None),
            Some(Entry {
                decoded: Some(d), ..
            }) => Ok(Some(d.clone())),
            Some(e) => decode(&e.value).map(|d| {
                e.decoded = Some(d.clone());
                Some(d)
            }),
        };
        ready(out)
    }

    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        ready(self.insert(c, key, value, ttl, false).map(|_| ()))
    }

    fn put_if_absent<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        ready(self.insert(c, key, value, ttl, true))
    }

    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        let v = shard
            .map
            .remove(key)
            .filter(|e| e.expires_at_ms > now)
            .map(|e| e.value);
        ready(Ok(v))
    }

    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        let removed = shard.map.remove(key).is_some_and(|e| e.expires_at_ms > now);
        ready(Ok(removed))
    }

    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let now = self.now();
        let expires_at_ms = super::expiry(now, ttl);
        let mut shard = self.shard(c, key).lock();
        let swapped = match shard.live(key, now) {
            Some(e) if e.value == expected => {
                e.value = new;
                e.expires_at_ms = expires_at_ms;
                e.decoded = None;
                true
            }
            _ => false,
        };
        ready(Ok(swapped))
    }

    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        let matches = shard
            .live(key, now)
            .is_some_and(|e| e.value.as_slice() == expected);
        if matches {
            shard.map.remove(key);
        }
        ready(Ok(matches))
    }

    fn held(&self) -> StoreFuture<'_, Held> {
        ready(Ok(self.held_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(f: StoreFuture<'_, T>) -> Result<T, StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn ttl_expires_with_the_clock() {
        let clock = Clock::frozen_at(1_000);
        let s = MemoryStore::new(clock.clone());
        block(s.put(
            Collection::Codes,
            "k",
            b"v".to_vec(),
            Duration::from_secs(60),
        ))
        .unwrap();
        assert_eq!(
            block(s.get(Collection::Codes, "k")).unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(
            block(s.get(Collection::Clients, "k")).unwrap(),
            None,
            "collections are separate"
        );
        clock.advance(Duration::from_secs(59));
        assert!(block(s.get(Collection::Codes, "k")).unwrap().is_some());
        clock.advance(Duration::from_secs(1));
        assert_eq!(block(s.get(Collection::Codes, "k")).unwrap(), None);
        assert!(!block(s.delete(Collection::Codes, "k")).unwrap());
    }

    #[test]
    fn take_is_single_use() {
        let s = MemoryStore::new(Clock::frozen_at(0));
        block(s.put(
            Collection::Codes,
            "c",
            b"1".to_vec(),
            Duration::from_secs(5),
        ))
        .unwrap();
        assert_eq!(
            block(s.take(Collection::Codes, "c")).unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(block(s.take(Collection::Codes, "c")).unwrap(), None);
    }

    #[test]
    fn put_if_absent_and_cas() {
        let clock = Clock::frozen_at(0);
        let s = MemoryStore::new(clock.clone());
        let ttl = Duration::from_secs(10);
        assert!(block(s.put_if_absent(Collection::Grants, "g", b"a".to_vec(), ttl)).unwrap());
        assert!(!block(s.put_if_absent(Collection::Grants, "g", b"b".to_vec(), ttl)).unwrap());
        assert!(
            !block(s.compare_and_swap(Collection::Grants, "g", b"x", b"c".to_vec(), ttl)).unwrap()
        );
        assert!(
            block(s.compare_and_swap(Collection::Grants, "g", b"a", b"c".to_vec(), ttl)).unwrap()
        );
        assert_eq!(
            block(s.get(Collection::Grants, "g")).unwrap(),
            Some(b"c".to_vec())
        );
        clock.advance(Duration::from_secs(11));
        assert!(block(s.put_if_absent(Collection::Grants, "g", b"d".to_vec(), ttl)).unwrap());
    }

    #[test]
    fn bounded_by_limit_and_eviction() {
        let clock = Clock::frozen_at(0);
        let s = MemoryStore::with_limit(clock.clone(), SHARDS);
        let ttl = Duration::from_secs(1);
        let mut full = false;
        for i in 0..10 * SHARDS {
            match block(s.put(Collection::Transactions, &format!("t{i}"), vec![0; 8], ttl)) {
                Ok(()) => {}
                Err(StoreError::Full(name)) => {
                    assert_eq!(name, "transactions");
                    full = true;
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(full, "the limit must be enforced");
        // Once entries expire they are evicted and room comes back.
        clock.advance(Duration::from_secs(2));
        for i in 0..SHARDS {
            block(s.put(Collection::Transactions, &format!("n{i}"), vec![0; 8], ttl)).ok();
        }
        assert!(s.len(Collection::Transactions) <= SHARDS * 2);
        s.sweep();
        clock.advance(Duration::from_secs(2));
        s.sweep();
        assert!(s.is_empty(Collection::Transactions));
    }
}
