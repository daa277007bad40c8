//! A small TTL cache keyed by a token's SHA-256 (the token itself is never kept as a key).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Entries kept at most; beyond it, expired entries go first, then the oldest half.
pub const MAX_ENTRIES: usize = 10_000;

/// Values with an expiry (Unix seconds), looked up by token hash.
#[derive(Debug)]
pub struct TtlCache<V> {
    entries: Mutex<HashMap<TokenKey, (i64, V), BuildHasherDefault<DigestHasher>>>,
    max: usize,
}

/// The cache key of a token: its SHA-256.
pub type TokenKey = [u8; 32];

/// The cache key of a token.
pub fn token_key(token: &str) -> TokenKey {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

/// A token with its cache key, so that a lookup and the insertion after a miss hash it once,
/// and a caller that already knows the key (see [`Keyed::known`]) does not hash it at all.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    token: &'a str,
    key: TokenKey,
}

impl<'a> Keyed<'a> {
    /// `token` with its key computed now.
    pub fn new(token: &'a str) -> Self {
        Self {
            token,
            key: token_key(token),
        }
    }

    /// `token` with a key computed earlier by [`token_key`] from the same bytes. The caller
    /// vouches for that (checked in debug builds): a wrong key would make the caches answer
    /// for another token.
    pub fn known(token: &'a str, key: TokenKey) -> Self {
        debug_assert_eq!(key, token_key(token), "a key of other bytes");
        Self { token, key }
    }

    /// The token.
    pub fn token(&self) -> &'a str {
        self.token
    }

    /// Its key.
    pub fn key(&self) -> TokenKey {
        self.key
    }
}

/// The hasher of the cache's map: its keys are SHA-256 digests already, evenly spread, so
/// their first eight bytes are the hash (only tokens that passed a check are inserted, so a
/// client cannot fill a bucket with keys it chose).
#[derive(Debug, Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length (a `usize`, through `write_usize`) and then its
        // bytes in one `write`: only those bytes count.
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }

    fn write_usize(&mut self, _: usize) {}
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache holding at most `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::default()),
            max: max.max(1),
        }
    }

    /// The live value for `token` at `now`.
    pub fn get(&self, token: &Keyed<'_>, now: i64) -> Option<V> {
        let key = token.key;
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
    pub fn put(&self, token: &Keyed<'_>, value: V, expires_at: i64, now: i64) {
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
        map.insert(token.key, (expires_at, value));
    }

    /// Forget `token`.
    pub fn remove(&self, token: &Keyed<'_>) {
        self.entries.lock().remove(&token.key);
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

    fn k(token: &str) -> Keyed<'_> {
        Keyed::new(token)
    }

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let c = TtlCache::new(4);
        c.put(&k("a"), 1, 100, 0);
        assert_eq!(c.get(&k("a"), 99), Some(1));
        assert_eq!(c.get(&k("a"), 100), None);
        assert!(c.is_empty(), "expired entries are dropped on read");
        c.put(&k("never"), 2, 5, 5);
        assert_eq!(c.get(&k("never"), 0), None);
        for (i, t) in ["t1", "t2", "t3", "t4", "t5", "t6"].iter().enumerate() {
            c.put(&k(t), i, 100 + i as i64, 0);
        }
        assert!(c.len() <= 4, "{}", c.len());
        assert_eq!(c.get(&k("t6"), 0), Some(5), "the newest is kept");
        c.remove(&k("t6"));
        assert_eq!(c.get(&k("t6"), 0), None);
    }

    #[test]
    fn tokens_differing_anywhere_have_their_own_entries() {
        // The map's hash is the key's first eight bytes; the key itself is all 32, so
        // tokens are told apart by their whole digest.
        let c = TtlCache::new(1_000);
        let tokens: Vec<String> = (0..500).map(|i| format!("token-{i}")).collect();
        for (i, t) in tokens.iter().enumerate() {
            c.put(&k(t), i, 100, 0);
        }
        for (i, t) in tokens.iter().enumerate() {
            assert_eq!(c.get(&k(t), 0), Some(i), "{t}");
        }
        assert_eq!(c.get(&k("token-500"), 0), None);
        assert_eq!(c.len(), 500);
    }

    #[test]
    fn a_known_key_finds_what_a_computed_one_put() {
        let c = TtlCache::new(4);
        let token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";
        c.put(&Keyed::new(token), "verdict", 100, 0);
        let key = token_key(token);
        assert_eq!(c.get(&Keyed::known(token, key), 0), Some("verdict"));
        assert_eq!(Keyed::known(token, key).token(), token);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a key of other bytes")]
    fn a_known_key_of_other_bytes_is_caught_in_debug_builds() {
        let _ = Keyed::known("token-a", token_key("token-b"));
    }

    #[test]
    fn the_digest_hasher_reads_the_first_eight_bytes() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let key = token_key("abc");
        let h = BuildHasherDefault::<DigestHasher>::default().hash_one(key);
        assert_eq!(h, u64::from_le_bytes(key[..8].try_into().unwrap()));
    }
}
