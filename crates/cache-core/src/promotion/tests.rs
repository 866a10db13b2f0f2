//! Tests of the built-in promotion policies.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn input(key: &str, owner_qps: Option<f64>, now: Instant) -> PromotionInput<'_> {
    PromotionInput {
        key,
        owner_qps,
        now,
    }
}

/// An owner-reported rate is compared with `min_qps`, inclusive.
#[tokio::test(start_paused = true)]
async fn qps_threshold_uses_the_owner_rate() {
    let now = Instant::now();
    let policy = QpsThreshold::default();
    assert_eq!(policy.min_qps(), 1.0);
    assert!(policy.should_promote(&input("k", Some(1.0), now)));
    assert!(policy.should_promote(&input("k", Some(250.0), now)));
    assert!(!policy.should_promote(&input("k", Some(0.99), now)));
    assert!(!policy.should_promote(&input("k", Some(0.0), now)));
}

/// Without an owner report, the 12th local fetch within a minute reaches
/// the default 0.2 qps (12 / 60 s) and is promoted; the 11th is not.
#[tokio::test(start_paused = true)]
async fn qps_threshold_falls_back_to_local_counts() {
    let t0 = Instant::now();
    let policy = QpsThreshold::default();
    for i in 0..11u32 {
        let now = t0 + Duration::from_secs(u64::from(i));
        assert!(!policy.should_promote(&input("k", None, now)), "fetch {i}");
    }
    assert!(policy.should_promote(&input("k", None, t0 + Duration::from_secs(11))));
    // Other keys have their own counts.
    assert!(!policy.should_promote(&input("other", None, t0 + Duration::from_secs(11))));
    // Owner reports bypass the local count.
    assert!(!policy.should_promote(&input("k", Some(0.5), t0 + Duration::from_secs(12))));
}

/// Bad thresholds are normalised to 0 (promote everything).
#[tokio::test(start_paused = true)]
async fn qps_threshold_normalises_bad_thresholds() {
    let now = Instant::now();
    let policy = QpsThreshold::new(f64::NAN, -3.0);
    assert_eq!((policy.min_qps(), policy.local_min_qps()), (0.0, 0.0));
    assert!(policy.should_promote(&input("k", Some(0.0), now)));
    assert!(policy.should_promote(&input("k", None, now)));
}

/// A seeded coin is reproducible and promotes close to one in ten: between
/// 900 and 1100 of 10 000 draws (exactly 1000 +- 3 standard deviations).
#[tokio::test(start_paused = true)]
async fn coin_flip_is_seeded_and_fair() {
    let now = Instant::now();
    let draws = |coin: &CoinFlip| -> Vec<bool> {
        (0..10_000)
            .map(|_| coin.should_promote(&input("k", Some(1e6), now)))
            .collect()
    };
    let a = draws(&CoinFlip::with_seed(10, 42));
    let b = draws(&CoinFlip::with_seed(10, 42));
    let c = draws(&CoinFlip::with_seed(10, 43));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let promoted = a.iter().filter(|&&p| p).count();
    assert!((900..=1100).contains(&promoted), "promoted {promoted}");
    let always = CoinFlip::with_seed(0, 1);
    assert!((0..100).all(|_| always.should_promote(&input("k", None, now))));
}

/// `Always` and `Never` ignore their input.
#[tokio::test(start_paused = true)]
async fn always_and_never() {
    let now = Instant::now();
    for qps in [None, Some(0.0), Some(1e9)] {
        assert!(Always.should_promote(&input("k", qps, now)));
        assert!(!Never.should_promote(&input("k", qps, now)));
    }
}
