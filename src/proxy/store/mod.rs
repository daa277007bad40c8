//! The proxy's state: a small key-value [`Store`] trait with explicit TTLs, implemented in
//! memory here (file and Redis backends implement the same trait), and [`Records`], the typed
//! layer the endpoints use.
//!
//! The trait is deliberately narrow (get, put, put_if_absent, take, delete, compare_and_swap,
//! each on a [`Collection`] with a TTL on every write) so that every backend can make each
//! operation atomic: Redis with `SET EX`/`SET NX`/`GETDEL`/a CAS script, an embedded
//! database with one write transaction each. Single-use values (authorization codes, upstream
//! `state`, CSRF tokens) are consumed with [`Store::take`], so two concurrent redemptions can
//! never both succeed.

pub mod conformance;
mod memory;
mod records;

pub use memory::MemoryStore;
pub use records::*;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The future every [`Store`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

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
    pub fn name(self) -> &'static str {
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

    fn index(self) -> usize {
        self as usize
    }
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
}
