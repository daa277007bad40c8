//! A small TTL cache keyed by a token's SHA-256 (the token itself is never kept as a key).

use parking_lot::Mutex;
use std::collections::HashMap;

/// Entries kept at most; beyond it, expired entries go first, then the oldest half.
pub const MAX_ENTRIES: usize = 10_000;

/// Values with an expiry (Unix seconds), looked up by token hash.
#[derive(Debug)]
pub struct TtlCache<V> {
    entries: Mutex<HashMap<[u8; 32], (i64, V)>>,
    max: usize,
}

/// The cache key of a token.
pub fn token_key(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache holding at most `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// The live value for `token` at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<V> {
        let key = token_key(token);
        let mut map = self.entries.lock();
        match map.get(&key) {
            Some((exp, v)) if *exp > now => Some(v.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keep `value` for `token` until `expires_at` (nothing is kept when it is not after `now`).
    pub fn put(&self, token: &str, value: V, expires_at: i64, now: i64) {
        if expires_at <= now {
            return;
        }
        let mut map = self.entries.lock();
        if map.len() >= self.max {
            map.retain(|_, (exp, _)| *exp > now);
        }
        if map.len() >= self.max {
            // Still full of live entries: drop those expiring first.
            let mut exps: Vec<i64> = map.values().map(|(e, _)| *e).collect();
            exps.sort_unstable();
            let cut = exps[exps.len() / 2];
            map.retain(|_, (exp, _)| *exp > cut);
        }
        map.insert(token_key(token), (expires_at, value));
    }

    /// Forget `token`.
    pub fn remove(&self, token: &str) {
        self.entries.lock().remove(&token_key(token));
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let c = TtlCache::new(4);
        c.put("a", 1, 100, 0);
        assert_eq!(c.get("a", 99), Some(1));
        assert_eq!(c.get("a", 100), None);
        assert!(c.is_empty(), "expired entries are dropped on read");
        c.put("never", 2, 5, 5);
        assert_eq!(c.get("never", 0), None);
        for (i, t) in ["t1", "t2", "t3", "t4", "t5", "t6"].iter().enumerate() {
            c.put(t, i, 100 + i as i64, 0);
        }
        assert!(c.len() <= 4, "{}", c.len());
        assert_eq!(c.get("t6", 0), Some(5), "the newest is kept");
        c.remove("t6");
        assert_eq!(c.get("t6", 0), None);
    }
}
