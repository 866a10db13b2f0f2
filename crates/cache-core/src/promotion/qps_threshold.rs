//! The default promotion policy: fill free room, then promote the busiest of
//! the fetched keys.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{PromotionInput, PromotionPolicy};
use crate::KeyRates;

/// The default policy: keep every fetched value while the hot cache has
/// free room, and once it is full, promote a fetched value when its key is
/// busy, that is when its request rate is at or above a threshold that
/// adapts to the traffic.
///
/// Free room first: an empty byte of the hot cache saves no peer hop, and
/// filling it evicts nothing, so there is nothing to choose between. This
/// is the rule Caffeine's TinyLFU follows too (its admission filter only
/// runs when admitting would evict). Once the hot cache is full, every
/// further promotion evicts a copy, and the threshold below decides; the
/// store's eviction (SIEVE by default) drops the copies that were never
/// asked for again first. [`QpsThreshold::with_fill_free_room`]`(false)`
/// turns the first rule off.
///
/// The rate is the one the owner reports with the value (its requests for
/// the key per second over the last minute). When the owner reports none,
/// the policy counts this node's own fetches of the key in a [`KeyRates`]
/// and uses that rate instead, against a threshold of its own.
///
/// The threshold is not a fixed number of requests per second: a fixed
/// number suits one load and hot-cache size and is wrong for the next (too
/// high, and the hot cache stays half empty; too low, and it churns). It is
/// instead tuned continuously so that about `promote_fraction` (default
/// 1 in 10) of the fetched values are promoted: the same promotion budget
/// as golang/groupcache's coin flip, but spent on the busiest tenth of the
/// fetched keys instead of a random tenth. A busy key gets its copy on the
/// first fetch after it became busy, instead of after about ten fetches,
/// and the long tail of keys requested now and then no longer pushes busy
/// keys out. The threshold never drops below `min_qps` (default 2 requests
/// a minute), so keys requested once, like a scan, are never promoted.
///
/// Only the order of the rates matters, not their scale: the policy works
/// the same whether the owner counts all its requests for the key or only
/// those from peers.
///
/// The tuning is a streaming quantile estimate in log space: each fetch
/// above the threshold raises it by a factor `exp(0.05 * (1 - f))`, each
/// fetch below lowers it by `exp(-0.05 * f)`, which balances when a
/// fraction `f` is above. It is one atomic word; concurrent updates may
/// overwrite each other, which only slows the tuning.
///
/// Measured on a simulated 3-node cluster with zipf traffic (see
/// `docs/benchmarks-promotion.md`): more hot hits and fewer peer fetches
/// than the coin for the same hot-cache size at 600, 6 000 and 60 000
/// requests per second.
///
/// ```
/// use cache_core::QpsThreshold;
/// use cache_core::promotion::{PromotionInput, PromotionPolicy};
///
/// let policy = QpsThreshold::default();
/// let now = tokio::time::Instant::now();
/// let full = false; // the hot cache has no free room
/// let busy = PromotionInput { key: "a", owner_qps: Some(50.0), now, hot_has_room: full };
/// assert!(policy.should_promote(&busy));
/// // Requested once in the last minute: below the floor.
/// let once = PromotionInput { key: "b", owner_qps: Some(1.0 / 60.0), now, hot_has_room: full };
/// assert!(!policy.should_promote(&once));
/// // The same key while the hot cache has free room: kept.
/// let room = PromotionInput { hot_has_room: true, ..once };
/// assert!(policy.should_promote(&room));
/// ```
#[derive(Debug)]
pub struct QpsThreshold {
    /// The lowest threshold for owner-reported rates; >= 0.
    min_qps: f64,
    /// The lowest threshold for local fetch rates; >= 0.
    local_min_qps: f64,
    /// The share of fetched values to promote; in (0, 1].
    promote_fraction: f64,
    /// Promote every value while the hot cache has free room.
    fill_free_room: bool,
    /// The adaptive threshold for owner-reported rates.
    owner: Threshold,
    /// The adaptive threshold for local fetch rates.
    local: Threshold,
    /// This node's fetches of keys whose owner reported no rate.
    local_rates: KeyRates,
}

impl Default for QpsThreshold {
    /// Floors of [`QpsThreshold::DEFAULT_MIN_QPS`] for both rates, a
    /// [`QpsThreshold::DEFAULT_PROMOTE_FRACTION`] of 1 in 10 and a default
    /// [`KeyRates`].
    fn default() -> Self {
        QpsThreshold::new(QpsThreshold::DEFAULT_MIN_QPS, QpsThreshold::DEFAULT_MIN_QPS)
    }
}

impl QpsThreshold {
    /// The default floor of both thresholds: 2 requests a minute. A key
    /// requested once in the last minute reads at most 1/60 qps (up to
    /// sketch collisions) and is not promoted.
    pub const DEFAULT_MIN_QPS: f64 = 2.0 / 60.0;
    /// The default share of fetched values promoted: 1 in 10, as many as
    /// golang/groupcache's coin promotes.
    pub const DEFAULT_PROMOTE_FRACTION: f64 = 0.1;

    /// A policy whose thresholds never go below `min_qps` (owner-reported
    /// rates) and `local_min_qps` (local fetch rates, used when the owner
    /// reports none), in requests per second. Negative or NaN floors are
    /// taken as 0.
    pub fn new(min_qps: f64, local_min_qps: f64) -> Self {
        let min_qps = non_negative(min_qps);
        let local_min_qps = non_negative(local_min_qps);
        QpsThreshold {
            min_qps,
            local_min_qps,
            promote_fraction: QpsThreshold::DEFAULT_PROMOTE_FRACTION,
            fill_free_room: true,
            owner: Threshold::starting_at(min_qps),
            local: Threshold::starting_at(local_min_qps),
            local_rates: KeyRates::new(),
        }
    }

    /// The same policy aiming to promote `fraction` of the fetched values
    /// (clamped to 0.001..=1; NaN is taken as the default 0.1). 1 promotes
    /// every value at or above the floors.
    #[must_use]
    pub fn with_promote_fraction(mut self, fraction: f64) -> Self {
        self.promote_fraction = if fraction.is_nan() {
            QpsThreshold::DEFAULT_PROMOTE_FRACTION
        } else {
            fraction.clamp(0.001, 1.0)
        };
        self
    }

    /// The same policy with free-room filling on (the default) or off. Off,
    /// only busy keys are promoted even into an empty hot cache.
    #[must_use]
    pub fn with_fill_free_room(mut self, fill: bool) -> Self {
        self.fill_free_room = fill;
        self
    }

    /// The same policy counting local fetches in `rates` (to choose its
    /// width or window).
    #[must_use]
    pub fn with_local_rates(mut self, rates: KeyRates) -> Self {
        self.local_rates = rates;
        self
    }

    /// Whether every value is promoted while the hot cache has free room.
    pub fn fills_free_room(&self) -> bool {
        self.fill_free_room
    }

    /// The floor of the owner-rate threshold.
    pub fn min_qps(&self) -> f64 {
        self.min_qps
    }

    /// The floor of the local-rate threshold.
    pub fn local_min_qps(&self) -> f64 {
        self.local_min_qps
    }

    /// The share of fetched values the policy aims to promote.
    pub fn promote_fraction(&self) -> f64 {
        self.promote_fraction
    }

    /// The current owner-rate threshold in requests per second (at least
    /// `min_qps`).
    pub fn threshold(&self) -> f64 {
        self.owner.get().max(self.min_qps)
    }

    /// The current local-rate threshold in requests per second (at least
    /// `local_min_qps`).
    pub fn local_threshold(&self) -> f64 {
        self.local.get().max(self.local_min_qps)
    }
}

impl PromotionPolicy for QpsThreshold {
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool {
        // The rate is observed either way, so the threshold keeps tuning
        // while the hot cache fills.
        let busy = match input.owner_qps {
            Some(qps) => self.owner.observe(qps, self.min_qps, self.promote_fraction),
            None => {
                let qps = self.local_rates.record(input.key, input.now);
                self.local
                    .observe(qps, self.local_min_qps, self.promote_fraction)
            }
        };
        busy || (self.fill_free_room && input.hot_has_room)
    }
}

/// A threshold tuned so that a given fraction of observed rates is at or
/// above it: the natural log of the threshold, as `f64` bits.
#[derive(Debug)]
struct Threshold(AtomicU64);

/// The log-space step of [`Threshold`]'s tuning.
const STEP: f64 = 0.05;
/// The bounds of the log of a threshold (about 1e-9 to 1e13 qps).
const LOG_RANGE: (f64, f64) = (-20.0, 30.0);

impl Threshold {
    /// A threshold starting at `qps` (or 1e-9 when `qps` is 0).
    fn starting_at(qps: f64) -> Self {
        Threshold(AtomicU64::new(log_clamped(qps).to_bits()))
    }

    /// The threshold in requests per second.
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed)).exp()
    }

    /// True when `qps` is at or above both the threshold and `floor`; moves
    /// the threshold towards the `1 - fraction` quantile of what it sees.
    fn observe(&self, qps: f64, floor: f64, fraction: f64) -> bool {
        if qps.is_nan() || qps < floor {
            // Below the floor (or NaN): neither promoted nor counted, so a
            // flood of cold keys cannot drag the threshold down.
            return false;
        }
        let log_threshold = f64::from_bits(self.0.load(Ordering::Relaxed));
        let above = log_clamped(qps) >= log_threshold;
        let moved = if above {
            log_threshold + STEP * (1.0 - fraction)
        } else {
            log_threshold - STEP * fraction
        };
        let moved = moved.clamp(LOG_RANGE.0, LOG_RANGE.1);
        self.0.store(moved.to_bits(), Ordering::Relaxed);
        above
    }
}

/// The natural log of `qps`, within [`LOG_RANGE`].
fn log_clamped(qps: f64) -> f64 {
    qps.ln().clamp(LOG_RANGE.0, LOG_RANGE.1)
}

/// `x`, or 0 when it is negative or NaN.
fn non_negative(x: f64) -> f64 {
    if x >= 0.0 { x } else { 0.0 }
}
