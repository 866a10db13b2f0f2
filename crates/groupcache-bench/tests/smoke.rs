//! Smoke test of the load generator through the library API and the
//! `groupcache-bench` binary: an in-process node (cache-grpc's
//! `LocalCluster`) serving synthetic values, short fixed-count runs, and the
//! echo limit server. Asserts behaviour (counts, verification, stats, JSON,
//! exit codes), never timings.
//!
//! `cargo test -p groupcache-bench --test smoke`

use std::sync::Arc;
use std::time::Duration;

use cache_core::{Error as CoreError, GroupBuilder, Loaded, getter_fn};
use cache_grpc::LocalCluster;
use groupcache_bench::{
    self as bench, BenchConfig, Distribution, KeySet, Report, Stop, Verify, synthetic_value,
};

#[allow(dead_code, unreachable_pub)]
#[path = "../../cache-grpc/tests/common/certs.rs"]
mod certs;

const SIZE: usize = 1024;

/// A one-node cluster whose group `bench` serves `synthetic_value(key,
/// size)`, as `groupcache serve --group bench=synthetic:size=SIZE` does,
/// and NOT_FOUND for keys starting with `missing` (if given).
async fn node(size: usize, cache_bytes: u64, missing: Option<&'static str>) -> LocalCluster {
    LocalCluster::start(1, move |_i, pool| {
        let source = getter_fn(move |key: String, _ctx| async move {
            match missing {
                Some(prefix) if key.starts_with(prefix) => Err(CoreError::NotFound),
                _ => Ok(Loaded::new(synthetic_value(&key, size))),
            }
        });
        vec![
            GroupBuilder::new("bench", cache_bytes, source)
                .peers(Arc::new(pool.clone()))
                .build()
                .expect("valid group"),
        ]
    })
    .await
    .expect("cluster starts")
}

async fn one_node() -> LocalCluster {
    node(SIZE, 16 << 20, None).await
}

fn config(target: String, requests: u64) -> BenchConfig {
    let mut cfg = BenchConfig::new(vec![target]);
    cfg.keys = KeySet::Range {
        prefix: "key-".into(),
        count: 100,
    };
    cfg.concurrency = 8;
    cfg.conns = 2;
    cfg.warmup = Duration::ZERO;
    cfg.stop = Stop::Requests {
        count: requests,
        max_time: Duration::from_secs(20),
    };
    cfg
}

/// 2000 verified requests against one node all succeed; the first pass over
/// the 100 keys (sequential order) loads each exactly once, and the JSON
/// report parses back to the same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_against_one_node() {
    let cluster = one_node().await;
    let mut cfg = config(cluster.addr(0).to_string(), 2000);
    cfg.dist = Distribution::Sequential;
    cfg.verify = Some(Verify {
        size: SIZE,
        expected: synthetic_value,
    });
    cfg.pids = vec![std::process::id()];
    let report = tokio::time::timeout(Duration::from_secs(60), bench::run(&cfg))
        .await
        .expect("run ends in time")
        .expect("run succeeds");
    assert_eq!(report.requests, 2000);
    assert_eq!(report.ok, 2000);
    assert_eq!(report.errors, 0, "{:?}", report.error_codes);
    assert!(report.verified);
    assert!(report.throughput_rps > 0.0);
    assert!(report.latency.p50_us > 0.0 && report.latency.p50_us <= report.latency.max_us);
    let stats = report.stats.as_ref().expect("the node answers Stats");
    assert_eq!(stats.nodes, 1);
    assert_eq!(stats.source_loads, 100);
    assert_eq!(stats.counters["gets"], 2000);
    assert_eq!(stats.main_cache_hits + stats.source_loads, 2000);
    let json = serde_json::to_string(&report).expect("serialises");
    let back: Report = serde_json::from_str(&json).expect("JSON report parses");
    assert_eq!(back, report);
    cluster.shutdown().await.expect("clean shutdown");
}

/// `--batch 10`: 200 verified `GetMany`s of 10 keys each; the node counts
/// one `batch_gets` per request and each key as a get; the report gives
/// keys per second and CPU per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_send_get_many() {
    let cluster = one_node().await;
    let mut cfg = config(cluster.addr(0).to_string(), 200);
    cfg.dist = Distribution::Sequential;
    cfg.batch = 10;
    cfg.verify = Some(Verify {
        size: SIZE,
        expected: synthetic_value,
    });
    cfg.pids = vec![std::process::id()];
    let report = tokio::time::timeout(Duration::from_secs(60), bench::run(&cfg))
        .await
        .expect("run ends in time")
        .expect("run succeeds");
    assert_eq!(
        (report.requests, report.ok),
        (200, 200),
        "{:?}",
        report.error_codes
    );
    assert_eq!(report.batch, 10);
    assert_eq!(report.keys_per_s, report.throughput_rps * 10.0);
    let (per_req, per_key) = (report.server_cpu_us_per_req, report.server_cpu_us_per_key);
    assert!(per_req.is_some() && per_key.is_some());
    let stats = report.stats.as_ref().expect("the node answers Stats");
    assert_eq!(stats.counters["batch_gets"], 200);
    assert_eq!(stats.counters["gets"], 2000);
    assert_eq!(stats.source_loads, 100);
    assert!(report.to_table().contains("10 keys/request (GetMany)"));
    cluster.shutdown().await.expect("clean shutdown");
}

/// A run over a key set with some missing keys counts NOT_FOUND by status
/// code instead of failing, and its timeline (`--timeline`) accounts for
/// every request and error by send time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_status() {
    let cluster = node(16, 1 << 20, Some("gone-")).await;
    let mut cfg = config(cluster.addr(0).to_string(), 300);
    cfg.keys = KeySet::List(vec!["here-1".into(), "gone-1".into(), "here-2".into()]);
    cfg.dist = Distribution::Sequential;
    cfg.timeline = Some(Duration::from_secs(5));
    let report = bench::run(&cfg).await.expect("run succeeds");
    assert_eq!(report.requests, 300);
    assert_eq!(report.error_codes.get("NOT_FOUND"), Some(&100));
    assert_eq!(report.ok, 200);
    let slices = &report.timeline;
    assert!(!slices.is_empty() && slices[0].t_s == 0.0);
    assert_eq!(slices.iter().map(|p| p.requests).sum::<u64>(), 300);
    assert_eq!(slices.iter().map(|p| p.errors).sum::<u64>(), 100);
    assert!(report.to_table().contains("timeline"));
    cluster.shutdown().await.expect("clean shutdown");
}

/// The echo limit server answers the bench tool with its fixed payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_server_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bench::echo::serve_echo(listener, 100, async {
        let _ = rx.await;
    }));
    let mut cfg = config(addr.to_string(), 500);
    cfg.dist = Distribution::Zipf { s: 1.1 };
    let report = bench::run(&cfg).await.expect("run succeeds");
    assert_eq!(report.ok, 500);
    assert!(report.stats.is_none(), "echo has no groups");
    let _ = tx.send(());
    server.await.expect("joins").expect("serves");
}

/// A server that accepts connections but never answers can't hang a run:
/// each request is given up after its timeout (tonic's client reports
/// CANCELLED "Timeout expired"; the tool's own bound reports
/// DEADLINE_EXCEEDED) and counted as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_cannot_hang_the_run() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            held.push(sock); // keep it open, read nothing, write nothing
        }
    });
    let mut cfg = config(addr.to_string(), 4);
    cfg.concurrency = 2;
    cfg.conns = 1;
    cfg.timeout = Duration::from_millis(200);
    cfg.stats = false;
    let report = tokio::time::timeout(Duration::from_secs(20), bench::run(&cfg))
        .await
        .expect("the run ends although the server never answers")
        .expect("run succeeds");
    assert_eq!(report.requests, 4);
    assert_eq!(report.errors, 4);
    assert_eq!(report.ok, 0);
    let timed_out: u64 = ["CANCELLED", "DEADLINE_EXCEEDED"]
        .iter()
        .filter_map(|c| report.error_codes.get(*c))
        .sum();
    assert_eq!(timed_out, 4, "{:?}", report.error_codes);
    silent.abort();
}

/// `groupcache-bench` against a target nobody listens on prints a clean
/// one-line reason (no `Debug` dump of the transport error) and exits 1.
#[test]
fn bench_against_an_unreachable_target_fails_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_groupcache-bench"))
        .args(["--targets", &format!("127.0.0.1:{port}"), "--group", "g"])
        .args(["--duration", "1s"])
        .env_remove("GROUPCACHE_BENCH_TARGETS")
        .output()
        .expect("groupcache-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("UNAVAILABLE: cannot connect to "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ConnectError(") && !stderr.contains("Os {"),
        "{stderr}"
    );
}

/// A run in which every request failed (a group the node does not have)
/// exits 1 after its report; `--max-error-rate` fails a run above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_failures_exits_one() {
    let cluster = one_node().await;
    let target = cluster.addr(0).to_string();
    for (group, extra, code) in [
        ("no-such-group", None, Some(1)),
        ("bench", None, Some(0)),
        ("bench", Some("--max-error-rate=0"), Some(0)),
    ] {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_groupcache-bench"));
        cmd.args(["--targets", &target, "--group", group]).args([
            "--requests",
            "50",
            "--concurrency",
            "2",
            "--no-stats",
            "--no-progress",
        ]);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("bench finished")
            .expect("groupcache-bench runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), code, "{group} {extra:?}: {stderr}");
        if code == Some(1) {
            assert!(stderr.contains("all 50 requests failed"), "{stderr}");
        }
    }
    cluster.shutdown().await.unwrap();
}

/// Over TLS with a client token: every request is served (the node
/// refuses requests without the token, so none went without it), and the
/// stats deltas are read with the token too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_speaks_tls_and_tokens() {
    use cache_grpc::auth::{AuthPolicy, Tokens};
    use cache_grpc::tls::{ClientTls, ClientTlsConfig, ServerTls, ServerTlsConfig};

    let dir = certs::temp_dir("bench-tls");
    let ca = certs::TestCa::new(&dir, "bench");
    let leaf = ca.leaf("node", &["127.0.0.1"]);
    let mut opts = cache_grpc::ClusterOptions::default();
    opts.server = opts
        .server
        .to_builder()
        .tls(ServerTls::load(ServerTlsConfig::new(&leaf.cert, &leaf.key)).unwrap())
        .auth(
            AuthPolicy::open()
                .client_tokens(Tokens::from_text("bench-token").unwrap())
                .peer_tokens(Tokens::from_text("peer-token").unwrap()),
        )
        .build()
        .unwrap();
    let cluster = LocalCluster::start_with(1, opts, |_i, pool| {
        let source =
            getter_fn(
                |key: String, _ctx| async move { Ok(Loaded::new(synthetic_value(&key, SIZE))) },
            );
        vec![
            GroupBuilder::new("bench", 16 << 20, source)
                .peers(Arc::new(pool.clone()))
                .build()
                .unwrap(),
        ]
    })
    .await
    .unwrap();
    let mut cfg = config(format!("https://{}", cluster.addr(0)), 500);
    cfg.tls = Some(ClientTls::load(ClientTlsConfig::new().ca(ca.ca_file())).unwrap());
    cfg.authorization = Some(Tokens::from_text("bench-token").unwrap().header());
    cfg.verify = Some(Verify {
        size: SIZE,
        expected: synthetic_value,
    });
    let report = tokio::time::timeout(Duration::from_secs(60), bench::run(&cfg))
        .await
        .expect("run ends in time")
        .expect("run succeeds");
    assert_eq!((report.requests, report.ok), (500, 500));
    let stats = report.stats.expect("stats read with the token");
    assert_eq!(stats.nodes, 1);
    assert_eq!(stats.counters.get("gets"), Some(&500));

    // Without the token every request is refused.
    cfg.authorization = None;
    cfg.stop = Stop::Requests {
        count: 50,
        max_time: Duration::from_secs(20),
    };
    let report = bench::run(&cfg).await.expect("the run itself works");
    assert_eq!(report.ok, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
