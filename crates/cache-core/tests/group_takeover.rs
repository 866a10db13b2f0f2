//! Warm takeover with in-process fakes on tokio's paused clock: a new owner
//! that misses asks the key's previous owner (named by the picker during
//! its warm-up period) for its cached copy before calling the loader. Exact
//! counters per scenario: a hit (no load), a miss of each kind, a slow or
//! hung previous owner, concurrent callers, a racing `remove`, the load
//! limiter, and a mesh of two groups where the previous owner answers from
//! its `peek`.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::{Error, GetOutcome, Group, GroupBuilder, LoadContext, LoadLimiter};
use common::*;
use tokio::time::Instant;

const MB: u64 = 1 << 20;

/// A group that owns every key, whose keys `moved*` were owned by
/// `previous` before the ring changed; its loader answers `"local:{key}"`.
fn new_owner(previous: &Arc<FakePeer>, calls: &Arc<AtomicUsize>) -> Group {
    GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(calls)))
        .peers(WarmUpPicker::new(previous))
        .build()
        .unwrap()
}

/// The previous owner holds the key: the get is answered with its copy,
/// which fills the main cache (the next get is a hit); the loader is never
/// called and nothing is fetched the usual way.
#[tokio::test(start_paused = true)]
async fn a_takeover_hit_costs_no_load_and_fills_the_main_cache() {
    let previous = FakePeer::new("old", Behaviour::Up { qps: 0.0 });
    let calls = counter();
    let g = new_owner(&previous, &calls);
    assert_eq!(g.get("moved:1").await.unwrap(), "prev:moved:1");
    assert_eq!(g.get("moved:1").await.unwrap(), "prev:moved:1");
    assert_eq!(
        (previous.cached_fetches(), previous.fetches(), count(&calls)),
        (1, 0, 0)
    );
    assert_counters(
        &g,
        &[
            ("gets", 2),
            ("cache_hits", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("takeover_hits", 1),
        ],
    );
    let s = g.stats();
    assert_eq!((s.main_cache.items, s.main_cache.hits), (1, 1));
    assert_eq!(s.hot_cache.items, 0);
    assert_eq!(s.load_latency.count(), 0, "no loader call was timed");
}

/// The previous owner's remaining TTL is kept: the copy expires here when
/// it would have there, and is then asked for again.
#[tokio::test(start_paused = true)]
async fn a_takeover_keeps_the_reported_ttl() {
    let previous = FakePeer::new("old", Behaviour::Expiring(Duration::from_secs(10)));
    let calls = counter();
    let g = new_owner(&previous, &calls);
    let first = g.get_with_ttl("moved:1", LoadContext::new()).await.unwrap();
    assert_eq!(
        (first.value.as_ref(), first.ttl),
        (&b"prev:moved:1"[..], Some(Duration::from_secs(10)))
    );
    tokio::time::advance(Duration::from_secs(4)).await;
    let cached = g.get_with_ttl("moved:1", LoadContext::new()).await.unwrap();
    assert_eq!(cached.ttl, Some(Duration::from_secs(6)));
    assert_eq!(previous.cached_fetches(), 1);
    tokio::time::advance(Duration::from_secs(6)).await;
    g.get("moved:1").await.unwrap();
    assert_eq!((previous.cached_fetches(), count(&calls)), (2, 0));
}

/// A timed get answered by a takeover is recorded under `Peer` (a hop to a
/// peer's cache), not `Load`.
#[tokio::test(start_paused = true)]
async fn a_takeover_is_timed_as_a_peer_answer() {
    let previous = FakePeer::new("old", Behaviour::Up { qps: 0.0 });
    let g = new_owner(&previous, &counter());
    let ctx = LoadContext::new().started_at(Instant::now());
    g.get_with("moved:1", ctx).await.unwrap();
    let latency = g.stats().get_latency;
    assert_eq!(latency.by_outcome(GetOutcome::Peer).count(), 1);
    assert_eq!(latency.count(), 1);
}

/// No copy at the previous owner (NotFound), an error of any kind, or a
/// value with no time left: one ask, then exactly one load, whose value
/// fills the main cache as it does without takeover.
#[tokio::test(start_paused = true)]
async fn a_miss_or_an_error_falls_through_to_one_load() {
    for behaviour in [
        Behaviour::Missing,
        Behaviour::Down,
        Behaviour::Overloaded,
        Behaviour::Saturated,
        Behaviour::Failing,
        Behaviour::Expiring(Duration::ZERO),
    ] {
        let label = format!("{behaviour:?}");
        let previous = FakePeer::new("old", behaviour);
        let calls = counter();
        let g = new_owner(&previous, &calls);
        assert_eq!(g.get("moved:1").await.unwrap(), "local:moved:1", "{label}");
        assert_eq!(g.get("moved:1").await.unwrap(), "local:moved:1", "{label}");
        assert_eq!(
            (previous.cached_fetches(), count(&calls)),
            (1, 1),
            "{label}"
        );
        assert_counters(
            &g,
            &[
                ("gets", 2),
                ("cache_hits", 1),
                ("loads", 1),
                ("loads_deduped", 1),
                ("local_loads", 1),
                ("takeover_misses", 1),
            ],
        );
        assert_eq!(g.stats().main_cache.items, 1, "{label}");
    }
}

/// The loader's own answers are unchanged by a takeover miss: its NotFound
/// and its failure reach the caller (one ask, one load each).
#[tokio::test(start_paused = true)]
async fn after_a_miss_the_loader_answers_as_usual() {
    let previous = FakePeer::new("old", Behaviour::Missing);
    let calls = counter();
    let g = new_owner(&previous, &calls);
    assert_eq!(g.get("moved:missing").await, Err(Error::NotFound));
    assert!(matches!(
        g.get("moved:fail").await,
        Err(Error::SourceFailed(_))
    ));
    assert_eq!((previous.cached_fetches(), count(&calls)), (2, 2));
    let s = g.stats();
    assert_eq!((s.takeover_misses, s.local_load_errs), (2, 2));
}

/// A previous owner that answers within the load timeout is waited for (a
/// hit after its delay); one that never answers, ignoring its deadline, is
/// cut at the load timeout, and the key is then loaded once.
#[tokio::test(start_paused = true)]
async fn a_slow_previous_owner_is_bounded_by_the_load_timeout() {
    let slow = FakePeer::new("old", Behaviour::Slow(Duration::from_millis(300)));
    let calls = counter();
    let g = new_owner(&slow, &calls);
    let start = Instant::now();
    assert_eq!(g.get("moved:1").await.unwrap(), "prev:moved:1");
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(count(&calls), 0);

    let hung = FakePeer::new("old", Behaviour::Hang);
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(&calls)))
        .peers(WarmUpPicker::new(&hung))
        .load_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let start = Instant::now();
    assert_eq!(g.get("moved:1").await.unwrap(), "local:moved:1");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(hung.active(), 0, "the ask was dropped at its deadline");
    assert_eq!((hung.cached_fetches(), count(&calls)), (1, 1));
    assert_counters(
        &g,
        &[
            ("gets", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("local_loads", 1),
            ("takeover_misses", 1),
        ],
    );
}

/// A caller's own deadline bounds its wait for the ask, and when no caller
/// waits any more the ask is dropped with the flight: no load follows.
#[tokio::test(start_paused = true)]
async fn the_ask_is_dropped_with_its_last_caller() {
    let hung = FakePeer::new("old", Behaviour::Hang);
    let calls = counter();
    let g = new_owner(&hung, &calls);
    let ctx = LoadContext::with_timeout(Duration::from_millis(100));
    assert_eq!(
        g.get_with("moved:1", ctx).await,
        Err(Error::DeadlineExceeded)
    );
    tokio::task::yield_now().await;
    assert_eq!(hung.active(), 0);
    assert_eq!((count(&calls), g.in_flight()), (0, 0));
    let s = g.stats();
    assert_eq!((s.takeover_hits, s.takeover_misses), (0, 0));
}

/// A key the picker names no previous owner for (outside the warm-up
/// period, or a key that did not move) is loaded as without takeover, and
/// nobody is asked.
#[tokio::test(start_paused = true)]
async fn no_previous_owner_is_todays_behaviour() {
    let previous = FakePeer::new("old", Behaviour::Up { qps: 0.0 });
    let calls = counter();
    let g = new_owner(&previous, &calls);
    assert_eq!(g.get("stayed:1").await.unwrap(), "local:stayed:1");
    let fetched = g
        .fetch_for_peer("stayed:2", LoadContext::new())
        .await
        .unwrap();
    assert_eq!(fetched.value, "local:stayed:2");
    assert_eq!((previous.cached_fetches(), count(&calls)), (0, 2));
    assert_counters(
        &g,
        &[
            ("gets", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("local_loads", 2),
            ("server_requests", 1),
        ],
    );
}

/// Concurrent gets of a key, and a peer's fetch of it, share one local
/// flight: the previous owner is asked once and every caller gets its copy.
#[tokio::test(start_paused = true)]
async fn concurrent_callers_ask_the_previous_owner_once() {
    let previous = FakePeer::new("old", Behaviour::Slow(Duration::from_secs(1)));
    let calls = counter();
    let g = new_owner(&previous, &calls);
    let gets: Vec<_> = (0..10)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.get("moved:1").await })
        })
        .collect();
    let fetch = {
        let g = g.clone();
        tokio::spawn(async move { g.fetch_for_peer("moved:1", LoadContext::new()).await })
    };
    for get in gets {
        assert_eq!(get.await.unwrap().unwrap(), "prev:moved:1");
    }
    assert_eq!(fetch.await.unwrap().unwrap().value, "prev:moved:1");
    assert_eq!(
        (previous.cached_fetches(), count(&calls), g.in_flight()),
        (1, 0, 0)
    );
    let s = g.stats();
    assert_eq!((s.takeover_hits, s.takeover_misses), (1, 0));
    assert_eq!((s.gets, s.loads_deduped, s.server_requests), (10, 1, 1));
}

/// A `remove` that comes in while the previous owner is being asked wins:
/// the copy still answers the waiting get, but does not enter the cache,
/// and the next get loads from the source instead of asking again.
#[tokio::test(start_paused = true)]
async fn a_remove_racing_the_takeover_wins() {
    let previous = FakePeer::new("old", Behaviour::Slow(Duration::from_secs(1)));
    let calls = counter();
    let g = new_owner(&previous, &calls);
    let get = {
        let g = g.clone();
        tokio::spawn(async move { g.get("moved:1").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(previous.active(), 1, "the ask is under way");
    assert!(!g.remove("moved:1"), "nothing cached yet");
    assert_eq!(get.await.unwrap().unwrap(), "prev:moved:1");
    let s = g.stats();
    assert_eq!((s.takeover_hits, s.main_cache.items), (1, 0));
    // The previous owner may not have heard of the remove: within the
    // tombstone TTL it is not asked again, and the key is loaded.
    assert_eq!(g.get("moved:1").await.unwrap(), "local:moved:1");
    assert_eq!((previous.cached_fetches(), count(&calls)), (1, 1));
    assert_eq!(g.stats().main_cache.items, 1, "the load fills it");
}

/// The ask holds no permit of the load limiter: with a limit of one load
/// and no queue, another key loads while a previous owner is slow to
/// answer, and the takeover's own miss then takes the permit for its load.
#[tokio::test(start_paused = true)]
async fn the_ask_holds_no_load_permit() {
    let previous = FakePeer::new("old", Behaviour::Slow(Duration::from_secs(1)));
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(&calls)))
        .peers(WarmUpPicker::new(&previous))
        .load_limiter(LoadLimiter::new(1, 0).unwrap())
        .build()
        .unwrap();
    let moved = {
        let g = g.clone();
        tokio::spawn(async move { g.get("moved:1").await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(previous.active(), 1);
    assert_eq!(g.get("stayed:1").await.unwrap(), "local:stayed:1");
    assert_eq!(moved.await.unwrap().unwrap(), "prev:moved:1");
    let s = g.stats();
    assert_eq!(
        (s.loads_rejected, s.local_loads, s.takeover_hits),
        (0, 1, 1)
    );
}

/// Two groups in process: the previous owner ("old") holds a key in its
/// main cache and answers the new owner's ask from `peek` (no load, no get
/// counted there); a key it does not hold is loaded by the new owner, and
/// never by the previous one.
#[tokio::test(start_paused = true)]
async fn a_mesh_takeover_moves_the_cached_copy() {
    let to_old = FakePeer::new("old", Behaviour::Mesh(OnceLock::new()));
    let (new_calls, old_calls) = (counter(), counter());
    let new = new_owner(&to_old, &new_calls);
    let old = GroupBuilder::new("g", MB, counting_getter("OLD", Arc::clone(&old_calls)))
        .build()
        .unwrap();
    if let Behaviour::Mesh(cell) = &to_old.behaviour {
        cell.set(old.clone()).unwrap();
    }
    assert_eq!(old.get("moved:1").await.unwrap(), "OLD:moved:1");

    assert_eq!(new.get("moved:1").await.unwrap(), "OLD:moved:1");
    assert_eq!(new.get("moved:2").await.unwrap(), "local:moved:2");
    assert_eq!((count(&new_calls), count(&old_calls)), (1, 1));
    assert_counters(
        &old,
        &[
            ("gets", 1),
            ("loads", 1),
            ("loads_deduped", 1),
            ("local_loads", 1),
        ],
    );
    let n = new.stats();
    assert_eq!((n.takeover_hits, n.takeover_misses), (1, 1));
    assert_eq!(n.main_cache.items, 2);
}
