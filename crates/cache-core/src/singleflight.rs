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
//! The work runs in the tracing span that was current for the caller that
//! started the flight, so what it logs, and the spans it opens, belong to
//! that caller's request (the other waiters' spans are not linked).
//!
//! The work is bounded by no caller's deadline: it serves every waiter, so
//! it runs while at least one is left, and a deadline that is right for one
//! caller (the one that happened to start it) must not cut it short for the
//! others. When the last waiter of an unfinished flight goes away, the
//! flight is detached from the map (a later call starts a new one) and the
//! [`LoadContext`] cancellation token handed to the work fires. The work
//! decides what to do with it: a group's loads stop at once (nobody is left
//! to use their value).

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::sync::{self, Mutex};
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
    /// The flights in progress. A `parking_lot` mutex (not a Tokio one;
    /// named through `crate::sync` so the models can swap it): every
    /// critical section is a map lookup, insert or removal and never spans
    /// an `.await`, so a blocking lock is both correct and cheaper.
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

    /// The callers waiting for the flight of `key` now (0 when there is
    /// none); for log lines that speak for a whole flight.
    pub fn waiters(&self, key: &str) -> usize {
        self.flights.lock().get(key).map_or(0, |slot| slot.waiters)
    }

    /// Detaches the flight of `key`, if one is running: its waiters still
    /// get its outcome, but a later call for `key` starts a new flight
    /// instead of joining it. True if a flight was detached. A `remove` of
    /// the key calls this, so that no caller arriving after it is answered
    /// by a load that began before it. A detached flight is no longer
    /// cancelled when its waiters leave: it runs until its work ends (a
    /// group's load timeout bounds it).
    pub fn forget(&self, key: &str) -> bool {
        // Lock scope: one removal.
        self.flights.lock().remove(key).is_some()
    }

    /// Runs `work` for `key` unless a flight for `key` is already in
    /// progress, in which case this call waits for that flight's outcome
    /// instead (and `work` is dropped unused).
    ///
    /// `work` receives a [`LoadContext`] holding the flight's cancellation
    /// token (no deadline: no caller's deadline bounds the shared work), and
    /// runs in a spawned Tokio task. This call waits until the outcome is
    /// ready or its own `deadline` passes ([`Error::DeadlineExceeded`]; the
    /// other waiters are unaffected); a panic in `work` yields
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
        let (waiter, mut outcome) = self.join_or_start(key, work)?;
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
            Some(deadline) => sync::timeout_at(deadline, wait)
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
            let handle = sync::spawner().map_err(|_| {
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

        let ctx = LoadContext::new().cancel_token(flight.cancel.clone());
        let guard = RemoveOnDrop {
            flights: Arc::clone(&self.flights),
            key: Arc::clone(&key),
            flight: Arc::clone(&flight),
        };
        let task = async move {
            // Dropped when the task ends, however it ends.
            let _guard = guard;
            let outcome = AssertUnwindSafe(async move { work(ctx).await })
                .catch_unwind()
                .await
                .unwrap_or(Err(Error::LoaderPanicked));
            // Publish before the guard removes the flight: a caller that
            // joins in between still finds the outcome.
            tx.send_replace(Some(outcome));
        };
        handle.spawn(task.instrument(tracing::Span::current()));
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
        // Lock scope: decrement the waiter count and, for the last waiter of
        // an unfinished flight, detach it. The token is fired after the lock
        // is released (cancellation runs arbitrary wakers).
        let detached = {
            let mut flights = self.flights.lock();
            match flights.get_mut(&*self.key) {
                Some(slot) if Arc::ptr_eq(&slot.flight, &self.flight) => {
                    slot.waiters -= 1;
                    // Read under the map lock, not before it: a waiter that
                    // read "unfinished", was preempted while the outcome was
                    // published and the other waiters took it and left, then
                    // took the lock, would detach a finished flight and fire
                    // its token (and a caller arriving next would start a
                    // second load). The watch's read lock nests inside the
                    // map lock; the task never holds it while taking the map
                    // lock, so the order cannot deadlock.
                    let finished = self.flight.outcome.borrow().is_some();
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

#[cfg(all(test, feature = "shuttle"))]
mod models;
#[cfg(test)]
mod tests;
