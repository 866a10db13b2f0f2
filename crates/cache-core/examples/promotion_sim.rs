//! Compares hot-cache promotion policies on a simulated 3-node cluster with
//! zipf-distributed keys, and prints a table per trace: hot hits, peer
//! fetches and promotions for the same hot-cache size.
//!
//! Run: `cargo run --release -p cache-core --example promotion_sim`
//!
//! Then a sweep against cluster load: the coin, the default policy with
//! other promotion fractions, and fixed thresholds.

#[path = "../tests/support/promotion_sim.rs"]
mod sim;

use cache_core::promotion::{Always, Never};
use cache_core::{CoinFlip, QpsThreshold};
use sim::{SimConfig, SimResult, run};

const BASE: SimConfig = SimConfig {
    nodes: 3,
    keys: 100_000,
    requests: 2_000_000,
    zipf_s: 1.1,
    cluster_qps: 6_000.0,
    hot_entries: 1_000,
    seed: 7,
    scan_share: 0.0,
};

fn row(name: &str, r: &SimResult) {
    println!(
        "| {name:<36} | {:>9} | {:>9} | {:>12} | {:>6.1} % | {:>10} |",
        r.at_owner,
        r.hot_hits,
        r.peer_fetches,
        100.0 * r.hot_hit_ratio(),
        r.promotions
    );
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    for (zipf_s, scan_share) in [(1.1, 0.0), (0.9, 0.0), (0.9, 0.2)] {
        let config = SimConfig {
            zipf_s,
            scan_share,
            ..BASE
        };
        let scans = if scan_share > 0.0 {
            format!(" + {:.0}% one-time scan keys", 100.0 * scan_share)
        } else {
            String::new()
        };
        println!(
            "\nzipf s={zipf_s}{scans}, {} keys, {} requests at {} qps over {} nodes, hot cache {} entries per node\n",
            config.keys, config.requests, config.cluster_qps, config.nodes, config.hot_entries
        );
        println!(
            "| {:<36} | {:>9} | {:>9} | {:>12} | {:>8} | {:>10} |",
            "policy", "at owner", "hot hits", "peer fetches", "hot hit%", "promotions"
        );
        println!(
            "|{:-<38}|{:->11}|{:->11}|{:->14}|{:->10}|{:->12}|",
            "", "", "", "", "", ""
        );
        row(
            "QpsThreshold::default() (owner qps)",
            &run(&config, true, |_| QpsThreshold::default()),
        );
        row(
            "QpsThreshold::default() (local qps)",
            &run(&config, false, |_| QpsThreshold::default()),
        );
        row(
            "QpsThreshold, no free-room filling",
            &run(&config, true, |_| {
                QpsThreshold::default().with_fill_free_room(false)
            }),
        );
        row(
            "CoinFlip 1 in 10 (golang)",
            &run(&config, true, |n| CoinFlip::with_seed(10, n as u64)),
        );
        row("Always", &run(&config, true, |_| Always));
        row("Never", &run(&config, true, |_| Never));
    }

    println!("\nSweep (zipf s=0.9 and 1.1, 1M requests each): hot hit % by cluster load");
    println!(
        "fixed N = promote every key whose owner reports >= N qps (QpsThreshold::new(N, N).with_promote_fraction(1.0))"
    );
    println!("top F = QpsThreshold::default().with_promote_fraction(F) (default F = 0.1)\n");
    println!(
        "| s   | cluster qps | coin  | top 0.1 | top 0.02 | top 0.05 | top 0.2 | fixed 0.25 | fixed 1 | fixed 4 |"
    );
    println!(
        "|-----|-------------|-------|---------|----------|----------|---------|------------|---------|---------|"
    );
    for zipf_s in [0.9, 1.1] {
        for cluster_qps in [600.0, 6_000.0, 60_000.0] {
            let config = SimConfig {
                zipf_s,
                cluster_qps,
                requests: 1_000_000,
                ..BASE
            };
            let pct = |r: SimResult| format!("{:.1}%", 100.0 * r.hot_hit_ratio());
            let mut cells = vec![pct(run(&config, true, |n| {
                CoinFlip::with_seed(10, n as u64)
            }))];
            for fraction in [0.1, 0.02, 0.05, 0.2] {
                cells.push(pct(run(&config, true, |_| {
                    QpsThreshold::default().with_promote_fraction(fraction)
                })));
            }
            for min_qps in [0.25, 1.0, 4.0] {
                cells.push(pct(run(&config, true, |_| {
                    QpsThreshold::new(min_qps, min_qps).with_promote_fraction(1.0)
                })));
            }
            println!("| {zipf_s} | {cluster_qps:>11} | {} |", cells.join(" | "));
        }
    }
}
