//! Async singleflight: concurrent calls for one key share one execution.
//!
//! The first caller for a key (the leader) starts a *flight*: the work runs
//! in its own spawned Tokio task, and every caller for that key, the leader
//! included, waits on a watch channel for the outcome. Because the work does
//! not run inside any caller's future:
//!
//! - dropping a caller's future (client gone, deadline) never stops the work,
//!   and the other waiters still get the value with no second execution;
//! - each waiter bounds its own wait with its own deadline
//!   ([`tokio::time::timeout_at`]); one giving up does not fail the others;
//! - a panic in the work is caught in the task and every waiter gets
//!   [`Error::LoaderPanicked`]; the next call runs the work again;
//! - the task removes its flight from the map when it ends, through a drop
//!   guard, so the map is empty afterwards even after a panic or an abort.
//!
//! When the last waiter of an unfinished flight goes away, the flight is
//! detached from the map (a later call starts a new one) and the
//! [`LoadContext`] cancellation token handed to the work fires. The work
//! still runs to completion, and its result is used as it would have been
//! (for a group: the cache is populated), unless the work itself watches the
//! token and stops early.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Error, LoadContext};

/// The outcome slot of a flight: `None` until the work finishes.
type Outcome<V> = Option<Result<V, Error>>;

/// Flights in progress, by key.
type FlightMap<V> = HashMap<Arc<str>, Slot<V>>;

/// Runs at most one piece of work per key at a time and hands its outcome to
/// every caller that asked for that key meanwhile.
///
/// Cheap to clone: clones share the same flights.
pub struct Singleflight<V> {
    /// The flights in progress. A `parking_lot` mutex (not a Tokio one):
    /// every critical section is a map lookup, insert or removal and never
    /// spans an `.await`, so a blocking lock is both correct and cheaper.
    flights: Arc<Mutex<FlightMap<V>>>,
}

impl<V> Clone for Singleflight<V> {
    fn clone(&self) -> Self {
        Singleflight {
            flights: Arc::clone(&self.flights),
        }
    }
}

impl<V> Default for Singleflight<V> {
    fn default() -> Self {
        Singleflight {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<V> std::fmt::Debug for Singleflight<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Singleflight")
            .field("in_flight", &self.flights.lock().len())
            .finish()
    }
}

/// A flight as stored in the map.
struct Slot<V> {
    /// The shared state of the flight.
    flight: Arc<Flight<V>>,
    /// Callers currently waiting for this flight. Only changed under the map
    /// lock, so "the last waiter left" and "a new waiter joined" are ordered.
    waiters: usize,
}

/// The shared state of one flight.
struct Flight<V> {
    /// A receiver to clone for each waiter; the task holds the sender.
    outcome: watch::Receiver<Outcome<V>>,
    /// Handed to the work in its [`LoadContext`]; fired when the last waiter
    /// of the unfinished flight is gone.
    cancel: CancellationToken,
}

impl<V> Singleflight<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// An empty singleflight.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of flights in progress (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.flights.lock().len()
    }

    /// Runs `work` for `key` unless a flight for `key` is already in
    /// progress, in which case this call waits for that flight's outcome
    /// instead (and `work` is dropped unused).
    ///
    /// `work` receives a [`LoadContext`] with the leader's `deadline` and the
    /// flight's cancellation token, and runs in a spawned Tokio task.
    /// This call waits until the outcome is ready or `deadline` passes
    /// ([`Error::DeadlineExceeded`]); a panic in `work` yields
    /// [`Error::LoaderPanicked`]. Must be called inside a Tokio runtime when a
    /// flight has to be started (otherwise [`Error::Config`]).
    pub async fn run<F, Fut>(
        &self,
        key: &str,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<V, Error>
    where
        F: FnOnce(LoadContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, Error>> + Send + 'static,
    {
        let (waiter, mut outcome) = self.join_or_start(key, deadline, work)?;
        let wait = async {
            // The `Ref` returned by `wait_for` holds the channel's read lock:
            // clone the outcome and release it at once.
            match outcome.wait_for(Option::is_some).await {
                Ok(done) => done.clone().unwrap_or(Err(Error::LoaderPanicked)),
                // The task ended without sending: it was aborted (runtime
                // shutdown); report it like a failed load.
                Err(_) => Err(Error::LoaderPanicked),
            }
        };
        let result = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, wait)
                .await
                .unwrap_or(Err(Error::DeadlineExceeded)),
            None => wait.await,
        };
        drop(waiter);
        result
    }

    /// Registers this caller as a waiter of the flight for `key`, starting
    /// the flight (and spawning `work`) if there is none.
    fn join_or_start<F, Fut>(
        &self,
        key: &str,
        deadline: Option<Instant>,
        work: F,
    ) -> Result<(Waiter<V>, watch::Receiver<Outcome<V>>), Error>
    where
        F: FnOnce(LoadContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, Error>> + Send + 'static,
    {
        // Lock scope: join an existing flight, or insert a new one. No user
        // code runs while the lock is held.
        let (key, flight, tx) = {
            let mut flights = self.flights.lock();
            if let Some((key, slot)) = flights.get_key_value(key) {
                let key = Arc::clone(key);
                let flight = Arc::clone(&slot.flight);
                if let Some(slot) = flights.get_mut(&*key) {
                    slot.waiters += 1;
                }
                let rx = flight.outcome.clone();
                return Ok((self.waiter(key, flight), rx));
            }
            let handle = tokio::runtime::Handle::try_current().map_err(|_| {
                Error::Config("a cache miss must be awaited inside a Tokio runtime".into())
            })?;
            let (tx, rx) = watch::channel(None);
            let flight = Arc::new(Flight {
                outcome: rx,
                cancel: CancellationToken::new(),
            });
            let key: Arc<str> = Arc::from(key);
            flights.insert(
                Arc::clone(&key),
                Slot {
                    flight: Arc::clone(&flight),
                    waiters: 1,
                },
            );
            (key, flight, (tx, handle))
        };
        let (tx, handle) = tx;

        let mut ctx = LoadContext::new().cancel_token(flight.cancel.clone());
        if let Some(deadline) = deadline {
            ctx = ctx.deadline(deadline);
        }
        let guard = RemoveOnDrop {
            flights: Arc::clone(&self.flights),
            key: Arc::clone(&key),
            flight: Arc::clone(&flight),
        };
        handle.spawn(async move {
            // Dropped when the task ends, however it ends.
            let _guard = guard;
            let outcome = AssertUnwindSafe(async move { work(ctx).await })
                .catch_unwind()
                .await
                .unwrap_or(Err(Error::LoaderPanicked));
            // Publish before the guard removes the flight: a caller that
            // joins in between still finds the outcome.
            tx.send_replace(Some(outcome));
        });
        let rx = flight.outcome.clone();
        Ok((self.waiter(key, flight), rx))
    }

    fn waiter(&self, key: Arc<str>, flight: Arc<Flight<V>>) -> Waiter<V> {
        Waiter {
            flights: Arc::clone(&self.flights),
            key,
            flight,
        }
    }
}

/// Removes the flight from the map when its task ends (normally, by panic,
/// or because the runtime dropped it), unless it was already detached or
/// replaced.
struct RemoveOnDrop<V> {
    flights: Arc<Mutex<FlightMap<V>>>,
    key: Arc<str>,
    flight: Arc<Flight<V>>,
}

impl<V> Drop for RemoveOnDrop<V> {
    fn drop(&mut self) {
        // Lock scope: one lookup and removal.
        let mut flights = self.flights.lock();
        if flights
            .get(&*self.key)
            .is_some_and(|slot| Arc::ptr_eq(&slot.flight, &self.flight))
        {
            flights.remove(&*self.key);
        }
    }
}

/// One caller's registration with a flight; leaving (by completion or by
/// the caller's future being dropped) is counted in `Drop`.
struct Waiter<V> {
    flights: Arc<Mutex<FlightMap<V>>>,
    key: Arc<str>,
    flight: Arc<Flight<V>>,
}

impl<V> Drop for Waiter<V> {
    fn drop(&mut self) {
        let finished = self.flight.outcome.borrow().is_some();
        // Lock scope: decrement the waiter count and, for the last waiter of
        // an unfinished flight, detach it. The token is fired after the lock
        // is released (cancellation runs arbitrary wakers).
        let detached = {
            let mut flights = self.flights.lock();
            match flights.get_mut(&*self.key) {
                Some(slot) if Arc::ptr_eq(&slot.flight, &self.flight) => {
                    slot.waiters -= 1;
                    if slot.waiters == 0 && !finished {
                        flights.remove(&*self.key);
                        true
                    } else {
                        false
                    }
                }
                _ => false,
            }
        };
        if detached {
            self.flight.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
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
}
