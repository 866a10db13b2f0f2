//! Tests of the singleflight: dedup, cancelled leader, panic, per-waiter
//! deadlines, cancellation when the last waiter leaves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::*;

/// 1000 concurrent calls for one key run the work exactly once and all
/// get its value; the map is empty afterwards.
#[tokio::test(start_paused = true)]
async fn dedups_concurrent_calls() {
    let sf = Singleflight::<u32>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (sf, calls) = (sf.clone(), Arc::clone(&calls));
        tasks.push(tokio::spawn(async move {
            sf.run("k", None, move |_| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(7)
            })
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(7));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(sf.in_flight(), 0);
}

/// Dropping the leader's future does not stop the work: a follower gets
/// the value, the work ran once, and the map is empty afterwards.
#[tokio::test(start_paused = true)]
async fn cancelled_leader_does_not_strand_followers() {
    let sf = Singleflight::<u32>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let work = |calls: Arc<AtomicUsize>, gate: Arc<Notify>| {
        move |_| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.notified().await;
            Ok(1)
        }
    };
    let leader = tokio::spawn({
        let sf = sf.clone();
        let w = work(Arc::clone(&calls), Arc::clone(&gate));
        async move { sf.run("k", None, w).await }
    });
    tokio::task::yield_now().await;
    let follower = tokio::spawn({
        let sf = sf.clone();
        let w = work(Arc::clone(&calls), Arc::clone(&gate));
        async move { sf.run("k", None, w).await }
    });
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(sf.in_flight(), 1, "the follower still waits on the flight");
    gate.notify_one();
    assert_eq!(follower.await.unwrap(), Ok(1));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(sf.in_flight(), 0);
}

/// A panicking work gives every waiter `LoaderPanicked`, leaves no
/// flight behind, and the next call runs the work again.
#[tokio::test(start_paused = true)]
async fn panic_reaches_every_waiter_and_next_call_retries() {
    let sf = Singleflight::<u32>::new();
    let gate = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (sf, gate) = (sf.clone(), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            sf.run("k", None, move |_| async move {
                gate.notified().await;
                panic!("loader bug");
            })
            .await
        }));
    }
    tokio::task::yield_now().await;
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Err(Error::LoaderPanicked));
    }
    assert_eq!(sf.in_flight(), 0);
    assert_eq!(sf.run("k", None, |_| async { Ok(5) }).await, Ok(5));
}

/// A waiter whose deadline passes gets `DeadlineExceeded` while another
/// waiter with a later deadline still gets the value.
#[tokio::test(start_paused = true)]
async fn each_waiter_has_its_own_deadline() {
    let sf = Singleflight::<u32>::new();
    let start = Instant::now();
    let slow = |_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(9)
    };
    let patient = tokio::spawn({
        let sf = sf.clone();
        async move {
            sf.run("k", Some(start + Duration::from_secs(1)), slow)
                .await
        }
    });
    tokio::task::yield_now().await;
    let hasty = sf
        .run("k", Some(start + Duration::from_millis(10)), slow)
        .await;
    assert_eq!(hasty, Err(Error::DeadlineExceeded));
    assert_eq!(Instant::now() - start, Duration::from_millis(10));
    assert_eq!(patient.await.unwrap(), Ok(9));
    assert_eq!(sf.in_flight(), 0);
}

/// The work is not bounded by the leader's deadline: its context has no
/// deadline, so a hasty leader cannot cut the load short for a patient
/// follower, and `waiters` counts both while they wait.
#[tokio::test(start_paused = true)]
async fn work_gets_no_deadline_from_the_leader() {
    let sf = Singleflight::<u32>::new();
    let start = Instant::now();
    let seen = Arc::new(parking_lot::Mutex::new(None));
    let record = Arc::clone(&seen);
    let hasty = tokio::spawn({
        let sf = sf.clone();
        async move {
            sf.run(
                "k",
                Some(start + Duration::from_millis(10)),
                move |ctx| async move {
                    *record.lock() = Some(ctx.get_deadline());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(3)
                },
            )
            .await
        }
    });
    tokio::task::yield_now().await;
    let patient = tokio::spawn({
        let sf = sf.clone();
        async move { sf.run("k", None, |_| async { Ok(0) }).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(sf.waiters("k"), 2);
    assert_eq!(hasty.await.unwrap(), Err(Error::DeadlineExceeded));
    assert_eq!(sf.waiters("k"), 1);
    assert_eq!(
        patient.await.unwrap(),
        Ok(3),
        "the leader's work, not the follower's"
    );
    assert_eq!(
        *seen.lock(),
        Some(None),
        "the work's context had no deadline"
    );
    assert_eq!((sf.in_flight(), sf.waiters("k")), (0, 0));
}

/// When the only waiter gives up, the token fires, the flight is
/// detached, and the work (which ignores the token) still completes.
#[tokio::test(start_paused = true)]
async fn last_waiter_gone_fires_cancellation() {
    let sf = Singleflight::<u32>::new();
    let fired = Arc::new(Notify::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let (f, done) = (Arc::clone(&fired), Arc::clone(&finished));
    let r = sf
        .run(
            "k",
            Some(Instant::now() + Duration::from_millis(5)),
            move |ctx| async move {
                ctx.cancellation().cancelled().await;
                f.notify_one();
                tokio::time::sleep(Duration::from_millis(50)).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            },
        )
        .await;
    assert_eq!(r, Err(Error::DeadlineExceeded));
    assert_eq!(sf.in_flight(), 0, "detached when the last waiter left");
    fired.notified().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

/// Outside a Tokio runtime a miss is a clear error, not a panic.
#[test]
fn no_runtime_is_an_error() {
    let sf = Singleflight::<u32>::new();
    let r = futures::executor::block_on(sf.run("k", None, |_| async { Ok(1) }));
    assert!(matches!(r, Err(Error::Config(_))));
}

/// A forgotten flight still answers its waiters, a call after `forget`
/// starts a new flight (it does not join the old one), and the old
/// flight's end does not remove the new one from the map.
#[tokio::test(start_paused = true)]
async fn forget_detaches_a_running_flight() {
    let sf = Singleflight::<u32>::new();
    let old_gate = Arc::new(Notify::new());
    let gate = Arc::clone(&old_gate);
    let old = tokio::spawn({
        let sf = sf.clone();
        async move {
            sf.run("k", None, move |_| async move {
                gate.notified().await;
                Ok(1)
            })
            .await
        }
    });
    tokio::task::yield_now().await;
    assert_eq!(sf.in_flight(), 1);
    assert!(sf.forget("k"));
    assert!(!sf.forget("k"));
    assert_eq!(sf.in_flight(), 0);
    let new_gate = Arc::new(Notify::new());
    let gate = Arc::clone(&new_gate);
    let new = tokio::spawn({
        let sf = sf.clone();
        async move {
            sf.run("k", None, move |_| async move {
                gate.notified().await;
                Ok(2)
            })
            .await
        }
    });
    tokio::task::yield_now().await;
    old_gate.notify_one();
    assert_eq!(old.await.unwrap(), Ok(1));
    assert_eq!(sf.in_flight(), 1, "the old flight's end left the new one");
    new_gate.notify_one();
    assert_eq!(new.await.unwrap(), Ok(2));
    assert_eq!(sf.in_flight(), 0);
}
