//! A store of each kind, for tests that run on every backend: memory, the embedded file store
//! in a temporary directory, and a private redis-server ([`Backend::start`] answers `None`,
//! after a "skipping" message, when redis-server is not installed).

use super::TempDir;
use super::redis::RedisServer;
use authproof::proxy::store::{Collection, FileStore, MemoryStore, RedisStore, Store};
use foundations::Clock;
use std::sync::Arc;
use std::time::Duration;

/// The kinds of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    File,
    Redis,
}

/// A store, with what keeps it alive (its directory, its server).
pub enum Backend {
    Memory(Arc<MemoryStore>),
    File(Arc<FileStore>, TempDir),
    Redis(Arc<RedisStore>, RedisServer),
}

impl Backend {
    /// A fresh, empty store of `kind` reading time from `clock`.
    pub async fn start(kind: Kind, clock: &Clock, test: &str) -> Option<Backend> {
        Some(match kind {
            Kind::Memory => Backend::Memory(Arc::new(MemoryStore::new(clock.clone()))),
            Kind::File => {
                let dir = TempDir::new("backend");
                let store = FileStore::open_async(dir.path().join("state.redb"), clock.clone())
                    .await
                    .expect("open the file store");
                Backend::File(Arc::new(store), dir)
            }
            Kind::Redis => {
                let server = RedisServer::start(test)?;
                let store = RedisStore::connect(&server.url(0), clock.clone())
                    .await
                    .expect("connect to redis-server");
                Backend::Redis(Arc::new(store), server)
            }
        })
    }

    /// The store, for the proxy.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(s) => s.clone(),
            Backend::File(s, _) => s.clone(),
            Backend::Redis(s, _) => s.clone(),
        }
    }

    /// Entries the store holds in `c` (expired ones not dropped yet included).
    pub async fn held(&self, c: Collection) -> u64 {
        self.store().held().await.expect("held").get(c)
    }

    /// Drop what has expired now, as the backend does on its own as time passes (the memory
    /// store's sweep, the file store's purge); `false` for Redis, which drops a key when its
    /// own TTL runs out, in real time (see [`Backend::key_ttl`]).
    pub async fn drop_expired(&self) -> bool {
        match self {
            Backend::Memory(s) => {
                s.sweep();
                true
            }
            Backend::File(s, _) => {
                s.purge().await.expect("purge");
                true
            }
            Backend::Redis(..) => false,
        }
    }

    /// The TTLs Redis holds for every key of `c` (`None` on the other backends).
    pub async fn key_ttls(&self, c: Collection) -> Option<Vec<Duration>> {
        let Backend::Redis(_, server) = self else {
            return None;
        };
        let client = redis::Client::open(server.url(0)).expect("redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis-server");
        let pattern = format!(
            "{}:{}:*",
            authproof::proxy::store::redis::KEY_PREFIX,
            c.name()
        );
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        let mut ttls = Vec::new();
        for k in keys {
            let ms: i64 = redis::cmd("PTTL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .expect("PTTL");
            ttls.push(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)));
        }
        Some(ttls)
    }

    /// The TTL Redis holds for a key (`None` on the other backends).
    pub async fn key_ttl(&self, c: Collection, key: &str) -> Option<Duration> {
        match self {
            Backend::Redis(s, _) => s
                .key_ttl_ms(c, key)
                .await
                .expect("PTTL")
                .map(Duration::from_millis),
            _ => None,
        }
    }
}
