//! Sealing at rest: [`SealedStore`] wraps any [`Store`] and encrypts the values of the
//! collections that hold secrets with AES-256-GCM (aws-lc-rs), so a copy of the database file
//! or of the Redis keys does not give away upstream tokens.
//!
//! **What is sealed** ([`is_sealed`]): [`Collection::Grants`] (upstream access, refresh and
//! ID tokens) and [`Collection::UpstreamStates`] (the proxy's own PKCE verifier toward the
//! upstream, which together with an intercepted upstream code would redeem it). The other
//! collections hold nothing that works as a credential: refresh families, codes, CSRF tokens
//! and used codes are stored under and as SHA-256 hashes, token mappings and consents hold ids,
//! clients hold public registration metadata, transactions hold the client's public PKCE
//! challenge; [`Collection::Locks`] stays plain so that locking costs one round trip and no
//! crypto, and [`Collection::Meta`] holds the key check value, sealed on its own.
//!
//! **Format** of a sealed value: `version (1 byte, 0x01) | key id (4 bytes) | nonce (12 bytes,
//! random) | ciphertext | tag (16 bytes)`. The additional authenticated data binds the value
//! to its collection and key (`authproof/v1/<collection>/<key>`), so a value copied to another
//! key or collection does not open.
//!
//! **Keys**: each configured secret string becomes a 256-bit key by HKDF-SHA256 (salt
//! `authproof-storage-key-v1`, an info distinct from the proxy's token-signing key). New
//! values are sealed with `storage_key`; reads also accept `storage_previous_keys` and the
//! default keys (derived the same way from `jwt_signing_key` and from `upstream.client_secret`),
//! so that introducing or rotating `storage_key` never orphans what is stored. Without any of
//! them the key is random, which only works for memory storage. The key id is derived from the
//! key (HKDF, another info) and names it in messages without revealing it.
//!
//! **In memory**: a store that keeps decoded values for [`Store::get_decoded`] (memory, file)
//! holds the decoded grant, upstream tokens in clear, next to its sealed bytes for as long as
//! the entry lives unchanged, like any request that reads it holds them while it runs. Sealing
//! protects copies of the file and of the Redis keys, not the running process.
//!
//! **Wrong key**: a value whose key id is not configured is [`StoreError::UnknownKey`] and a
//! value that does not authenticate is [`StoreError::Corrupt`] — never "absent", so nothing is
//! silently lost or overwritten. On open, [`SealedStore::open`] checks a sealed check value in
//! [`Collection::Meta`] (written on first open) and refuses to start when no configured key
//! opens it, naming the key id it found and how to fix the configuration.

use super::{Cap, Collection, Decoded, Decoder, Held, Store, StoreError, StoreFuture};
use crate::proxy::config::ProxyConfig;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The format version byte of a sealed value.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes of a key id.
pub const KEY_ID_LEN: usize = 4;
const PREFIX_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;
const HKDF_SALT: &[u8] = b"authproof-storage-key-v1";
const HKDF_INFO_KEY: &[u8] = b"authproof aes-256-gcm storage sealing key";
const HKDF_INFO_ID: &[u8] = b"authproof storage sealing key id";
/// The [`Collection::Meta`] key of the sealed check value.
pub const CHECK_KEY: &str = "seal-check";
const CHECK_PLAINTEXT: &[u8] = b"authproof storage key check v1";
/// Every write needs a TTL: the check value lives ten years (rewritten on every rotation).
const CHECK_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Retries of a sealed compare-and-swap whose ciphertext changed under it.
const CAS_RETRIES: usize = 8;

/// Whether values of `c` are sealed (see the module docs for why these and only these).
pub fn is_sealed(c: Collection) -> bool {
    matches!(c, Collection::Grants | Collection::UpstreamStates)
}

/// One AES-256-GCM key, its id, and where it came from (for messages; never the secret).
pub struct SealingKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
    source: String,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({} from {})", self.id_hex(), self.source)
    }
}

fn hkdf32(secret: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret);
    let mut out = [0u8; 32];
    // HKDF_SHA256 as the length asks for exactly one hash length (32 bytes): cannot fail.
    if let Ok(okm) = prk.expand(&[info], hkdf::HKDF_SHA256) {
        let _ = okm.fill(&mut out);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SealingKey {
    /// The key derived from a configured secret string; `source` names the setting.
    pub fn derive(secret: &[u8], source: impl Into<String>) -> SealingKey {
        let bytes = hkdf32(secret, HKDF_INFO_KEY);
        let id_bytes = hkdf32(secret, HKDF_INFO_ID);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&id_bytes[..KEY_ID_LEN]);
        Self::from_bytes(bytes, id, source.into())
    }

    /// A random key (memory storage without any configured secret).
    pub fn random(source: impl Into<String>) -> SealingKey {
        let mut secret = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut secret).is_err() {
            rand::Rng::fill_bytes(&mut rand::rng(), &mut secret);
        }
        Self::derive(&secret, source)
    }

    fn from_bytes(bytes: [u8; 32], id: [u8; KEY_ID_LEN], source: String) -> SealingKey {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = match UnboundKey::new(&AES_256_GCM, &bytes) {
            Ok(k) => k,
            Err(_) => unreachable!("AES-256-GCM takes any 32-byte key"),
        };
        SealingKey {
            id,
            key: LessSafeKey::new(unbound),
            source,
        }
    }

    /// The key id as 8 hex digits.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }

    /// Where the key came from (`storage_key`, `storage_previous_keys[0]`, …).
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn aad(c: Collection, key: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(32 + key.len());
    a.extend_from_slice(b"authproof/v1/");
    a.extend_from_slice(c.name().as_bytes());
    a.push(b'/');
    a.extend_from_slice(key.as_bytes());
    a
}

/// The key id of a sealed value, if it has the sealed format's header.
pub fn key_id_of(sealed: &[u8]) -> Option<String> {
    (sealed.len() >= PREFIX_LEN + TAG_LEN && sealed[0] == FORMAT_VERSION)
        .then(|| hex(&sealed[1..1 + KEY_ID_LEN]))
}

/// The keys: one to seal with, several to open with.
#[derive(Debug)]
pub struct Sealer {
    current: SealingKey,
    others: Vec<SealingKey>,
}

impl Sealer {
    /// Seal with `current`; open with it and `others` (duplicates of `current` are dropped).
    pub fn new(current: SealingKey, others: Vec<SealingKey>) -> Sealer {
        let mut kept: Vec<SealingKey> = Vec::new();
        for k in others {
            if k.id != current.id && !kept.iter().any(|o| o.id == k.id) {
                kept.push(k);
            }
        }
        Sealer {
            current,
            others: kept,
        }
    }

    /// The keys a configuration asks for (see the module docs). `persistent` storage needs a
    /// configured secret; memory storage falls back to a random key.
    pub fn from_config(config: &ProxyConfig, persistent: bool) -> anyhow::Result<Sealer> {
        let jwt = config
            .jwt_signing_key
            .as_ref()
            .filter(|s| !s.expose().is_empty())
            .map(|s| SealingKey::derive(s.expose().as_bytes(), "jwt_signing_key (default)"));
        let upstream = config
            .upstream
            .client_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
            .map(|s| SealingKey::derive(s.expose().as_bytes(), "upstream.client_secret (default)"));
        let mut others: Vec<SealingKey> = config
            .storage_previous_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                SealingKey::derive(k.expose().as_bytes(), format!("storage_previous_keys[{i}]"))
            })
            .collect();
        let current = match &config.storage_key {
            Some(k) => {
                others.extend(jwt);
                others.extend(upstream);
                SealingKey::derive(k.expose().as_bytes(), "storage_key")
            }
            None => match (jwt, upstream) {
                (Some(j), u) => {
                    others.extend(u);
                    j
                }
                (None, Some(u)) => u,
                (None, None) if !persistent => SealingKey::random("a random key (memory storage)"),
                (None, None) => anyhow::bail!(
                    "storage: set storage_key (or AUTHPROOF_STORAGE_KEY, at least 32 random characters): persistent storage seals upstream tokens at rest, and there is no jwt_signing_key or upstream.client_secret to derive the key from"
                ),
            },
        };
        Ok(Sealer::new(current, others))
    }

    /// The key new values are sealed with.
    pub fn current(&self) -> &SealingKey {
        &self.current
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> impl Iterator<Item = &SealingKey> {
        std::iter::once(&self.current).chain(self.others.iter())
    }

    /// Seal `plaintext` stored under `key` in `c`.
    pub fn seal(&self, c: Collection, key: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        if aws_lc_rs::rand::fill(&mut nonce).is_err() {
            rand::Rng::fill_bytes(&mut rand::rng(), &mut nonce);
        }
        let mut out = Vec::with_capacity(PREFIX_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        // Sealing fails only for inputs beyond AES-GCM's limit (64 GiB); values are bytes
        // to kilobytes.
        if self
            .current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(c, key)),
                &mut body,
            )
            .is_err()
        {
            body.clear();
        }
        out.extend_from_slice(&body);
        out
    }

    /// Open a value sealed under `key` in `c`.
    pub fn open(&self, c: Collection, key: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < PREFIX_LEN + TAG_LEN {
            return Err(StoreError::Corrupt(format!(
                "{}: sealed value too short ({} bytes)",
                c.name(),
                sealed.len()
            )));
        }
        if sealed[0] != FORMAT_VERSION {
            return Err(StoreError::Corrupt(format!(
                "{}: unknown sealed format version {} (expected {FORMAT_VERSION})",
                c.name(),
                sealed[0]
            )));
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEY_ID_LEN..PREFIX_LEN]);
        let mut matched = false;
        for k in self.keys().filter(|k| k.id == id) {
            matched = true;
            let mut body = sealed[PREFIX_LEN..].to_vec();
            if let Ok(plain) = k.key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(c, key)),
                &mut body,
            ) {
                let n = plain.len();
                body.truncate(n);
                return Ok(body);
            }
        }
        if matched {
            Err(StoreError::Corrupt(format!(
                "{}: sealed value does not authenticate with storage key id {} (tampered with, or copied from another key)",
                c.name(),
                hex(id)
            )))
        } else {
            Err(StoreError::UnknownKey {
                collection: c.name(),
                key_id: hex(id),
            })
        }
    }

    fn describe_keys(&self) -> String {
        self.keys()
            .map(|k| format!("{} ({})", k.id_hex(), k.source))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A [`Store`] that seals the values of [`is_sealed`] collections (see the module docs).
pub struct SealedStore {
    inner: Arc<dyn Store>,
    sealer: Sealer,
    last_read: LastRead,
}

/// The most entries [`LastRead`] holds before it starts again empty.
const LAST_READ_ENTRIES: usize = 4096;

/// For each sealed value read lately: the ciphertext read and the SHA-256 of what it opened
/// to. A compare-and-swap whose expected plaintext is what a read answered swaps over that
/// ciphertext at once, without reading it again (the inner swap is on the exact ciphertext,
/// so a value changed since fails it, and the swap reads as before).
#[derive(Default)]
struct LastRead(parking_lot::Mutex<std::collections::HashMap<(Collection, String), Seen>>);

struct Seen {
    ciphertext: Vec<u8>,
    plaintext_sha256: [u8; 32],
}

fn digest(plaintext: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, plaintext);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl LastRead {
    fn remember(&self, c: Collection, key: &str, ciphertext: &[u8], plaintext: &[u8]) {
        let mut map = self.0.lock();
        if map.len() >= LAST_READ_ENTRIES {
            map.clear();
        }
        map.insert(
            (c, key.to_string()),
            Seen {
                ciphertext: ciphertext.to_vec(),
                plaintext_sha256: digest(plaintext),
            },
        );
    }

    /// The ciphertext `expected` was read from, if a read of `key` answered it lately (the
    /// entry is used once).
    fn ciphertext_of(&self, c: Collection, key: &str, expected: &[u8]) -> Option<Vec<u8>> {
        let seen = self.0.lock().remove(&(c, key.to_string()))?;
        (seen.plaintext_sha256 == digest(expected)).then_some(seen.ciphertext)
    }
}

impl SealedStore {
    /// Wrap `inner` without checking the stored key check value (tests; prefer
    /// [`SealedStore::open`]).
    pub fn new(inner: Arc<dyn Store>, sealer: Sealer) -> SealedStore {
        SealedStore {
            inner,
            sealer,
            last_read: LastRead::default(),
        }
    }

    /// Wrap `inner` after checking that the configured keys open what it holds: writes the
    /// sealed check value on first use, re-seals it with the current key after a rotation,
    /// and refuses (naming the key id found and what to configure) when no key opens it.
    /// `what` names the storage in messages (e.g. `file:/var/lib/authproof/state.redb`).
    pub async fn open(
        inner: Arc<dyn Store>,
        sealer: Sealer,
        what: &str,
    ) -> anyhow::Result<SealedStore> {
        let store = SealedStore::new(inner, sealer);
        store.check(what).await?;
        Ok(store)
    }

    async fn check(&self, what: &str) -> anyhow::Result<()> {
        let unavailable = |e: StoreError| anyhow::anyhow!("storage {what}: {e}");
        for _ in 0..CAS_RETRIES {
            let fresh = self
                .sealer
                .seal(Collection::Meta, CHECK_KEY, CHECK_PLAINTEXT);
            let Some(raw) = self
                .inner
                .get(Collection::Meta, CHECK_KEY)
                .await
                .map_err(unavailable)?
            else {
                if self
                    .inner
                    .put_if_absent(Collection::Meta, CHECK_KEY, fresh, CHECK_TTL)
                    .await
                    .map_err(unavailable)?
                {
                    tracing::info!(
                        key_id = %self.sealer.current.id_hex(),
                        key_source = %self.sealer.current.source,
                        "storage sealing key set up"
                    );
                    return Ok(());
                }
                continue;
            };
            match self.sealer.open(Collection::Meta, CHECK_KEY, &raw) {
                Ok(p) if p == CHECK_PLAINTEXT => {
                    let found = key_id_of(&raw).unwrap_or_default();
                    if found == self.sealer.current.id_hex() {
                        tracing::info!(
                            key_id = %found,
                            key_source = %self.sealer.current.source,
                            "storage sealing key checked"
                        );
                        return Ok(());
                    }
                    // Opened with an older key: new writes use the current one from now on.
                    if self
                        .inner
                        .compare_and_swap(Collection::Meta, CHECK_KEY, &raw, fresh, CHECK_TTL)
                        .await
                        .map_err(unavailable)?
                    {
                        tracing::info!(
                            previous_key_id = %found,
                            key_id = %self.sealer.current.id_hex(),
                            key_source = %self.sealer.current.source,
                            "storage sealing key rotated: new values are sealed with the new key; keep the previous key configured until what it sealed has expired (at most refresh_token_ttl)"
                        );
                        return Ok(());
                    }
                }
                Ok(_) => anyhow::bail!(
                    "storage {what}: the storage key check value holds unexpected content; the storage was not written by authproof (use another file or Redis database)"
                ),
                Err(e) => {
                    let found = key_id_of(&raw)
                        .map(|id| format!("storage key id {id}"))
                        .unwrap_or_else(|| "an unreadable key id".into());
                    let reason = match e {
                        StoreError::UnknownKey { .. } => "none of the configured keys has that id",
                        _ => "the key with that id does not open it",
                    };
                    anyhow::bail!(
                        "storage {what}: the stored state is sealed with {found}, and {reason} (configured: {}). \
                         Configure the key that sealed it: set storage_key (or AUTHPROOF_STORAGE_KEY) back to it, \
                         or, to rotate keys, keep the new key in storage_key and list the old one in storage_previous_keys. \
                         authproof refuses to start rather than lose the stored registrations and grants \
                         (to discard them instead, remove the file or flush the Redis database)",
                        self.sealer.describe_keys()
                    )
                }
            }
        }
        anyhow::bail!("storage {what}: the storage key check value keeps changing; try again")
    }

    /// The wrapped store (tests: to look at what is really stored).
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The keys.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Replace the ciphertext `raw` of `key` with `new` sealed, if `raw` is still what the
    /// inner store holds.
    async fn swap_sealed(
        &self,
        c: Collection,
        key: &str,
        raw: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let sealed = self.sealer.seal(c, key, new);
        self.inner.compare_and_swap(c, key, raw, sealed, ttl).await
    }

    fn open_value(
        &self,
        c: Collection,
        key: &str,
        v: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match v {
            Some(raw) if is_sealed(c) => self.sealer.open(c, key, &raw).map(Some),
            other => Ok(other),
        }
    }

    fn seal_value(&self, c: Collection, key: &str, v: Vec<u8>) -> Vec<u8> {
        if is_sealed(c) {
            self.sealer.seal(c, key, &v)
        } else {
            v
        }
    }
}

impl Store for SealedStore {
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let v = self.inner.get(c, key).await?;
            match v {
                Some(raw) if is_sealed(c) => {
                    let plain = self.sealer.open(c, key, &raw)?;
                    self.last_read.remember(c, key, &raw, &plain);
                    Ok(Some(plain))
                }
                other => Ok(other),
            }
        })
    }

    fn decoded_ready(&self, c: Collection, key: &str) -> Option<Decoded> {
        // What the inner store keeps decoded was unsealed first (see `get_decoded`).
        self.inner.decoded_ready(c, key)
    }

    fn get_decoded<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        decode: Decoder<'a>,
    ) -> StoreFuture<'a, Option<Decoded>> {
        if !is_sealed(c) {
            return self.inner.get_decoded(c, key, decode);
        }
        Box::pin(async move {
            // The inner store keeps what this makes of the sealed bytes: a value is unsealed
            // once, not on every read.
            let open_then_decode = |raw: &[u8]| decode(&self.sealer.open(c, key, raw)?);
            self.inner.get_decoded(c, key, &open_then_decode).await
        })
    }

    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let v = self.seal_value(c, key, value);
        self.inner.put(c, key, v, ttl)
    }

    fn put_if_absent<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let v = self.seal_value(c, key, value);
        self.inner.put_if_absent(c, key, v, ttl)
    }

    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let v = self.inner.take(c, key).await?;
            self.open_value(c, key, v)
        })
    }

    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        self.inner.delete(c, key)
    }

    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if !is_sealed(c) {
            return self.inner.compare_and_swap(c, key, expected, new, ttl);
        }
        Box::pin(async move {
            // What a read answered lately: swap over the ciphertext it came from.
            if let Some(raw) = self.last_read.ciphertext_of(c, key, expected)
                && self.swap_sealed(c, key, &raw, &new, ttl).await?
            {
                return Ok(true);
            }
            // Compare plaintexts, swap ciphertexts: the inner CAS on the exact ciphertext read
            // keeps it atomic. A ciphertext that changed in between is read again.
            for _ in 0..CAS_RETRIES {
                let Some(raw) = self.inner.get(c, key).await? else {
                    return Ok(false);
                };
                if self.sealer.open(c, key, &raw)? != expected {
                    return Ok(false);
                }
                if self.swap_sealed(c, key, &raw, &new, ttl).await? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        if !is_sealed(c) {
            return self.inner.delete_if(c, key, expected);
        }
        Box::pin(async move {
            // As compare_and_swap: compare plaintexts, delete the exact ciphertext read.
            for _ in 0..CAS_RETRIES {
                let Some(raw) = self.inner.get(c, key).await? else {
                    return Ok(false);
                };
                if self.sealer.open(c, key, &raw)? != expected {
                    return Ok(false);
                }
                if self.inner.delete_if(c, key, &raw).await? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn put_capped<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        cap: Cap<'a>,
    ) -> StoreFuture<'a, u64> {
        let v = self.seal_value(c, key, value);
        self.inner.put_capped(c, key, v, ttl, cap)
    }

    fn held(&self) -> StoreFuture<'_, Held> {
        self.inner.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::Secret;
    use crate::proxy::store::MemoryStore;
    use foundations::Clock;

    fn key(s: &str, src: &str) -> SealingKey {
        SealingKey::derive(s.as_bytes(), src)
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let s = Sealer::new(
            key("k1-0123456789abcdef0123456789abcdef", "storage_key"),
            vec![],
        );
        let v = s.seal(Collection::Grants, "g1", b"upstream-token");
        assert_eq!(v[0], FORMAT_VERSION);
        assert_eq!(key_id_of(&v).unwrap(), s.current().id_hex());
        assert!(!v.windows(14).any(|w| w == b"upstream-token"));
        assert_eq!(
            s.open(Collection::Grants, "g1", &v).unwrap(),
            b"upstream-token"
        );
        // Bound to its key and collection.
        assert!(matches!(
            s.open(Collection::Grants, "g2", &v),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            s.open(Collection::UpstreamStates, "g1", &v),
            Err(StoreError::Corrupt(_))
        ));
        // Random nonces: two seals differ.
        assert_ne!(v, s.seal(Collection::Grants, "g1", b"upstream-token"));
        // Tampering is detected.
        let mut t = v.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(matches!(
            s.open(Collection::Grants, "g1", &t),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            s.open(Collection::Grants, "g1", b"plain"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn rotation_and_unknown_keys() {
        let old = Sealer::new(
            key("old-key-0123456789abcdef0123456789", "storage_key"),
            vec![],
        );
        let v = old.seal(Collection::Grants, "g", b"secret");
        let new = Sealer::new(
            key("new-key-0123456789abcdef0123456789", "storage_key"),
            vec![key(
                "old-key-0123456789abcdef0123456789",
                "storage_previous_keys[0]",
            )],
        );
        assert_eq!(new.open(Collection::Grants, "g", &v).unwrap(), b"secret");
        let w = new.seal(Collection::Grants, "g", b"secret");
        assert_eq!(key_id_of(&w).unwrap(), new.current().id_hex());
        let other = Sealer::new(
            key("other-0123456789abcdef0123456789ab", "storage_key"),
            vec![],
        );
        match other.open(Collection::Grants, "g", &v) {
            Err(e @ StoreError::UnknownKey { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&old.current().id_hex()), "{msg}");
                assert!(msg.contains("storage_previous_keys"), "{msg}");
            }
            r => panic!("unknown key id must be an error, got {r:?}"),
        }
    }

    #[test]
    fn config_keys() {
        let mut c = ProxyConfig {
            jwt_signing_key: Some(Secret::new("jwt-signing-key-0123456789")),
            ..ProxyConfig::default()
        };
        let s = Sealer::from_config(&c, true).unwrap();
        assert_eq!(s.current().source(), "jwt_signing_key (default)");
        // The default key differs from a key configured with the same string? No: the same
        // derivation, so the jwt key can be listed as a previous key after a rotation.
        assert_eq!(
            s.current().id_hex(),
            key("jwt-signing-key-0123456789", "x").id_hex()
        );
        c.storage_key = Some(Secret::new("storage-key-0123456789abcdef0123456789"));
        c.storage_previous_keys = vec![Secret::new("prev-key-0123456789abcdef0123456789")];
        let s = Sealer::from_config(&c, true).unwrap();
        assert_eq!(s.current().source(), "storage_key");
        let sources: Vec<&str> = s.keys().map(|k| k.source()).collect();
        assert_eq!(
            sources,
            [
                "storage_key",
                "storage_previous_keys[0]",
                "jwt_signing_key (default)"
            ]
        );
        let none = ProxyConfig::default();
        assert!(Sealer::from_config(&none, false).is_ok());
        let e = Sealer::from_config(&none, true).unwrap_err().to_string();
        assert!(e.contains("storage_key"), "{e}");
    }

    #[tokio::test]
    async fn sealed_store_seals_at_rest_and_swaps_on_plaintext() {
        let clock = Clock::frozen_at(1_000);
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let sealer = Sealer::new(
            key("k-0123456789abcdef0123456789abcdef", "storage_key"),
            vec![],
        );
        let s = SealedStore::open(inner.clone(), sealer, "memory")
            .await
            .unwrap();
        let ttl = Duration::from_secs(60);
        s.put(Collection::Grants, "g", b"tok-1".to_vec(), ttl)
            .await
            .unwrap();
        let raw = inner.get(Collection::Grants, "g").await.unwrap().unwrap();
        assert!(!raw.windows(5).any(|w| w == b"tok-1"), "sealed at rest");
        assert!(
            s.compare_and_swap(Collection::Grants, "g", b"tok-1", b"tok-2".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert!(
            !s.compare_and_swap(Collection::Grants, "g", b"tok-1", b"tok-3".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get(Collection::Grants, "g").await.unwrap(),
            Some(b"tok-2".to_vec())
        );
        // Plain collections stay plain.
        s.put(Collection::Clients, "c", b"meta".to_vec(), ttl)
            .await
            .unwrap();
        assert_eq!(
            inner.get(Collection::Clients, "c").await.unwrap(),
            Some(b"meta".to_vec())
        );
    }

    /// A swap over what a read answered uses the ciphertext read (no second read), and is
    /// still refused when the value changed after that read, whoever changed it.
    #[tokio::test]
    async fn a_swap_after_a_read_is_still_a_compare_and_swap() {
        let clock = Clock::frozen_at(1_000);
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let sealer = || {
            Sealer::new(
                key("k-0123456789abcdef0123456789abcdef", "storage_key"),
                vec![],
            )
        };
        let s = SealedStore::new(inner.clone(), sealer());
        // Another instance over the same inner store.
        let other = SealedStore::new(inner.clone(), sealer());
        let (c, ttl) = (Collection::Grants, Duration::from_secs(60));
        s.put(c, "g", b"v1".to_vec(), ttl).await.unwrap();
        let read = s.get(c, "g").await.unwrap().unwrap();
        assert!(
            s.compare_and_swap(c, "g", &read, b"v2".to_vec(), ttl)
                .await
                .unwrap()
        );
        // Read, then changed by the other instance: the swap over the old read fails.
        let read = s.get(c, "g").await.unwrap().unwrap();
        assert_eq!(read, b"v2");
        assert!(
            other
                .compare_and_swap(c, "g", b"v2", b"v3".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert!(
            !s.compare_and_swap(c, "g", &read, b"v4".to_vec(), ttl)
                .await
                .unwrap()
        );
        // Read, then deleted and written again with the same plaintext: a new ciphertext, the
        // swap reads it again and succeeds (the plaintexts are equal).
        let read = s.get(c, "g").await.unwrap().unwrap();
        other.delete(c, "g").await.unwrap();
        other.put(c, "g", read.clone(), ttl).await.unwrap();
        assert!(
            s.compare_and_swap(c, "g", &read, b"v5".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert_eq!(other.get(c, "g").await.unwrap(), Some(b"v5".to_vec()));
        // A swap expecting something else than what was read fails.
        let _ = s.get(c, "g").await.unwrap();
        assert!(
            !s.compare_and_swap(c, "g", b"v1", b"v6".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert_eq!(s.get(c, "g").await.unwrap(), Some(b"v5".to_vec()));
    }

    #[tokio::test]
    async fn open_refuses_a_wrong_key_and_rotates() {
        let clock = Clock::frozen_at(1_000);
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
        let a = "key-a-0123456789abcdef0123456789abcdef";
        let b = "key-b-0123456789abcdef0123456789abcdef";
        let first = SealedStore::open(
            inner.clone(),
            Sealer::new(key(a, "storage_key"), vec![]),
            "x",
        )
        .await
        .unwrap();
        let a_id = first.sealer().current().id_hex();
        first
            .put(
                Collection::Grants,
                "g",
                b"v".to_vec(),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let err = SealedStore::open(
            inner.clone(),
            Sealer::new(key(b, "storage_key"), vec![]),
            "file:x",
        )
        .await
        .err()
        .expect("a wrong key must refuse")
        .to_string();
        assert!(err.contains(&a_id), "names the key id found: {err}");
        assert!(err.contains("storage_previous_keys"), "{err}");
        assert!(err.contains("file:x"), "{err}");
        // Rotation: b current, a previous → opens, re-seals the check value with b.
        let rotated = SealedStore::open(
            inner.clone(),
            Sealer::new(
                key(b, "storage_key"),
                vec![key(a, "storage_previous_keys[0]")],
            ),
            "x",
        )
        .await
        .unwrap();
        assert_eq!(
            rotated.get(Collection::Grants, "g").await.unwrap(),
            Some(b"v".to_vec())
        );
        let check = inner
            .get(Collection::Meta, CHECK_KEY)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            key_id_of(&check).unwrap(),
            rotated.sealer().current().id_hex()
        );
        // b alone now opens the store; a value still sealed with a is a clear error.
        let b_only = SealedStore::open(
            inner.clone(),
            Sealer::new(key(b, "storage_key"), vec![]),
            "x",
        )
        .await
        .unwrap();
        assert!(matches!(
            b_only.get(Collection::Grants, "g").await,
            Err(StoreError::UnknownKey { .. })
        ));
    }

    #[tokio::test]
    async fn a_sealed_record_is_ready_decoded_after_one_read_and_not_after_a_write() {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new(Clock::frozen_at(1_000)));
        let store = SealedStore::new(
            inner,
            Sealer::new(
                key("k1-0123456789abcdef0123456789abcdef", "storage_key"),
                vec![],
            ),
        );
        let c = Collection::Grants;
        let ttl = std::time::Duration::from_secs(60);
        let decode = |b: &[u8]| -> Result<Decoded, StoreError> { Ok(Arc::new(b.to_vec())) };
        let ready = |s: &SealedStore| {
            s.decoded_ready(c, "g")
                .map(|d| d.downcast::<Vec<u8>>().unwrap().to_vec())
        };
        store.put(c, "g", b"first".to_vec(), ttl).await.unwrap();
        assert_eq!(ready(&store), None, "nothing decoded yet");
        store.get_decoded(c, "g", &decode).await.unwrap();
        assert_eq!(
            ready(&store).as_deref(),
            Some(&b"first"[..]),
            "unsealed and decoded, not the sealed bytes"
        );
        store.put(c, "g", b"second".to_vec(), ttl).await.unwrap();
        assert_eq!(ready(&store), None, "a write drops the decoded form");
        store.delete(c, "g").await.unwrap();
        assert_eq!(ready(&store), None);
    }
}
