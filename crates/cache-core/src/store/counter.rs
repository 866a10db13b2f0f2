//! A striped event counter: several cache-line-padded atomics, each thread
//! adding to its own stripe, so counting gets and hits from many threads does
//! not bounce one cache line between cores.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::atomic::AtomicU64;

/// Number of stripes (a power of two).
pub(crate) const STRIPES: usize = 8;

/// One padded stripe.
#[derive(Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A counter that only goes up, read as the sum of its stripes.
#[derive(Default)]
pub(crate) struct StripedCounter {
    stripes: [Stripe; STRIPES],
}

/// Gives each thread a stripe, round-robin in order of first use. The
/// thread-local is const-initialised (no lazy-init state and no destructor),
/// so after the first call this is one thread-local load.
#[inline]
pub(crate) fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| match index.get() {
        usize::MAX => {
            let i = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            index.set(i);
            i
        }
        i => i,
    })
}

impl StripedCounter {
    /// Adds one.
    #[inline]
    pub(crate) fn incr(&self) {
        self.stripes[stripe_index()]
            .0
            .fetch_add(1, Ordering::Relaxed);
    }

    /// The sum of all stripes (not a snapshot if other threads are counting).
    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}
