//! Real-process tier: what an operator watching a node sees, on
//! `groupcache serve` processes on 127.0.0.1 (started and killed by pid by
//! each test):
//!
//! - `serve --metrics-listen`: a 3-node mesh's `/metrics` pages, scraped
//!   after a known traffic, hold that traffic (gets counted on the node
//!   asked, each peer fetch once on each side, the histograms' counts
//!   matching the counters), and `/healthz` answers;
//! - `stats --watch --interval 200ms --count 3`: three lines of sane rates
//!   under a steady load, then exit 0.
//!
//! Every wait is a bounded poll; every test is bounded as a whole.

mod cli_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_grpc::pb::GetRequest;
use cli_support::load::client;
use cli_support::scrape::{http_get, scrape, total};
use cli_support::*;

/// Every bound on a test: one taking longer is a hang.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a whole test under [`TEST_TIMEOUT`].
async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time");
}

/// One `Get` of `key` in group `g` from `addr` (no deadline of its own:
/// the node's request timeout bounds it).
async fn get(addr: &str, key: &str) -> Result<bytes::Bytes, tonic::Status> {
    let request = GetRequest {
        group: "g".into(),
        key: key.into(),
    };
    client(addr)
        .get(request)
        .await
        .map(|r| r.into_inner().value)
}

/// 30 gets of 10 keys spread over a 3-node mesh, in turn: the pages of
/// the three nodes add up to the traffic. Gets are counted on the node
/// asked (30 in all), and every one of them is timed; each key is loaded
/// once, by its owner; every peer fetch shows once on the requester (a
/// peer load, a peer-fetch latency, a get answered by a peer) and once on
/// the owner (a server request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_scrape_matches_the_traffic() {
    bounded(async {
        let metrics: Mutex<HashMap<usize, String>> = Mutex::new(HashMap::new());
        let cluster = start_cluster_each(
            3,
            |i| {
                let addr = format!("127.0.0.1:{}", free_ports(1)[0]);
                metrics.lock().unwrap().insert(i, addr.clone());
                [
                    "--group=g=synthetic:size=64",
                    "--peer-timeout=10s",
                    "--metrics-listen",
                    &addr,
                ]
                .map(str::to_owned)
                .to_vec()
            },
            &[],
            TempDir::new("metrics-mesh"),
        )
        .await;
        let metrics: Vec<String> = (0..3)
            .map(|i| metrics.lock().unwrap()[&i].clone())
            .collect();
        const GETS: usize = 30;
        for i in 0..GETS {
            let node = &cluster.nodes[i % 3];
            let value = get(&node.addr, &format!("k-{}", i % 10)).await.unwrap();
            assert_eq!(value.len(), 64);
        }
        let mut pages = Vec::new();
        for addr in &metrics {
            pages.push(scrape(addr).await);
        }
        let sum = |name: &str, with: &[&str]| -> f64 {
            pages.iter().map(|page| total(page, name, with)).sum()
        };
        let g = r#"group="g""#;
        assert_eq!(sum("groupcache_gets_total", &[g]), GETS as f64);
        for page in &pages {
            assert_eq!(
                total(page, "groupcache_gets_total", &[g]),
                10.0,
                "each node was asked 10 times"
            );
        }
        assert_eq!(
            sum("groupcache_get_duration_seconds_count", &[g]),
            GETS as f64
        );
        assert_eq!(
            sum(
                "groupcache_get_duration_seconds_bucket",
                &[g, r#"le="+Inf""#]
            ),
            GETS as f64
        );
        assert_eq!(
            sum("groupcache_local_loads_total", &[g]),
            10.0,
            "each key loaded once"
        );
        assert_eq!(sum("groupcache_fallback_loads_total", &[g]), 0.0);
        assert_eq!(sum("groupcache_get_errors_total", &[g]), 0.0);
        let peer_loads = sum("groupcache_peer_loads_total", &[g]);
        assert!(peer_loads > 0.0, "some keys are owned elsewhere");
        assert_eq!(sum("groupcache_server_requests_total", &[g]), peer_loads);
        assert_eq!(
            sum("groupcache_peer_fetch_duration_seconds_count", &[]),
            peer_loads
        );
        assert_eq!(
            sum(
                "groupcache_get_duration_seconds_count",
                &[g, r#"outcome="peer""#]
            ),
            peer_loads
        );
        assert_eq!(
            sum(
                "groupcache_get_duration_seconds_count",
                &[g, r#"outcome="load""#]
            ) + sum(
                "groupcache_get_duration_seconds_count",
                &[g, r#"outcome="peer""#]
            ) + sum(
                "groupcache_get_duration_seconds_count",
                &[g, r#"outcome="hit""#]
            ),
            GETS as f64
        );
        assert_eq!(
            sum("groupcache_load_duration_seconds_count", &[g]),
            sum("groupcache_local_loads_total", &[g])
        );
        assert_eq!(
            sum("groupcache_cache_items", &[g, r#"type="main""#]),
            10.0,
            "each key in its owner's main cache"
        );
        for page in &pages {
            assert_eq!(total(page, "groupcache_ring_peers", &[]), 3.0);
            assert_eq!(
                total(page, "groupcache_peer_up", &[]),
                2.0,
                "both other peers up"
            );
            assert_eq!(total(page, "groupcache_requests_in_flight", &[]), 0.0);
            assert_eq!(total(page, "groupcache_requests_shed_total", &[]), 0.0);
        }
        let (status, body) = http_get(&metrics[0], "/healthz").await.unwrap();
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        let (status, _) = http_get(&metrics[0], "/nope").await.unwrap();
        assert_eq!(status, 404);
    })
    .await;
}

/// Under a steady load, `stats --watch --interval 200ms --count 3` prints
/// its header and three lines, about 200 ms apart, each with the traffic's
/// rate of gets (none of them errors) and the cache's fill, then exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_watch_prints_three_lines_of_rates() {
    bounded(async {
        let cluster = start_cluster(
            1,
            &["--group=g=synthetic:size=100".to_owned()],
            TempDir::new("metrics-watch"),
        )
        .await;
        let addr = cluster.nodes[0].addr.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let load = tokio::spawn({
            let (addr, stop, sent) = (addr.clone(), Arc::clone(&stop), Arc::clone(&sent));
            async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    get(&addr, &format!("k-{}", i % 50)).await.unwrap();
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        wait_until(Duration::from_secs(10), "the load to start", || {
            let sent = Arc::clone(&sent);
            async move { sent.load(Ordering::Relaxed) >= 50 }
        })
        .await;
        let started = Instant::now();
        let out = run(&[
            "stats",
            "--addr",
            &addr,
            "--watch",
            "--interval",
            "200ms",
            "--count",
            "3",
        ])
        .await;
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        load.await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.code, Some(0), "{text}{}", out.stderr);
        assert!(
            took >= Duration::from_millis(550),
            "three intervals of 200 ms: {took:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "a header and 3 lines:\n{text}");
        assert!(
            lines[0].starts_with("time") && lines[0].contains("gets/s"),
            "{text}"
        );
        for line in &lines[1..] {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), 10, "{line}");
            let number =
                |i: usize| -> f64 { cells[i].parse().unwrap_or_else(|_| panic!("{line}")) };
            let (gets, hits, errors) = (number(1), number(2), number(6));
            assert!(
                gets > 5.0 && gets < 100_000.0,
                "gets/s under a steady load: {line}"
            );
            assert!(hits <= gets * 1.1 + 5.0, "hits/s at most gets/s: {line}");
            assert_eq!(errors, 0.0, "{line}");
            assert!(cells[8].ends_with('%'), "the fill: {line}");
            assert!(number(9) >= 1.0, "items cached: {line}");
        }
    })
    .await;
}
