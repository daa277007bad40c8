//! The Redis [`Store`], shared by several proxy instances behind one URL.
//!
//! - **Keys**: `authproof:<collection>:<key>`; every key is written with a TTL (`PX`), so Redis
//!   itself drops what expired and memory stays bounded by the live data.
//! - **Values**: a 20-digit expiry (milliseconds, in the injected [`Clock`]'s time) followed by
//!   the value, so expiry follows the proxy's clock exactly (tests move it) while Redis's own
//!   TTL bounds the key's life.
//! - **Atomicity**: `put` is `SET … PX`; `take` and `delete` are `GETDEL`; `put_if_absent`,
//!   `compare_and_swap` and `delete_if` are small Lua scripts (run with `EVALSHA`, loaded on `NOSCRIPT`), each
//!   one atomic on the server, where an entry past its expiry counts as absent.
//! - **Caps** ([`Store::put_capped`]): a sorted set per cappable collection
//!   (`authproof:index:<name>`, member = key, score = a write counter, `authproof:seq:<name>`)
//!   and a hash of companions (`authproof:companions:<name>`). One Lua script pops the oldest members and deletes their
//!   keys (and companions) while the set is full, then sets the new key and adds it, so the
//!   cap holds at every instant, whichever instance writes. A plain `put`, `take` or `delete`
//!   of a key in a cappable collection takes it out of the set in the same `MULTI`. Both
//!   carry a TTL, renewed by each capped write.
//! - **Connection**: one multiplexed connection (`ConnectionManager`) that reconnects on its
//!   own; connect and response timeouts, so a Redis outage is [`StoreError::Unavailable`]
//!   (`temporarily_unavailable` to OAuth clients), never a hang or a panic.
//! - URLs: `redis://[:password@]HOST:PORT/DB` (`rediss://` needs TLS support, which this build
//!   does not include). The password never appears in messages (see `StorageSpec`'s Display).

use super::{Cap, Collection, Held, Store, StoreError, StoreFuture};
use foundations::Clock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};
use std::time::Duration;

/// The prefix of every key.
pub const KEY_PREFIX: &str = "authproof";
/// Digits of the expiry in front of every value.
const HEADER: usize = 20;
/// How long one command may take before the store answers `Unavailable`.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `KEYS[1]`; `ARGV`: now (ms), value, ttl (ms). 1 when set.
const PUT_IF_ABSENT: &str = r#"
local v = redis.call('GET', KEYS[1])
if v and (tonumber(string.sub(v, 1, 20)) or 0) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#;

/// `KEYS[1]`; `ARGV`: now (ms), expected value (without header), new value, ttl (ms).
const COMPARE_AND_SWAP: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v or (tonumber(string.sub(v, 1, 20)) or 0) <= tonumber(ARGV[1]) then return 0 end
if string.sub(v, 21) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
"#;

/// `KEYS[1]`; `ARGV`: now (ms), expected value (without header). 1 when removed.
const DELETE_IF: &str = r#"
local v = redis.call('GET', KEYS[1])
if not v or (tonumber(string.sub(v, 1, 20)) or 0) <= tonumber(ARGV[1]) then return 0 end
if string.sub(v, 21) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"#;

/// `KEYS`: the key, the cap's sorted set, its companions hash, the companion key (or the
/// companions hash again when there is none), the cap's write counter. `ARGV`: value, ttl
/// (ms), unused, limit,
/// the collection's key prefix, the key, whether there is a companion (`1`/`0`). Answers how
/// many live keys were evicted.
const PUT_CAPPED: &str = r#"
local evicted = 0
redis.call('ZREM', KEYS[2], ARGV[6])
redis.call('HDEL', KEYS[3], ARGV[6])
local limit = tonumber(ARGV[4])
while redis.call('ZCARD', KEYS[2]) >= limit do
  local popped = redis.call('ZPOPMIN', KEYS[2])
  local old = popped[1]
  if not old then break end
  evicted = evicted + redis.call('DEL', ARGV[5] .. old)
  local companion = redis.call('HGET', KEYS[3], old)
  if companion then
    redis.call('DEL', companion)
    redis.call('HDEL', KEYS[3], old)
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[5], ARGV[2])
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[3], ARGV[6], KEYS[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return evicted
"#;

struct Script {
    source: &'static str,
    sha1: String,
}

impl Script {
    fn new(source: &'static str) -> Script {
        let d = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            source.as_bytes(),
        );
        let sha1 = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Script { source, sha1 }
    }
}

/// The Redis store (see the module docs).
pub struct RedisStore {
    conn: ConnectionManager,
    clock: Clock,
    put_if_absent: Script,
    cas: Script,
    delete_if: Script,
    put_capped: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn unavailable(e: RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn encode(expires_at_ms: i64, value: &[u8]) -> Vec<u8> {
    let mut v = format!("{:020}", expires_at_ms.max(0)).into_bytes();
    v.extend_from_slice(value);
    v
}

/// The value when it is live at `now`; a malformed record counts as expired.
fn live(raw: Vec<u8>, now: i64) -> Option<Vec<u8>> {
    let exp: i64 = std::str::from_utf8(raw.get(..HEADER)?).ok()?.parse().ok()?;
    (exp > now).then(|| raw[HEADER..].to_vec())
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn redis_key(c: Collection, key: &str) -> String {
    format!("{KEY_PREFIX}:{}:{key}", c.name())
}

/// The sorted set of a collection's capped keys (not a collection name: `held` skips it).
fn index_key(c: Collection) -> String {
    format!("{KEY_PREFIX}:index:{}", c.name())
}

/// The hash of a collection's capped keys' companions (key → companion's Redis key).
fn companions_key(c: Collection) -> String {
    format!("{KEY_PREFIX}:companions:{}", c.name())
}

impl RedisStore {
    /// Connect to `url` (`redis://[:password@]HOST:PORT/DB`). Fails when the URL is invalid
    /// or the server cannot be reached now; later outages are answered per operation.
    pub async fn connect(url: &str, clock: Clock) -> Result<RedisStore, StoreError> {
        if url.starts_with("rediss://") {
            return Err(StoreError::Unavailable(
                "rediss:// (TLS) is not supported by this build; use redis:// on a trusted network or a TLS tunnel".into(),
            ));
        }
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            CONNECT_TIMEOUT + Duration::from_secs(1),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Unavailable("redis: connection timed out".into()))?
        .map_err(unavailable)?;
        let store = RedisStore {
            conn,
            clock,
            put_if_absent: Script::new(PUT_IF_ABSENT),
            cas: Script::new(COMPARE_AND_SWAP),
            delete_if: Script::new(DELETE_IF),
            put_capped: Script::new(PUT_CAPPED),
        };
        // One round trip now, so that a wrong database number or password fails at start.
        let _: String = redis::cmd("PING")
            .query_async(&mut store.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(store)
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    async fn eval(&self, script: &Script, key: &str, args: &[&[u8]]) -> Result<i64, StoreError> {
        self.eval_keys(script, &[key], args).await
    }

    async fn eval_keys(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        let command = |name: &str, body: &str| {
            let mut cmd = redis::cmd(name);
            cmd.arg(body).arg(keys.len());
            for k in keys {
                cmd.arg(*k);
            }
            for a in args {
                cmd.arg(*a);
            }
            cmd
        };
        match command("EVALSHA", &script.sha1)
            .query_async::<i64>(&mut conn)
            .await
        {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                // Not cached yet (or Redis restarted): EVAL runs and caches it.
                command("EVAL", script.source)
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(unavailable)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn getdel(&self, c: Collection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rk = redis_key(c, key);
        let raw: Option<Vec<u8>> = if c.cappable() {
            // Out of the cap's index in the same step.
            let mut pipe = redis::pipe();
            pipe.atomic().cmd("GETDEL").arg(&rk);
            uncap(&mut pipe, c, key);
            let (raw, _, _): (Option<Vec<u8>>, Value, Value) = pipe
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            raw
        } else {
            redis::cmd("GETDEL")
                .arg(rk)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?
        };
        Ok(raw.and_then(|r| live(r, self.now())))
    }

    /// Live keys of a collection (SCAN; for tests and tools, not for the request path).
    pub async fn len(&self, c: Collection) -> Result<u64, StoreError> {
        let mut n = 0;
        self.scan(&format!("{KEY_PREFIX}:{}:*", c.name()), |keys| {
            n += keys.len() as u64
        })
        .await?;
        Ok(n)
    }

    /// Every key matching `pattern`, a batch at a time (SCAN walks the keyspace without
    /// blocking Redis; a key may come twice while Redis resizes its table).
    async fn scan(
        &self,
        pattern: &str,
        mut each: impl FnMut(Vec<String>),
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            each(keys);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// The TTL Redis holds for a key, in milliseconds (`None` without a TTL or key).
    pub async fn key_ttl_ms(&self, c: Collection, key: &str) -> Result<Option<u64>, StoreError> {
        let v: i64 = redis::cmd("PTTL")
            .arg(redis_key(c, key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(v).ok())
    }
}

impl Store for RedisStore {
    fn get<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let raw: Option<Vec<u8>> = redis::cmd("GET")
                .arg(redis_key(c, key))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            Ok(raw.and_then(|r| live(r, self.now())))
        })
    }

    fn put<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let v = encode(super::expiry(self.now(), ttl), &value);
            let mut set = redis::cmd("SET");
            set.arg(redis_key(c, key)).arg(v).arg("PX").arg(ttl_ms(ttl));
            if c.cappable() {
                // A plain write takes the key out of the cap (a registration made durable).
                let mut pipe = redis::pipe();
                pipe.atomic().add_command(set);
                uncap(&mut pipe, c, key);
                let _: Value = pipe
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(unavailable)?;
            } else {
                let _: Value = set
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(unavailable)?;
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
        Box::pin(async move {
            let now = self.now();
            let v = encode(super::expiry(now, ttl), &value);
            let set = self
                .eval(
                    &self.put_if_absent,
                    &redis_key(c, key),
                    &[
                        now.to_string().as_bytes(),
                        &v,
                        ttl_ms(ttl).to_string().as_bytes(),
                    ],
                )
                .await?;
            Ok(set == 1)
        })
    }

    fn take<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.getdel(c, key))
    }

    fn delete<'a>(&'a self, c: Collection, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { Ok(self.getdel(c, key).await?.is_some()) })
    }

    fn compare_and_swap<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
        new: Vec<u8>,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let now = self.now();
            let v = encode(super::expiry(now, ttl), &new);
            let swapped = self
                .eval(
                    &self.cas,
                    &redis_key(c, key),
                    &[
                        now.to_string().as_bytes(),
                        expected,
                        &v,
                        ttl_ms(ttl).to_string().as_bytes(),
                    ],
                )
                .await?;
            Ok(swapped == 1)
        })
    }

    fn delete_if<'a>(
        &'a self,
        c: Collection,
        key: &'a str,
        expected: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let now = self.now();
            let removed = self
                .eval(
                    &self.delete_if,
                    &redis_key(c, key),
                    &[now.to_string().as_bytes(), expected],
                )
                .await?;
            Ok(removed == 1)
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
        if !c.cappable() {
            let f = self.put(c, key, value, ttl);
            return Box::pin(async move { f.await.map(|()| 0) });
        }
        Box::pin(async move {
            let now = self.now();
            let v = encode(super::expiry(now, ttl), &value);
            let index = index_key(c);
            let companions = companions_key(c);
            let companion = cap.companion.map(|(cc, k)| redis_key(cc, k));
            let prefix = format!("{KEY_PREFIX}:{}:", c.name());
            let evicted = self
                .eval_keys(
                    &self.put_capped,
                    &[
                        &redis_key(c, key),
                        &index,
                        &companions,
                        companion.as_deref().unwrap_or(&companions),
                        &format!("{KEY_PREFIX}:seq:{}", c.name()),
                    ],
                    &[
                        &v,
                        ttl_ms(ttl).to_string().as_bytes(),
                        b"",
                        cap.limit.max(1).to_string().as_bytes(),
                        prefix.as_bytes(),
                        key.as_bytes(),
                        if companion.is_some() { b"1" } else { b"0" },
                    ],
                )
                .await?;
            Ok(u64::try_from(evicted).unwrap_or(0))
        })
    }

    /// One `SCAN` over `authproof:*`, each key counted once under the collection its name
    /// gives (`SCAN` may return a key twice while Redis resizes its table).
    fn held(&self) -> StoreFuture<'_, Held> {
        Box::pin(async move {
            let mut held = Held::default();
            let mut seen = std::collections::HashSet::new();
            self.scan(&format!("{KEY_PREFIX}:*"), |keys| {
                for key in keys {
                    if let Some(c) = collection_of(&key)
                        && seen.insert(key)
                    {
                        held.add(c, 1);
                    }
                }
            })
            .await?;
            Ok(held)
        })
    }
}

/// Take `key` out of its collection's cap: off the age index, without companions.
fn uncap(pipe: &mut redis::Pipeline, c: Collection, key: &str) {
    pipe.cmd("ZREM")
        .arg(index_key(c))
        .arg(key)
        .cmd("HDEL")
        .arg(companions_key(c))
        .arg(key);
}

/// The collection a Redis key belongs to (`authproof:<collection>:<key>`).
fn collection_of(redis_key: &str) -> Option<Collection> {
    let rest = redis_key.strip_prefix(KEY_PREFIX)?.strip_prefix(':')?;
    let (name, _) = rest.split_once(':')?;
    Collection::ALL.into_iter().find(|c| c.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_header() {
        let v = encode(1_234, b"abc");
        assert_eq!(&v[..HEADER], b"00000000000000001234");
        assert_eq!(live(v.clone(), 1_000), Some(b"abc".to_vec()));
        assert_eq!(live(v, 1_234), None);
        assert_eq!(live(b"short".to_vec(), 0), None);
        assert_eq!(live(b"xxxxxxxxxxxxxxxxxxxxabc".to_vec(), 0), None);
        assert_eq!(redis_key(Collection::Locks, "a:b"), "authproof:locks:a:b");
        assert_eq!(
            collection_of(&redis_key(Collection::UsedCodes, "a:b")),
            Some(Collection::UsedCodes)
        );
        assert_eq!(collection_of("authproof:nothing:x"), None);
        assert_eq!(collection_of("other:clients:x"), None);
        assert_eq!(ttl_ms(Duration::ZERO), 1);
    }

    #[test]
    fn script_sha1_matches_redis() {
        // SHA-1 of the empty script, as `SCRIPT LOAD ""` answers.
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"");
        let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), Clock::system()).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        let r = RedisStore::connect("rediss://127.0.0.1:1/0", Clock::system()).await;
        assert!(matches!(r, Err(StoreError::Unavailable(m)) if m.contains("TLS")));
    }
}
