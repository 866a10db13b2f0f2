//! The built-in promotion policies.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{PromotionInput, PromotionPolicy};
use crate::KeyRates;

/// The default policy: promote the keys that are busy.
///
/// A value fetched from its owner is promoted when the owner reports a
/// request rate for the key of at least `min_qps` (default 1.0). When the
/// owner reports no rate, the policy counts this node's own fetches of the
/// key in a [`KeyRates`] and promotes once they reach `local_min_qps`
/// (default 0.2).
///
/// Why these defaults: a hot-cache copy costs one entry of memory and pays
/// back one peer round trip per later request here. A key the whole
/// cluster asks for about once a second or more (60 requests a minute at
/// its owner) is the kind of key golang/groupcache's 1-in-10 coin eventually
/// catches after about 10 fetches; the threshold catches it on the first
/// fetch after it became busy and leaves the long tail of keys requested a
/// few times a minute out of the hot cache instead of letting it push busy
/// keys out. A node sees only its own share of the traffic, about `1/n` of
/// the owner's, so the local threshold is lower (0.2 = 12 fetches a minute
/// here). Both are knobs: on very busy clusters raise `min_qps` until the
/// keys above it fit in the hot cache. `docs/benchmarks-promotion.md` shows
/// the effect on zipf traces.
#[derive(Debug)]
pub struct QpsThreshold {
    /// Owner-reported rate at or above which a value is promoted; >= 0.
    min_qps: f64,
    /// Locally counted fetch rate at or above which a value is promoted
    /// when the owner reports no rate; >= 0.
    local_min_qps: f64,
    /// This node's fetches of keys whose owner reported no rate.
    local: KeyRates,
}

impl Default for QpsThreshold {
    /// `min_qps` [`QpsThreshold::DEFAULT_MIN_QPS`], `local_min_qps`
    /// [`QpsThreshold::DEFAULT_LOCAL_MIN_QPS`], a default [`KeyRates`].
    fn default() -> Self {
        QpsThreshold::new(
            QpsThreshold::DEFAULT_MIN_QPS,
            QpsThreshold::DEFAULT_LOCAL_MIN_QPS,
        )
    }
}

impl QpsThreshold {
    /// The default owner-reported threshold: 1 request per second.
    pub const DEFAULT_MIN_QPS: f64 = 1.0;
    /// The default local threshold: 0.2 fetches per second (12 a minute).
    pub const DEFAULT_LOCAL_MIN_QPS: f64 = 0.2;

    /// A policy with the given thresholds in requests per second. Negative
    /// or NaN thresholds are taken as 0 (promote every value).
    pub fn new(min_qps: f64, local_min_qps: f64) -> Self {
        QpsThreshold {
            min_qps: non_negative(min_qps),
            local_min_qps: non_negative(local_min_qps),
            local: KeyRates::new(),
        }
    }

    /// The same policy counting local fetches in `rates` (to choose its
    /// width or window).
    #[must_use]
    pub fn with_local_rates(mut self, rates: KeyRates) -> Self {
        self.local = rates;
        self
    }

    /// The owner-reported threshold.
    pub fn min_qps(&self) -> f64 {
        self.min_qps
    }

    /// The local threshold, used when the owner reports no rate.
    pub fn local_min_qps(&self) -> f64 {
        self.local_min_qps
    }
}

impl PromotionPolicy for QpsThreshold {
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool {
        match input.owner_qps {
            Some(qps) => qps >= self.min_qps,
            None => self.local.record(input.key, input.now) >= self.local_min_qps,
        }
    }
}

/// `x`, or 0 when it is negative or NaN.
fn non_negative(x: f64) -> f64 {
    if x >= 0.0 { x } else { 0.0 }
}

/// golang/groupcache's policy: promote one fetched value in `one_in`
/// (default 10) at random, whatever the key.
///
/// The random numbers come from a SplitMix64 generator in one atomic word:
/// lock-free, and reproducible when built [`with_seed`](CoinFlip::with_seed)
/// (for a single caller; concurrent callers interleave the sequence).
#[derive(Debug)]
pub struct CoinFlip {
    /// Promote when a draw modulo this is 0; at least 1.
    one_in: u64,
    /// The generator's state; advanced by a constant per draw.
    state: AtomicU64,
}

impl Default for CoinFlip {
    /// One in 10, randomly seeded.
    fn default() -> Self {
        CoinFlip::new(10)
    }
}

impl CoinFlip {
    /// Promotes one value in `one_in` (0 is taken as 1), randomly seeded.
    pub fn new(one_in: u32) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        CoinFlip::with_seed(one_in, seed)
    }

    /// Promotes one value in `one_in` (0 is taken as 1), with a fixed seed:
    /// the same seed gives the same decisions.
    pub fn with_seed(one_in: u32, seed: u64) -> Self {
        CoinFlip {
            one_in: u64::from(one_in.max(1)),
            state: AtomicU64::new(seed),
        }
    }

    /// The next SplitMix64 output.
    fn next(&self) -> u64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl PromotionPolicy for CoinFlip {
    fn should_promote(&self, _input: &PromotionInput<'_>) -> bool {
        self.next().is_multiple_of(self.one_in)
    }
}

/// Promotes every value fetched from a peer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Always;

impl PromotionPolicy for Always {
    fn should_promote(&self, _input: &PromotionInput<'_>) -> bool {
        true
    }
}

/// Promotes nothing: the hot cache stays empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl PromotionPolicy for Never {
    fn should_promote(&self, _input: &PromotionInput<'_>) -> bool {
        false
    }
}
