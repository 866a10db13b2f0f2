//! Concurrency models of the singleflight, explored by shuttle: join,
//! leader drop, panic, deadlines, all waiters leaving. Run them with
//! `scripts/models` (or `cargo test -p cache-core --features shuttle --lib
//! models::`; `./scripts/check` runs a bounded number of schedules).
//!
//! **What is modelled.** The real [`Singleflight::run`]: its map, the
//! waiter counts, the `Waiter` and `RemoveOnDrop` guards, the watch channel
//! and the cancellation token. Only the primitives named in `crate::sync`
//! are shuttle's: the map's mutex (each lock is a point where shuttle may
//! switch tasks), the spawn of a flight's task (onto shuttle's executor)
//! and the deadline (shuttle has no clock: a deadline passes after a random
//! number, 0 to 8, of the waiter's own scheduling points). Callers are
//! shuttle tasks; a dropped caller is a task aborted by the model's main
//! task at a random point.
//!
//! **What is not.** Tokio's watch channel and tokio-util's token run as
//! they are but shuttle never switches inside them, so a send, a borrow or
//! a cancel is one atomic step and their own internals are not checked
//! (tokio checks them with loom). Shuttle runs one task at a time with
//! sequentially consistent memory: weak-memory reorderings are out of
//! scope (every shared state here is under the map's mutex). Runtime
//! shutdown (the task aborted without sending) is not modelled.
//!
//! **What every execution must satisfy** ([`Ledger::check`]):
//! - every caller gets the value of a flight that started before it left,
//!   or its own `DeadlineExceeded` (only a caller with a deadline), or
//!   `LoaderPanicked` (only when the work panics); one that waits without a
//!   deadline always gets an outcome (shuttle fails an execution in which
//!   a task can never be woken);
//! - dedup: two flights' works run at once only if one of them was
//!   detached (its token fired);
//! - a flight's token fires only if no caller received its outcome
//!   (detached only when its last waiter left before it finished);
//! - a flight whose callers had all left before its work returned was
//!   detached (its token fired);
//! - once every caller and flight task has ended, the map is empty.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use shuttle::future::{block_on, spawn, yield_now};
use shuttle::rand::{Rng, thread_rng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Singleflight;
use crate::sync::{explore, join_spawned};
use crate::{Error, LoadContext};

/// The one key every caller asks for.
const KEY: &str = "k";

/// How the work of a flight ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// With its flight's number as the value.
    Value,
    /// With a panic (raised by `resume_unwind`, which skips the panic hook
    /// that shuttle uses to report failures).
    Panic,
}

/// One caller of a model.
#[derive(Debug, Clone, Copy)]
struct Caller {
    /// Waits with a deadline (which passes at a random point).
    deadline: bool,
    /// Its task is aborted by the main task at a random point.
    dropped: bool,
}

/// Waits without a deadline and is not dropped.
const PATIENT: Caller = Caller {
    deadline: false,
    dropped: false,
};

/// Gives up at its deadline.
const HASTY: Caller = Caller {
    deadline: true,
    dropped: false,
};

/// Is dropped (its future, with its `Waiter`, goes away mid-call).
const DROPPED: Caller = Caller {
    deadline: false,
    dropped: true,
};

/// A scenario: callers started together, then optionally one more patient
/// caller once they have all left.
#[derive(Debug, Clone, Copy)]
struct Plan {
    callers: &'static [Caller],
    /// Scheduling points the work yields at (it stops early once its token
    /// fires, as a group's load does).
    steps: u32,
    ends: Ends,
    /// A patient caller after the others have left, whose work returns a
    /// value: it must get a value.
    late: Option<Late>,
}

/// When the late caller calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    /// As soon as the others have left, while flight tasks may still run:
    /// it starts a new flight or joins one still attached.
    Now,
    /// Once every flight task has ended too: it starts a new flight.
    AfterFlights,
}

/// What one flight's work saw.
#[derive(Debug)]
struct FlightLog {
    token: CancellationToken,
    started: usize,
    returned: Option<usize>,
    /// Flights whose work was still running when this one's started.
    overlapped: Vec<usize>,
}

/// What one caller got.
#[derive(Debug)]
struct CallerLog {
    caller: Caller,
    /// `None` if its task was aborted before `run` returned.
    result: Option<Result<usize, Error>>,
    left: usize,
}

/// The record of one execution. Plain `std` types: shuttle never switches
/// inside them, so each record is made in one step with the event it
/// records.
#[derive(Debug, Default)]
struct Ledger {
    /// Logical time, one tick per recorded event.
    clock: AtomicUsize,
    flights: StdMutex<Vec<FlightLog>>,
    callers: StdMutex<Vec<Option<CallerLog>>>,
}

impl Ledger {
    fn tick(&self) -> usize {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// A flight's work starts; returns the flight's number.
    fn started(&self, token: CancellationToken) -> usize {
        let mut flights = self.flights.lock().unwrap();
        let overlapped = (0..flights.len())
            .filter(|&j| flights[j].returned.is_none())
            .collect();
        flights.push(FlightLog {
            token,
            started: self.tick(),
            returned: None,
            overlapped,
        });
        flights.len() - 1
    }

    fn returned(&self, flight: usize) {
        self.flights.lock().unwrap()[flight].returned = Some(self.tick());
    }

    /// Reserves a caller's entry; returns its number.
    fn caller(&self) -> usize {
        let mut callers = self.callers.lock().unwrap();
        callers.push(None);
        callers.len() - 1
    }

    fn left(&self, me: usize, caller: Caller, result: Option<Result<usize, Error>>) {
        let left = self.tick();
        self.callers.lock().unwrap()[me] = Some(CallerLog {
            caller,
            result,
            left,
        });
    }

    /// The invariants in the module documentation.
    fn check(&self, ends: Ends) {
        let flights = self.flights.lock().unwrap();
        let callers: Vec<_> = self
            .callers
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.as_ref().expect("every caller has left"))
            .map(|c| (c.caller, c.result.clone(), c.left))
            .collect();
        for (me, (caller, result, left)) in callers.iter().enumerate() {
            match result {
                Some(Ok(f)) => {
                    let flight = &flights[*f];
                    assert!(
                        flight.started < *left,
                        "caller {me} got flight {f} before it started"
                    );
                    assert!(
                        flight.returned.is_some(),
                        "caller {me} got flight {f} before it returned"
                    );
                    assert!(
                        !flight.token.is_cancelled(),
                        "flight {f} was detached (token fired) although caller {me} received its \
                         outcome: {flights:?} {callers:?}"
                    );
                }
                Some(Err(Error::DeadlineExceeded)) => {
                    assert!(
                        caller.deadline,
                        "caller {me} had no deadline but got DeadlineExceeded"
                    );
                }
                Some(Err(Error::LoaderPanicked)) => {
                    assert_eq!(
                        ends,
                        Ends::Panic,
                        "caller {me}: LoaderPanicked without a panic"
                    );
                }
                Some(Err(e)) => panic!("caller {me}: unexpected error {e:?}"),
                None => assert!(
                    caller.dropped,
                    "caller {me} has no result but was not dropped"
                ),
            }
        }
        for (f, flight) in flights.iter().enumerate() {
            // The one created first (not always the first to start its
            // work) must have left the map before the other was created,
            // while its work had not finished: it was detached.
            for &j in &flight.overlapped {
                assert!(
                    flights[j].token.is_cancelled() || flight.token.is_cancelled(),
                    "flights {j} and {f} ran at once, neither detached: {flights:?}"
                );
            }
            if let Some(returned) = flight.returned
                && callers.iter().all(|&(_, _, left)| left < returned)
            {
                assert!(
                    flight.token.is_cancelled(),
                    "every caller left before flight {f} finished, yet it was not detached: \
                     {flights:?} {callers:?}"
                );
            }
        }
    }
}

/// The work a caller hands to `run` (only a flight's first caller's runs).
fn work(
    ledger: &Arc<Ledger>,
    steps: u32,
    ends: Ends,
) -> impl FnOnce(LoadContext) -> BoxFuture<'static, Result<usize, Error>> + Send + 'static {
    let ledger = Arc::clone(ledger);
    move |ctx| {
        async move {
            let token = ctx.cancellation().clone();
            let me = ledger.started(token.clone());
            for _ in 0..steps {
                if token.is_cancelled() {
                    break;
                }
                yield_now().await;
            }
            ledger.returned(me);
            match ends {
                Ends::Value => Ok(me),
                Ends::Panic => std::panic::resume_unwind(Box::new("loader bug")),
            }
        }
        .boxed()
    }
}

/// One caller's whole call, recorded in the ledger when `run` returns.
async fn call(
    sf: Singleflight<usize>,
    ledger: Arc<Ledger>,
    me: usize,
    caller: Caller,
    steps: u32,
    ends: Ends,
) {
    let deadline = caller.deadline.then(Instant::now);
    let result = sf.run(KEY, deadline, work(&ledger, steps, ends)).await;
    ledger.left(me, caller, Some(result));
}

/// One execution of `plan`.
fn run_plan(plan: Plan) {
    block_on(async move {
        let sf = Singleflight::<usize>::new();
        let ledger = Arc::new(Ledger::default());
        let tasks: Vec<_> = plan
            .callers
            .iter()
            .map(|&caller| {
                let me = ledger.caller();
                let task = spawn(call(
                    sf.clone(),
                    Arc::clone(&ledger),
                    me,
                    caller,
                    plan.steps,
                    plan.ends,
                ));
                (me, caller, task)
            })
            .collect();
        for (_, caller, task) in &tasks {
            if caller.dropped {
                for _ in 0..thread_rng().gen_range(0..=4) {
                    yield_now().await;
                }
                task.abort();
            }
        }
        for (me, caller, task) in tasks {
            if task.await.is_err() {
                ledger.left(me, caller, None);
            }
        }
        if let Some(late) = plan.late {
            if late == Late::AfterFlights {
                join_spawned().await;
            }
            let me = ledger.caller();
            call(
                sf.clone(),
                Arc::clone(&ledger),
                me,
                PATIENT,
                plan.steps,
                Ends::Value,
            )
            .await;
            let late = ledger.callers.lock().unwrap()[me]
                .as_ref()
                .map(|c| c.result.clone());
            assert!(
                matches!(late, Some(Some(Ok(_)))),
                "the late caller got {late:?}"
            );
        }
        join_spawned().await;
        assert_eq!(sf.in_flight(), 0, "a flight was left in the map");
        ledger.check(plan.ends);
    });
}

/// Three patient callers: they share flights, every one gets a value, no
/// flight is detached, the map ends empty.
#[test]
fn join() {
    explore(|| {
        run_plan(Plan {
            callers: &[PATIENT, PATIENT, PATIENT],
            steps: 2,
            ends: Ends::Value,
            late: None,
        })
    });
}

/// The first caller's future is dropped at a random point: the others
/// still get a value, from its flight or (if it had been detached) from
/// a new one.
#[test]
fn leader_drop() {
    explore(|| {
        run_plan(Plan {
            callers: &[DROPPED, PATIENT, PATIENT],
            steps: 3,
            ends: Ends::Value,
            late: None,
        })
    });
}

/// The work panics: every caller gets `LoaderPanicked`, no flight is left
/// behind, and the next call runs its work and gets its value.
#[test]
fn panic() {
    explore(|| {
        run_plan(Plan {
            callers: &[PATIENT, PATIENT, PATIENT],
            steps: 1,
            ends: Ends::Panic,
            late: Some(Late::AfterFlights),
        })
    });
}

/// Two callers with deadlines and one without: those with one get the value
/// or their own `DeadlineExceeded`, the patient one always the value.
#[test]
fn deadline() {
    explore(|| {
        run_plan(Plan {
            callers: &[HASTY, HASTY, PATIENT],
            steps: 3,
            ends: Ends::Value,
            late: None,
        })
    });
}

/// Every caller leaves (a deadline, a drop): a flight they all left before
/// it finished is detached and its token fires; a later caller starts a
/// new flight (or joins one still attached) and gets its value.
#[test]
fn all_waiters_leave() {
    explore(|| {
        run_plan(Plan {
            callers: &[HASTY, DROPPED, HASTY],
            steps: 6,
            ends: Ends::Value,
            late: Some(Late::Now),
        })
    });
}
