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
//! **Written values.** The writer may leave the bytes it has just committed for a key
//! ([`DecodedCache::written`]), in place of the decoded form it invalidates: the next read
//! decodes them instead of reading the store. A record that is rewritten on every use (a
//! refresh family, its grant) is then never read back from the file.
//!
//! **Bounded.** At most about `max` entries per collection (spread over shards), decoded and
//! written each; a full shard first drops what expired, then everything (it is a cache: a
//! miss only costs a store read).

use super::{Collection, Decoded};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    map: HashMap<String, (i64, Decoded)>,
    /// Bytes just committed for a key, not decoded yet.
    written: HashMap<String, (i64, Vec<u8>)>,
    /// Bumped by every invalidation of a key of this shard.
    epoch: u64,
}

/// Make room in `map` for one more entry: drop what expired, then everything if still full.
fn make_room<V>(map: &mut HashMap<String, (i64, V)>, key: &str, max: usize, now_ms: i64) {
    if map.len() >= max && !map.contains_key(key) {
        map.retain(|_, (exp, _)| *exp > now_ms);
        if map.len() >= max {
            map.clear();
        }
    }
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
        make_room(&mut s.map, key, self.max_per_shard, now_ms);
        s.map.insert(key.to_string(), (expires_ms, value));
    }

    /// Forget `key` (it was just written or removed).
    pub fn invalidate(&self, c: Collection, key: &str) {
        let mut s = self.shards[self.shard_of(c, key)].lock();
        s.epoch = s.epoch.wrapping_add(1);
        s.map.remove(key);
        s.written.remove(key);
    }

    /// `key` was just committed with `value` (live until `expires_ms`): forget its decoded
    /// form, and keep the bytes for the next read to decode.
    pub fn written(&self, c: Collection, key: &str, expires_ms: i64, value: Vec<u8>, now_ms: i64) {
        let mut s = self.shards[self.shard_of(c, key)].lock();
        s.epoch = s.epoch.wrapping_add(1);
        s.map.remove(key);
        if expires_ms <= now_ms {
            s.written.remove(key);
            return;
        }
        make_room(&mut s.written, key, self.max_per_shard, now_ms);
        s.written.insert(key.to_string(), (expires_ms, value));
    }

    /// The bytes last committed for `key`, if the writer left them and they are live (taken
    /// out: once decoded they go to the decoded map through [`DecodedCache::fill`]).
    pub fn take_written(&self, c: Collection, key: &str, now_ms: i64) -> Option<(i64, Vec<u8>)> {
        let mut s = self.shards[self.shard_of(c, key)].lock();
        match s.written.remove(key) {
            Some((exp, v)) if exp > now_ms => Some((exp, v)),
            _ => None,
        }
    }

    /// How many entries are held (decoded and written).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.map.len() + s.written.len()
            })
            .sum()
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
    fn written_bytes_are_read_once_then_decoded() {
        let c = DecodedCache::new(1000);
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        c.fill(miss, "g", 100, 0, d(1));
        // A write replaces the decoded form with the committed bytes.
        c.written(Collection::Grants, "g", 200, b"new".to_vec(), 0);
        let miss = c.get(Collection::Grants, "g", 0).unwrap_err();
        assert_eq!(
            c.take_written(Collection::Grants, "g", 0),
            Some((200, b"new".to_vec()))
        );
        assert_eq!(
            c.take_written(Collection::Grants, "g", 0),
            None,
            "taken once"
        );
        c.fill(miss, "g", 200, 0, d(2));
        assert_eq!(value(c.get(Collection::Grants, "g", 150)), Some(2));
        // Removed: no bytes are left to answer with.
        c.written(Collection::Grants, "g", 200, b"newer".to_vec(), 0);
        c.invalidate(Collection::Grants, "g");
        assert_eq!(c.take_written(Collection::Grants, "g", 0), None);
        // Expired bytes are not answered.
        c.written(Collection::Grants, "h", 10, b"x".to_vec(), 0);
        assert_eq!(c.take_written(Collection::Grants, "h", 10), None);
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
        for i in 0..10_000 {
            c.written(Collection::Grants, &format!("w{i}"), 100, vec![0; 8], 0);
        }
        assert!(c.len() <= SHARDS * 8, "{}", c.len());
    }
}
