//! Per-key request rates in fixed memory: a count-min sketch over a sliding
//! window of about a minute.
//!
//! The owner of a key records every request it serves for the key and
//! reports the estimate to the peer that fetched it; the peer's promotion
//! policy uses it to decide whether the value deserves a hot-cache copy.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Rows of the sketch: each key is counted in one counter per row and its
/// estimate is the smallest of them. Four rows make the error bound hold
/// with probability `1 - e^-4`, about 98 %.
const ROWS: usize = 4;

/// Counters per row used by [`KeyRates::new`]: 4096 (4 rows x 4096 x 4 bytes
/// = 64 KiB per window, 128 KiB in all).
pub const DEFAULT_WIDTH: usize = 4096;

/// The smallest and largest accepted widths; other values are clamped.
/// 2^20 counters per row is 32 MiB in all.
const WIDTH_RANGE: (usize, usize) = (64, 1 << 20);

/// The length of a counting window used by [`KeyRates::new`]: one minute.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// Estimates each key's request rate over the last window (default one
/// minute) in fixed memory, without locks and without allocating.
///
/// # How it counts
///
/// Two count-min sketches of 4 rows x `width` `u32` counters: one for the
/// current window, one for the previous. A key's count in a sketch is the
/// smallest of its 4 counters (conservative update: a request only raises
/// the counters that are at that minimum). The estimate at a moment `t`
/// into the current window of length `W` is
///
/// ```text
/// (previous * (W - t) / W + current) / W     requests per second
/// ```
///
/// that is, the requests of the last `W`, assuming the previous window's
/// requests were spread evenly over it. A key requested at a steady rate
/// is estimated exactly; a key that started being requested less than `W`
/// ago ramps up linearly (its rate over the last minute really is lower).
/// When the window ends, the previous sketch is cleared and becomes the
/// current one; after `2 W` of silence a key reads 0.
///
/// # Error bounds
///
/// - Hash collisions only add: an estimate is never below the key's true
///   rate (apart from the races below). It exceeds it by at most
///   `e / width` times the total rate recorded here (all keys), with
///   probability at least 98 %: with the default width, 0.07 % of the node's
///   traffic, for example 0.66 qps on a node serving 1000 requests per
///   second. Conservative update makes the typical excess much smaller on
///   skewed traffic. Choose `width` so that `total qps * 2.7 / width` is
///   well below the rates you compare estimates with.
/// - The even-spread assumption lags behind changes: for a key that became
///   busy during the last two windows the estimate may miss up to a quarter
///   of its requests of the last `W`, and a key that fell silent keeps a
///   shrinking estimate for up to one more window.
/// - Counters are `u32` per window: a key would need more than 71 million
///   requests per second to overflow them.
/// - Concurrency: when requests for the same key race (read the counters
///   at the same moment), the conservative update may count one of them
///   less; the chance per request is about the key's rate times a few
///   nanoseconds. Requests recorded during the few microseconds in which a
///   finished window's counters are cleared may be lost.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use cache_core::KeyRates;
/// use tokio::time::Instant;
///
/// let rates = KeyRates::new();
/// let t0 = Instant::now();
/// for i in 0..120 {
///     rates.record("hot", t0 + Duration::from_millis(500 * i));
/// }
/// // 120 requests in the last minute: 2 per second.
/// let qps = rates.qps("hot", t0 + Duration::from_secs(60));
/// assert!((qps - 2.0).abs() < 0.001);
/// assert_eq!(rates.qps("cold", t0 + Duration::from_secs(60)), 0.0);
/// ```
pub struct KeyRates {
    /// Window 0 starts here; a window's index is `(now - start) / window`.
    start: Instant,
    /// The window length in nanoseconds; at least 1 ms.
    window_nanos: u64,
    /// Counters per row, a power of two.
    width: usize,
    /// The index of the current window. Only grows; the thread that moves
    /// it forward clears the sketch that becomes current.
    epoch: AtomicU64,
    /// The sketches of windows with even and odd indices, each `ROWS *
    /// width` counters, row after row.
    sketches: [Box<[AtomicU32]>; 2],
}

impl fmt::Debug for KeyRates {
    /// Shows the configuration, not the counters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRates")
            .field("width", &self.width)
            .field("window", &self.window())
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for KeyRates {
    /// Same as [`KeyRates::new`].
    fn default() -> Self {
        KeyRates::new()
    }
}

impl KeyRates {
    /// An estimator with [`DEFAULT_WIDTH`] counters per row and a
    /// [`DEFAULT_WINDOW`] of one minute, starting now.
    pub fn new() -> Self {
        KeyRates::with_width(DEFAULT_WIDTH)
    }

    /// An estimator with `width` counters per row (rounded up to a power of
    /// two and clamped to 64..=2^20) and a one-minute window, starting now.
    /// Memory: `32 * width` bytes.
    pub fn with_width(width: usize) -> Self {
        let width = normalise_width(width);
        let sketch = || (0..ROWS * width).map(|_| AtomicU32::new(0)).collect();
        KeyRates {
            start: Instant::now(),
            window_nanos: duration_nanos(DEFAULT_WINDOW),
            width,
            epoch: AtomicU64::new(0),
            sketches: [sketch(), sketch()],
        }
    }

    /// The same estimator with another window length (at least 1 ms;
    /// shorter values are raised to it).
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window_nanos = duration_nanos(window).max(1_000_000);
        self
    }

    /// Counters per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The window length.
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.window_nanos)
    }

    /// Records one request for `key` at `now` and returns the key's
    /// estimated rate in requests per second, this request included.
    ///
    /// `now` should not go backwards by more than a window: a request older
    /// than the previous window is not counted.
    pub fn record(&self, key: &str, now: Instant) -> f64 {
        let slots = self.slots(key);
        let (window, into) = self.position(now);
        self.advance_to(window);
        let epoch = self.epoch.load(Ordering::Acquire);
        if window + 1 < epoch {
            // Older than the previous window: not counted.
            return self.estimate(&slots, now);
        }
        let sketch = &self.sketches[(window % 2) as usize];
        let seen = slots.map(|i| sketch[i].load(Ordering::Relaxed));
        let min = seen.iter().copied().min().unwrap_or(0);
        for (&i, &value) in slots.iter().zip(&seen) {
            // Conservative update: only the counters at the key's minimum
            // move. Two requests that read the same values both add here,
            // so a race can only lose a count on another row.
            if value == min {
                sketch[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        if window != epoch {
            // A late request for the previous window: the general path.
            return self.estimate(&slots, now);
        }
        let previous = if epoch == 0 {
            0
        } else {
            self.count(epoch - 1, &slots)
        };
        let current = min.saturating_add(1);
        self.rate(previous, self.remaining(into), current)
    }

    /// The estimated rate of `key` at `now` in requests per second, without
    /// recording anything. 0 for a key not requested in the last two
    /// windows (up to collisions, see the error bounds).
    pub fn qps(&self, key: &str, now: Instant) -> f64 {
        self.estimate(&self.slots(key), now)
    }

    /// The estimate from the key's counters, given the current epoch.
    fn estimate(&self, slots: &[usize; ROWS], now: Instant) -> f64 {
        let (window, into) = self.position(now);
        let epoch = self.epoch.load(Ordering::Acquire);
        // The counts of windows `window` and `window - 1`, and how much of
        // the latter still lies inside the last `W`.
        let (current, previous, weight) = if window > epoch + 1 {
            return 0.0;
        } else if window == epoch + 1 {
            // Nothing recorded yet in this window: the epoch is its previous.
            (0, self.count(epoch, slots), self.remaining(into))
        } else if window == epoch {
            let previous = if epoch == 0 {
                0
            } else {
                self.count(epoch - 1, slots)
            };
            (self.count(epoch, slots), previous, self.remaining(into))
        } else {
            // `now` is behind the epoch: answer for the epoch's start.
            let previous = if epoch == 0 {
                0
            } else {
                self.count(epoch - 1, slots)
            };
            (self.count(epoch, slots), previous, 1.0)
        };
        self.rate(previous, weight, current)
    }

    /// Requests per second from the previous window's count (weighted by
    /// the share of it still inside the last window) and the current one.
    fn rate(&self, previous: u32, weight: f64, current: u32) -> f64 {
        let window_secs = self.window_nanos as f64 / 1e9;
        (f64::from(previous) * weight + f64::from(current)) / window_secs
    }

    /// The fraction of a window still ahead at `into` nanoseconds into it.
    fn remaining(&self, into: u64) -> f64 {
        1.0 - into as f64 / self.window_nanos as f64
    }

    /// A key's count in the sketch of window `window`.
    fn count(&self, window: u64, slots: &[usize; ROWS]) -> u32 {
        let sketch = &self.sketches[(window % 2) as usize];
        slots
            .iter()
            .map(|&i| sketch[i].load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// The window index of `now` and the nanoseconds since that window began.
    fn position(&self, now: Instant) -> (u64, u64) {
        let elapsed = duration_nanos(now.saturating_duration_since(self.start));
        (elapsed / self.window_nanos, elapsed % self.window_nanos)
    }

    /// Moves the epoch forward to `window` if it is behind, clearing the
    /// sketches that fall out of the last two windows. One thread wins each
    /// move; the others see the new epoch.
    fn advance_to(&self, window: u64) {
        let mut epoch = self.epoch.load(Ordering::Acquire);
        while window > epoch {
            match self
                .epoch
                .compare_exchange(epoch, window, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // The sketch of `window` last held `window - 2`: clear it.
                    // After a longer silence both sketches are stale.
                    clear(&self.sketches[(window % 2) as usize]);
                    if window > epoch + 1 {
                        clear(&self.sketches[((window + 1) % 2) as usize]);
                    }
                    return;
                }
                Err(seen) => epoch = seen,
            }
        }
    }

    /// The key's counter index in each row (double hashing of one xxh3).
    fn slots(&self, key: &str) -> [usize; ROWS] {
        let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
        let (h1, h2) = (hash as usize, ((hash >> 32) as usize) | 1);
        let mask = self.width - 1;
        let mut slots = [0; ROWS];
        for (row, slot) in slots.iter_mut().enumerate() {
            *slot = row * self.width + (h1.wrapping_add(row.wrapping_mul(h2)) & mask);
        }
        slots
    }
}

/// `width` clamped to [`WIDTH_RANGE`] and rounded up to a power of two.
fn normalise_width(width: usize) -> usize {
    width
        .clamp(WIDTH_RANGE.0, WIDTH_RANGE.1)
        .next_power_of_two()
}

/// Zeroes every counter of a sketch.
fn clear(sketch: &[AtomicU32]) {
    for counter in sketch {
        counter.store(0, Ordering::Relaxed);
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

mod busiest;

pub use self::busiest::BusiestKeys;

#[cfg(test)]
mod tests;
