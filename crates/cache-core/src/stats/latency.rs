//! [`LatencyHistogram`]: a lock-free histogram of durations with fixed
//! exponential buckets, cheap enough for the get path, and
//! [`LatencySnapshot`], what a read of it returns.
//!
//! Recording one duration is two relaxed `fetch_add`s (its bucket and the
//! sum) on the recording thread's own stripe, a cache line no other core
//! writes to (the stripes the group counters use too). The
//! bucket is found from the duration's leading zeros, with no search.
//! Reading sums the stripes; it is meant for scrapes and stats calls, not
//! for the request path.
//!
//! Buckets: upper bounds of 2^k microseconds for k = 3..=24 (8 µs, 16 µs,
//! ... up to about 16.8 s, [`BOUNDS`] of them), each inclusive as in
//! Prometheus (`le`), then one overflow bucket for anything longer.
//!
//! Invariants: counts only go up; a snapshot's [`count`](LatencySnapshot::count)
//! is the sum of its buckets, so the two never disagree; its sum may be
//! off by the observations recorded while the stripes were being read
//! (which then show in the next snapshot).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::counter::{STRIPES, stripe_index};

/// Finite buckets: upper bounds 2^3 µs to 2^24 µs.
pub const BOUNDS: usize = 22;

/// Every bucket: the [`BOUNDS`] finite ones, then the overflow bucket.
pub const BUCKETS: usize = BOUNDS + 1;

/// The exponent of the first bound (2^3 µs = 8 µs).
const FIRST_EXPONENT: u32 = 3;

/// The upper bound of bucket `index` (inclusive), or `None` for the
/// overflow bucket and beyond.
///
/// ```
/// use std::time::Duration;
/// use cache_core::stats::latency::{bucket_bound, BOUNDS};
///
/// assert_eq!(bucket_bound(0), Some(Duration::from_micros(8)));
/// assert_eq!(bucket_bound(1), Some(Duration::from_micros(16)));
/// assert_eq!(bucket_bound(BOUNDS - 1), Some(Duration::from_micros(1 << 24)));
/// assert_eq!(bucket_bound(BOUNDS), None);
/// ```
pub const fn bucket_bound(index: usize) -> Option<Duration> {
    if index < BOUNDS {
        Some(Duration::from_micros(1 << (FIRST_EXPONENT + index as u32)))
    } else {
        None
    }
}

/// The bucket of `elapsed`: the first whose bound is at least `elapsed`.
#[inline]
fn bucket_of(elapsed: Duration) -> usize {
    // Whole microseconds, rounded up, so that `elapsed <= 2^k µs` exactly
    // when `micros <= 2^k`.
    let micros = elapsed.as_nanos().div_ceil(1000);
    let micros = u64::try_from(micros).unwrap_or(u64::MAX);
    // The smallest k with micros <= 2^k.
    let exponent = match micros {
        0 | 1 => 0,
        m => u64::BITS - (m - 1).leading_zeros(),
    };
    (exponent.saturating_sub(FIRST_EXPONENT) as usize).min(BOUNDS)
}

/// One thread stripe: every bucket and the sum, padded to whole cache
/// lines (two, so that adjacent-line prefetching does not pair stripes).
#[repr(align(128))]
struct Stripe {
    buckets: [AtomicU64; BUCKETS],
    /// Nanoseconds of every observation of this stripe.
    sum_nanos: AtomicU64,
}

impl Default for Stripe {
    fn default() -> Self {
        Stripe {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// A histogram of durations; see the [module docs](self). 2 KiB, all of
/// it atomics: share it by reference (or in an `Arc`) between threads.
///
/// ```
/// use std::time::Duration;
/// use cache_core::LatencyHistogram;
///
/// let h = LatencyHistogram::default();
/// h.record(Duration::from_micros(5));
/// h.record(Duration::from_micros(100));
/// h.record(Duration::from_secs(60));
/// let s = h.snapshot();
/// assert_eq!(s.count(), 3);
/// assert_eq!(s.buckets[0], 1); // <= 8 µs
/// assert_eq!(s.buckets[4], 1); // (64 µs, 128 µs]
/// assert_eq!(s.overflow(), 1); // > 16.8 s
/// assert_eq!(s.sum(), Duration::from_micros(60_000_105));
/// ```
pub struct LatencyHistogram {
    stripes: [Stripe; STRIPES],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            stripes: std::array::from_fn(|_| Stripe::default()),
        }
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.snapshot(), f)
    }
}

impl LatencyHistogram {
    /// Counts one observation of `elapsed`.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        let stripe = &self.stripes[stripe_index()];
        stripe.buckets[bucket_of(elapsed)].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        stripe.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts so far, summed over the stripes.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut snapshot = LatencySnapshot::default();
        for stripe in &self.stripes {
            for (total, bucket) in snapshot.buckets.iter_mut().zip(&stripe.buckets) {
                *total += bucket.load(Ordering::Relaxed);
            }
            snapshot.sum_nanos = snapshot
                .sum_nanos
                .wrapping_add(stripe.sum_nanos.load(Ordering::Relaxed));
        }
        snapshot
    }
}

/// A point-in-time copy of a [`LatencyHistogram`]: per-bucket counts (not
/// cumulative) and the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySnapshot {
    /// Observations per bucket: `buckets[i]` counts those above bucket
    /// `i - 1`'s bound and at most [`bucket_bound(i)`](bucket_bound); the
    /// last one those above every bound.
    pub buckets: [u64; BUCKETS],
    /// The sum of every observation, in nanoseconds.
    pub sum_nanos: u64,
}

impl LatencySnapshot {
    /// Observations counted (the sum of the buckets).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The sum of every observation.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos)
    }

    /// Observations above the last finite bound.
    pub fn overflow(&self) -> u64 {
        self.buckets[BOUNDS]
    }

    /// `(upper bound, count)` of each finite bucket, in order (counts per
    /// bucket, not cumulative); [`overflow`](Self::overflow) is the rest.
    pub fn finite_buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.buckets[..BOUNDS]
            .iter()
            .enumerate()
            .filter_map(|(i, &n)| bucket_bound(i).map(|bound| (bound, n)))
    }

    /// The bound of the bucket holding the `q`-quantile (0 < q <= 1), an
    /// upper estimate; `None` without observations or when it falls in the
    /// overflow bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_bound(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bound falls in its own bucket and one nanosecond more in the
    /// next; zero in the first; beyond the last bound, the overflow.
    #[test]
    fn bounds_are_inclusive() {
        assert_eq!(bucket_of(Duration::ZERO), 0);
        assert_eq!(bucket_of(Duration::from_nanos(1)), 0);
        for i in 0..BOUNDS {
            let bound = bucket_bound(i).unwrap();
            assert_eq!(bucket_of(bound), i, "{bound:?}");
            assert_eq!(
                bucket_of(bound + Duration::from_nanos(1)),
                i + 1,
                "{bound:?}"
            );
        }
        assert_eq!(bucket_of(Duration::from_secs(3600)), BOUNDS);
        assert_eq!(bucket_of(Duration::MAX), BOUNDS);
    }

    /// Observations from several threads all count, in their buckets, and
    /// the sum is theirs.
    #[test]
    fn counts_from_many_threads() {
        let h = LatencyHistogram::default();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let h = &h;
                s.spawn(move || {
                    for _ in 0..1000 {
                        h.record(Duration::from_micros(10 + t));
                    }
                });
            }
        });
        let snap = h.snapshot();
        assert_eq!(snap.count(), 4000);
        assert_eq!(snap.buckets[1], 4000, "(8 µs, 16 µs]");
        assert_eq!(
            snap.sum(),
            Duration::from_micros(1000 * (10 + 11 + 12 + 13))
        );
    }

    /// The quantile's bound is that of the bucket holding its rank.
    #[test]
    fn quantile_bounds() {
        let h = LatencyHistogram::default();
        assert_eq!(h.snapshot().quantile_bound(0.5), None);
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_millis(3));
        h.record(Duration::from_secs(100));
        let s = h.snapshot();
        assert_eq!(s.quantile_bound(0.5), Some(Duration::from_micros(128)));
        assert_eq!(s.quantile_bound(0.99), Some(Duration::from_micros(4096)));
        assert_eq!(s.quantile_bound(1.0), None, "in the overflow bucket");
    }
}
