//! The simple built-in promotion policies: the coin flip, always, never.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{PromotionInput, PromotionPolicy};

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
