//! [`RequestStats`]: what a server's shedding layer knows of its requests,
//! for metrics exporters: how many are in flight and how many were shed.
//!
//! Nothing is counted on the request path that was not there already: the
//! in-flight figure is read from the shedding layer's own semaphore (its
//! permits taken), at read time; only a shed request adds one to a
//! counter. A handle is given to a server through
//! [`ServerOptionsBuilder::request_stats`](crate::ServerOptionsBuilder::request_stats)
//! and read by whoever kept a clone; servers given clones of one handle
//! count together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// Requests in flight and shed, of the servers this handle was given to.
/// A cheap `Clone` (an `Arc`): clones share the counts.
///
/// ```
/// use cache_grpc::{RequestStats, ServerOptions};
///
/// let stats = RequestStats::default();
/// let opts = ServerOptions::builder().request_stats(stats.clone()).build().unwrap();
/// # drop(opts);
/// assert_eq!((stats.in_flight(), stats.shed()), (0, 0)); // nothing served yet
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Requests answered `RESOURCE_EXHAUSTED` by a shedding layer.
    shed: AtomicU64,
    /// The permit budgets of the shedding layers counting here, and their
    /// sizes: in flight = size - available. Held weakly, so a server gone
    /// counts nothing; the lock is taken when a server is built and when
    /// the stats are read, never on the request path.
    budgets: Mutex<Vec<(Weak<Semaphore>, usize)>>,
}

impl RequestStats {
    /// `Groupcache` requests in flight now (holding a permit of the
    /// shedding layer), over every server counting here.
    pub fn in_flight(&self) -> u64 {
        let mut budgets = self.inner.budgets.lock();
        budgets.retain(|(permits, _)| permits.strong_count() > 0);
        budgets
            .iter()
            .filter_map(|(permits, size)| {
                let permits = permits.upgrade()?;
                Some(size.saturating_sub(permits.available_permits()) as u64)
            })
            .sum()
    }

    /// Requests shed so far (answered `RESOURCE_EXHAUSTED` because
    /// `max_concurrent_requests` were in flight).
    pub fn shed(&self) -> u64 {
        self.inner.shed.load(Ordering::Relaxed)
    }

    /// Counts the requests holding permits of `permits` (a budget of
    /// `size`) as in flight here.
    pub(crate) fn attach(&self, permits: &Arc<Semaphore>, size: usize) {
        self.inner
            .budgets
            .lock()
            .push((Arc::downgrade(permits), size));
    }

    /// Counts one shed request.
    pub(crate) fn count_shed(&self) {
        self.inner.shed.fetch_add(1, Ordering::Relaxed);
    }
}
