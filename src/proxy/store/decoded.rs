//! [`DecodedCache`]: the decoded forms of values that a store reads from elsewhere (the
//! embedded file), kept in memory until the value is written again, removed or expires — for
//! a store whose every write passes through this process (see [`super::Store::get_decoded`]).
//!
//! **No stale answer.** Every write invalidates its key once it is committed, before the
//! writer answers. A read that missed fills the cache only if no write invalidated that shard
//! while it was reading: it notes the shard's epoch before reading the store and inserts only
//! when the epoch is unchanged, under the shard's lock, so a value read before a write can
//! never be inserted after the write's invalidation.
//!
//! **Bounded.** At most about `max` entries per collection (spread over shards); a full shard
//! first drops what expired, then everything (it is a cache: a miss only costs a store read).

use super::{Collection, Decoded};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    map: HashMap<String, (i64, Decoded)>,
    /// Bumped by every invalidation of a key of this shard.
    epoch: u64,
}

/// Decoded values by collection and key, each with its expiry (clock milliseconds).
pub struct DecodedCache {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    max_per_shard: usize,
}

/// Where a read that missed stands: give it back to [`DecodedCache::fill`].
#[derive(Debug, Clone, Copy)]
pub struct Miss {
    shard: usize,
    epoch: u64,
}

impl DecodedCache {
    /// A cache of at most about `max` entries per collection.
    pub fn new(max: usize) -> Self {
        let n = Collection::ALL.len() * SHARDS;
        Self {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            max_per_shard: (max / SHARDS).max(1),
        }
    }

    fn shard_of(&self, c: Collection, key: &str) -> usize {
        c as usize * SHARDS + self.hasher.hash_one(key) as usize % SHARDS
    }

    /// The decoded value of `key` if it is known and live at `now_ms`; otherwise a [`Miss`]
    /// to fill with once the store has been read.
    pub fn get(&self, c: Collection, key: &str, now_ms: i64) -> Result<Decoded, Miss> {
        let shard = self.shard_of(c, key);
        let mut s = self.shards[shard].lock();
        match s.map.get(key) {
            Some((exp, d)) if *exp > now_ms => Ok(d.clone()),
            found => {
                if found.is_some() {
                    s.map.remove(key);
                }
                Err(Miss {
                    shard,
                    epoch: s.epoch,
                })
            }
        }
    }

    /// Keep what a read after `miss` decoded (live until `expires_ms`), unless a write of the
    /// shard came in between.
    pub fn fill(&self, miss: Miss, key: &str, expires_ms: i64, now_ms: i64, value: Decoded) {
        let mut s = self.shards[miss.shard].lock();
        if s.epoch != miss.epoch || expires_ms <= now_ms {
            return;
        }
        if s.map.len() >= self.max_per_shard && !s.map.contains_key(key) {
            s.map.retain(|_, (exp, _)| *exp > now_ms);
            if s.map.len() >= self.max_per_shard {
                s.map.clear();
            }
        }
        s.map.insert(key.to_string(), (expires_ms, value));
    }

    /// Forget `key` (it was just written or removed).
    pub fn invalidate(&self, c: Collection, key: &str) {
        let mut s = self.shards[self.shard_of(c, key)].lock();
        s.epoch = s.epoch.wrapping_add(1);
        s.map.remove(key);
    }

    /// How many entries are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn d(v: u32) -> Decoded {
        Arc::new(v)
    }

    fn value(r: Result<Decoded, Miss>) -> Option<u32> {
        r.ok().and_then(|d| d.downcast::<u32>().ok()).map(|v| *v)
    }

    #[test]
    fn fills_expires_and_invalidates() {
        let c = DecodedCache::new(1000);
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        c.fill(miss, "g", 100, 0, d(1));
        assert_eq!(value(c.get(Collection::Grants, "g", 99)), Some(1));
        assert_eq!(value(c.get(Collection::Grants, "g", 100)), None, "expired");
        assert!(c.is_empty(), "an expired entry is dropped when met");
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        c.fill(miss, "g", 100, 0, d(2));
        assert_eq!(
            value(c.get(Collection::TokenMappings, "g", 0)),
            None,
            "collections are separate"
        );
        c.invalidate(Collection::Grants, "g");
        assert_eq!(value(c.get(Collection::Grants, "g", 0)), None);
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let c = DecodedCache::new(1000);
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        // A write of the same key commits and invalidates while the read is in progress:
        // what the read decoded may be the old value.
        c.invalidate(Collection::Grants, "g");
        c.fill(miss, "g", 100, 0, d(1));
        assert_eq!(value(c.get(Collection::Grants, "g", 0)), None);
        // The next read fills it.
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        c.fill(miss, "g", 100, 0, d(2));
        assert_eq!(value(c.get(Collection::Grants, "g", 0)), Some(2));
    }

    #[test]
    fn bounded() {
        let c = DecodedCache::new(SHARDS * 4);
        for i in 0..10_000 {
            let key = format!("k{i}");
            let miss = c.get(Collection::Grants, &key, 0).unwrap_err();
            c.fill(miss, &key, 100, 0, d(i));
        }
        assert!(c.len() <= SHARDS * 4, "{}", c.len());
    }
}
