//! One Store trait, three backends: the same conformance check (`check_store`: TTL expiry by
//! the injected clock, take / put_if_absent / CAS atomicity under concurrency, locks) runs
//! against memory, the embedded file store and a real redis-server, each bare and wrapped in
//! the SealedStore, plus what is particular to each backend (persistence and the file lock,
//! key names and TTLs in Redis, sealing at rest, wrong keys, outages).
//!
//! Redis tests start their own `redis-server` on a free port and skip with
//! "skipping: redis-server not installed" when there is none (CI installs it).

mod support;

use authproof::proxy::config::{ProxyConfig, Secret, StorageSpec};
#[path = "support/store_conformance.rs"]
mod store_conformance;
use authproof::proxy::store::seal::{CHECK_KEY, SealingKey};
use authproof::proxy::store::{
    Collection, FileStore, MemoryStore, RedisStore, SealedStore, Sealer, Store, StoreError, file,
};
use foundations::Clock;
use std::sync::Arc;
use std::time::Duration;
use store_conformance::check_store;
use support::TempDir;
use support::redis::RedisServer;

const KEY_A: &str = "storage-key-A-0123456789abcdef0123456789";
const KEY_B: &str = "storage-key-B-0123456789abcdef0123456789";

fn sealer(secret: &str) -> Sealer {
    Sealer::new(SealingKey::derive(secret.as_bytes(), "storage_key"), vec![])
}

fn config_with_key(key: Option<&str>) -> ProxyConfig {
    ProxyConfig {
        jwt_signing_key: Some(Secret::new("jwt-signing-key-0123456789")),
        storage_key: key.map(Secret::new),
        ..ProxyConfig::default()
    }
}

async fn sealed(inner: Arc<dyn Store>) -> SealedStore {
    SealedStore::open(inner, sealer(KEY_A), "test")
        .await
        .expect("sealed store")
}

// ---- memory ----------------------------------------------------------------------------

#[tokio::test]
async fn memory_conformance_bare_and_sealed() {
    let clock = Clock::frozen_at(1_000);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    check_store(store.as_ref(), &clock, "bare:").await;
    let s = sealed(store).await;
    check_store(&s, &clock, "sealed:").await;
}

// ---- file ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_conformance_bare_and_sealed() {
    let dir = TempDir::new("store-file");
    let clock = Clock::frozen_at(1_000);
    let store: Arc<dyn Store> =
        Arc::new(FileStore::open(&dir.path().join("s.redb"), clock.clone()).expect("open"));
    check_store(store.as_ref(), &clock, "bare:").await;
    let s = sealed(store).await;
    check_store(&s, &clock, "sealed:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_state_survives_reopen_and_is_sealed_at_rest() {
    let dir = TempDir::new("store-file-reopen");
    let path = dir.path().join("state.redb");
    let spec = StorageSpec::File(path.clone());
    let clock = Clock::frozen_at(1_000_000);
    let config = config_with_key(Some(KEY_A));
    let ttl = Duration::from_secs(3600);
    let secret = b"upstream-refresh-token-do-not-leak".to_vec();
    {
        let s = authproof::proxy::store::open(&spec, &config, clock.clone())
            .await
            .expect("open");
        s.put(Collection::Grants, "g1", secret.clone(), ttl)
            .await
            .unwrap();
        s.put(Collection::Clients, "c1", b"client".to_vec(), ttl)
            .await
            .unwrap();
        s.put(
            Collection::UsedCodes,
            "short",
            b"code".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        // A second open of the same file while it is in use: a clear error.
        let e = authproof::proxy::store::open(&spec, &config, clock.clone())
            .await
            .err()
            .expect("the file is locked")
            .to_string();
        assert!(e.contains("in use"), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
    }
    // The upstream token is not in the file in clear.
    let bytes = std::fs::read(&path).expect("read the file");
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
        "upstream tokens are sealed at rest"
    );
    clock.advance(Duration::from_secs(120));
    let s = authproof::proxy::store::open(&spec, &config, clock.clone())
        .await
        .expect("reopen");
    assert_eq!(
        s.get(Collection::Grants, "g1").await.unwrap(),
        Some(secret.clone())
    );
    assert_eq!(
        s.get(Collection::Clients, "c1").await.unwrap(),
        Some(b"client".to_vec())
    );
    assert_eq!(
        s.get(Collection::UsedCodes, "short").await.unwrap(),
        None,
        "TTLs hold across restarts"
    );
    drop(s);

    // A wrong key: refuse to open, naming the key id found and the fix.
    let found = SealingKey::derive(KEY_A.as_bytes(), "x").id_hex();
    let e = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_B)), clock.clone())
        .await
        .err()
        .expect("a wrong storage key must refuse to start")
        .to_string();
    assert!(e.contains(&found), "names the key id found: {e}");
    assert!(e.contains("storage_previous_keys"), "says how to fix: {e}");
    assert!(e.contains("storage_key"), "{e}");

    // Rotation: B current, A previous → opens, reads what A sealed, writes with B.
    let mut rotated = config_with_key(Some(KEY_B));
    rotated.storage_previous_keys = vec![Secret::new(KEY_A)];
    let s = authproof::proxy::store::open(&spec, &rotated, clock.clone())
        .await
        .expect("rotated keys open");
    assert_eq!(s.get(Collection::Grants, "g1").await.unwrap(), Some(secret));
    drop(s);
    // B alone opens the store now; the grant still sealed with A is a clear error, not absent.
    let s = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_B)), clock.clone())
        .await
        .expect("B alone opens after the rotation");
    match s.get(Collection::Grants, "g1").await {
        Err(StoreError::UnknownKey { key_id, .. }) => assert_eq!(key_id, found),
        other => panic!("a value sealed with a removed key must be an error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_stays_bounded() {
    let dir = TempDir::new("store-file-bounded");
    let clock = Clock::frozen_at(0);
    let store = FileStore::open(&dir.path().join("b.redb"), clock.clone()).expect("open");
    for round in 0..3 {
        for i in 0..300 {
            store
                .put(
                    Collection::UsedCodes,
                    &format!("r{round}-t{i}"),
                    vec![1; 256],
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
        }
        // Everything of this round expires; the next write after the purge interval drops it.
        clock.advance(Duration::from_millis(file::PURGE_EVERY_MS as u64 + 1));
    }
    store
        .put(
            Collection::UsedCodes,
            "last",
            vec![1],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        store.stored(Collection::UsedCodes).await.unwrap(),
        1,
        "expired entries are purged, not kept"
    );
}

// ---- redis -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_conformance_bare_and_sealed() {
    let Some(server) = RedisServer::start("redis_conformance_bare_and_sealed") else {
        return;
    };
    let clock = Clock::frozen_at(1_000);
    let redis = Arc::new(
        RedisStore::connect(&server.url(0), clock.clone())
            .await
            .expect("connect"),
    );
    let store: Arc<dyn Store> = redis.clone();
    check_store(store.as_ref(), &clock, "bare:").await;
    let s = sealed(store).await;
    check_store(&s, &clock, "sealed:").await;

    // Key names and a TTL on every key.
    assert!(
        s.put_if_absent(
            Collection::Locks,
            "held",
            b"me".to_vec(),
            Duration::from_secs(30)
        )
        .await
        .unwrap()
    );
    let client = redis::Client::open(server.url(0)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(k.starts_with("authproof:"), "key {k:?} has the prefix");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "key {k:?} has a TTL ({ttl})");
    }
    assert!(keys.iter().any(|k| k.starts_with("authproof:locks:")));
    assert!(keys.contains(&format!("authproof:meta:{CHECK_KEY}")));
    s.put(
        Collection::Grants,
        "at-rest",
        b"upstream-secret".to_vec(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let raw: Vec<u8> = redis::cmd("GET")
        .arg("authproof:grants:at-rest")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !raw.windows(15).any(|w| w == b"upstream-secret"),
        "sealed in Redis"
    );
    assert_eq!(
        redis
            .key_ttl_ms(Collection::Grants, "at-rest")
            .await
            .unwrap()
            .map(|t| t <= 60_000),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shared_by_two_stores_and_wrong_key_refused() {
    let Some(server) = RedisServer::start("redis_shared_by_two_stores_and_wrong_key_refused")
    else {
        return;
    };
    let spec = StorageSpec::Redis(server.url(3));
    let clock = Clock::system();
    let a = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_A)), clock.clone())
        .await
        .expect("instance A");
    let b = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_A)), clock.clone())
        .await
        .expect("instance B");
    let ttl = Duration::from_secs(60);
    a.put(Collection::Grants, "g", b"tokens".to_vec(), ttl)
        .await
        .unwrap();
    assert_eq!(
        b.get(Collection::Grants, "g").await.unwrap(),
        Some(b"tokens".to_vec()),
        "B reads what A sealed"
    );
    // A lock taken by A holds for B.
    assert!(
        a.put_if_absent(Collection::Locks, "refresh:f", b"a".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert!(
        !b.put_if_absent(Collection::Locks, "refresh:f", b"b".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert!(b.take(Collection::Grants, "g").await.unwrap().is_some());
    assert_eq!(a.get(Collection::Grants, "g").await.unwrap(), None);
    // Databases are separate.
    let other = authproof::proxy::store::open(
        &StorageSpec::Redis(server.url(4)),
        &config_with_key(Some(KEY_B)),
        clock.clone(),
    )
    .await
    .expect("another database, another key");
    assert_eq!(
        other.get(Collection::Locks, "refresh:f").await.unwrap(),
        None
    );
    // An instance configured with another key refuses to start on the shared database.
    let e = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_B)), clock)
        .await
        .err()
        .expect("wrong key refused")
        .to_string();
    assert!(
        e.contains(&SealingKey::derive(KEY_A.as_bytes(), "x").id_hex()),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_and_outage() {
    let Some(mut server) = RedisServer::start_with("redis_password_and_outage", Some("pw-s3cret"))
    else {
        return;
    };
    let clock = Clock::system();
    let store = RedisStore::connect(&server.url(0), clock.clone())
        .await
        .expect("connect with the password");
    store
        .put(
            Collection::Codes,
            "k",
            b"v".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    // A wrong password: Unavailable, and the message does not carry the password.
    let wrong = format!("redis://:not-the-password@127.0.0.1:{}/0", server.port());
    match RedisStore::connect(&wrong, clock.clone()).await {
        Err(StoreError::Unavailable(m)) => assert!(!m.contains("not-the-password"), "{m}"),
        other => panic!("a wrong password must fail: {other:?}"),
    }
    // The spec's Display (what logs and messages show) masks it too.
    let spec = StorageSpec::Redis(server.url(0));
    assert!(!spec.to_string().contains("pw-s3cret"), "{spec}");
    // An outage: every operation answers Unavailable (no panic, no hang).
    server.stop();
    for _ in 0..2 {
        match store.get(Collection::Codes, "k").await {
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("redis down must be Unavailable: {other:?}"),
        }
        assert!(matches!(
            store
                .put_if_absent(Collection::Locks, "l", vec![1], Duration::from_secs(5))
                .await,
            Err(StoreError::Unavailable(_))
        ));
    }
    let e = authproof::proxy::store::open(&spec, &config_with_key(Some(KEY_A)), clock)
        .await
        .err()
        .expect("cannot start without redis")
        .to_string();
    assert!(e.contains("storage redis://"), "{e}");
    assert!(!e.contains("pw-s3cret"), "{e}");
}
