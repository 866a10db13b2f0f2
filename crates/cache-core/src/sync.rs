//! The concurrency primitives that the singleflight and the LRU store are
//! built on, named in one place so the concurrency models can swap them.
//!
//! In every normal build these are plain re-exports of what the code used
//! before this module existed (`parking_lot::Mutex`, `std` atomics,
//! `crossbeam_utils`'s `ShardedLock`, `std::thread::yield_now`,
//! `tokio::time::timeout_at`, `tokio::runtime::Handle`): the same types
//! and functions, so the hit path compiles to exactly the same code.
//!
//! With the `shuttle` feature (for the models only: see `docs/testing.md`,
//! "Concurrency models") they are [shuttle]'s controlled versions, and every
//! lock, atomic operation and yield becomes a point where shuttle's
//! scheduler may switch tasks. Under that feature the crate only works
//! inside `shuttle::check_*`; nothing but the models may be run with it.
//!
//! [shuttle]: https://docs.rs/shuttle

#[cfg(not(feature = "shuttle"))]
mod imp {
    pub(crate) use crossbeam_utils::sync::{
        ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard,
    };
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::atomic::AtomicU64;
    pub(crate) use std::thread::yield_now;
    pub(crate) use tokio::time::timeout_at;

    /// The runtime the caller is in, to spawn a flight's task on.
    #[inline]
    pub(crate) fn spawner() -> Result<tokio::runtime::Handle, tokio::runtime::TryCurrentError> {
        tokio::runtime::Handle::try_current()
    }
}

#[cfg(feature = "shuttle")]
mod imp {
    use std::future::Future;
    use std::sync::PoisonError;

    use shuttle::rand::Rng;
    use tokio::time::Instant;

    pub(crate) use shuttle::sync::atomic::AtomicU64;
    pub(crate) use shuttle::sync::{
        RwLock as ShardedLock, RwLockReadGuard as ShardedLockReadGuard,
        RwLockWriteGuard as ShardedLockWriteGuard,
    };
    pub(crate) use shuttle::thread::yield_now;

    /// `parking_lot::Mutex`'s interface (no poisoning) over shuttle's mutex.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// Most scheduling points a deadline waits before it passes.
    const DEADLINE_STEPS: u32 = 8;

    /// `timeout_at`'s error.
    #[derive(Debug)]
    pub(crate) struct Elapsed;

    /// Shuttle has no clock: a deadline passes after a random number (0 to
    /// `DEADLINE_STEPS`, drawn from shuttle's replayable generator) of
    /// scheduling points of the waiting task, whatever `deadline` says. Like
    /// tokio's, `fut` is polled first, so a ready future always wins.
    pub(crate) async fn timeout_at<F: Future>(
        _deadline: Instant,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        let steps = shuttle::rand::thread_rng().gen_range(0..=DEADLINE_STEPS);
        let expiry = async move {
            for _ in 0..steps {
                shuttle::future::yield_now().await;
            }
        };
        futures::pin_mut!(fut, expiry);
        match futures::future::select(fut, expiry).await {
            futures::future::Either::Left((out, _)) => Ok(out),
            futures::future::Either::Right(((), _)) => Err(Elapsed),
        }
    }

    shuttle::lazy_static! {
        /// The tasks spawned in this execution (shuttle resets it for each
        /// one), kept so the models can wait for them: a task whose handle
        /// is dropped is not waited for, and would be cut off when the
        /// model's main task ends.
        static ref SPAWNED: std::sync::Mutex<Vec<shuttle::future::JoinHandle<()>>> =
            std::sync::Mutex::new(Vec::new());
    }

    /// Spawns on shuttle's executor (there is always one).
    #[derive(Debug)]
    pub(crate) struct Spawner;

    impl Spawner {
        pub(crate) fn spawn<F>(&self, fut: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            let handle = shuttle::future::spawn(fut);
            SPAWNED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(handle);
        }
    }

    pub(crate) fn spawner() -> Result<Spawner, std::convert::Infallible> {
        Ok(Spawner)
    }

    /// Waits until every task spawned in this execution has ended,
    /// including tasks spawned meanwhile.
    #[cfg(test)]
    pub(crate) async fn join_spawned() {
        loop {
            let handles =
                std::mem::take(&mut *SPAWNED.lock().unwrap_or_else(PoisonError::into_inner));
            if handles.is_empty() {
                return;
            }
            for handle in handles {
                handle.await.expect("a spawned task was aborted");
            }
        }
    }

    /// Iterations per scheduler when `MODEL_ITERATIONS` is not set: sized
    /// for CI (`./scripts/check`); `scripts/models` runs more.
    #[cfg(test)]
    const CI_ITERATIONS: usize = 1000;

    /// Explores `model` with shuttle's random scheduler and then its PCT
    /// scheduler (depth 3: two priority changes per execution, placed at
    /// random), `MODEL_ITERATIONS` executions each. A failure panics after
    /// shuttle has printed the seed (`SHUTTLE_RANDOM_SEED` replays it) and
    /// the schedule.
    #[cfg(test)]
    pub(crate) fn explore(model: impl Fn() + Send + Sync + 'static) {
        use shuttle::scheduler::{PctScheduler, RandomScheduler};
        use shuttle::{Config, MaxSteps, Runner};

        let iterations = std::env::var("MODEL_ITERATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CI_ITERATIONS);
        let config = || {
            let mut config = Config::new();
            // Said once in docs/testing.md: shuttle runs atomics as SeqCst.
            config.silence_warnings = true;
            // A livelock fails the execution instead of hanging it.
            config.max_steps = MaxSteps::FailAfter(20_000);
            config
        };
        let model = std::sync::Arc::new(model);
        let run = move || model();
        Runner::new(RandomScheduler::new(iterations), config()).run(run.clone());
        Runner::new(PctScheduler::new(3, iterations), config()).run(run);
    }
}

pub(crate) use imp::*;
