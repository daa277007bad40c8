//! Behaviour every [`Store`] backend must show, as one check that `tests/store_backends.rs`
//! runs against the memory, file and Redis backends, bare and sealed.

use authproof::proxy::store::{Cap, Collection, Decoded, Store, StoreError};
use foundations::Clock;
use std::sync::Arc;
use std::time::Duration;

/// Run every check against `store`, whose TTLs must follow `clock` (a frozen clock that
/// this function advances). Keys are prefixed with `prefix` so a shared backend can be used.
/// Panics with a message naming the failed rule.
pub async fn check_store(store: &dyn Store, clock: &Clock, prefix: &str) {
    let k = |s: &str| format!("{prefix}{s}");
    let ttl = Duration::from_secs(60);

    // put / get / collections are separate key spaces.
    store
        .put(Collection::Codes, &k("a"), b"1".to_vec(), ttl)
        .await
        .unwrap();
    assert_eq!(
        store.get(Collection::Codes, &k("a")).await.unwrap(),
        Some(b"1".to_vec()),
        "get after put"
    );
    assert_eq!(
        store.get(Collection::Clients, &k("a")).await.unwrap(),
        None,
        "collections are separate"
    );
    store
        .put(Collection::Codes, &k("a"), b"2".to_vec(), ttl)
        .await
        .unwrap();
    assert_eq!(
        store.get(Collection::Codes, &k("a")).await.unwrap(),
        Some(b"2".to_vec()),
        "put overwrites"
    );

    // take is single use.
    assert_eq!(
        store.take(Collection::Codes, &k("a")).await.unwrap(),
        Some(b"2".to_vec()),
        "take returns"
    );
    assert_eq!(
        store.take(Collection::Codes, &k("a")).await.unwrap(),
        None,
        "take is single use"
    );
    assert_eq!(
        store.get(Collection::Codes, &k("a")).await.unwrap(),
        None,
        "take removes"
    );

    // delete reports whether something was removed.
    store
        .put(Collection::Grants, &k("g"), b"x".to_vec(), ttl)
        .await
        .unwrap();
    assert!(
        store.delete(Collection::Grants, &k("g")).await.unwrap(),
        "delete removes"
    );
    assert!(
        !store.delete(Collection::Grants, &k("g")).await.unwrap(),
        "delete of nothing"
    );

    // put_if_absent.
    assert!(
        store
            .put_if_absent(Collection::Grants, &k("p"), b"1".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_if_absent(Collection::Grants, &k("p"), b"2".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get(Collection::Grants, &k("p")).await.unwrap(),
        Some(b"1".to_vec())
    );

    // compare_and_swap.
    assert!(
        !store
            .compare_and_swap(Collection::Grants, &k("p"), b"9", b"3".to_vec(), ttl)
            .await
            .unwrap(),
        "CAS with a stale value"
    );
    assert!(
        store
            .compare_and_swap(Collection::Grants, &k("p"), b"1", b"3".to_vec(), ttl)
            .await
            .unwrap(),
        "CAS with the current value"
    );
    assert_eq!(
        store.get(Collection::Grants, &k("p")).await.unwrap(),
        Some(b"3".to_vec())
    );
    assert!(
        !store
            .compare_and_swap(Collection::Grants, &k("missing"), b"", b"3".to_vec(), ttl)
            .await
            .unwrap(),
        "CAS on nothing"
    );

    // TTLs follow the clock, for every operation.
    store
        .put(
            Collection::Transactions,
            &k("t"),
            b"t".to_vec(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(9));
    assert!(
        store
            .get(Collection::Transactions, &k("t"))
            .await
            .unwrap()
            .is_some(),
        "alive before its TTL"
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        store.get(Collection::Transactions, &k("t")).await.unwrap(),
        None,
        "gone after its TTL"
    );
    assert_eq!(
        store.take(Collection::Transactions, &k("t")).await.unwrap(),
        None,
        "take after TTL"
    );
    assert!(
        store
            .put_if_absent(Collection::Transactions, &k("t"), b"n".to_vec(), ttl)
            .await
            .unwrap(),
        "expired counts as absent"
    );

    // CAS sets a new TTL.
    store
        .put(
            Collection::RefreshFamilies,
            &k("f"),
            b"a".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        store
            .compare_and_swap(
                Collection::RefreshFamilies,
                &k("f"),
                b"a",
                b"b".to_vec(),
                Duration::from_secs(100)
            )
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(50));
    assert_eq!(
        store
            .get(Collection::RefreshFamilies, &k("f"))
            .await
            .unwrap(),
        Some(b"b".to_vec()),
        "CAS TTL applies"
    );

    check_expiry(store, clock, prefix).await;
    check_decoded(store, clock, prefix).await;
    check_values(store, prefix).await;
    check_concurrency(store, prefix).await;
    check_locks(store, clock, prefix).await;
    check_caps(store, prefix).await;
}

/// Capped writes: at a full cap the oldest entry goes (with its companion), never a key
/// written plainly since (a durable registration); a key written again is the newest; a taken
/// key leaves the cap; concurrent writers never leave more than the cap. Leaves the caps
/// empty (every key it wrote is taken), so the check can run again on the same store.
async fn check_caps(store: &dyn Store, prefix: &str) {
    let k = |s: &str| format!("{prefix}cap.{s}");
    let ttl = Duration::from_secs(60);
    let (txns, csrf) = (Collection::Transactions, Collection::ConsentCsrf);
    let put = |name: &'static str, limit: u64| {
        let key = k(name);
        let companion = k(&format!("csrf.{name}"));
        async move {
            let cap = Cap::new(limit).with_companion(csrf, &companion);
            let evicted = store
                .put_capped(txns, &key, name.as_bytes().to_vec(), ttl, cap)
                .await
                .unwrap();
            store
                .put(csrf, &companion, b"csrf".to_vec(), ttl)
                .await
                .unwrap();
            evicted
        }
    };
    let live = |name: &'static str| {
        let key = k(name);
        async move { store.get(txns, &key).await.unwrap().is_some() }
    };
    let companion_live = |name: &'static str| {
        let key = k(&format!("csrf.{name}"));
        async move { store.get(csrf, &key).await.unwrap().is_some() }
    };
    for name in ["t0", "t1", "t2"] {
        assert_eq!(put(name, 3).await, 0, "room for {name}");
    }
    assert_eq!(put("t0", 3).await, 0, "written again: not a new entry");
    assert_eq!(put("t3", 3).await, 1, "full: the oldest makes room");
    assert!(
        !live("t1").await,
        "t1 was the oldest (t0 was written again)"
    );
    assert!(!companion_live("t1").await, "its companion left with it");
    for name in ["t0", "t2", "t3"] {
        assert!(live(name).await, "{name} stays");
        assert!(companion_live(name).await, "{name}'s companion stays");
    }
    assert!(store.take(txns, &k("t2")).await.unwrap().is_some());
    assert_eq!(put("t4", 3).await, 0, "a taken entry left the cap: room");
    assert_eq!(put("t5", 3).await, 1);
    assert!(!live("t0").await, "then the next oldest");
    for name in ["t3", "t4", "t5"] {
        assert!(live(name).await, "{name} stays");
    }

    // A key written plainly since its capped write is no longer capped (made durable).
    let clients = Collection::Clients;
    let durable = k("durable");
    store
        .put_capped(clients, &durable, b"p".to_vec(), ttl, Cap::new(2))
        .await
        .unwrap();
    store
        .put(clients, &durable, b"d".to_vec(), ttl)
        .await
        .unwrap();
    let provisional: Vec<String> = (0..4).map(|i| k(&format!("p{i}"))).collect();
    let mut evicted = 0;
    for p in &provisional {
        evicted += store
            .put_capped(clients, p, b"p".to_vec(), ttl, Cap::new(2))
            .await
            .unwrap();
    }
    assert_eq!(evicted, 2, "p0 and p1 made room for p2 and p3");
    assert_eq!(
        store.get(clients, &durable).await.unwrap(),
        Some(b"d".to_vec()),
        "a durable entry is never evicted"
    );
    for (i, p) in provisional.iter().enumerate() {
        assert_eq!(
            store.get(clients, p).await.unwrap().is_some(),
            i >= 2,
            "{p}"
        );
    }

    // Concurrent capped writes never leave more than the cap.
    let keys: Vec<String> = (0..24).map(|i| k(&format!("c{i}"))).collect();
    join_all(
        keys.iter()
            .map(|key| store.put_capped(clients, key, b"c".to_vec(), ttl, Cap::new(5))),
    )
    .await
    .into_iter()
    .for_each(|r| {
        r.unwrap();
    });
    let mut left = 0;
    for key in &keys {
        left += u64::from(store.get(clients, key).await.unwrap().is_some());
    }
    assert_eq!(left, 5, "the cap holds under concurrent writes");

    // Empty the caps for the next run.
    for name in ["t3", "t4", "t5"] {
        store.take(txns, &k(name)).await.unwrap();
        store.take(csrf, &k(&format!("csrf.{name}"))).await.unwrap();
    }
    for key in provisional.iter().chain(&keys).chain([&durable]) {
        store.take(clients, key).await.unwrap();
    }
}

/// Every operation treats an entry past its TTL (by `clock`) as absent.
async fn check_expiry(store: &dyn Store, clock: &Clock, prefix: &str) {
    let k = |s: &str| format!("{prefix}{s}");
    let short = Duration::from_secs(5);
    let long = Duration::from_secs(600);
    for name in ["x-get", "x-del", "x-cas", "x-pia", "x-put"] {
        store
            .put(Collection::Consents, &k(name), b"old".to_vec(), short)
            .await
            .unwrap();
    }
    // Overwriting sets a new TTL.
    store
        .put(Collection::Consents, &k("x-put"), b"new".to_vec(), long)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(6));
    assert_eq!(
        store.get(Collection::Consents, &k("x-get")).await.unwrap(),
        None,
        "get after TTL"
    );
    assert!(
        !store
            .delete(Collection::Consents, &k("x-del"))
            .await
            .unwrap(),
        "delete of an expired entry removes nothing live"
    );
    assert!(
        !store
            .compare_and_swap(
                Collection::Consents,
                &k("x-cas"),
                b"old",
                b"n".to_vec(),
                long
            )
            .await
            .unwrap(),
        "CAS on an expired entry"
    );
    assert_eq!(
        store.get(Collection::Consents, &k("x-cas")).await.unwrap(),
        None,
        "a failed CAS does not revive"
    );
    assert!(
        store
            .put_if_absent(Collection::Consents, &k("x-pia"), b"n".to_vec(), long)
            .await
            .unwrap(),
        "put_if_absent over an expired entry"
    );
    assert_eq!(
        store.get(Collection::Consents, &k("x-pia")).await.unwrap(),
        Some(b"n".to_vec())
    );
    assert_eq!(
        store.get(Collection::Consents, &k("x-put")).await.unwrap(),
        Some(b"new".to_vec()),
        "overwrite renewed the TTL"
    );
    // Exactly at the TTL the entry is gone (expiry is `now >= expires_at`).
    store
        .put(
            Collection::Consents,
            &k("x-edge"),
            b"e".to_vec(),
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3));
    assert_eq!(
        store.get(Collection::Consents, &k("x-edge")).await.unwrap(),
        None,
        "gone exactly at its TTL"
    );
}

/// `get_decoded` answers the value stored now, decoded, after every kind of write and at
/// expiry: a store that keeps decoded forms never answers one older than the stored value,
/// not even while writes race the reads.
async fn check_decoded(store: &dyn Store, clock: &Clock, prefix: &str) {
    let k = |s: &str| format!("{prefix}{s}");
    let ttl = Duration::from_secs(60);
    let c = Collection::Grants;
    let decode = |b: &[u8]| -> Result<Decoded, StoreError> {
        if b == b"garbage" {
            return Err(StoreError::Corrupt("not a value".into()));
        }
        Ok(Arc::new(b.to_vec()))
    };
    let bytes = |d: Decoded| {
        d.downcast::<Vec<u8>>()
            .expect("what the decoder made")
            .to_vec()
    };
    // `decoded_ready` may say nothing, but what it says is what `get_decoded` answers: read
    // just before and just after it (the reads below without a write racing them).
    let read = async |key: &str| -> Option<Vec<u8>> {
        let before = store.decoded_ready(c, key).map(bytes);
        let v = store.get_decoded(c, key, &decode).await.unwrap().map(bytes);
        let after = store.decoded_ready(c, key).map(bytes);
        for ready in [before, after].into_iter().flatten() {
            assert_eq!(
                Some(&ready),
                v.as_ref(),
                "decoded_ready against get_decoded"
            );
        }
        v
    };
    let counter = |v: &[u8]| -> u32 { std::str::from_utf8(v).unwrap().parse().unwrap() };
    let key = k("dec");
    assert_eq!(read(&key).await, None, "get_decoded of nothing");
    store.put(c, &key, b"1".to_vec(), ttl).await.unwrap();
    assert_eq!(read(&key).await.as_deref(), Some(&b"1"[..]), "after put");
    assert_eq!(read(&key).await.as_deref(), Some(&b"1"[..]), "read again");
    store.put(c, &key, b"2".to_vec(), ttl).await.unwrap();
    assert_eq!(
        read(&key).await.as_deref(),
        Some(&b"2"[..]),
        "after overwrite"
    );
    assert!(
        store
            .compare_and_swap(c, &key, b"2", b"3".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert_eq!(read(&key).await.as_deref(), Some(&b"3"[..]), "after CAS");
    assert!(
        !store
            .compare_and_swap(c, &key, b"9", b"4".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert_eq!(
        read(&key).await.as_deref(),
        Some(&b"3"[..]),
        "after a failed CAS"
    );
    assert_eq!(
        store.take(c, &key).await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(read(&key).await, None, "after take");
    assert!(
        store
            .put_if_absent(c, &key, b"5".to_vec(), ttl)
            .await
            .unwrap()
    );
    assert_eq!(
        read(&key).await.as_deref(),
        Some(&b"5"[..]),
        "after put_if_absent"
    );
    assert!(store.delete(c, &key).await.unwrap());
    assert_eq!(read(&key).await, None, "after delete");
    store
        .put(c, &key, b"6".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(read(&key).await.as_deref(), Some(&b"6"[..]));
    clock.advance(Duration::from_secs(5));
    assert_eq!(read(&key).await, None, "at its TTL");
    store.put(c, &key, b"garbage".to_vec(), ttl).await.unwrap();
    assert!(
        matches!(
            store.get_decoded(c, &key, &decode).await,
            Err(StoreError::Corrupt(_))
        ),
        "a value that does not decode is an error, not absent"
    );

    // A writer counts up with CAS while a reader reads: what the reader sees never goes back,
    // and once the writer is done the reader sees its last value.
    let key = k("dec-race");
    const LAST: u32 = 300;
    store.put(c, &key, b"0".to_vec(), ttl).await.unwrap();
    let writer = async {
        for i in 0..LAST {
            let (old, new) = (i.to_string(), (i + 1).to_string());
            assert!(
                store
                    .compare_and_swap(c, &key, old.as_bytes(), new.into_bytes(), ttl)
                    .await
                    .unwrap()
            );
            tokio::task::yield_now().await;
        }
    };
    let reader = async {
        let mut seen = 0u32;
        while seen < LAST {
            if let Some(ready) = store.decoded_ready(c, &key).map(bytes) {
                let n = counter(&ready);
                assert!(n >= seen, "decoded_ready went back from {seen} to {n}");
                seen = n;
            }
            let d = store.get_decoded(c, &key, &decode).await.unwrap();
            let n = counter(&bytes(d.expect("the counter")));
            assert!(n >= seen, "get_decoded went back from {seen} to {n}");
            seen = n;
            tokio::task::yield_now().await;
        }
    };
    tokio::join!(writer, reader);
    let last = LAST.to_string();
    assert_eq!(
        read(&key).await.as_deref(),
        Some(last.as_bytes()),
        "the last value"
    );
}

/// Values are bytes and keys are strings, whatever they hold.
async fn check_values(store: &dyn Store, prefix: &str) {
    let ttl = Duration::from_secs(60);
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let cases: [(String, Vec<u8>); 4] = [
        (format!("{prefix}bin"), binary),
        (format!("{prefix}empty"), Vec::new()),
        (format!("{prefix}big"), big),
        (
            format!("{prefix}odd key: with/slashes*and ünïcode and spaces"),
            b"v".to_vec(),
        ),
    ];
    for (key, value) in &cases {
        store
            .put(Collection::Clients, key, value.clone(), ttl)
            .await
            .unwrap();
        assert_eq!(
            store.get(Collection::Clients, key).await.unwrap().as_ref(),
            Some(value),
            "round trip of {} bytes under {key:?}",
            value.len()
        );
        assert!(
            store
                .compare_and_swap(Collection::Clients, key, value, b"n".to_vec(), ttl)
                .await
                .unwrap(),
            "CAS compares bytes exactly ({key:?})"
        );
        assert_eq!(
            store.take(Collection::Clients, key).await.unwrap(),
            Some(b"n".to_vec())
        );
    }
}

/// take, put_if_absent and compare_and_swap stay atomic when callers race.
async fn check_concurrency(store: &dyn Store, prefix: &str) {
    let k = |s: &str| format!("{prefix}{s}");
    let ttl = Duration::from_secs(60);
    const N: usize = 16;

    // Concurrent takes: exactly one winner.
    let key = k("race");
    store
        .put(Collection::Codes, &key, b"r".to_vec(), ttl)
        .await
        .unwrap();
    let results = join_all((0..N).map(|_| store.take(Collection::Codes, &key))).await;
    assert_eq!(
        results
            .into_iter()
            .map(Result::unwrap)
            .filter(Option::is_some)
            .count(),
        1,
        "exactly one take wins"
    );

    // Concurrent CAS from the same value: exactly one winner, and its value is stored.
    let key = k("cas-race");
    store
        .put(Collection::RefreshFamilies, &key, b"gen-0".to_vec(), ttl)
        .await
        .unwrap();
    let news: Vec<Vec<u8>> = (0..N).map(|i| format!("gen-1-{i}").into_bytes()).collect();
    let results = join_all(news.iter().map(|n| {
        store.compare_and_swap(Collection::RefreshFamilies, &key, b"gen-0", n.clone(), ttl)
    }))
    .await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.unwrap().then_some(i))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one CAS wins: {winners:?}");
    assert_eq!(
        store
            .get(Collection::RefreshFamilies, &key)
            .await
            .unwrap()
            .as_ref(),
        Some(&news[winners[0]]),
        "the winner's value is stored"
    );

    // Concurrent put_if_absent: exactly one winner.
    let key = k("pia-race");
    let results =
        join_all((0..N).map(|i| store.put_if_absent(Collection::Grants, &key, vec![i as u8], ttl)))
            .await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.unwrap().then_some(i))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one put_if_absent wins");
    assert_eq!(
        store.get(Collection::Grants, &key).await.unwrap(),
        Some(vec![winners[0] as u8])
    );

    // A counter incremented by racing read-CAS loops loses no increment.
    let key = k("counter");
    store
        .put(Collection::Grants, &key, b"0".to_vec(), ttl)
        .await
        .unwrap();
    const WORKERS: usize = 8;
    const STEPS: usize = 5;
    let key_ref = key.as_str();
    join_all((0..WORKERS).map(|_| {
        Box::pin(async move {
            for _ in 0..STEPS {
                loop {
                    let cur = store
                        .get(Collection::Grants, key_ref)
                        .await
                        .unwrap()
                        .expect("counter");
                    let n: usize = std::str::from_utf8(&cur).unwrap().parse().unwrap();
                    let next = (n + 1).to_string().into_bytes();
                    if store
                        .compare_and_swap(Collection::Grants, key_ref, &cur, next, ttl)
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
            Ok::<(), super::StoreError>(())
        }) as authproof::proxy::store::StoreFuture<'_, ()>
    }))
    .await;
    assert_eq!(
        store.get(Collection::Grants, &key).await.unwrap(),
        Some((WORKERS * STEPS).to_string().into_bytes()),
        "no lost update"
    );
}

/// `Collection::Locks` used as a lock: `put_if_absent` with a TTL acquires, `delete` releases,
/// an expired lock is free again.
async fn check_locks(store: &dyn Store, clock: &Clock, prefix: &str) {
    let lock = format!("{prefix}refresh:family-1");
    let hold = Duration::from_secs(10);
    let acquired = join_all((0..8).map(|i| {
        store.put_if_absent(
            Collection::Locks,
            &lock,
            format!("owner-{i}").into_bytes(),
            hold,
        )
    }))
    .await;
    let owners: Vec<usize> = acquired
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.unwrap().then_some(i))
        .collect();
    assert_eq!(owners.len(), 1, "one lock holder");
    assert_eq!(
        store.get(Collection::Locks, &lock).await.unwrap(),
        Some(format!("owner-{}", owners[0]).into_bytes()),
        "the holder is recorded"
    );
    assert!(
        !store
            .put_if_absent(Collection::Locks, &lock, b"late".to_vec(), hold)
            .await
            .unwrap(),
        "held"
    );
    assert!(
        store.delete(Collection::Locks, &lock).await.unwrap(),
        "release"
    );
    assert!(
        !store.delete(Collection::Locks, &lock).await.unwrap(),
        "released once"
    );
    assert!(
        store
            .put_if_absent(Collection::Locks, &lock, b"next".to_vec(), hold)
            .await
            .unwrap(),
        "free after release"
    );
    // A holder that died: the lock frees itself at its TTL.
    clock.advance(Duration::from_secs(11));
    assert!(
        store
            .put_if_absent(Collection::Locks, &lock, b"after-ttl".to_vec(), hold)
            .await
            .unwrap(),
        "free after its TTL"
    );
    // Release only by the owner (delete_if): another owner's value is left alone.
    assert!(
        !store
            .delete_if(Collection::Locks, &lock, b"someone-else")
            .await
            .unwrap(),
        "not the holder"
    );
    assert_eq!(
        store.get(Collection::Locks, &lock).await.unwrap(),
        Some(b"after-ttl".to_vec())
    );
    assert!(
        store
            .delete_if(Collection::Locks, &lock, b"after-ttl")
            .await
            .unwrap(),
        "the holder releases"
    );
    assert_eq!(store.get(Collection::Locks, &lock).await.unwrap(), None);
    assert!(
        !store
            .delete_if(Collection::Locks, &lock, b"after-ttl")
            .await
            .unwrap(),
        "nothing left to release"
    );
    // A holder whose lock expired cannot release its successor's.
    store
        .put(
            Collection::Locks,
            &lock,
            b"old-owner".to_vec(),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3));
    assert!(
        !store
            .delete_if(Collection::Locks, &lock, b"old-owner")
            .await
            .unwrap(),
        "an expired lock is not released"
    );
    assert!(
        store
            .put_if_absent(Collection::Locks, &lock, b"new-owner".to_vec(), hold)
            .await
            .unwrap()
    );
    // Concurrent conditional deletes by the holder: exactly one removes.
    let results =
        join_all((0..8).map(|_| store.delete_if(Collection::Locks, &lock, b"new-owner"))).await;
    assert_eq!(
        results.into_iter().filter(|r| *r.as_ref().unwrap()).count(),
        1,
        "one release"
    );
    // delete_if compares whole values in any collection (sealed ones too).
    let g = format!("{prefix}grant-del");
    store
        .put(Collection::Grants, &g, b"v1".to_vec(), hold)
        .await
        .unwrap();
    assert!(!store.delete_if(Collection::Grants, &g, b"v").await.unwrap());
    assert!(
        store
            .delete_if(Collection::Grants, &g, b"v1")
            .await
            .unwrap()
    );
    assert_eq!(store.get(Collection::Grants, &g).await.unwrap(), None);
    store
        .put_if_absent(Collection::Locks, &lock, b"after-ttl".to_vec(), hold)
        .await
        .unwrap();
    // Locks do not collide with other collections' keys.
    assert_eq!(
        store.get(Collection::Grants, &lock).await.unwrap(),
        None,
        "locks are their own key space"
    );
    assert!(store.delete(Collection::Locks, &lock).await.unwrap());
}

/// Poll every future to completion concurrently (all are started before any is awaited to
/// the end), answering in order.
async fn join_all<'a, T, F>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + 'a,
{
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    let mut pending: Vec<Pin<Box<dyn Future<Output = T> + 'a>>> = futures
        .into_iter()
        .map(|f| Box::pin(f) as Pin<Box<dyn Future<Output = T> + 'a>>)
        .collect();
    let mut done: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if done[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                Poll::Ready(v) => done[i] = Some(v),
                Poll::Pending => all = false,
            }
        }
        if all {
            Poll::Ready(done.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}
