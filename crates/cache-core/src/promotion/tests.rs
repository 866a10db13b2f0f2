//! Tests of the built-in promotion policies.

use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn input(key: &str, owner_qps: Option<f64>, now: Instant) -> PromotionInput<'_> {
    PromotionInput {
        key,
        owner_qps,
        now,
        hot_has_room: false,
    }
}

/// The defaults: floors of 2 requests a minute, 1 in 10 promoted; a rate
/// below the floor is never promoted, the first one at the floor is.
#[tokio::test(start_paused = true)]
async fn qps_threshold_defaults_and_floor() {
    let now = Instant::now();
    let policy = QpsThreshold::default();
    assert_eq!(policy.min_qps(), 2.0 / 60.0);
    assert_eq!(policy.local_min_qps(), 2.0 / 60.0);
    assert_eq!(policy.promote_fraction(), 0.1);
    assert!((policy.threshold() - 2.0 / 60.0).abs() < 1e-12);
    assert!(!policy.should_promote(&input("k", Some(1.0 / 60.0), now)));
    assert!(!policy.should_promote(&input("k", Some(0.0), now)));
    assert!(!policy.should_promote(&input("k", Some(f64::NAN), now)));
    // Rates below the floor do not move the threshold.
    assert!((policy.threshold() - 2.0 / 60.0).abs() < 1e-12);
    assert!(policy.should_promote(&input("k", Some(2.0 / 60.0), now)));
}

/// Rates 1, 2, ..., 100 in a shuffled order, the same every run.
fn shuffled_rates(n: usize) -> Vec<f64> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 100 + 1) as f64
        })
        .collect()
}

/// Fed rates uniform over 1..=100, the threshold settles near the 90th
/// percentile: after 20 000 warm-up fetches, 10 % +- 2 of the next 10 000
/// are promoted, and their mean rate is at least 85 (the busiest tenth
/// averages 95.5; a random tenth would average 50.5).
#[tokio::test(start_paused = true)]
async fn qps_threshold_promotes_the_busiest_tenth() {
    let now = Instant::now();
    let policy = QpsThreshold::default();
    let rates = shuffled_rates(30_000);
    for &qps in &rates[..20_000] {
        policy.should_promote(&input("k", Some(qps), now));
    }
    let promoted: Vec<f64> = rates[20_000..]
        .iter()
        .copied()
        .filter(|&qps| policy.should_promote(&input("k", Some(qps), now)))
        .collect();
    let mean = promoted.iter().sum::<f64>() / promoted.len() as f64;
    let lowest = promoted.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "promoted {} of 10000, mean rate {mean:.1}, lowest {lowest}, threshold {:.1}",
        promoted.len(),
        policy.threshold()
    );
    assert!((800..=1200).contains(&promoted.len()), "{}", promoted.len());
    assert!(mean >= 85.0, "mean promoted rate {mean}");
    assert!((70.0..=100.0).contains(&policy.threshold()));
}

/// The threshold follows the load down: after a busy phase (rates around
/// 100) a quiet phase (rates 1..=10) is promoted at the same 1-in-10 share.
#[tokio::test(start_paused = true)]
async fn qps_threshold_adapts_to_lower_load() {
    let now = Instant::now();
    let policy = QpsThreshold::default();
    for i in 0..10_000u32 {
        policy.should_promote(&input("k", Some(f64::from(90 + i % 20)), now));
    }
    for i in 0..20_000u32 {
        policy.should_promote(&input("k", Some(f64::from(i % 10 + 1)), now));
    }
    let promoted = (0..10_000u32)
        .filter(|i| policy.should_promote(&input("k", Some(f64::from(i % 10 + 1)), now)))
        .count();
    assert!((800..=1200).contains(&promoted), "promoted {promoted}");
    assert!(policy.threshold() <= 10.0);
}

/// Without an owner report, local fetches are counted: the first fetch of
/// a key (1 a minute) is below the 2-a-minute floor, the second reaches it
/// and, the threshold starting at the floor, is promoted.
#[tokio::test(start_paused = true)]
async fn qps_threshold_falls_back_to_local_counts() {
    let t0 = Instant::now();
    let policy = QpsThreshold::default();
    let at = |s: u64| t0 + Duration::from_secs(s);
    assert!(!policy.should_promote(&input("k", None, at(0))));
    assert!(!policy.should_promote(&input("other", None, at(1))));
    assert!(policy.should_promote(&input("k", None, at(2))));
    // The local threshold moved up; the owner one did not.
    assert!(policy.local_threshold() > 2.0 / 60.0);
    assert!((policy.threshold() - 2.0 / 60.0).abs() < 1e-12);
    // Owner reports bypass the local count.
    assert!(!policy.should_promote(&input("k", Some(0.01), at(3))));
}

/// Bad knobs are normalised: NaN or negative floors to 0, the fraction to
/// 0.001..=1 (NaN to the default); a fraction of 1 promotes every value at
/// or above the floor.
#[tokio::test(start_paused = true)]
async fn qps_threshold_normalises_bad_knobs() {
    let now = Instant::now();
    let policy = QpsThreshold::new(f64::NAN, -3.0);
    assert_eq!((policy.min_qps(), policy.local_min_qps()), (0.0, 0.0));
    assert_eq!(
        QpsThreshold::default()
            .with_promote_fraction(7.0)
            .promote_fraction(),
        1.0
    );
    assert_eq!(
        QpsThreshold::default()
            .with_promote_fraction(0.0)
            .promote_fraction(),
        0.001
    );
    assert_eq!(
        QpsThreshold::default()
            .with_promote_fraction(f64::NAN)
            .promote_fraction(),
        0.1
    );
    let all = QpsThreshold::new(1.0, 1.0).with_promote_fraction(1.0);
    for i in 0..1000u32 {
        let qps = f64::from(i % 50) / 10.0;
        assert_eq!(
            all.should_promote(&input("k", Some(qps), now)),
            qps >= 1.0,
            "{qps}"
        );
    }
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

/// While the hot cache has free room every fetched value is kept, even one
/// below the floor; the rate is still observed, so the threshold keeps
/// tuning. `with_fill_free_room(false)` leaves only the threshold, and the
/// coin ignores the room (golang/groupcache's behaviour).
#[tokio::test(start_paused = true)]
async fn free_room_is_filled_unless_turned_off() {
    let now = Instant::now();
    let room = |key, qps| PromotionInput {
        hot_has_room: true,
        ..input(key, qps, now)
    };
    let policy = QpsThreshold::default();
    assert!(policy.fills_free_room());
    assert!(policy.should_promote(&room("once", Some(1.0 / 60.0))));
    assert!(policy.should_promote(&room("local", None)));
    assert!(!policy.should_promote(&input("once", Some(1.0 / 60.0), now)));
    let before = policy.threshold();
    for _ in 0..100 {
        assert!(policy.should_promote(&room("busy", Some(10.0))));
    }
    assert!(
        policy.threshold() > before,
        "the threshold tuned while filling"
    );

    let off = QpsThreshold::default().with_fill_free_room(false);
    assert!(!off.fills_free_room());
    assert!(!off.should_promote(&room("once", Some(1.0 / 60.0))));
    assert!(off.should_promote(&room("busy", Some(10.0))));

    let coin = CoinFlip::with_seed(1_000_000, 7);
    let kept = (0..1000)
        .filter(|_| coin.should_promote(&room("k", Some(1e6))))
        .count();
    assert!(kept < 5, "the coin ignores free room: {kept}");
}
