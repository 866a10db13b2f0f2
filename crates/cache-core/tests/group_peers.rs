//! The get path with in-process fake peers: exact counters per scenario
//! (owner up, down, hanging, failing, answering NotFound) and an in-process
//! mesh of two groups fetching from each other.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::promotion::{Always, Never};
use cache_core::{Error, Group, GroupBuilder, LoadContext};
use common::*;
use tokio::time::Instant;

const MB: u64 = 1 << 20;

/// A group "a" whose keys `b:*` are owned by `peer`, everything else by
/// itself; promotion policy `promote_all` or none.
fn group_with_peer(
    peer: &Arc<FakePeer>,
    calls: &Arc<std::sync::atomic::AtomicUsize>,
    promote_all: bool,
) -> Group {
    let builder = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(calls)))
        .peers(PrefixPicker::new("a", &[peer]));
    let builder = if promote_all {
        builder.promotion(Arc::new(Always))
    } else {
        builder.promotion(Arc::new(Never))
    };
    builder.build().unwrap()
}

/// Owner up: a remote key is fetched once and promoted to the hot cache (so
/// the second get is a hot hit); a local key is loaded once into the main
/// cache.
#[tokio::test(start_paused = true)]
async fn all_peers_up() {
    let peer = FakePeer::new("b", Behaviour::Up { qps: 50.0 });
    let calls = counter();
    let g = group_with_peer(&peer, &calls, true);
    for _ in 0..2 {
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(g.get("own").await.unwrap(), "local:own");
    }
    assert_eq!((peer.fetches(), count(&calls)), (1, 1));
    assert_counters(
        &g,
        &[
            ("gets", 4),
            ("cache_hits", 2),
            ("peer_loads", 1),
            ("loads", 2),
            ("loads_deduped", 2),
            ("local_loads", 1),
            ("promotions", 1),
        ],
    );
    let s = g.stats();
    assert_eq!((s.main_cache.items, s.hot_cache.items), (1, 1));
    assert_eq!((s.main_cache.hits, s.hot_cache.hits), (1, 1));
}

/// Without promotion a remote key is fetched on every get and cached
/// nowhere.
#[tokio::test(start_paused = true)]
async fn unpromoted_values_are_not_cached() {
    let peer = FakePeer::new("b", Behaviour::Up { qps: 0.1 });
    let calls = counter();
    let g = group_with_peer(&peer, &calls, false);
    for _ in 0..3 {
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
    }
    assert_eq!((peer.fetches(), count(&calls)), (3, 0));
    assert_counters(
        &g,
        &[
            ("gets", 3),
            ("peer_loads", 3),
            ("loads", 3),
            ("loads_deduped", 3),
        ],
    );
    let s = g.stats();
    assert_eq!((s.main_cache.items, s.hot_cache.items), (0, 0));
}

/// Owner down (Unavailable) or shedding load (Overloaded): the key is
/// loaded locally, the value is correct, it goes to the hot cache only
/// (main untouched), and the next get is a hot hit.
#[tokio::test(start_paused = true)]
async fn one_peer_down_falls_back_into_the_hot_cache() {
    for behaviour in [Behaviour::Down, Behaviour::Overloaded] {
        let peer = FakePeer::new("b", behaviour);
        let calls = counter();
        let g = group_with_peer(&peer, &calls, true);
        assert_eq!(g.get("b:1").await.unwrap(), "local:b:1");
        assert_eq!(g.get("b:1").await.unwrap(), "local:b:1");
        assert_eq!((peer.fetches(), count(&calls)), (1, 1));
        assert_counters(
            &g,
            &[
                ("gets", 2),
                ("cache_hits", 1),
                ("peer_loads", 1),
                ("peer_errors", 1),
                ("loads", 1),
                ("loads_deduped", 1),
                ("local_loads", 1),
                ("fallback_loads", 1),
            ],
        );
        let s = g.stats();
        assert_eq!((s.main_cache.items, s.main_cache.bytes), (0, 0));
        assert_eq!((s.hot_cache.items, s.hot_cache.hits), (1, 1));
    }
}

/// A live owner whose load takes far longer than any peer timeout is waited
/// for: one fetch, no local load, every caller gets the owner's value.
#[tokio::test(start_paused = true)]
async fn live_slow_owner_is_waited_for() {
    let peer = FakePeer::new("b", Behaviour::Slow(Duration::from_secs(3)));
    let calls = counter();
    let g = group_with_peer(&peer, &calls, false);
    let start = Instant::now();
    let gets: Vec<_> = (0..10)
        .map(|_| {
            let g = g.clone();
            let ctx = LoadContext::with_timeout(Duration::from_secs(10));
            tokio::spawn(async move { g.get_with("b:1", ctx).await })
        })
        .collect();
    for get in gets {
        assert_eq!(get.await.unwrap().unwrap(), "remote:b:1");
    }
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!((peer.fetches(), count(&calls)), (1, 0));
    assert_eq!(g.stats().fallback_loads, 0);
}

/// A fetch is bounded by the callers, not by the one that started it: the
/// first caller's deadline passes, a later caller still gets the value from
/// the same fetch; when every caller has gone, the fetch is dropped and
/// nothing is loaded locally.
#[tokio::test(start_paused = true)]
async fn fetch_lives_while_any_caller_waits() {
    let peer = FakePeer::new("b", Behaviour::Slow(Duration::from_secs(2)));
    let calls = counter();
    let g = group_with_peer(&peer, &calls, false);
    let hasty = {
        let g = g.clone();
        tokio::spawn(async move {
            g.get_with("b:1", LoadContext::with_timeout(Duration::from_millis(100)))
                .await
        })
    };
    tokio::task::yield_now().await;
    let patient = g.get_with("b:1", LoadContext::with_timeout(Duration::from_secs(5)));
    assert_eq!(patient.await.unwrap(), "remote:b:1");
    assert_eq!(hasty.await.unwrap(), Err(Error::DeadlineExceeded));
    assert_eq!(peer.fetches(), 1);

    let start = Instant::now();
    let ctx = LoadContext::with_timeout(Duration::from_millis(500));
    assert_eq!(g.get_with("b:2", ctx).await, Err(Error::DeadlineExceeded));
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    tokio::task::yield_now().await;
    assert_eq!(
        peer.active(),
        0,
        "the fetch was dropped with its last caller"
    );
    assert_eq!((peer.fetches(), count(&calls), g.in_flight()), (2, 0, 0));
}

/// An owner that answers nothing is cut at the load timeout: the callers
/// get a source failure, and the key is not loaded locally (that would start
/// the load over).
#[tokio::test(start_paused = true)]
async fn load_timeout_caps_the_wait_for_the_owner() {
    let peer = FakePeer::new("b", Behaviour::Hang);
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(&calls)))
        .peers(PrefixPicker::new("a", &[&peer]))
        .load_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let start = Instant::now();
    assert!(matches!(g.get("b:1").await, Err(Error::SourceFailed(_))));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_counters(
        &g,
        &[
            ("gets", 1),
            ("peer_loads", 1),
            ("peer_errors", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("load_timeouts", 1),
            ("get_errors", 1),
        ],
    );
    assert_eq!(count(&calls), 0);
}

/// The owner's "too many loads" is an answer about its source: passed on,
/// not loaded locally.
#[tokio::test(start_paused = true)]
async fn owner_saturated_is_passed_on() {
    let peer = FakePeer::new("b", Behaviour::Saturated);
    let calls = counter();
    let g = group_with_peer(&peer, &calls, true);
    assert_eq!(g.get("b:1").await, Err(Error::TooManyLoads));
    assert_eq!((peer.fetches(), count(&calls)), (1, 0));
    assert_eq!(g.stats().fallback_loads, 0);
}

/// Owner's source failed: the error is passed on and the key is NOT loaded
/// locally.
#[tokio::test(start_paused = true)]
async fn failing_peer_passes_source_failed_through() {
    let peer = FakePeer::new("b", Behaviour::Failing);
    let calls = counter();
    let g = group_with_peer(&peer, &calls, true);
    assert!(matches!(g.get("b:1").await, Err(Error::SourceFailed(_))));
    assert_eq!((peer.fetches(), count(&calls)), (1, 0));
    assert_counters(
        &g,
        &[
            ("gets", 1),
            ("peer_loads", 1),
            ("peer_errors", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("get_errors", 1),
        ],
    );
}

/// Owner answers NotFound: passed on, not loaded locally, not cached.
#[tokio::test(start_paused = true)]
async fn not_found_from_peer_passes_through() {
    let peer = FakePeer::new("b", Behaviour::Missing);
    let calls = counter();
    let g = group_with_peer(&peer, &calls, true);
    assert_eq!(g.get("b:1").await, Err(Error::NotFound));
    assert_eq!(g.get("b:1").await, Err(Error::NotFound));
    assert_eq!((peer.fetches(), count(&calls)), (2, 0));
    assert_counters(
        &g,
        &[
            ("gets", 2),
            ("peer_loads", 2),
            ("peer_errors", 2),
            ("loads", 2),
            ("loads_deduped", 2),
            ("get_errors", 2),
        ],
    );
}

/// Two groups fetching from each other in process.
struct Mesh {
    a: Group,
    b: Group,
    a_calls: Arc<std::sync::atomic::AtomicUsize>,
    b_calls: Arc<std::sync::atomic::AtomicUsize>,
}

/// Node "a" owns `a:*`, node "b" owns `b:*`; each reaches the other through
/// its `fetch_for_peer`.
fn mesh() -> Mesh {
    let to_a = FakePeer::new("a", Behaviour::Mesh(OnceLock::new()));
    let to_b = FakePeer::new("b", Behaviour::Mesh(OnceLock::new()));
    let (a_calls, b_calls) = (counter(), counter());
    let a = GroupBuilder::new("g", MB, counting_getter("A", Arc::clone(&a_calls)))
        .peers(PrefixPicker::new("a", &[&to_b]))
        .promotion(Arc::new(Never))
        .build()
        .unwrap();
    let b = GroupBuilder::new("g", MB, counting_getter("B", Arc::clone(&b_calls)))
        .peers(PrefixPicker::new("b", &[&to_a]))
        .promotion(Arc::new(Never))
        .build()
        .unwrap();
    for (peer, group) in [(&to_a, &a), (&to_b, &b)] {
        if let Behaviour::Mesh(cell) = &peer.behaviour {
            cell.set(group.clone()).unwrap();
        }
    }
    Mesh {
        a,
        b,
        a_calls,
        b_calls,
    }
}

/// A key is loaded by its owner only, once, even when 100 gets for it
/// arrive at the other node at once; the owner then serves its own gets
/// from its main cache.
#[tokio::test(start_paused = true)]
async fn mesh_loads_on_the_owner_once() {
    let m = mesh();
    let gets: Vec<_> = (0..100)
        .map(|_| {
            let a = m.a.clone();
            tokio::spawn(async move { a.get("b:x").await })
        })
        .collect();
    for g in gets {
        assert_eq!(g.await.unwrap().unwrap(), "B:b:x");
    }
    assert_eq!(m.b.get("b:x").await.unwrap(), "B:b:x");
    assert_eq!((count(&m.a_calls), count(&m.b_calls)), (0, 1));
    assert_counters(
        &m.a,
        &[
            ("gets", 100),
            ("peer_loads", 1),
            ("loads", 100),
            ("loads_deduped", 1),
        ],
    );
    assert_counters(
        &m.b,
        &[
            ("gets", 1),
            ("cache_hits", 1),
            ("local_loads", 1),
            ("server_requests", 1),
        ],
    );
    assert_eq!(m.b.stats().main_cache.items, 1);
    assert_eq!(m.a.in_flight() + m.b.in_flight(), 0);
}

/// A peer fetch is answered locally even when this node's picker names
/// another owner (peer lists may disagree): it is never forwarded.
#[tokio::test(start_paused = true)]
async fn fetch_for_peer_never_forwards() {
    let m = mesh();
    let fetched = m.a.fetch_for_peer("b:y", LoadContext::new()).await.unwrap();
    assert_eq!(fetched.value, "A:b:y");
    assert!(fetched.minute_qps.is_some());
    assert_eq!(fetched.ttl, None);
    assert_eq!((count(&m.a_calls), count(&m.b_calls)), (1, 0));
    assert_counters(&m.b, &[]);
    assert_counters(&m.a, &[("local_loads", 1), ("server_requests", 1)]);
}

/// A peer fetch reports the remaining TTL of the owner's value, and the
/// owner's errors reach the asking node classified (NotFound, SourceFailed)
/// without a local reload there.
#[tokio::test(start_paused = true)]
async fn mesh_reports_ttl_and_passes_errors() {
    let m = mesh();
    assert_eq!(m.a.get("b:ttl").await.unwrap(), "B:b:ttl");
    tokio::time::advance(Duration::from_secs(4)).await;
    let fetched =
        m.b.fetch_for_peer("b:ttl", LoadContext::new())
            .await
            .unwrap();
    assert_eq!(fetched.ttl, Some(Duration::from_secs(6)));
    assert_eq!(m.a.get("b:missing").await, Err(Error::NotFound));
    assert!(matches!(
        m.a.get("b:fail").await,
        Err(Error::SourceFailed(_))
    ));
    assert_eq!((count(&m.a_calls), count(&m.b_calls)), (0, 3));
    let b = m.b.stats();
    assert_eq!(
        (b.server_requests, b.local_loads, b.local_load_errs),
        (4, 1, 2)
    );
    assert_eq!(m.a.stats().peer_errors, 2);
}

/// The default policy (`QpsThreshold`) keeps every fetched value while the
/// hot cache has free room; once it is full, it promotes a value whose owner
/// reports a busy key (evicting a copy) and not one requested about once a
/// minute.
#[tokio::test(start_paused = true)]
async fn default_policy_fills_free_room_then_promotes_busy_keys_only() {
    // A hot cache of exactly one entry: "b:1" and "b:2" have the same size.
    let entry = cache_core::store::entry_size("b:1", "remote:b:1".len());
    for (qps, promoted, evicted) in [(50.0, 2, 1), (1.0 / 60.0, 1, 0)] {
        let peer = FakePeer::new("b", Behaviour::Up { qps });
        let g = GroupBuilder::new("g", entry * 8, counting_getter("local", counter()))
            .peers(PrefixPicker::new("a", &[&peer]))
            .hot_fraction(0.125)
            .build()
            .unwrap();
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(g.stats().promotions, 1, "free room is filled, qps {qps}");
        assert_eq!(g.get("b:2").await.unwrap(), "remote:b:2");
        let s = g.stats();
        assert_eq!(
            (s.promotions, s.hot_cache.items, s.hot_cache.evictions),
            (promoted, 1, evicted),
            "qps {qps}"
        );
    }
}
