//! In-process tier (`cache-core` alone, tokio's paused clock): the TTL cap
//! and its jitter, stale-while-revalidate (one refresh under a stampede, a
//! `remove` during a refresh wins), stale-if-error until the stale window
//! ends, and across two nodes: a non-owner's stale read refreshes once, on
//! the owner, and leaves no hot copy.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::promotion::Always;
use cache_core::{Error, Getter, Group, GroupBuilder, LoadContext, Loaded, StoreKind, getter_fn};
use common::*;
use tokio::time::Instant;

const STORES: [StoreKind; 3] = [StoreKind::Sieve, StoreKind::Lru, StoreKind::Moka];
const TTL: Duration = Duration::from_secs(10);
const STALE: Duration = Duration::from_secs(30);
/// How long a refresh's loader call takes (paused time).
const LOAD: Duration = Duration::from_secs(1);

/// A loader answering `"{key}@v{n}"` (n: its calls so far) with [`TTL`],
/// after [`LOAD`] from its second call on (the first fills the cache at
/// once); it fails while `failing` is set.
fn versioned(calls: Arc<AtomicUsize>, failing: Arc<AtomicBool>) -> impl Getter {
    getter_fn(move |key: String, _ctx| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let failing = failing.load(Ordering::SeqCst);
        async move {
            if n > 0 {
                tokio::time::sleep(LOAD).await;
            }
            if failing {
                return Err(Error::source_failed("origin down"));
            }
            Ok(Loaded::new(format!("{key}@v{n}")).with_ttl(TTL))
        }
    })
}

/// A single-node group of `kind` with a [`STALE`] window over [`versioned`].
fn swr_group(kind: StoreKind, calls: &Arc<AtomicUsize>, failing: &Arc<AtomicBool>) -> Group {
    GroupBuilder::new(
        "swr",
        1 << 20,
        versioned(Arc::clone(calls), Arc::clone(failing)),
    )
    .store_kind(kind)
    .stale_ttl(Some(STALE))
    .build()
    .unwrap()
}

/// Lets every task that can run, run (paused time: no clock advance
/// beyond the 1 ms asked unless all tasks wait).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// `max_ttl` bounds a value loaded with no TTL and one with a longer TTL;
/// a shorter TTL is kept; at the cap, the value is loaded again.
#[tokio::test(start_paused = true)]
async fn the_cap_bounds_every_value() {
    let calls = counter();
    let g = GroupBuilder::new("cap", 1 << 20, counting_getter("v", Arc::clone(&calls)))
        .max_ttl(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let ttl = |key: &'static str| {
        let g = g.clone();
        async move { g.get_with_ttl(key, LoadContext::new()).await.unwrap().ttl }
    };
    assert_eq!(ttl("plain").await, Some(Duration::from_secs(5)));
    assert_eq!(
        ttl("ttl10").await,
        Some(Duration::from_secs(5)),
        "10 s cut to 5"
    );
    let short = GroupBuilder::new("short", 1 << 20, counting_getter("v", counter()))
        .max_ttl(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    let got = short.get_with_ttl("ttl", LoadContext::new()).await.unwrap();
    assert_eq!(got.ttl, Some(TTL), "a shorter TTL stays");
    tokio::time::advance(Duration::from_millis(4_999)).await;
    g.get("plain").await.unwrap();
    assert_eq!(count(&calls), 2, "still cached");
    tokio::time::advance(Duration::from_millis(1)).await;
    g.get("plain").await.unwrap();
    assert_eq!(count(&calls), 3, "expired at the cap: loaded again");
}

/// 200 keys loaded at one instant with jitter 0.5 expire spread over
/// `[ttl * 0.5, ttl]`: none before half the TTL, all by the TTL, and about
/// half by three quarters of it.
#[tokio::test(start_paused = true)]
async fn jitter_spreads_expiries() {
    const KEYS: usize = 200;
    let calls = counter();
    let ttl = Duration::from_secs(100);
    let g = GroupBuilder::new("jitter", 1 << 20, counting_getter("v", Arc::clone(&calls)))
        .max_ttl(Some(ttl))
        .ttl_jitter(0.5)
        .build()
        .unwrap();
    let mut ttls = Vec::new();
    for i in 0..KEYS {
        let got = g
            .get_with_ttl(&format!("k{i}"), LoadContext::new())
            .await
            .unwrap();
        ttls.push(got.ttl.unwrap());
    }
    assert!(ttls.iter().all(|t| *t <= ttl && *t >= ttl / 2), "{ttls:?}");
    let (min, max) = (ttls.iter().min().unwrap(), ttls.iter().max().unwrap());
    assert!(
        *min < ttl * 6 / 10 && *max > ttl * 9 / 10,
        "spread: {min:?}..{max:?}"
    );
    let reloads = |calls: &AtomicUsize| count(calls) - KEYS;
    let get_all = || async {
        for i in 0..KEYS {
            g.get(&format!("k{i}")).await.unwrap();
        }
    };
    tokio::time::advance(ttl / 2 - Duration::from_millis(1)).await;
    get_all().await;
    assert_eq!(reloads(&calls), 0, "none expires before ttl * (1 - jitter)");
    tokio::time::advance(ttl / 4).await;
    get_all().await;
    let early = reloads(&calls);
    assert!(
        (40..=160).contains(&early),
        "about half by 3/4 of the TTL: {early}"
    );
}

/// SWR under a stampede: 100 concurrent gets of a stale key are all
/// answered at once with the stale value, while exactly one loader call
/// refreshes it; then the new value is served, fresh.
#[tokio::test(start_paused = true)]
async fn swr_under_a_stampede_refreshes_once() {
    for kind in STORES {
        let (calls, failing) = (counter(), Arc::new(AtomicBool::new(false)));
        let g = swr_group(kind, &calls, &failing);
        assert_eq!(g.get("k").await.unwrap(), "k@v0");
        tokio::time::advance(TTL).await;
        let started = Instant::now();
        let gets: Vec<_> = (0..100)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { (g.get("k").await, Instant::now()) })
            })
            .collect();
        for get in gets {
            let (value, at) = get.await.unwrap();
            assert_eq!(value.unwrap(), "k@v0", "{kind:?}: the stale value");
            assert_eq!(
                at, started,
                "{kind:?}: answered at once, not after the refresh"
            );
        }
        assert_eq!(count(&calls), 2, "{kind:?}: one refresh started");
        tokio::time::sleep(LOAD).await;
        settle().await;
        assert_eq!(g.get("k").await.unwrap(), "k@v1", "{kind:?}: refreshed");
        assert_eq!(count(&calls), 2, "{kind:?}: exactly one loader call");
        let ttl = g.get_with_ttl("k", LoadContext::new()).await.unwrap().ttl;
        assert!(
            ttl.unwrap() > TTL - LOAD * 2,
            "{kind:?}: fresh again: {ttl:?}"
        );
        let s = g.stats();
        assert_eq!(
            (
                s.stale_hits,
                s.refreshes,
                s.refresh_errors,
                s.gets,
                s.cache_hits
            ),
            (100, 1, 0, 103, 102),
            "{kind:?}"
        );
        assert_eq!(g.in_flight(), 0, "{kind:?}");
    }
}

/// Stale-if-error: the refresh fails, and the stale value keeps being
/// served (and counted) until its stale window ends, each stale get trying
/// one refresh again; after the window the get is a miss and gets the
/// source's error, and once the source is back, its new value.
#[tokio::test(start_paused = true)]
async fn stale_if_error_serves_until_the_window_ends() {
    for kind in STORES {
        let (calls, failing) = (counter(), Arc::new(AtomicBool::new(false)));
        let g = swr_group(kind, &calls, &failing);
        assert_eq!(g.get("k").await.unwrap(), "k@v0");
        failing.store(true, Ordering::SeqCst);
        tokio::time::advance(TTL).await;
        assert_eq!(
            g.get("k").await.unwrap(),
            "k@v0",
            "{kind:?}: stale, refreshing"
        );
        tokio::time::sleep(LOAD).await;
        settle().await;
        let s = g.stats();
        assert_eq!((s.refreshes, s.refresh_errors), (1, 1), "{kind:?}");
        assert_eq!(
            g.get("k").await.unwrap(),
            "k@v0",
            "{kind:?}: stale after the error"
        );
        assert_eq!(g.stats().stale_if_error_hits, 1, "{kind:?}");
        // Up to the last instant of the window.
        let left = STALE - (Instant::now() - started_at(&g).await);
        tokio::time::advance(left - Duration::from_millis(1)).await;
        assert_eq!(g.get("k").await.unwrap(), "k@v0", "{kind:?}: last instant");
        tokio::time::advance(Duration::from_millis(1)).await;
        let err = g.get("k").await.unwrap_err();
        assert!(matches!(err, Error::SourceFailed(_)), "{kind:?}: {err:?}");
        failing.store(false, Ordering::SeqCst);
        let value = g.get("k").await.unwrap();
        assert!(value.starts_with(b"k@v"), "{kind:?}: {value:?}");
        assert_ne!(value, "k@v0", "{kind:?}: the new value");
        assert_eq!(g.in_flight(), 0, "{kind:?}");
    }
}

/// When the stale window of the group's key `k` began: its fresh expiry,
/// from the get's reported time left in the window.
async fn started_at(g: &Group) -> Instant {
    let left = g
        .get_with_ttl("k", LoadContext::new())
        .await
        .unwrap()
        .ttl
        .unwrap();
    Instant::now() + left - STALE
}

/// A `remove` during a refresh wins: the refreshed value is not stored,
/// and the next get loads again.
#[tokio::test(start_paused = true)]
async fn a_remove_during_a_refresh_wins() {
    for kind in STORES {
        let (calls, failing) = (counter(), Arc::new(AtomicBool::new(false)));
        let g = swr_group(kind, &calls, &failing);
        g.get("k").await.unwrap();
        tokio::time::advance(TTL).await;
        assert_eq!(g.get("k").await.unwrap(), "k@v0");
        tokio::time::sleep(LOAD / 2).await;
        assert_eq!(count(&calls), 2, "{kind:?}: refreshing");
        assert!(g.remove("k"), "{kind:?}");
        tokio::time::sleep(LOAD).await;
        settle().await;
        assert_eq!(g.stats().main_cache.items, 0, "{kind:?}: not re-inserted");
        assert_eq!(g.get("k").await.unwrap(), "k@v2", "{kind:?}: loaded anew");
    }
}

/// A source answering NotFound on refresh ends the stale serving: the
/// stale value is dropped.
#[tokio::test(start_paused = true)]
async fn a_refresh_that_finds_nothing_drops_the_stale_value() {
    let gone = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&gone);
    let g = GroupBuilder::new(
        "gone",
        1 << 20,
        getter_fn(move |key: String, _ctx| {
            let gone = flag.load(Ordering::SeqCst);
            async move {
                if gone {
                    Err(Error::NotFound)
                } else {
                    Ok(Loaded::new(key).with_ttl(TTL))
                }
            }
        }),
    )
    .stale_ttl(Some(STALE))
    .build()
    .unwrap();
    g.get("k").await.unwrap();
    gone.store(true, Ordering::SeqCst);
    tokio::time::advance(TTL).await;
    assert_eq!(g.get("k").await.unwrap(), "k", "stale once");
    settle().await;
    assert_eq!(g.get("k").await, Err(Error::NotFound));
    assert_eq!(g.stats().refresh_errors, 1);
}

/// A zero TTL (an origin's `no-store`) answers the get and is never
/// cached, also with a cap and a stale window.
#[tokio::test(start_paused = true)]
async fn a_zero_ttl_is_not_cached() {
    let calls = counter();
    let loads = Arc::clone(&calls);
    let g = GroupBuilder::new(
        "zero",
        1 << 20,
        getter_fn(move |key: String, _ctx| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Loaded::new(key).with_ttl(Duration::ZERO)) }
        }),
    )
    .max_ttl(Some(Duration::from_secs(60)))
    .stale_ttl(Some(STALE))
    .build()
    .unwrap();
    for _ in 0..3 {
        assert_eq!(g.get("k").await.unwrap(), "k");
    }
    assert_eq!((count(&calls), g.stats().main_cache.items), (3, 0));
}

/// Bad expiry options are refused by `build`, naming the option.
#[test]
fn bad_expiry_options_are_refused() {
    let build = |b: GroupBuilder| b.build().map(|_| ()).unwrap_err().to_string();
    let base = || GroupBuilder::new("bad", 1 << 20, counting_getter("v", counter()));
    for jitter in [1.0, -0.1, f64::NAN, 2.0] {
        assert!(
            build(base().ttl_jitter(jitter)).contains("ttl_jitter"),
            "{jitter}"
        );
    }
    assert!(build(base().max_ttl(Some(Duration::ZERO))).contains("max_ttl"));
    assert!(build(base().stale_ttl(Some(Duration::ZERO))).contains("stale_ttl"));
    let century = cache_core::MAX_TTL + Duration::from_secs(1);
    assert!(build(base().max_ttl(Some(century))).contains("max_ttl"));
    assert!(build(base().stale_ttl(Some(century))).contains("stale_ttl"));
    assert!(base().ttl_jitter(0.99).max_ttl(Some(TTL)).build().is_ok());
}

/// Two nodes, the owner and a requester, both with a stale window: the
/// requester's hot copy lives exactly as long as the owner's value is
/// fresh; a stale read through the requester (ten of them at once) makes
/// one refresh on the owner, is answered with the stale value, and leaves
/// no hot copy of it; after the refresh the requester copies the new value.
#[tokio::test(start_paused = true)]
async fn a_non_owners_stale_read_refreshes_once_on_the_owner() {
    let (calls, failing) = (counter(), Arc::new(AtomicBool::new(false)));
    let owner = swr_group(StoreKind::Sieve, &calls, &failing);
    let to_owner = FakePeer::new("o", Behaviour::Mesh(OnceLock::new()));
    if let Behaviour::Mesh(cell) = &to_owner.behaviour {
        cell.set(owner.clone()).unwrap();
    }
    let local = counter();
    let requester = GroupBuilder::new("swr", 1 << 20, counting_getter("local", Arc::clone(&local)))
        .peers(PrefixPicker::new("r", &[&to_owner]))
        .promotion(Arc::new(Always))
        .stale_ttl(Some(STALE))
        .build()
        .unwrap();
    assert_eq!(owner.get("o:k").await.unwrap(), "o:k@v0");
    tokio::time::advance(TTL / 2).await;
    let got = requester
        .get_with_ttl("o:k", LoadContext::new())
        .await
        .unwrap();
    assert_eq!(got.ttl, Some(TTL / 2), "the owner's time left");
    tokio::time::advance(TTL / 2 - Duration::from_millis(1)).await;
    requester.get("o:k").await.unwrap();
    assert_eq!(to_owner.fetches(), 1, "the hot copy, still fresh");
    tokio::time::advance(Duration::from_millis(1)).await;
    let reads: Vec<_> = (0..10)
        .map(|_| {
            let r = requester.clone();
            tokio::spawn(async move { r.get("o:k").await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), "o:k@v0", "the stale value");
    }
    let fetched = owner
        .fetch_for_peer("o:k", LoadContext::new())
        .await
        .unwrap();
    assert!(fetched.stale, "the owner marks it");
    assert!(
        fetched.ttl.is_some_and(|t| !t.is_zero() && t <= STALE),
        "{:?}",
        fetched.ttl
    );
    let s = requester.stats();
    assert_eq!(
        (s.promotions, s.refreshes, s.stale_hits),
        (1, 0, 0),
        "no copy, no refresh"
    );
    tokio::time::sleep(LOAD).await;
    settle().await;
    assert_eq!(owner.stats().refreshes, 1, "one refresh, on the owner");
    assert_eq!(count(&calls), 2);
    assert_eq!(requester.get("o:k").await.unwrap(), "o:k@v1");
    assert_eq!(requester.stats().promotions, 2, "the fresh value is copied");
    assert_eq!(requester.get("o:k").await.unwrap(), "o:k@v1");
    assert_eq!(count(&local), 0, "the requester never loaded");
}
