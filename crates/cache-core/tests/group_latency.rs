//! The latency histograms of a group, on tokio's paused clock (so every
//! duration is exact): a timed get lands under its outcome (hit, peer,
//! load, error) in the bucket of its duration, an untimed one is only
//! counted; the loader's calls are timed on their own; errors are counted
//! in `get_errors` whether timed or not.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::promotion::Never;
use cache_core::stats::latency::{BOUNDS, bucket_bound};
use cache_core::{
    Error, GetOutcome, GroupBuilder, LatencySnapshot, LoadContext, Loaded, getter_fn,
};
use common::*;
use tokio::time::Instant;

/// The index of the one bucket holding every observation of `s`.
#[track_caller]
fn only_bucket(s: &LatencySnapshot) -> usize {
    let full: Vec<usize> = (0..s.buckets.len()).filter(|&i| s.buckets[i] > 0).collect();
    assert_eq!(full.len(), 1, "{s:?}");
    full[0]
}

/// The bucket whose bound is `bound`.
fn bucket(bound: Duration) -> usize {
    (0..BOUNDS)
        .find(|&i| bucket_bound(i) == Some(bound))
        .unwrap()
}

/// A get started `ago` before now (the server read its clock then).
fn started(ago: Duration) -> LoadContext {
    LoadContext::new().started_at(Instant::now() - ago)
}

/// Each outcome gets its own histogram, each observation its bucket: a
/// peer answering in 5 ms, a loader in 20 ms, a hit at once (plus the 1 ms
/// the server took before the group saw it), a NotFound; an untimed get
/// only counts.
#[tokio::test(start_paused = true)]
async fn gets_are_timed_by_outcome() {
    tokio::time::advance(Duration::from_secs(1)).await;
    let peer = FakePeer::new("b", Behaviour::Slow(Duration::from_millis(5)));
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn(|key: String, _ctx| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if key.starts_with("missing") {
                Err(Error::NotFound)
            } else {
                Ok(Loaded::new(key))
            }
        }),
    )
    .peers(PrefixPicker::new("a", &[&peer]))
    .promotion(Arc::new(Never))
    .build()
    .unwrap();

    let ms = Duration::from_millis;
    g.get_with("b:1", started(ms(1))).await.unwrap(); // peer: 1 + 5 ms
    g.get_with("own", started(ms(1))).await.unwrap(); // load: 1 + 20 ms
    g.get_with("own", started(ms(1))).await.unwrap(); // hit: 1 ms
    g.get_with_ttl("own", started(ms(1))).await.unwrap(); // hit
    assert_eq!(
        g.get_with("missing", started(ms(1))).await,
        Err(Error::NotFound)
    ); // error: 1 + 20 ms
    g.get("own").await.unwrap(); // untimed hit
    assert!(g.get("").await.is_err()); // untimed error

    let s = g.stats();
    let of = |o| *s.get_latency.by_outcome(o);
    assert_eq!(of(GetOutcome::Peer).count(), 1);
    assert_eq!(
        only_bucket(&of(GetOutcome::Peer)),
        bucket(Duration::from_micros(8192))
    );
    assert_eq!(of(GetOutcome::Peer).sum(), ms(6));
    assert_eq!(of(GetOutcome::Load).count(), 1);
    assert_eq!(
        only_bucket(&of(GetOutcome::Load)),
        bucket(Duration::from_micros(32768))
    );
    assert_eq!(of(GetOutcome::Hit).count(), 2);
    assert_eq!(
        only_bucket(&of(GetOutcome::Hit)),
        bucket(Duration::from_micros(1024))
    );
    assert_eq!(of(GetOutcome::Hit).sum(), ms(2));
    assert_eq!(of(GetOutcome::Error).count(), 1);
    assert_eq!(of(GetOutcome::Error).sum(), ms(21));
    assert_eq!(s.get_latency.count(), 5, "the untimed gets are not in it");
    assert_eq!((s.gets, s.get_errors), (7, 2));
    // Two loader calls ("own", "missing"), 20 ms each; the peer's load is
    // not ours.
    assert_eq!(s.load_latency.count(), 2);
    assert_eq!(s.load_latency.sum(), ms(40));
}

/// Waiters of one flight share its outcome: 10 concurrent timed gets of a
/// cold key are 10 loads in the histogram (the load was theirs), one
/// loader call in the load histogram.
#[tokio::test(start_paused = true)]
async fn waiters_share_the_flights_outcome() {
    let calls = counter();
    let g = GroupBuilder::new("g", 1 << 20, counting_getter("local", Arc::clone(&calls)))
        .build()
        .unwrap();
    let gets = (0..10).map(|_| {
        let g = g.clone();
        tokio::spawn(async move { g.get_with("cold", started(Duration::ZERO)).await })
    });
    for get in futures::future::join_all(gets).await {
        get.unwrap().unwrap();
    }
    let s = g.stats();
    assert_eq!(count(&calls), 1);
    assert_eq!(s.get_latency.by_outcome(GetOutcome::Load).count(), 10);
    assert_eq!(s.get_latency.count(), 10);
    assert_eq!(s.load_latency.count(), 1);
    assert_eq!(s.get_errors, 0);
}
