//! Per-interval figures of a run (`--timeline 1s`): requests, errors and
//! latency percentiles of each slice of the measured phase, so an event in
//! the middle of a run (a peer killed, a deploy) shows up as a before and
//! an after in one run.
//!
//! Each worker fills a histogram for its current slice and hands it over
//! when a request falls into the next slice; slices are merged under one
//! mutex, taken once per slice per worker, never per request.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Latencies kept per slice: 1 us .. 1 h at 2 significant digits (a few KiB
/// per slice).
fn slice_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("constant histogram bounds are valid")
}

/// One slice of the timeline, as reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Start of the slice, in seconds since the measured phase began.
    pub t_s: f64,
    /// Requests sent in the slice that completed.
    pub requests: u64,
    /// Of those, the failed ones (any status but OK, or a wrong value).
    pub errors: u64,
    /// Median latency in the slice, microseconds (0 when empty).
    pub p50_us: f64,
    /// 99th percentile latency in the slice, microseconds.
    pub p99_us: f64,
    /// Slowest request of the slice, microseconds.
    pub max_us: f64,
}

/// A slice being filled: its histogram and counts.
struct Slice {
    hist: Histogram<u64>,
    errors: u64,
}

impl Slice {
    fn new() -> Self {
        Slice {
            hist: slice_histogram(),
            errors: 0,
        }
    }
}

/// The shared timeline of a run.
pub(crate) struct Timeline {
    /// Slice length, in nanoseconds (> 0).
    slice_ns: u128,
    /// Slices by index; grown on demand.
    slices: Mutex<Vec<Slice>>,
}

/// A worker's current slice, handed to the timeline when the worker moves
/// on to another slice (and at the end).
pub(crate) struct WorkerSlice {
    index: usize,
    slice: Slice,
}

impl Timeline {
    /// A timeline cutting the measured phase into `slice`-long pieces.
    pub(crate) fn new(slice: std::time::Duration) -> Self {
        Timeline {
            slice_ns: slice.as_nanos().max(1),
            slices: Mutex::new(Vec::new()),
        }
    }

    /// Records one measured request sent `since_start` after the measured
    /// phase began, into the worker's current slice.
    pub(crate) fn record(
        &self,
        current: &mut Option<WorkerSlice>,
        since_start: std::time::Duration,
        latency_us: u64,
        failed: bool,
    ) {
        let index = usize::try_from(since_start.as_nanos() / self.slice_ns).unwrap_or(usize::MAX);
        if current.as_ref().is_some_and(|c| c.index != index) {
            self.flush(current);
        }
        let c = current.get_or_insert_with(|| WorkerSlice {
            index,
            slice: Slice::new(),
        });
        c.slice.hist.saturating_record(latency_us.max(1));
        c.slice.errors += u64::from(failed);
    }

    /// Merges a worker's slice into the timeline.
    pub(crate) fn flush(&self, current: &mut Option<WorkerSlice>) {
        let Some(c) = current.take() else { return };
        let mut slices = self.slices.lock();
        if slices.len() <= c.index {
            // Bounded by the run's length: the index comes from a send time
            // before the deadline.
            slices.resize_with(c.index + 1, Slice::new);
        }
        let s = &mut slices[c.index];
        // Same bounds on both sides: adding cannot fail.
        let _ = s.hist.add(&c.slice.hist);
        s.errors += c.slice.errors;
    }

    /// The finished timeline, one point per slice.
    pub(crate) fn points(&self) -> Vec<TimelinePoint> {
        let slice_s = self.slice_ns as f64 / 1e9;
        self.slices
            .lock()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = &s.hist;
                let q = |q: f64| {
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64
                    }
                };
                TimelinePoint {
                    t_s: (i as f64 * slice_s * 1000.0).round() / 1000.0,
                    requests: h.len(),
                    errors: s.errors,
                    p50_us: q(0.5),
                    p99_us: q(0.99),
                    max_us: if h.is_empty() { 0.0 } else { h.max() as f64 },
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Requests land in the slice of their send time; workers' slices are
    /// merged; errors and percentiles are per slice.
    #[test]
    fn slices_by_send_time() {
        let t = Timeline::new(Duration::from_secs(1));
        let (mut a, mut b) = (None, None);
        for i in 0..100 {
            t.record(&mut a, Duration::from_millis(i * 9), 100 + i, false);
        }
        t.record(&mut b, Duration::from_millis(500), 5_000, true);
        t.record(&mut b, Duration::from_millis(2_100), 40, false);
        t.flush(&mut a);
        t.flush(&mut b);
        let p = t.points();
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].t_s, p[0].requests, p[0].errors), (0.0, 101, 1));
        assert!(p[0].max_us >= 4_900.0 && p[0].p50_us < 200.0, "{:?}", p[0]);
        assert_eq!((p[1].requests, p[1].p99_us), (0, 0.0), "an empty slice");
        assert_eq!((p[2].t_s, p[2].requests, p[2].errors), (2.0, 1, 0));
    }
}
