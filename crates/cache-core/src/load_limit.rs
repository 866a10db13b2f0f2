//! [`LoadLimiter`]: a bound on the source loads running at once, with a
//! bounded queue in front of it.
//!
//! Every call of a group's [`Getter`](crate::Getter) (loads of owned keys
//! and fallback loads alike) first takes a permit. Without a bound, a flood
//! of distinct cold keys turns into as many concurrent requests to the
//! source (and as many sockets and file descriptors), which is how a cache
//! takes its database down. With it:
//!
//! - at most `max_concurrent` loads run at once;
//! - up to `max_queued` more wait for a permit, first come first served
//!   (tokio's semaphore is fair); a waiting load leaves the queue when its
//!   flight is cancelled (every caller gave up), so the queue is bounded by
//!   the callers' deadlines;
//! - beyond that a load fails at once with [`Error::TooManyLoads`]: an
//!   immediate refusal is better for the caller (and the source) than a
//!   wait that ends in a timeout.
//!
//! One limiter is meant to be shared by all the groups of a node (it is a
//! cheap `Clone`); a group built without one gets its own
//! ([`LoadLimiter::default`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::Error;

/// Loads running at once by default.
pub const DEFAULT_MAX_CONCURRENT_LOADS: usize = 256;
/// Loads waiting for a permit by default.
pub const DEFAULT_MAX_QUEUED_LOADS: usize = 2048;

/// Bounds the source loads running at once; see the [module
/// docs](self). A cheap handle: clones share the same permits.
#[derive(Clone)]
pub struct LoadLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// One permit per load allowed to run.
    permits: Semaphore,
    max_concurrent: usize,
    max_queued: usize,
    /// Loads waiting for a permit. Raised before waiting and lowered by
    /// [`Queued`]'s drop, so a cancelled wait leaves the queue too.
    queued: AtomicUsize,
    /// Loads running (holding a permit).
    running: AtomicUsize,
    /// The most loads ever running at once.
    peak: AtomicUsize,
    /// Loads refused because the queue was full.
    rejected: AtomicU64,
}

/// A point-in-time view of a [`LoadLimiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadLimiterStats {
    /// The most loads allowed to run at once.
    pub max_concurrent: u64,
    /// The most loads allowed to wait for a permit.
    pub max_queued: u64,
    /// Loads running now.
    pub running: u64,
    /// Loads waiting for a permit now.
    pub queued: u64,
    /// The most loads that ever ran at once.
    pub peak_running: u64,
    /// Loads refused with [`Error::TooManyLoads`] because the queue was
    /// full.
    pub rejected: u64,
}

impl LoadLimiter {
    /// A limiter letting `max_concurrent` loads run at once and
    /// `max_queued` more wait; [`Error::Config`] when `max_concurrent` is 0.
    pub fn new(max_concurrent: usize, max_queued: usize) -> Result<Self, Error> {
        if max_concurrent == 0 {
            return Err(Error::Config(
                "the concurrent-load limit must be at least 1".into(),
            ));
        }
        if max_concurrent > Semaphore::MAX_PERMITS {
            return Err(Error::Config(format!(
                "the concurrent-load limit must be at most {}",
                Semaphore::MAX_PERMITS
            )));
        }
        Ok(LoadLimiter {
            inner: Arc::new(Inner {
                permits: Semaphore::new(max_concurrent),
                max_concurrent,
                max_queued,
                queued: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                rejected: AtomicU64::new(0),
            }),
        })
    }

    /// Waits for a permit to run one load. Fails at once with
    /// [`Error::TooManyLoads`] when every permit is taken and the queue is
    /// full. Dropping the future leaves the queue.
    pub(crate) async fn acquire(&self) -> Result<LoadPermit<'_>, Error> {
        let inner = &*self.inner;
        let permit = match inner.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if inner.queued.fetch_add(1, Ordering::AcqRel) >= inner.max_queued {
                    inner.queued.fetch_sub(1, Ordering::AcqRel);
                    inner.rejected.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::TooManyLoads);
                }
                let _queued = Queued(&inner.queued);
                // The semaphore is never closed.
                inner
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| Error::TooManyLoads)?
            }
        };
        let running = inner.running.fetch_add(1, Ordering::AcqRel) + 1;
        inner.peak.fetch_max(running, Ordering::AcqRel);
        Ok(LoadPermit {
            _permit: permit,
            running: &inner.running,
        })
    }

    /// The limits and the current figures.
    pub fn stats(&self) -> LoadLimiterStats {
        let inner = &*self.inner;
        LoadLimiterStats {
            max_concurrent: inner.max_concurrent as u64,
            max_queued: inner.max_queued as u64,
            running: inner.running.load(Ordering::Acquire) as u64,
            queued: inner.queued.load(Ordering::Acquire) as u64,
            peak_running: inner.peak.load(Ordering::Acquire) as u64,
            rejected: inner.rejected.load(Ordering::Relaxed),
        }
    }
}

impl Default for LoadLimiter {
    /// [`DEFAULT_MAX_CONCURRENT_LOADS`] running, [`DEFAULT_MAX_QUEUED_LOADS`]
    /// waiting.
    fn default() -> Self {
        LoadLimiter::new(DEFAULT_MAX_CONCURRENT_LOADS, DEFAULT_MAX_QUEUED_LOADS)
            .expect("the defaults are valid")
    }
}

impl std::fmt::Debug for LoadLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LoadLimiter").field(&self.stats()).finish()
    }
}

/// The right to run one load; released on drop.
pub(crate) struct LoadPermit<'a> {
    _permit: SemaphorePermit<'a>,
    running: &'a AtomicUsize,
}

impl Drop for LoadPermit<'_> {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One place in the queue; left on drop (permit granted or wait cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Permits run out at the limit, the queue takes the next ones, and past
    /// the queue a load is refused at once; a cancelled wait leaves the
    /// queue, and a released permit goes to the first in line.
    #[tokio::test(start_paused = true)]
    async fn bounds_running_and_queued_loads() {
        let limiter = LoadLimiter::new(2, 1).unwrap();
        let a = limiter.acquire().await.unwrap();
        let _b = limiter.acquire().await.unwrap();
        let mut waiting = Box::pin(limiter.acquire());
        assert!(futures::poll!(&mut waiting).is_pending());
        assert_eq!((limiter.stats().running, limiter.stats().queued), (2, 1));
        assert_eq!(limiter.acquire().await.err(), Some(Error::TooManyLoads));
        drop(a);
        let _c = waiting.await.unwrap();
        let mut cancelled = Box::pin(limiter.acquire());
        assert!(futures::poll!(&mut cancelled).is_pending());
        drop(cancelled);
        let stats = limiter.stats();
        assert_eq!(
            (
                stats.running,
                stats.queued,
                stats.peak_running,
                stats.rejected
            ),
            (2, 0, 2, 1)
        );
    }

    /// A zero limit is refused with a clear error.
    #[test]
    fn zero_is_refused() {
        assert!(matches!(LoadLimiter::new(0, 10), Err(Error::Config(_))));
    }
}
