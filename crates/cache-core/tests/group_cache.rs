//! Cache behaviour of a group: TTL expiry, negative caching, `remove`
//! racing a load, key validation, builder validation and the registry.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_core::{
    Error, Fetched, GroupBuilder, LoadContext, Loaded, Registry, StoreKind, getter_fn,
};
use common::*;
use tokio::sync::Notify;

const MB: u64 = 1 << 20;

/// A value with a 10 s TTL is served from the cache until it expires and
/// loaded again afterwards (never served expired), with both stores.
#[tokio::test(start_paused = true)]
async fn ttl_expiry() {
    for kind in [StoreKind::Sieve, StoreKind::Lru, StoreKind::Moka] {
        let calls = counter();
        let g = GroupBuilder::new("g", MB, counting_getter("v", Arc::clone(&calls)))
            .store_kind(kind)
            .build()
            .unwrap();
        assert_eq!(g.get("ttl").await.unwrap(), "v:ttl");
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert_eq!(g.get("ttl").await.unwrap(), "v:ttl");
        assert_eq!(count(&calls), 1, "{kind:?}: fresh value served from cache");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(g.get("ttl").await.unwrap(), "v:ttl");
        assert_eq!(count(&calls), 2, "{kind:?}: expired value reloaded");
        assert_counters(
            &g,
            &[
                ("gets", 3),
                ("cache_hits", 1),
                ("loads", 2),
                ("loads_deduped", 2),
                ("local_loads", 2),
            ],
        );
    }
}

/// With `negative_ttl` = 5 s, a burst of gets for a missing key (50
/// concurrent, then 50 sequential) costs one load; after 5 s the next get
/// loads again.
#[tokio::test(start_paused = true)]
async fn negative_caching_costs_one_load_per_ttl() {
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("v", Arc::clone(&calls)))
        .negative_ttl(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.get("missing").await })
        })
        .collect();
    for b in burst {
        assert_eq!(b.await.unwrap(), Err(Error::NotFound));
    }
    for _ in 0..50 {
        assert_eq!(g.get("missing").await, Err(Error::NotFound));
    }
    assert_eq!(count(&calls), 1);
    tokio::time::advance(Duration::from_millis(4_999)).await;
    assert_eq!(g.get("missing").await, Err(Error::NotFound));
    assert_eq!(count(&calls), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(g.get("missing").await, Err(Error::NotFound));
    assert_eq!(count(&calls), 2);
    assert_counters(
        &g,
        &[
            ("gets", 102),
            ("cache_hits", 51),
            ("negative_hits", 51),
            ("get_errors", 102),
            ("loads", 51),
            ("loads_deduped", 2),
            ("local_load_errs", 2),
        ],
    );
    // A peer asking for it is answered from the negative entry too, with
    // the time it is still remembered (the requester may keep it as long).
    let r = g.fetch_for_peer("missing", LoadContext::new()).await;
    assert_eq!(r, Ok(Fetched::not_found(Duration::from_secs(5))));
    assert_eq!((count(&calls), g.stats().negative_hits), (2, 52));
}

/// Negative caching is off by default: every get of a missing key loads.
#[tokio::test(start_paused = true)]
async fn negative_caching_is_off_by_default() {
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("v", Arc::clone(&calls)))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(g.get("missing").await, Err(Error::NotFound));
    }
    assert_eq!(count(&calls), 3);
    assert_eq!(g.stats().main_cache.items, 0);
}

/// A `remove` while the key's load is in flight: the waiter still gets the
/// loaded value, but the load does not populate the cache, so the next get
/// loads again. Without the remove the value would have been cached.
#[tokio::test(start_paused = true)]
async fn remove_during_in_flight_load_prevents_population() {
    for remove in [true, false] {
        let (calls, entered, gate) = (counter(), Arc::new(Notify::new()), Arc::new(Notify::new()));
        let g = GroupBuilder::new(
            "g",
            MB,
            getter_fn({
                let (calls, entered, gate) =
                    (Arc::clone(&calls), Arc::clone(&entered), Arc::clone(&gate));
                move |_key: String, _ctx| {
                    let (calls, entered, gate) =
                        (Arc::clone(&calls), Arc::clone(&entered), Arc::clone(&gate));
                    async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        entered.notify_one();
                        gate.notified().await;
                        Ok(Loaded::new(format!("v{n}")))
                    }
                }
            }),
        )
        .build()
        .unwrap();
        let first = tokio::spawn({
            let g = g.clone();
            async move { g.get("k").await }
        });
        entered.notified().await;
        if remove {
            assert!(!g.remove("k"), "nothing cached yet");
        }
        gate.notify_one();
        assert_eq!(first.await.unwrap().unwrap(), "v0");
        assert_eq!(g.stats().main_cache.items, u64::from(!remove));
        let second = tokio::spawn({
            let g = g.clone();
            async move { g.get("k").await }
        });
        tokio::task::yield_now().await;
        gate.notify_one();
        let expected = if remove { "v1" } else { "v0" };
        assert_eq!(second.await.unwrap().unwrap(), expected);
        assert_eq!(count(&calls), 1 + usize::from(remove));
        assert_eq!(g.in_flight(), 0);
    }
}

/// `remove` clears a cached key from the main and hot caches.
#[tokio::test(start_paused = true)]
async fn remove_clears_both_caches() {
    let peer = FakePeer::new("b", Behaviour::Down);
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("v", Arc::clone(&calls)))
        .peers(PrefixPicker::new("a", &[&peer]))
        .build()
        .unwrap();
    g.get("own").await.unwrap();
    g.get("b:1").await.unwrap();
    let s = g.stats();
    assert_eq!((s.main_cache.items, s.hot_cache.items), (1, 1));
    assert!(g.remove("own"));
    assert!(g.remove("b:1"));
    assert!(!g.remove("own"));
    let s = g.stats();
    assert_eq!((s.main_cache.items, s.hot_cache.items), (0, 0));
    g.get("own").await.unwrap();
    assert_eq!(count(&calls), 3);
}

/// Empty keys and keys over `max_key_bytes` are rejected with `InvalidKey`
/// (on gets and peer fetches) without calling the loader; a key of exactly
/// the limit is accepted.
#[tokio::test(start_paused = true)]
async fn invalid_keys() {
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("v", Arc::clone(&calls)))
        .build()
        .unwrap();
    assert!(matches!(g.get("").await, Err(Error::InvalidKey(_))));
    assert!(matches!(
        g.get(&"x".repeat(1025)).await,
        Err(Error::InvalidKey(_))
    ));
    assert!(g.get(&"x".repeat(1024)).await.is_ok());
    let small = GroupBuilder::new("s", MB, counting_getter("v", Arc::clone(&calls)))
        .max_key_bytes(4)
        .build()
        .unwrap();
    assert!(matches!(
        small.get("abcde").await,
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        small.fetch_for_peer("", LoadContext::new()).await,
        Err(Error::InvalidKey(_))
    ));
    assert_eq!(small.get("abcd").await.unwrap(), "v:abcd");
    assert_eq!(count(&calls), 2);
    assert_counters(
        &g,
        &[
            ("gets", 3),
            ("loads", 1),
            ("loads_deduped", 1),
            ("local_loads", 1),
            ("get_errors", 2),
        ],
    );
}

/// Every invalid builder option is a `Config` error naming it.
#[test]
fn builder_validation() {
    let new = || GroupBuilder::new("g", MB, counting_getter("v", counter()));
    let cases = [
        (
            GroupBuilder::new("", MB, counting_getter("v", counter())),
            "name",
        ),
        (
            GroupBuilder::new("g", 0, counting_getter("v", counter())),
            "cache_bytes",
        ),
        (new().hot_fraction(1.0), "hot_fraction"),
        (new().hot_fraction(-0.1), "hot_fraction"),
        (new().hot_fraction(f64::NAN), "hot_fraction"),
        (new().load_timeout(Some(Duration::ZERO)), "load_timeout"),
        (new().negative_ttl(Some(Duration::ZERO)), "negative_ttl"),
        (new().max_key_bytes(0), "max_key_bytes"),
    ];
    for (builder, option) in cases {
        match builder.build() {
            Err(Error::Config(msg)) => assert!(msg.contains(option), "{msg:?} names {option}"),
            other => panic!("{option}: expected a Config error, got {other:?}"),
        }
    }
    assert!(new().hot_fraction(0.0).load_timeout(None).build().is_ok());
}

/// The registry refuses a duplicate name and reports unknown ones.
#[test]
fn registry_duplicates() {
    let registry = Registry::new();
    let g = || {
        GroupBuilder::new("users", MB, counting_getter("v", counter()))
            .build()
            .unwrap()
    };
    registry.add(g()).unwrap();
    assert_eq!(
        registry.add(g()),
        Err(Error::DuplicateGroup("users".into()))
    );
    assert_eq!(registry.groups().len(), 1);
    assert_eq!(registry.require("users").unwrap().name(), "users");
    assert_eq!(
        registry.require("nope").unwrap_err(),
        Error::UnknownGroup("nope".into())
    );
}
