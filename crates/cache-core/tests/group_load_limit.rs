//! The load limiter seen through groups (in process, paused clock): loads
//! of distinct keys beyond the limit wait in a bounded queue, beyond that
//! they are refused at once, and a limiter shared by two groups bounds them
//! together.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{Error, Group, GroupBuilder, LoadContext, LoadLimiter, Loaded, getter_fn};
use common::*;
use tokio::sync::Semaphore;

/// A group whose loader waits for a permit of `gate`, tracking how many of
/// its calls run at once (`running`) and the most ever (`peak`).
fn gated(
    name: &str,
    limiter: &LoadLimiter,
    gate: &Arc<Semaphore>,
    running: &Arc<AtomicUsize>,
    peak: &Arc<AtomicUsize>,
) -> Group {
    let (gate, running, peak) = (Arc::clone(gate), Arc::clone(running), Arc::clone(peak));
    GroupBuilder::new(
        name,
        1 << 20,
        getter_fn(move |key: String, _ctx| {
            let (gate, running, peak) =
                (Arc::clone(&gate), Arc::clone(&running), Arc::clone(&peak));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let _pass = gate.acquire().await.expect("gate open");
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(Loaded::new(format!("v:{key}")))
            }
        }),
    )
    .load_limiter(limiter.clone())
    .build()
    .unwrap()
}

/// Ten distinct cold keys over two groups sharing a limiter of 2 running
/// and 3 queued: 2 loads run, 3 wait, the other 5 get `TooManyLoads` at
/// once (before any load finishes); the queued ones run once permits free
/// up, never more than 2 at a time.
#[tokio::test(start_paused = true)]
async fn shared_limiter_bounds_loads_of_both_groups() {
    let limiter = LoadLimiter::new(2, 3).unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let (running, peak) = (counter(), counter());
    let groups = [
        gated("a", &limiter, &gate, &running, &peak),
        gated("b", &limiter, &gate, &running, &peak),
    ];
    let gets: Vec<_> = (0..10)
        .map(|i| {
            let g = groups[i % 2].clone();
            tokio::spawn(async move { g.get(&format!("k{i}")).await })
        })
        .collect();
    // Let every get reach the limiter.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let stats = limiter.stats();
    assert_eq!((stats.running, stats.queued, stats.rejected), (2, 3, 5));
    gate.add_permits(10);
    let mut refused = 0;
    for get in gets {
        match get.await.unwrap() {
            Ok(v) => assert!(v.starts_with(b"v:")),
            Err(Error::TooManyLoads) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    let loads_rejected: u64 = groups.iter().map(|g| g.stats().loads_rejected).sum();
    assert_eq!(loads_rejected, 5);
    assert_eq!(limiter.stats().peak_running, 2);
}

/// A load waiting in the queue whose only caller gives up leaves the queue
/// (and never calls the loader).
#[tokio::test(start_paused = true)]
async fn abandoned_queued_load_leaves_the_queue() {
    let limiter = LoadLimiter::new(1, 5).unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let (running, peak) = (counter(), counter());
    let g = gated("g", &limiter, &gate, &running, &peak);
    let first = {
        let g = g.clone();
        tokio::spawn(async move { g.get("first").await })
    };
    tokio::task::yield_now().await;
    let ctx = LoadContext::with_timeout(Duration::from_millis(50));
    assert_eq!(
        g.get_with("queued", ctx).await,
        Err(Error::DeadlineExceeded)
    );
    tokio::task::yield_now().await;
    assert_eq!((limiter.stats().running, limiter.stats().queued), (1, 0));
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap(), "v:first");
    assert_eq!((g.stats().local_loads, g.in_flight()), (1, 0));
}
