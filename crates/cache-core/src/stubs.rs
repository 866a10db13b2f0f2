//! TEMPORARY stand-ins for modules other helpers are writing (stores, ring);
//! deleted when their branches are merged.
#![allow(dead_code, unreachable_pub, missing_docs)]

use tokio::time::Instant;

use crate::promotion::{PromotionInput, PromotionPolicy};

#[derive(Default)]
pub struct QpsThreshold;
impl PromotionPolicy for QpsThreshold {
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool {
        input.owner_qps.is_some_and(|q| q >= 1.0)
    }
}

#[derive(Default)]
pub struct KeyRates {
    _p: (),
}
impl KeyRates {
    pub fn record(&self, _key: &str, _now: Instant) -> f64 {
        0.0
    }
}
