//! The proxy's state: a small key-value [`Store`] trait with explicit TTLs, its backends, and
//! [`Records`], the typed layer the endpoints use.
//!
//! - [`MemoryStore`] (`storage: memory`): one instance, lost on restart; the default of an
//!   in-process [`crate::proxy::Proxy::spawn`].
//! - [`FileStore`] (`storage: file:PATH`, [`file`](mod@file)): an embedded redb database, one process;
//!   the default of `authproof serve`.
//! - [`RedisStore`] (`storage: redis://HOST:PORT/DB`, [`redis`]): shared by several instances.
//! - [`SealedStore`] ([`seal`]) wraps each of them and seals upstream tokens and secrets at
//!   rest (AES-256-GCM, key ids for rotation); [`open()`] builds the stack from the config.
//! - [`Store::held`] counts the entries a backend holds ([`held`]), for monitoring and tests.
//! - The behaviour all of them must show is one check, run against each backend by the
//!   `store_backends` integration test (`tests/support/store_conformance.rs`).
//!
//! The trait is deliberately narrow (get, put, put_if_absent, take, delete, compare_and_swap,
//! each on a [`Collection`] with a TTL on every write) so that every backend can make each
//! operation atomic: Redis with `SET EX`/`SET NX`/`GETDEL`/a CAS script, an embedded
//! database with one write transaction each. Single-use values (authorization codes, upstream
//! `state`, CSRF tokens) are consumed with [`Store::take`], so two concurrent redemptions can
//! never both succeed.

mod decoded;
pub mod file;
pub mod held;
mod memory;
mod open;
mod records;
pub mod redis;
pub mod seal;

pub use file::FileStore;
pub use held::Held;
pub use memory::MemoryStore;
pub use open::open;
pub use records::*;
pub use redis::RedisStore;
pub use seal::{SealedStore, Sealer};

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The future every [`Store`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A stored value in the form a [`Decoder`] gives it (a typed record, for [`Records`]).
pub type Decoded = Arc<dyn Any + Send + Sync>;

/// What turns a stored value into its [`Decoded`] form (given to [`Store::get_decoded`]).
pub type Decoder<'a> = &'a (dyn Fn(&[u8]) -> Result<Decoded, StoreError> + Send + Sync);

/// The collections the proxy keeps, each with its own key space and TTLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collection {
    /// Registered (DCR) and fetched (CIMD) clients, by client_id.
    Clients,
    /// Authorization requests waiting for consent, by txn_id.
    Transactions,
    /// Consent-page CSRF tokens, by SHA-256 of the token.
    ConsentCsrf,
    /// Remembered consents, by SHA-256 of (browser secret, client_id).
    Consents,
    /// Approved flows at the upstream IdP, by SHA-256 of the upstream `state`.
    UpstreamStates,
    /// The proxy's authorization codes, by SHA-256 of the code.
    Codes,
    /// Redeemed codes (replay detection), by SHA-256 of the code.
    UsedCodes,
    /// Upstream token sets (one per completed authorization), by grant id.
    Grants,
    /// The proxy's access tokens, by jti.
    TokenMappings,
    /// Refresh-token families, by family id.
    RefreshFamilies,
    /// Short-lived locks shared by every instance (single-flight upstream refresh), by name.
    Locks,
    /// Facts about the store itself (the sealing-key check value), by name.
    Meta,
}

impl Collection {
    /// Every collection.
    pub const ALL: [Collection; 12] = [
        Collection::Clients,
        Collection::Transactions,
        Collection::ConsentCsrf,
        Collection::Consents,
        Collection::UpstreamStates,
        Collection::Codes,
        Collection::UsedCodes,
        Collection::Grants,
        Collection::TokenMappings,
        Collection::RefreshFamilies,
        Collection::Locks,
        Collection::Meta,
    ];

    /// A short stable name (key prefix in shared backends).
    pub const fn name(self) -> &'static str {
        match self {
            Collection::Clients => "clients",
            Collection::Transactions => "transactions",
            Collection::ConsentCsrf => "consent_csrf",
            Collection::Consents => "consents",
            Collection::UpstreamStates => "upstream_states",
            Collection::Codes => "codes",
            Collection::UsedCodes => "used_codes",
            Collection::Grants => "grants",
            Collection::TokenMappings => "token_mappings",
            Collection::RefreshFamilies => "refresh_families",
            Collection::Locks => "locks",
            Collection::Meta => "meta",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// Whether entries of this collection may be capped ([`Store::put_capped`]): what
    /// unauthenticated requests create. In these collections every plain write or removal of
    /// a key also takes it out of the cap's index (a registration made durable by a plain
    /// `put` is never evicted).
    pub const fn cappable(self) -> bool {
        matches!(
            self,
            Collection::Clients
                | Collection::Transactions
                | Collection::ConsentCsrf
                | Collection::UpstreamStates
        )
    }
}

/// The cap of a [`Store::put_capped`] write: at most `limit` capped entries in the
/// collection; when it is full, the oldest (first written) go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap<'a> {
    /// The most capped entries the collection holds.
    pub limit: u64,
    /// A key of another collection that belongs to this entry and leaves with it when it is
    /// evicted (a pending authorization's consent CSRF record). It must not be capped itself.
    pub companion: Option<(Collection, &'a str)>,
}

impl<'a> Cap<'a> {
    /// At most `limit` capped entries.
    pub fn new(limit: u64) -> Self {
        Self {
            limit: limit.max(1),
            companion: None,
        }
    }

    /// With a companion key, evicted with the entry.
    pub fn with_companion(self, c: Collection, key: &'a str) -> Self {
        Self {
            companion: Some((c, key)),
            ..self
        }
    }
}

/// When an entry written at `now` (clock milliseconds) for `ttl` expires; saturating.
pub(crate) fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A collection reached its size limit (memory store); try again later.
    #[error("storage is full ({0})")]
    Full(&'static str),
    /// The backend cannot be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored value does not decode.
    #[error("stored value does not decode: {0}")]
    Corrupt(String),
    /// A sealed value names a storage key that is not configured: it cannot be read (it is
    /// not treated as absent, so nothing is silently lost or overwritten).
    #[error(
        "a stored {collection} value is sealed with storage key id {key_id}, which is not configured: add that key to storage_previous_keys (or set it as storage_key)"
    )]
    UnknownKey {
        /// The collection.
        collection: &'static str,
        /// The key id found in the value.
        key_id: String,
    },
}

/// A key-value store with a TTL on every entry. Keys are at most a few hundred bytes; values
/// are opaque bytes (JSON written by [`Records`]).
pub trait Store: Send + Sync + 'static {
    /// The live value under `key`.
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Set `key` to `value` for `ttl`.
    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;
    /// Set `key` only when it holds no live value; `true` when it was set.
    fn put_if_absent<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool>;
    /// Remove and return the live value (atomic: one of several concurrent callers gets it).
    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;
    /// Remove `key`; `true` when a live value was removed.
    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool>;
    /// Replace the value with `new` (for `ttl`) only when it currently equals `expected`.
    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool>;
    /// The live value under `key`, as `decode` makes it.
    ///
    /// A store whose every write passes through this process may keep the decoded form next
    /// to the value and answer it again, without decoding, until the value is written,
    /// removed or expires: the values read on every guarded request (a token's mapping, its
    /// grant) are then decoded (and unsealed) once. Callers pass the same decoder for a
    /// collection every time. A store shared with other processes (Redis) must not keep it:
    /// a revocation by another instance would not reach it. This default decodes every read.
    fn get_decoded<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        decode: Decoder<'a>,
    ) -> StoreFuture<'a, Option<Decoded>> {
        Box::pin(async move {
            match self.get(c, key).await? {
                Some(v) => decode(&v).map(Some),
                None => Ok(None),
            }
        })
    }
    /// The decoded form of `key`'s live value when this store holds it ready: no waiting, no
    /// decoding, no boxed future. `Some` only with what [`Store::get_decoded`] would answer
    /// now; `None` says nothing (ask `get_decoded`), and is all this default answers. The
    /// guard reads a token's mapping and its grant through it on every request.
    fn decoded_ready(&self, _c: Collection, _key: &str) -> Option<Decoded> {
        None
    }
    /// Remove `key` only when its live value equals `expected` (release a lock only if this
    /// owner still holds it); `true` when it was removed. Every backend here does it in one
    /// atomic step; this default (a read, then a delete) is for stores that cannot.
    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            if self.get(c, key).await?.as_deref() == Some(expected) {
                self.delete(c, key).await
            } else {
                Ok(false)
            }
        })
    }

    /// Set `key` to `value` for `ttl` as one of the collection's capped entries: when the
    /// collection already holds `cap.limit` of them, the oldest are removed (with their
    /// companions) in the same atomic step, so the store never holds more than the cap.
    /// Answers how many live entries were evicted. A key written again becomes the newest.
    /// Only for [`Collection::cappable`] collections; on others it is a plain `put`.
    fn put_capped<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        cap: Cap<'a>,
    ) -> StoreFuture<'a, u64>;

    /// How many entries the backend holds per collection, live or expired but not dropped yet
    /// (see [`held`]). For monitoring and tests, never on a request path.
    fn held(&self) -> StoreFuture<'_, Held>;
}
