//! The embedded file [`Store`]: one [redb](https://www.redb.org) database file, for a single
//! proxy instance whose state must survive a restart (the default of `authproof serve`).
//!
//! - **Layout**: one table per [`Collection`] (named after it), key → `expires_at_ms`
//!   (8 bytes, big-endian, in the injected [`Clock`]'s time) followed by the value.
//! - **Atomicity and durability**: every write operation runs inside a write transaction that
//!   commits with [`redb::Durability::Immediate`] (fsync) before the caller gets its answer.
//!   Writes queue up, and one writer at a time applies the operations queued at that moment
//!   one after the other in a single transaction and commits once (group commit): each
//!   operation sees the ones before it, so `take`, `put_if_absent` and `compare_and_swap`
//!   stay atomic and linearizable, and under load one fsync serves many operations. If the
//!   commit fails, every operation of the group gets the error and none of them took effect.
//! - **Who commits**: the first waiting write that finds the writer free commits the queue on
//!   its own runtime thread, then answers every operation of the group; the others wait for
//!   their answer. (A write first yields once, so that the writes a request sends together
//!   queue up and share a commit.) An earlier version handed every group to a dedicated
//!   writer thread: on two busy cores that third thread waited for a scheduler slice, and
//!   under load 3% of its commits took 3 to 13 ms instead of well under one, which every
//!   write of the group waited for. The price is that an fsync blocks one runtime thread (the
//!   others go on; at most one commits at a time): on a disk whose fsync takes milliseconds,
//!   that thread serves nothing else meanwhile.
//! - **Reads** (`get`) run a read transaction on the calling task. A redb read takes no lock
//!   that a writer holds (it sees the last commit), and finds a key in redb's page cache
//!   (64 MiB) or the OS's in microseconds. Handing each read to the blocking pool, as
//!   reads did before, cost more than the read itself: under load, the hand-offs were a large
//!   share of a refresh's time (it reads twice under its lock). The cost of reading inline is
//!   that a read of a page that neither cache holds waits for the disk on a runtime thread.
//! - **Decoded values**: [`Store::get_decoded`] answers from a `DecodedCache` when it can
//!   (the file is this process's alone, so every write passes through the writer, which
//!   invalidates the written keys once committed, before it answers): a token's mapping and
//!   grant are read from the file and decoded once, not on every guarded request.
//! - **Expiry**: a value past its expiry is never returned (checked on every read and write);
//!   expired entries are purged on open and then, opportunistically, by the writer once every
//!   [`PURGE_EVERY_MS`] of clock time, so the file stays bounded by the live data. Each
//!   collection also holds at most `max_entries` live entries ([`StoreError::Full`] beyond).
//! - **Caps** ([`Store::put_capped`]): every capped write is of state kept in memory (below),
//!   so the memory store keeps the caps and the file holds no cap index. The index tables
//!   that older versions kept in the file (`cap.<name>`, `capkey.<name>`) are dropped on open;
//!   the provisional registrations such a file holds expire with their TTL.
//! - **In memory, not in the file** ([`IN_MEMORY`], a [`MemoryStore`] with the same caps):
//!   - locks ([`Collection::Locks`]): the file store serves one process, a lock only orders
//!     that process's own tasks, and a lock must not outlive a crash of its holder. This keeps
//!     the two lock operations of every single-flight upstream refresh free of disk commits;
//!   - the state of logins in progress: pending authorizations, their consent forms,
//!     approved flows waiting for the upstream login, and authorization codes not yet
//!     redeemed ([`Collection::Transactions`], [`Collection::ConsentCsrf`],
//!     [`Collection::UpstreamStates`], [`Collection::Codes`]). They live minutes, and a
//!     restart only asks a person who was logging in at that moment to start again;
//!   - provisional registrations: a DCR client is written by a capped write
//!     ([`Store::put_capped`]) and lives in memory until its first token exchange writes it
//!     again with a plain [`Store::put`], to the file, and drops the copy in memory. A
//!     restart forgets the registrations that never completed a flow, as the cap's eviction
//!     may at any time, and their clients register again.
//!
//!   So nothing an unauthenticated request can create costs a disk commit: kept in the file,
//!   every `POST /register` and `GET /authorize` (which anyone can send) was one, and a flood
//!   of them made every legitimate write wait. Durable registrations, grants, tokens,
//!   refresh families, used codes and remembered consents stay in the file and survive a
//!   restart.
//! - **One process**: redb locks the file; a second process (or a second store in this one)
//!   opening it gets a clear error naming the path. Use Redis to run several instances.

use super::decoded::DecodedCache;
use super::{Cap, Collection, Decoded, Decoder, Held, MemoryStore, Store, StoreError, StoreFuture};
use foundations::Clock;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The collections a file store keeps in memory (see the module docs).
pub const IN_MEMORY: [Collection; 5] = [
    Collection::Locks,
    Collection::Transactions,
    Collection::ConsentCsrf,
    Collection::UpstreamStates,
    Collection::Codes,
];

fn in_memory(c: Collection) -> bool {
    IN_MEMORY.contains(&c)
}

/// The collection whose capped (provisional) entries live in memory and whose plain
/// (durable) writes go to the file (see the module docs).
const PROVISIONAL: Collection = Collection::Clients;

/// How often (in clock time) the writer drops expired entries.
pub const PURGE_EVERY_MS: i64 = 60_000;
/// Default limit of live entries per collection.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
/// The most operations one write transaction applies.
const MAX_GROUP: usize = 512;
/// redb's page cache.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Bytes of the expiry header in front of every stored value.
const HEADER: usize = 8;
/// Decoded values kept in memory, per collection.
const DECODED_ENTRIES: usize = 20_000;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;

const TABLES: [Table; Collection::ALL.len()] = {
    let mut t = [TableDefinition::new("clients"); Collection::ALL.len()];
    let mut i = 0;
    while i < Collection::ALL.len() {
        t[i] = TableDefinition::new(Collection::ALL[i].name());
        i += 1;
    }
    t
};

fn table(c: Collection) -> Table {
    TABLES[c.index()]
}

/// The cap index tables older versions kept in the file (sequence → key, key → sequence)
/// for provisional registrations and logins in progress, which now live in memory: dropped
/// on open.
const LEGACY_CAP_TABLES: [&str; 4] = ["clients", "transactions", "consent_csrf", "upstream_states"];

fn encode(expires_at_ms: i64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + value.len());
    v.extend_from_slice(&expires_at_ms.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// `(expires_at_ms, value)`; a record too short for its header counts as expired.
fn decode(raw: &[u8]) -> (i64, &[u8]) {
    match raw.split_first_chunk::<HEADER>() {
        Some((h, rest)) => (i64::from_be_bytes(*h), rest),
        None => (i64::MIN, &[]),
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("file store: {e}"))
}

/// What a write operation answers.
enum Answer {
    Bool(bool),
    Value(Option<Vec<u8>>),
}

enum Kind {
    Put {
        value: Vec<u8>,
        ttl: Duration,
    },
    PutIfAbsent {
        value: Vec<u8>,
        ttl: Duration,
    },
    Take,
    Delete,
    DeleteIf {
        expected: Vec<u8>,
    },
    Cas {
        expected: Vec<u8>,
        new: Vec<u8>,
        ttl: Duration,
    },
}

struct Op {
    c: Collection,
    key: String,
    kind: Kind,
    reply: oneshot::Sender<Result<Answer, StoreError>>,
}

enum Msg {
    Op(Op),
    /// Purge expired entries now (answers how many were removed).
    Purge(oneshot::Sender<Result<u64, StoreError>>),
}

/// The embedded database store (see the module docs).
pub struct FileStore {
    db: Arc<Database>,
    decoded: Arc<DecodedCache>,
    clock: Clock,
    memory: MemoryStore,
    path: PathBuf,
    committer: Committer,
}

/// Group commit without a writer thread: operations queue up, and the first request that
/// finds the writer free applies every queued operation in one transaction, on its own
/// thread, then answers each of them (see the module docs).
struct Committer {
    queue: parking_lot::Mutex<Vec<Msg>>,
    writer: parking_lot::Mutex<Writer>,
}

impl Committer {
    fn submit(&self, msg: Msg) {
        self.queue.lock().push(msg);
    }

    /// Apply what is queued, unless another caller holds the writer: that one looks at the
    /// queue again after it lets the writer go, so nothing queued is left behind.
    fn drain(&self) {
        loop {
            let Some(mut w) = self.writer.try_lock() else {
                return;
            };
            loop {
                let mut queued = std::mem::take(&mut *self.queue.lock());
                if queued.is_empty() {
                    break;
                }
                while !queued.is_empty() {
                    let rest = queued.split_off(queued.len().min(MAX_GROUP));
                    w.apply(std::mem::replace(&mut queued, rest));
                }
            }
            drop(w);
            if self.queue.lock().is_empty() {
                return;
            }
        }
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a file store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another store in this process) has the file open.
    #[error(
        "storage file {0}: the file is in use by another authproof process (the embedded database allows one process at a time; stop the other one, use another file, or use redis://… to run several instances)"
    )]
    InUse(PathBuf),
    /// The file cannot be opened as a database.
    #[error("storage file {path}: {message}")]
    Other {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl FileStore {
    /// Open (or create) the database at `path`, with [`DEFAULT_MAX_ENTRIES`] per collection.
    /// Blocking: call it from `spawn_blocking` in async code (or use [`FileStore::open_async`]).
    pub fn open(path: &Path, clock: Clock) -> Result<FileStore, OpenError> {
        Self::open_with_limit(path, clock, DEFAULT_MAX_ENTRIES)
    }

    /// [`FileStore::open`] on the blocking pool.
    pub async fn open_async(path: PathBuf, clock: Clock) -> Result<FileStore, OpenError> {
        let p = path.clone();
        tokio::task::spawn_blocking(move || FileStore::open(&p, clock))
            .await
            .map_err(|e| OpenError::Other {
                path,
                message: format!("open task failed: {e}"),
            })?
    }

    /// Open with at most `max_entries` live entries per collection.
    pub fn open_with_limit(
        path: &Path,
        clock: Clock,
        max_entries: u64,
    ) -> Result<FileStore, OpenError> {
        let other = |message: String| OpenError::Other {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(other(format!("directory {} does not exist", dir.display())));
        }
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                    OpenError::InUse(path.to_path_buf())
                }
                e => other(format!("cannot open the database: {e}")),
            })?;
        let db = Arc::new(db);
        // Create every table, drop what expired while the proxy was down, count the rest.
        let now = clock.now_millis();
        let mut counts = [0u64; Collection::ALL.len()];
        {
            let txn = db
                .begin_write()
                .map_err(|e| other(format!("cannot write: {e}")))?;
            for c in Collection::ALL {
                let mut t = txn
                    .open_table(table(c))
                    .map_err(|e| other(format!("table {}: {e}", c.name())))?;
                t.retain(|_, v| decode(v).0 > now)
                    .map_err(|e| other(format!("table {}: {e}", c.name())))?;
                counts[c.index()] = redb::ReadableTableMetadata::len(&t)
                    .map_err(|e| other(format!("table {}: {e}", c.name())))?;
            }
            for name in LEGACY_CAP_TABLES {
                let (order, keys) = (format!("cap.{name}"), format!("capkey.{name}"));
                txn.delete_table(TableDefinition::<u64, &[u8]>::new(&order))
                    .and_then(|_| txn.delete_table(TableDefinition::<&str, u64>::new(&keys)))
                    .map_err(|e| other(format!("cap tables of {name}: {e}")))?;
            }
            txn.commit()
                .map_err(|e| other(format!("cannot commit: {e}")))?;
        }
        let decoded = Arc::new(DecodedCache::new(DECODED_ENTRIES));
        let writer = Writer {
            db: db.clone(),
            decoded: decoded.clone(),
            clock: clock.clone(),
            counts,
            max_entries,
            next_purge_ms: now.saturating_add(PURGE_EVERY_MS),
        };
        Ok(FileStore {
            db,
            decoded,
            memory: MemoryStore::with_limit(clock.clone(), max_entries as usize),
            clock,
            path: path.to_path_buf(),
            committer: Committer {
                queue: parking_lot::Mutex::new(Vec::new()),
                writer: parking_lot::Mutex::new(writer),
            },
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Live entries in a collection (expired ones are not counted).
    pub async fn len(&self, c: Collection) -> Result<u64, StoreError> {
        if in_memory(c) {
            return Ok(self.memory.len(c) as u64);
        }
        let provisional = if c == PROVISIONAL {
            self.memory.len(c) as u64
        } else {
            0
        };
        let db = self.db.clone();
        let now = self.clock.now_millis();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let t = txn.open_table(table(c)).map_err(unavailable)?;
            let mut n = provisional;
            for entry in t.iter().map_err(unavailable)? {
                let (_, v) = entry.map_err(unavailable)?;
                if decode(v.value()).0 > now {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
        .map_err(unavailable)?
    }

    /// Entries stored in the file for a collection, expired ones not yet purged included
    /// (0 for the collections kept in memory, [`IN_MEMORY`]).
    pub async fn stored(&self, c: Collection) -> Result<u64, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let t = txn.open_table(table(c)).map_err(unavailable)?;
            redb::ReadableTableMetadata::len(&t).map_err(unavailable)
        })
        .await
        .map_err(unavailable)?
    }

    /// Drop every expired entry now (also happens on its own as writes come in); returns how
    /// many were removed.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        // What is kept in memory is swept there (not counted: the answer is about the file).
        self.memory.sweep();
        let (reply, rx) = oneshot::channel();
        self.committer.submit(Msg::Purge(reply));
        self.committer.drain();
        rx.await
            .map_err(|_| unavailable("the purge was not applied"))?
    }

    /// Whether `key` of `c` is held in memory: its collection is, or it is a provisional
    /// registration.
    fn in_memory_key(&self, c: Collection, key: &str) -> bool {
        in_memory(c) || (c == PROVISIONAL && self.memory.contains(c, key))
    }

    fn write<'a>(&'a self, c: Collection, key: &'a str, kind: Kind) -> StoreFuture<'a, Answer> {
        let (reply, rx) = oneshot::channel();
        self.committer.submit(Msg::Op(Op {
            c,
            key: key.to_string(),
            kind,
            reply,
        }));
        Box::pin(async move {
            // Let the writes started together (`tokio::join!`) queue up first: they then
            // share one commit.
            tokio::task::yield_now().await;
            self.committer.drain();
            rx.await
                .map_err(|_| unavailable("the write was not applied"))?
        })
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // A write whose caller went away before it was applied is still applied, as it would
        // be had the caller waited.
        self.committer.drain();
    }
}

struct Writer {
    db: Arc<Database>,
    decoded: Arc<DecodedCache>,
    clock: Clock,
    counts: [u64; Collection::ALL.len()],
    max_entries: u64,
    next_purge_ms: i64,
}

impl Writer {
    /// Apply a group of operations in one write transaction and answer each of them.
    fn apply(&mut self, group: Vec<Msg>) {
        let now = self.clock.now_millis();
        let saved = self.counts;
        let result = self.transact(&group, now);
        match result {
            Ok(answers) => {
                // Committed: no decoded value older than it may be answered from now on.
                for msg in &group {
                    if let Msg::Op(op) = msg {
                        self.decoded.invalidate(op.c, &op.key);
                    }
                }
                for (msg, answer) in group.into_iter().zip(answers) {
                    match (msg, answer) {
                        (Msg::Op(op), Reply::Op(a)) => {
                            let _ = op.reply.send(a);
                        }
                        (Msg::Purge(reply), Reply::Purged(n)) => {
                            let _ = reply.send(Ok(n));
                        }
                        (Msg::Op(op), Reply::Purged(_)) => {
                            let _ = op.reply.send(Err(unavailable("internal mismatch")));
                        }
                        (Msg::Purge(reply), Reply::Op(_)) => {
                            let _ = reply.send(Err(unavailable("internal mismatch")));
                        }
                    }
                }
            }
            Err(e) => {
                self.counts = saved;
                tracing::error!(error = %e, "file store: write transaction failed");
                for msg in group {
                    match msg {
                        Msg::Op(op) => {
                            let _ = op.reply.send(Err(e.clone()));
                        }
                        Msg::Purge(reply) => {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
    }

    fn transact(&mut self, group: &[Msg], now: i64) -> Result<Vec<Reply>, StoreError> {
        let txn = self.db.begin_write().map_err(unavailable)?;
        let mut answers = Vec::with_capacity(group.len());
        if now >= self.next_purge_ms {
            self.purge_all(&txn, now)?;
            self.next_purge_ms = now.saturating_add(PURGE_EVERY_MS);
        }
        for msg in group {
            match msg {
                Msg::Op(op) => answers.push(Reply::Op(self.one(&txn, op, now))),
                Msg::Purge(_) => answers.push(Reply::Purged(self.purge_all(&txn, now)?)),
            }
        }
        txn.commit().map_err(unavailable)?;
        Ok(answers)
    }

    fn purge_all(&mut self, txn: &redb::WriteTransaction, now: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for c in Collection::ALL {
            let mut t = txn.open_table(table(c)).map_err(unavailable)?;
            let before = redb::ReadableTableMetadata::len(&t).map_err(unavailable)?;
            t.retain(|_, v| decode(v).0 > now).map_err(unavailable)?;
            let after = redb::ReadableTableMetadata::len(&t).map_err(unavailable)?;
            removed += before.saturating_sub(after);
            self.counts[c.index()] = after;
        }
        Ok(removed)
    }

    /// One operation inside the group's transaction. An error fails this operation only (it
    /// changed nothing); the others of the group still commit.
    fn one(
        &mut self,
        txn: &redb::WriteTransaction,
        op: &Op,
        now: i64,
    ) -> Result<Answer, StoreError> {
        let key = op.key.as_str();
        let mut t = txn.open_table(table(op.c)).map_err(unavailable)?;
        // The current live value, and whether an entry (live or not) is stored.
        let (live, present) = match t.get(key).map_err(unavailable)? {
            Some(g) => {
                let (exp, v) = decode(g.value());
                ((exp > now).then(|| v.to_vec()), true)
            }
            None => (None, false),
        };
        let max = self.max_entries;
        let count = &mut self.counts[op.c.index()];
        let insert = |t: &mut redb::Table<&str, &[u8]>,
                      count: &mut u64,
                      value: &[u8],
                      ttl: Duration|
         -> Result<(), StoreError> {
            if !present && *count >= max {
                // The count includes expired entries not purged yet: sweep this collection
                // before refusing, so the limit is on live entries (as in memory).
                t.retain(|_, v| decode(v).0 > now).map_err(unavailable)?;
                *count = redb::ReadableTableMetadata::len(t).map_err(unavailable)?;
                if *count >= max {
                    return Err(StoreError::Full(op.c.name()));
                }
            }
            t.insert(key, encode(super::expiry(now, ttl), value).as_slice())
                .map_err(unavailable)?;
            if !present {
                *count += 1;
            }
            Ok(())
        };
        match &op.kind {
            Kind::Put { value, ttl } => {
                insert(&mut t, count, value, *ttl)?;
                Ok(Answer::Bool(true))
            }
            Kind::PutIfAbsent { value, ttl } => {
                if live.is_some() {
                    return Ok(Answer::Bool(false));
                }
                insert(&mut t, count, value, *ttl)?;
                Ok(Answer::Bool(true))
            }
            Kind::Take | Kind::Delete => {
                if present {
                    t.remove(key).map_err(unavailable)?;
                    *count = count.saturating_sub(1);
                }
                Ok(match op.kind {
                    Kind::Take => Answer::Value(live),
                    _ => Answer::Bool(live.is_some()),
                })
            }
            Kind::DeleteIf { expected } => {
                if live.as_deref() != Some(expected.as_slice()) {
                    return Ok(Answer::Bool(false));
                }
                t.remove(key).map_err(unavailable)?;
                *count = count.saturating_sub(1);
                Ok(Answer::Bool(true))
            }
            Kind::Cas { expected, new, ttl } => {
                if live.as_deref() != Some(expected.as_slice()) {
                    return Ok(Answer::Bool(false));
                }
                insert(&mut t, count, new, *ttl)?;
                Ok(Answer::Bool(true))
            }
        }
    }
}

enum Reply {
    Op(Result<Answer, StoreError>),
    Purged(u64),
}

fn as_bool(a: Answer) -> bool {
    match a {
        Answer::Bool(b) => b,
        Answer::Value(v) => v.is_some(),
    }
}

fn as_value(a: Answer) -> Option<Vec<u8>> {
    match a {
        Answer::Value(v) => v,
        Answer::Bool(_) => None,
    }
}

impl FileStore {
    /// The live value under `key` with its expiry (clock milliseconds).
    async fn read(
        &self,
        c: Collection,
        key: &str,
        now: i64,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let t = txn.open_table(table(c)).map_err(unavailable)?;
        Ok(t.get(key).map_err(unavailable)?.and_then(|g| {
            let (exp, v) = decode(g.value());
            (exp > now).then(|| (exp, v.to_vec()))
        }))
    }
}

impl Store for FileStore {
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        if self.in_memory_key(c, key) {
            return self.memory.get(c, key);
        }
        let now = self.clock.now_millis();
        Box::pin(async move { Ok(self.read(c, key, now).await?.map(|(_, v)| v)) })
    }

    fn decoded_ready(&self, c: Collection, key: &str) -> Option<Decoded> {
        if self.in_memory_key(c, key) {
            return self.memory.decoded_ready(c, key);
        }
        self.decoded.get(c, key, self.clock.now_millis()).ok()
    }

    fn get_decoded<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        decode: Decoder<'a>,
    ) -> StoreFuture<'a, Option<Decoded>> {
        if self.in_memory_key(c, key) {
            return self.memory.get_decoded(c, key, decode);
        }
        let now = self.clock.now_millis();
        let miss = match self.decoded.get(c, key, now) {
            Ok(d) => return Box::pin(std::future::ready(Ok(Some(d)))),
            Err(miss) => miss,
        };
        Box::pin(async move {
            let Some((expires, raw)) = self.read(c, key, now).await? else {
                return Ok(None);
            };
            let d = decode(&raw)?;
            self.decoded.fill(miss, key, expires, now, d.clone());
            Ok(Some(d))
        })
    }

    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        if in_memory(c) {
            return self.memory.put(c, key, value, ttl);
        }
        let f = self.write(c, key, Kind::Put { value, ttl });
        Box::pin(async move {
            f.await?;
            if c == PROVISIONAL {
                // Durable now: the file's copy is the one read from here on.
                self.memory.delete(c, key).await?;
            }
            Ok(())
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if self.in_memory_key(c, key) {
            return self.memory.put_if_absent(c, key, value, ttl);
        }
        let f = self.write(c, key, Kind::PutIfAbsent { value, ttl });
        Box::pin(async move { f.await.map(as_bool) })
    }

    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        if self.in_memory_key(c, key) {
            return self.memory.take(c, key);
        }
        let f = self.write(c, key, Kind::Take);
        Box::pin(async move { f.await.map(as_value) })
    }

    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        if in_memory(c) {
            return self.memory.delete(c, key);
        }
        let f = self.write(c, key, Kind::Delete);
        Box::pin(async move {
            let in_file = f.await.map(as_bool)?;
            let provisional = c == PROVISIONAL && self.memory.delete(c, key).await?;
            Ok(in_file || provisional)
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        if self.in_memory_key(c, key) {
            return self.memory.compare_and_swap(c, key, expected, new, ttl);
        }
        let f = self.write(
            c,
            key,
            Kind::Cas {
                expected: expected.to_vec(),
                new,
                ttl,
            },
        );
        Box::pin(async move { f.await.map(as_bool) })
    }

    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        if self.in_memory_key(c, key) {
            return self.memory.delete_if(c, key, expected);
        }
        let f = self.write(
            c,
            key,
            Kind::DeleteIf {
                expected: expected.to_vec(),
            },
        );
        Box::pin(async move { f.await.map(as_bool) })
    }

    fn put_capped<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        cap: Cap<'a>,
    ) -> StoreFuture<'a, u64> {
        if in_memory(c) || c == PROVISIONAL {
            return self.memory.put_capped(c, key, value, ttl, cap);
        }
        // No other collection is capped: a plain write.
        let f = self.put(c, key, value, ttl);
        Box::pin(async move { f.await.map(|()| 0) })
    }

    /// Every table's length (redb keeps it: no walk over the entries), and for the
    /// collections kept in memory, what memory holds.
    fn held(&self) -> StoreFuture<'_, Held> {
        let db = self.db.clone();
        let memory = self.memory.held_now();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let txn = db.begin_read().map_err(unavailable)?;
                let mut held = Held::default();
                for c in Collection::ALL {
                    if in_memory(c) {
                        held.set(c, memory.get(c));
                        continue;
                    }
                    let t = txn.open_table(table(c)).map_err(unavailable)?;
                    let in_file = redb::ReadableTableMetadata::len(&t).map_err(unavailable)?;
                    let provisional = if c == PROVISIONAL { memory.get(c) } else { 0 };
                    held.set(c, in_file + provisional);
                }
                Ok(held)
            })
            .await
            .map_err(unavailable)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "authproof-file-store-{}-{}",
            std::process::id(),
            crate::oauth::random_token(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[tokio::test]
    async fn survives_reopen_and_locks_the_file() {
        let clock = Clock::frozen_at(1_000);
        let path = temp_path("r.redb");
        let s = FileStore::open(&path, clock.clone()).unwrap();
        let ttl = Duration::from_secs(100);
        s.put(Collection::Clients, "c1", b"client".to_vec(), ttl)
            .await
            .unwrap();
        s.put(
            Collection::UsedCodes,
            "short",
            b"x".to_vec(),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        assert!(
            s.put_if_absent(Collection::Locks, "l", b"me".to_vec(), ttl)
                .await
                .unwrap()
        );
        assert_eq!(
            s.stored(Collection::Locks).await.unwrap(),
            0,
            "locks stay in memory"
        );
        assert_eq!(s.len(Collection::Locks).await.unwrap(), 1);
        // A login in progress lives in memory too, capped like the others, and is counted.
        let cap = Cap::new(10).with_companion(Collection::ConsentCsrf, "csrf-t1");
        s.put(Collection::ConsentCsrf, "csrf-t1", b"form".to_vec(), ttl)
            .await
            .unwrap();
        s.put_capped(Collection::Transactions, "t1", b"txn".to_vec(), ttl, cap)
            .await
            .unwrap();
        assert_eq!(s.stored(Collection::Transactions).await.unwrap(), 0);
        let held = s.held().await.unwrap();
        assert_eq!(held.get(Collection::Transactions), 1);
        assert_eq!(held.get(Collection::ConsentCsrf), 1);
        assert_eq!(held.get(Collection::Clients), 1);
        match FileStore::open(&path, clock.clone()) {
            Err(e @ OpenError::InUse(_)) => {
                let msg = e.to_string();
                assert!(msg.contains("in use"), "{msg}");
                assert!(msg.contains(&path.display().to_string()), "{msg}");
            }
            other => panic!("a second open must fail with InUse, got {other:?}"),
        }
        drop(s);
        clock.advance(Duration::from_secs(5));
        let s = FileStore::open(&path, clock.clone()).unwrap();
        assert_eq!(
            s.get(Collection::Clients, "c1").await.unwrap(),
            Some(b"client".to_vec())
        );
        assert_eq!(s.get(Collection::UsedCodes, "short").await.unwrap(), None);
        assert_eq!(
            s.get(Collection::Locks, "l").await.unwrap(),
            None,
            "a lock does not outlive its process"
        );
        assert_eq!(
            s.get(Collection::Transactions, "t1").await.unwrap(),
            None,
            "a login in progress does not outlive its process"
        );
        assert_eq!(
            s.stored(Collection::UsedCodes).await.unwrap(),
            0,
            "expired entries are purged on open"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn provisional_registrations_live_in_memory_until_made_durable() {
        let clock = Clock::frozen_at(1_000);
        let path = temp_path("p.redb");
        let s = FileStore::open(&path, clock.clone()).unwrap();
        let ttl = Duration::from_secs(100);
        let c = Collection::Clients;
        for k in ["p1", "p2", "p3"] {
            s.put_capped(c, k, k.as_bytes().to_vec(), ttl, Cap::new(2))
                .await
                .unwrap();
        }
        assert_eq!(
            s.stored(c).await.unwrap(),
            0,
            "no disk commit for a registration"
        );
        assert_eq!(
            s.get(c, "p1").await.unwrap(),
            None,
            "the cap evicted the oldest"
        );
        assert_eq!(s.get(c, "p2").await.unwrap(), Some(b"p2".to_vec()));
        assert_eq!(s.len(c).await.unwrap(), 2);
        // The first token exchange writes it durably: the file holds it, memory no more.
        s.put(c, "p2", b"durable".to_vec(), ttl).await.unwrap();
        assert_eq!(s.stored(c).await.unwrap(), 1);
        assert_eq!(s.get(c, "p2").await.unwrap(), Some(b"durable".to_vec()));
        assert_eq!(
            s.held().await.unwrap().get(c),
            2,
            "one durable, one provisional"
        );
        // A durable registration is no candidate for the cap's eviction.
        for k in ["p4", "p5"] {
            s.put_capped(c, k, vec![1], ttl, Cap::new(2)).await.unwrap();
        }
        assert_eq!(s.get(c, "p2").await.unwrap(), Some(b"durable".to_vec()));
        assert_eq!(s.get(c, "p3").await.unwrap(), None);
        // Deleting finds either kind.
        assert!(s.delete(c, "p4").await.unwrap());
        assert!(s.take(c, "p5").await.unwrap().is_some());
        s.put_capped(c, "p6", vec![1], ttl, Cap::new(2))
            .await
            .unwrap();
        drop(s);
        let s = FileStore::open(&path, clock.clone()).unwrap();
        assert_eq!(s.get(c, "p2").await.unwrap(), Some(b"durable".to_vec()));
        assert_eq!(
            s.get(c, "p6").await.unwrap(),
            None,
            "a restart forgets provisional registrations"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Many writers at once on a multi-threaded runtime: every write is answered, each
    /// `put_if_absent` of one key has one winner, and a write whose caller went away before it
    /// was applied is applied anyway.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_committed_once() {
        let clock = Clock::frozen_at(1_000);
        let path = temp_path("c.redb");
        let s = Arc::new(FileStore::open(&path, clock.clone()).unwrap());
        let ttl = Duration::from_secs(100);
        let c = Collection::Grants;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put(c, &format!("k{i}"), vec![1], ttl).await.unwrap();
                s.put_if_absent(c, "one", format!("{i}").into_bytes(), ttl)
                    .await
                    .unwrap()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "one put_if_absent wins");
        assert_eq!(s.stored(c).await.unwrap(), 201);
        // Queued, its future dropped before it was polled: still applied.
        drop(s.put(c, "late", vec![2], ttl));
        let s = Arc::into_inner(s).unwrap();
        drop(s);
        let s = FileStore::open(&path, clock).unwrap();
        assert_eq!(s.get(c, "late").await.unwrap(), Some(vec![2]));
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn purge_keeps_the_file_bounded() {
        let clock = Clock::frozen_at(0);
        let path = temp_path("p.redb");
        let s = FileStore::open(&path, clock.clone()).unwrap();
        for i in 0..200 {
            s.put(
                Collection::UsedCodes,
                &format!("t{i}"),
                vec![7; 64],
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        }
        assert_eq!(s.stored(Collection::UsedCodes).await.unwrap(), 200);
        clock.advance(Duration::from_secs(11));
        assert_eq!(s.len(Collection::UsedCodes).await.unwrap(), 0);
        assert_eq!(s.purge().await.unwrap(), 200);
        assert_eq!(s.stored(Collection::UsedCodes).await.unwrap(), 0);
        // The opportunistic purge: a write after PURGE_EVERY_MS drops what expired.
        s.put(
            Collection::UsedCodes,
            "a",
            b"1".to_vec(),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        clock.advance(Duration::from_millis(PURGE_EVERY_MS as u64 + 1));
        s.put(
            Collection::UsedCodes,
            "b",
            b"2".to_vec(),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
        assert_eq!(s.stored(Collection::UsedCodes).await.unwrap(), 1);
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn limit_per_collection() {
        let clock = Clock::frozen_at(0);
        let path = temp_path("l.redb");
        let s = FileStore::open_with_limit(&path, clock.clone(), 3).unwrap();
        let ttl = Duration::from_secs(10);
        for i in 0..3 {
            s.put(Collection::Clients, &format!("c{i}"), vec![1], ttl)
                .await
                .unwrap();
        }
        assert_eq!(
            s.put(Collection::Clients, "c3", vec![1], ttl).await,
            Err(StoreError::Full("clients"))
        );
        // Overwriting an existing key is not a new entry; other collections are separate.
        s.put(Collection::Clients, "c0", vec![2], ttl)
            .await
            .unwrap();
        s.put(Collection::Codes, "x", vec![2], ttl).await.unwrap();
        assert!(s.delete(Collection::Clients, "c1").await.unwrap());
        s.put(Collection::Clients, "c3", vec![1], ttl)
            .await
            .unwrap();
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// The limit counts live entries: expired ones not purged yet do not make the store full.
    #[tokio::test]
    async fn expired_entries_do_not_count_toward_the_limit() {
        let clock = Clock::frozen_at(0);
        let path = temp_path("e.redb");
        let s = FileStore::open_with_limit(&path, clock.clone(), 2).unwrap();
        let ttl = Duration::from_secs(10);
        for k in ["a", "b"] {
            s.put(Collection::Clients, k, vec![1], ttl).await.unwrap();
        }
        assert_eq!(
            s.put(Collection::Clients, "c", vec![1], ttl).await,
            Err(StoreError::Full("clients"))
        );
        clock.advance(Duration::from_secs(11));
        for k in ["c", "d"] {
            s.put(Collection::Clients, k, vec![1], ttl).await.unwrap();
        }
        assert_eq!(
            s.put(Collection::Clients, "e", vec![1], ttl).await,
            Err(StoreError::Full("clients"))
        );
        drop(s);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
