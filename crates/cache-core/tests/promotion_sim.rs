//! The default promotion policy beats golang/groupcache's 1-in-10 coin on a
//! simulated 3-node cluster with zipf traffic: more hot hits and fewer peer
//! fetches for the same hot-cache size. Deterministic (seeded trace, paused
//! clock). The numbers are in `docs/benchmarks-promotion.md`; the example
//! `promotion_sim` prints the full table.

#[path = "support/promotion_sim.rs"]
mod sim;

use cache_core::{CoinFlip, QpsThreshold};
use sim::{SimConfig, run};

/// The trace of every test: 3 nodes, 300 000 requests over 100 000 keys,
/// 1000 hot entries per node, zipf s=1.1 at 6000 qps, no scans.
const BASE: SimConfig = SimConfig {
    nodes: 3,
    keys: 100_000,
    requests: 300_000,
    zipf_s: 1.1,
    cluster_qps: 6_000.0,
    hot_entries: 1_000,
    seed: 7,
    scan_share: 0.0,
};

/// For zipf s=1.1 and s=0.9 and two cluster loads, 300 000 requests over
/// 100 000 keys, 1000 hot entries per node: `QpsThreshold::default()` gets
/// strictly more hot hits and fewer peer fetches than `CoinFlip` (1 in 10),
/// and no more promotions than the coin past the fill of the free room.
#[tokio::test(start_paused = true)]
async fn qps_threshold_beats_the_coin() {
    for zipf_s in [1.1, 0.9] {
        for cluster_qps in [600.0, 6_000.0] {
            let config = SimConfig {
                zipf_s,
                cluster_qps,
                ..BASE
            };
            let qps = run(&config, true, |_| QpsThreshold::default());
            let coin = run(&config, true, |n| CoinFlip::with_seed(10, n as u64));
            println!(
                "s={zipf_s} {cluster_qps} qps: threshold {qps:?} ({:.1} %), coin {coin:?} ({:.1} %)",
                100.0 * qps.hot_hit_ratio(),
                100.0 * coin.hot_hit_ratio()
            );
            // Same trace, same owners: only the policy differs.
            assert_eq!(qps.at_owner, coin.at_owner);
            assert_eq!(
                qps.hot_hits + qps.peer_fetches,
                coin.hot_hits + coin.peer_fetches
            );
            assert!(qps.hot_hits > coin.hot_hits, "s={zipf_s} {cluster_qps}");
            assert!(
                qps.peer_fetches < coin.peer_fetches,
                "s={zipf_s} {cluster_qps}"
            );
            // ... while promoting no more values than the coin, beyond the
            // one-time fill of the empty hot caches (which evicts nothing).
            let fill = (config.nodes * config.hot_entries) as u64;
            assert!(
                qps.promotions <= coin.promotions + fill,
                "s={zipf_s} {cluster_qps}"
            );
        }
    }
}

/// Without owner reports the policy falls back to counting its own fetches
/// and still beats the coin on the s=1.1 trace.
#[tokio::test(start_paused = true)]
async fn local_counts_also_beat_the_coin() {
    let config = BASE;
    let local = run(&config, false, |_| QpsThreshold::default());
    let coin = run(&config, true, |n| CoinFlip::with_seed(10, n as u64));
    println!("local {local:?}, coin {coin:?}");
    assert!(local.hot_hits > coin.hot_hits);
    assert!(local.peer_fetches < coin.peer_fetches);
}

/// With one request in five a one-time scan key (zipf s=0.9 otherwise), the
/// default still beats the coin: the floor and the threshold keep the scan
/// keys from pushing busy keys out once the hot cache is full.
#[tokio::test(start_paused = true)]
async fn scans_do_not_sink_the_default() {
    let config = SimConfig {
        zipf_s: 0.9,
        scan_share: 0.2,
        ..BASE
    };
    let qps = run(&config, true, |_| QpsThreshold::default());
    let coin = run(&config, true, |n| CoinFlip::with_seed(10, n as u64));
    println!("scan-mixed: threshold {qps:?}, coin {coin:?}");
    assert_eq!(qps.at_owner, coin.at_owner);
    assert!(qps.hot_hits > coin.hot_hits);
    assert!(qps.peer_fetches < coin.peer_fetches);
}
