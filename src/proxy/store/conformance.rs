//! Behaviour every [`Store`] backend must show, as a reusable check: the memory store runs it
//! in its unit tests, and the file and Redis backends run the same function.

use super::{Collection, Store};
use mock_idp::Clock;
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

    // Concurrent takes: exactly one winner.
    store
        .put(Collection::Codes, &k("race"), b"r".to_vec(), ttl)
        .await
        .unwrap();
    let results = futures_join(store, Collection::Codes, &k("race")).await;
    assert_eq!(
        results.iter().filter(|r| r.is_some()).count(),
        1,
        "exactly one take wins"
    );
}

async fn futures_join(store: &dyn Store, c: Collection, key: &str) -> Vec<Option<Vec<u8>>> {
    let (a, b, d, e) = tokio::join!(
        store.take(c, key),
        store.take(c, key),
        store.take(c, key),
        store.take(c, key)
    );
    vec![a.unwrap(), b.unwrap(), d.unwrap(), e.unwrap()]
}
