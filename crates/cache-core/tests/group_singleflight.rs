//! Singleflight behaviour seen through `Group::get` (in process, paused
//! clock): what a group adds to the singleflight's own unit tests
//! (`src/singleflight/tests.rs`): counters, the cache filled once, panics
//! counted, who bounds a load (the load timeout, not the first caller's
//! deadline), and loads dropped when nobody waits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{Error, Group, GroupBuilder, LoadContext, Loaded, getter_fn};
use common::*;
use tokio::sync::Notify;

/// A group whose loader counts calls and waits for `gate` before answering
/// `"v:{key}"`.
fn gated_group(calls: &Arc<AtomicUsize>, gate: &Arc<Notify>) -> Group {
    let (calls, gate) = (Arc::clone(calls), Arc::clone(gate));
    GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn(move |key: String, _ctx| {
            let (calls, gate) = (Arc::clone(&calls), Arc::clone(&gate));
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                Ok(Loaded::new(format!("v:{key}")))
            }
        }),
    )
    .build()
    .unwrap()
}

/// 1000 concurrent gets of one missing key: one loader call, every caller
/// gets the value, and no flight is left.
#[tokio::test(start_paused = true)]
async fn thousand_waiters_one_load() {
    let calls = counter();
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn({
            let calls = Arc::clone(&calls);
            move |key: String, _ctx| {
                let calls = Arc::clone(&calls);
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Ok(Loaded::new(key))
                }
            }
        }),
    )
    .build()
    .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.get("cold").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "cold");
    }
    assert_eq!(count(&calls), 1);
    assert_counters(
        &g,
        &[
            ("gets", 1000),
            ("loads", 1000),
            ("loads_deduped", 1),
            ("local_loads", 1),
        ],
    );
    assert_eq!(g.in_flight(), 0);
}

/// The leading caller's future is dropped mid-load: the follower still gets
/// the value, the loader ran once, the value was cached, no flight is left.
#[tokio::test(start_paused = true)]
async fn cancelled_leader() {
    let (calls, gate) = (counter(), Arc::new(Notify::new()));
    let g = gated_group(&calls, &gate);
    let leader = tokio::spawn({
        let g = g.clone();
        async move { g.get("k").await }
    });
    tokio::task::yield_now().await;
    let follower = tokio::spawn({
        let g = g.clone();
        async move { g.get("k").await }
    });
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    gate.notify_one();
    assert_eq!(follower.await.unwrap().unwrap(), "v:k");
    assert_eq!(count(&calls), 1);
    assert_eq!(g.get("k").await.unwrap(), "v:k");
    assert_eq!(count(&calls), 1, "the abandoned load populated the cache");
    assert_eq!(g.in_flight(), 0);
}

/// A loader that panics: every waiter gets `LoaderPanicked`, the panic is
/// counted, and the next get calls the loader again and succeeds.
#[tokio::test(start_paused = true)]
async fn panic_then_retry() {
    let calls = counter();
    let gate = Arc::new(Notify::new());
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn({
            let (calls, gate) = (Arc::clone(&calls), Arc::clone(&gate));
            move |key: String, _ctx| {
                let (calls, gate) = (Arc::clone(&calls), Arc::clone(&gate));
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        gate.notified().await;
                        panic!("first load of {key} panics");
                    }
                    Ok(Loaded::new("fine"))
                }
            }
        }),
    )
    .build()
    .unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.get("k").await })
        })
        .collect();
    tokio::task::yield_now().await;
    gate.notify_one();
    for w in waiters {
        assert_eq!(w.await.unwrap(), Err(Error::LoaderPanicked));
    }
    assert_eq!(g.in_flight(), 0);
    assert_eq!(g.get("k").await.unwrap(), "fine");
    assert_eq!(count(&calls), 2);
    assert_counters(
        &g,
        &[
            ("gets", 4),
            ("loads", 4),
            ("loads_deduped", 2),
            ("local_loads", 1),
            ("local_load_errs", 1),
            ("loader_panics", 1),
            ("get_errors", 3),
        ],
    );
}

/// The loader's context carries the load timeout, not the leading caller's
/// deadline, and a token that fires once nobody waits; the load is then
/// dropped (counted in `loads_cancelled`), nothing is cached, and the next
/// get loads again.
#[tokio::test(start_paused = true)]
async fn loader_sees_load_timeout_and_is_dropped_when_nobody_waits() {
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let calls = counter();
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn({
            let (seen, calls) = (Arc::clone(&seen), Arc::clone(&calls));
            move |_key: String, ctx: LoadContext| {
                let (seen, calls) = (Arc::clone(&seen), Arc::clone(&calls));
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    seen.lock().push(ctx.remaining());
                    if n == 0 {
                        ctx.cancellation().cancelled().await;
                        // Never reached: the flight drops the load first.
                        std::future::pending::<()>().await;
                    }
                    Ok(Loaded::new("done"))
                }
            }
        }),
    )
    .load_timeout(Some(Duration::from_secs(20)))
    .build()
    .unwrap();
    let r = g
        .get_with("k", LoadContext::with_timeout(Duration::from_millis(30)))
        .await;
    assert_eq!(r, Err(Error::DeadlineExceeded));
    tokio::task::yield_now().await;
    assert_eq!(g.stats().loads_cancelled, 1);
    assert_eq!(g.stats().main_cache.items, 0);
    assert_eq!(g.get("k").await.unwrap(), "done");
    assert_eq!(count(&calls), 2);
    assert_eq!(
        *seen.lock(),
        [Some(Duration::from_secs(20)), Some(Duration::from_secs(20))]
    );
    assert_eq!(g.in_flight(), 0);
}

/// One caller with a short deadline, then 300 with long ones, on a load
/// slower than the first deadline: the first gets `DeadlineExceeded` on
/// time, the 300 get the value, and the loader ran once.
#[tokio::test(start_paused = true)]
async fn a_hasty_first_caller_does_not_fail_the_rest() {
    let calls = counter();
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn({
            let calls = Arc::clone(&calls);
            move |key: String, _ctx: LoadContext| {
                let calls = Arc::clone(&calls);
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Ok(Loaded::new(format!("v:{key}")))
                }
            }
        }),
    )
    .build()
    .unwrap();
    let start = tokio::time::Instant::now();
    let hasty = {
        let g = g.clone();
        tokio::spawn(async move {
            let r = g
                .get_with("k", LoadContext::with_timeout(Duration::from_millis(100)))
                .await;
            (r, start.elapsed())
        })
    };
    tokio::task::yield_now().await;
    let patient: Vec<_> = (0..300)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move {
                g.get_with("k", LoadContext::with_timeout(Duration::from_secs(30)))
                    .await
            })
        })
        .collect();
    assert_eq!(
        hasty.await.unwrap(),
        (Err(Error::DeadlineExceeded), Duration::from_millis(100))
    );
    for get in patient {
        assert_eq!(get.await.unwrap().unwrap(), "v:k");
    }
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(count(&calls), 1);
}

/// A loader slower than the load timeout fails every waiter with a source
/// failure naming the timeout, counted in `load_timeouts`; nothing is
/// cached.
#[tokio::test(start_paused = true)]
async fn load_timeout_fails_a_slow_loader() {
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn(|_key: String, _ctx| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Loaded::new("late"))
        }),
    )
    .load_timeout(Some(Duration::from_secs(5)))
    .build()
    .unwrap();
    let start = tokio::time::Instant::now();
    match g.get("k").await {
        Err(Error::SourceFailed(why)) => assert!(why.contains("load timeout"), "{why}"),
        other => panic!("expected a source failure, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let s = g.stats();
    assert_eq!(
        (s.load_timeouts, s.local_load_errs, s.main_cache.items),
        (1, 1, 0)
    );
}

/// A loader that bounds itself by its context's deadline (as the built-in
/// sources do) and reports `DeadlineExceeded` there: its callers still see
/// the load timeout (a source failure), never a deadline of their own.
#[tokio::test(start_paused = true)]
async fn a_loader_honouring_the_load_timeout_is_reported_as_one() {
    let g = GroupBuilder::new(
        "g",
        1 << 20,
        getter_fn(|_key: String, ctx: LoadContext| async move {
            let deadline = ctx.get_deadline().expect("the load timeout");
            tokio::time::sleep_until(deadline).await;
            Err(Error::DeadlineExceeded)
        }),
    )
    .load_timeout(Some(Duration::from_secs(5)))
    .build()
    .unwrap();
    let ctx = LoadContext::with_timeout(Duration::from_secs(60));
    match g.get_with("k", ctx).await {
        Err(Error::SourceFailed(why)) => assert!(why.contains("load timeout"), "{why}"),
        other => panic!("expected a source failure, got {other:?}"),
    }
    assert_eq!(
        (g.stats().load_timeouts, g.stats().deadline_exceeded),
        (1, 0)
    );
}
