//! Hot-cache promotion: which values fetched from a peer are worth a copy
//! here.
//!
//! Policies: [`QpsThreshold`] (the default: every value while the hot cache
//! has free room, then the busiest tenth of the fetched keys, by the owner's
//! reported rate), [`CoinFlip`] (golang/groupcache's 1 in 10 at random),
//! [`Always`] and [`Never`]. The default gets more hot hits and fewer peer
//! fetches than the coin for the same memory; see
//! `docs/benchmarks-promotion.md`.

use tokio::time::Instant;

/// What a promotion policy knows about a value just fetched from its owner.
#[derive(Debug, Clone, Copy)]
pub struct PromotionInput<'a> {
    /// The key.
    pub key: &'a str,
    /// The owner's reported request rate for the key (requests per second
    /// over about a minute), if it reported one.
    pub owner_qps: Option<f64>,
    /// Now, from the group's clock.
    pub now: Instant,
    /// The hot cache has free room for the value: keeping it would evict
    /// nothing ([`Store::has_room`](crate::store::Store::has_room)).
    pub hot_has_room: bool,
}

/// Decides whether a value fetched from a peer goes into the hot cache.
///
/// Called once per successful peer fetch; implementations may keep state
/// (for example a windowed count of local fetches per key).
pub trait PromotionPolicy: Send + Sync + 'static {
    /// True to keep a copy of the value in the hot cache.
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool;
}

mod policies;
mod qps_threshold;
#[cfg(test)]
mod tests;

pub use policies::{Always, CoinFlip, Never};
pub use qps_threshold::QpsThreshold;
