//! The in-memory [`Store`]: sharded maps with TTL eviction against the injected clock and a
//! size limit per collection, so memory stays bounded whatever clients do.
//!
//! [`Store::get_decoded`] keeps the decoded form of a value in its entry: a write replaces the
//! entry (and with it the decoded form), so a read never sees a decoded value older than the
//! stored one, whichever of the proxies sharing this store wrote it.
//!
//! Capped entries ([`Store::put_capped`]) are also kept in an ordered index per collection
//! ([`CapIndex`]): a write sequence number → key. A capped write holds the index's lock while
//! it evicts the oldest entries and inserts the new one, so the cap holds at every instant.
//! Lock order: an index, then shards (a plain write takes a shard, releases it, then the
//! index).

use super::{Cap, Collection, Decoded, Decoder, Held, Store, StoreError, StoreFuture};
use foundations::Clock;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
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

impl Entry {
    /// Whether the entry still counts at `now` (milliseconds): it is gone at its expiry.
    fn is_live(&self, now: i64) -> bool {
        self.expires_at_ms > now
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Entry>,
    next_sweep_ms: i64,
}

impl Shard {
    fn sweep(&mut self, now: i64) {
        self.map.retain(|_, e| e.is_live(now));
        self.next_sweep_ms = now + SWEEP_EVERY_MS;
    }

    fn live(&mut self, key: &str, now: i64) -> Option<&mut Entry> {
        let expired = self.map.get(key).is_some_and(|e| !e.is_live(now));
        if expired {
            self.map.remove(key);
            return None;
        }
        self.map.get_mut(key)
    }
}

/// The capped entries of one collection, oldest first.
#[derive(Default)]
pub(crate) struct CapIndex {
    next: u64,
    /// Write sequence → (key, companion).
    order: BTreeMap<u64, (String, Option<(Collection, String)>)>,
    /// Key → its write sequence.
    by_key: HashMap<String, u64>,
}

impl CapIndex {
    /// Take `key` out (a plain write or a removal); `true` when it was in.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        match self.by_key.remove(key) {
            Some(seq) => {
                self.order.remove(&seq);
                true
            }
            None => false,
        }
    }

    /// Make room for `key` under `limit`: the oldest entries leave the index and are
    /// returned (key, companion), oldest first. `key` itself, when it is in, is taken out
    /// first (it is written again, as the newest).
    pub(crate) fn make_room(
        &mut self,
        key: &str,
        limit: u64,
    ) -> Vec<(String, Option<(Collection, String)>)> {
        self.remove(key);
        let mut out = Vec::new();
        while self.order.len() as u64 >= limit.max(1) {
            let Some((_, (k, companion))) = self.order.pop_first() else {
                break;
            };
            self.by_key.remove(&k);
            out.push((k, companion));
        }
        out
    }

    /// Enter `key` as the newest.
    pub(crate) fn push(&mut self, key: &str, companion: Option<(Collection, &str)>) {
        let seq = self.next;
        self.next += 1;
        self.order.insert(
            seq,
            (key.to_string(), companion.map(|(c, k)| (c, k.to_string()))),
        );
        self.by_key.insert(key.to_string(), seq);
    }

    /// How many entries the index holds.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

/// In-memory storage for a single proxy instance.
pub struct MemoryStore {
    clock: Clock,
    shards: Vec<Mutex<Shard>>,
    caps: Vec<Mutex<CapIndex>>,
    hasher: RandomState,
    max_per_shard: usize,
}

impl MemoryStore {
    /// A store reading time from `clock`, with `DEFAULT_MAX_ENTRIES` per collection.
    pub fn new(clock: Clock) -> Self {
        Self::with_limit(clock, DEFAULT_MAX_ENTRIES)
    }

    /// A store holding at most about `max_entries` live entries per collection.
    pub fn with_limit(clock: Clock, max_entries: usize) -> Self {
        let n = Collection::ALL.len() * SHARDS;
        Self {
            clock,
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            caps: Collection::ALL
                .iter()
                .map(|_| Mutex::new(CapIndex::default()))
                .collect(),
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

    /// A plain write or removal of `key` takes it out of its collection's cap index.
    fn uncap(&self, c: Collection, key: &str) {
        if c.cappable() {
            self.caps[c.index()].lock().remove(key);
        }
    }

    /// Remove `key` from its shard; `true` when a live entry was removed.
    fn remove_now(&self, c: Collection, key: &str, now: i64) -> bool {
        self.shard(c, key)
            .lock()
            .map
            .remove(key)
            .is_some_and(|e| e.is_live(now))
    }

    fn insert_capped(
        &self,
        c: Collection,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        cap: Cap<'_>,
    ) -> Result<u64, StoreError> {
        if !c.cappable() {
            return self.insert(c, key, value, ttl, false).map(|_| 0);
        }
        let now = self.now();
        let mut index = self.caps[c.index()].lock();
        let mut evicted = 0;
        for (old, companion) in index.make_room(key, cap.limit) {
            if self.remove_now(c, &old, now) {
                evicted += 1;
            }
            if let Some((cc, ck)) = companion {
                self.remove_now(cc, &ck, now);
            }
        }
        self.insert(c, key, value, ttl, false)?;
        index.push(key, cap.companion);
        Ok(evicted)
    }

    /// The capped entries of a collection (live or expired, not evicted or removed yet).
    pub fn capped(&self, c: Collection) -> usize {
        self.caps[c.index()].lock().len()
    }

    /// Live entries in a collection (expired ones are not counted).
    pub fn len(&self, c: Collection) -> usize {
        let now = self.now();
        self.shards[c.index() * SHARDS..(c.index() + 1) * SHARDS]
            .iter()
            .map(|s| s.lock().map.values().filter(|e| e.is_live(now)).count())
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

    /// Whether `key` is a live entry of `c`.
    pub fn contains(&self, c: Collection, key: &str) -> bool {
        let now = self.now();
        self.shard(c, key).lock().live(key, now).is_some()
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

    fn decoded_ready(&self, c: Collection, key: &str) -> Option<Decoded> {
        let now = self.now();
        let shard = self.shard(c, key).lock();
        // One look-up: an expired entry is left for `get_decoded` to remove.
        let entry = shard.map.get(key)?;
        if !entry.is_live(now) {
            return None;
        }
        entry.decoded.clone()
    }

    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let r = self.insert(c, key, value, ttl, false).map(|_| ());
        self.uncap(c, key);
        ready(r)
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
            .filter(|e| e.is_live(now))
            .map(|e| e.value);
        drop(shard);
        self.uncap(c, key);
        ready(Ok(v))
    }

    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        let now = self.now();
        let mut shard = self.shard(c, key).lock();
        let removed = shard.map.remove(key).is_some_and(|e| e.is_live(now));
        drop(shard);
        self.uncap(c, key);
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
            drop(shard);
            self.uncap(c, key);
        }
        ready(Ok(matches))
    }

    fn put_capped<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        cap: Cap<'a>,
    ) -> StoreFuture<'a, u64> {
        ready(self.insert_capped(c, key, value, ttl, cap))
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

    #[test]
    fn a_full_cap_evicts_the_oldest_with_its_companion() {
        let s = MemoryStore::new(Clock::frozen_at(0));
        let ttl = Duration::from_secs(60);
        let c = Collection::Transactions;
        let cap = |k: &'static str| Cap::new(3).with_companion(Collection::ConsentCsrf, k);
        for (k, csrf) in [("a", "ca"), ("b", "cb"), ("c", "cc")] {
            assert_eq!(
                block(s.put_capped(c, k, vec![1], ttl, cap(csrf))).unwrap(),
                0
            );
            block(s.put(Collection::ConsentCsrf, csrf, vec![2], ttl)).unwrap();
        }
        // Written again: the newest now, nothing evicted.
        assert_eq!(
            block(s.put_capped(c, "a", vec![1], ttl, cap("ca"))).unwrap(),
            0
        );
        // Full: "b" is the oldest now, then "c".
        assert_eq!(
            block(s.put_capped(c, "d", vec![1], ttl, cap("cd"))).unwrap(),
            1
        );
        assert_eq!(block(s.get(c, "b")).unwrap(), None);
        assert_eq!(block(s.get(Collection::ConsentCsrf, "cb")).unwrap(), None);
        assert!(
            block(s.get(Collection::ConsentCsrf, "cc"))
                .unwrap()
                .is_some()
        );
        // A taken entry leaves the index: no eviction for the next one.
        assert!(block(s.take(c, "c")).unwrap().is_some());
        assert_eq!(
            block(s.put_capped(c, "e", vec![1], ttl, cap("ce"))).unwrap(),
            0
        );
        assert_eq!(s.len(c), 3);
        assert_eq!(s.capped(c), 3);
        assert_eq!(
            block(s.put_capped(c, "f", vec![1], ttl, cap("cf"))).unwrap(),
            1
        );
        assert_eq!(block(s.get(c, "a")).unwrap(), None, "then the next oldest");
        for k in ["d", "e", "f"] {
            assert!(block(s.get(c, k)).unwrap().is_some(), "{k}");
        }
    }

    #[test]
    fn a_plain_put_takes_the_key_out_of_the_cap() {
        let s = MemoryStore::new(Clock::frozen_at(0));
        let ttl = Duration::from_secs(60);
        let c = Collection::Clients;
        block(s.put_capped(c, "durable", vec![1], ttl, Cap::new(2))).unwrap();
        block(s.put(c, "durable", vec![2], ttl)).unwrap();
        for k in ["p1", "p2", "p3", "p4"] {
            block(s.put_capped(c, k, vec![1], ttl, Cap::new(2))).unwrap();
        }
        assert_eq!(block(s.get(c, "durable")).unwrap(), Some(vec![2]));
        assert_eq!(s.len(c), 3, "the durable one and the two newest");
        assert_eq!(block(s.get(c, "p2")).unwrap(), None);
    }
}
