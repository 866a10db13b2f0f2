//! Real-process tier: `serve` flags whose effect only a running node shows,
//! each checked end to end on one `groupcache serve` process on 127.0.0.1
//! (started and killed by pid by each test), through gRPC clients that
//! send no deadline unless the test gives one, so every status seen is the
//! node's:
//!
//! - `--shutdown-timeout` cuts off a drain that a request in flight
//!   outlasts;
//! - `--request-timeout` bounds a request that carries no `grpc-timeout`;
//! - `--negative-ttl` makes a NotFound cached for that long, then asked
//!   of the source again;
//! - `--max-value-bytes` makes a larger file a source failure on its
//!   owner, passed on by the other node;
//! - `--access-log`, `--slow-request-log` and `--log-keys` write a JSON
//!   line per get and one per slow get, keys hashed.
//!
//! The engine behind each flag is tested in process (`cache-core`,
//! `cache-grpc`); these tests prove the flag reaches it. Timing margins
//! are seconds; waits are bounded polls.

mod cli_support;

use std::time::{Duration, Instant};

use cache_grpc::pb::GetRequest;
use cli_support::load::client;
use cli_support::*;
use tonic::Code;

/// Every bound on a test: one taking longer is a hang.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a whole test under [`TEST_TIMEOUT`].
async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time");
}

/// Starts one node with these flags (its own single-peer mesh).
async fn node(tag: &str, flags: &[&str]) -> Cluster {
    let args: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
    start_cluster(1, &args, TempDir::new(tag)).await
}

/// `Get` of `group`/`key` from `addr`, with no `grpc-timeout`.
async fn get_no_deadline(
    addr: &str,
    group: &str,
    key: &str,
) -> Result<bytes::Bytes, tonic::Status> {
    let request = GetRequest {
        group: group.into(),
        key: key.into(),
    };
    client(addr)
        .get(request)
        .await
        .map(|r| r.into_inner().value)
}

/// Waits (bounded polls, without blocking the runtime) for the node's
/// process to exit; its exit code, or `None` if it still runs at `limit`.
async fn exit_code_within(node: &mut Node, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = node.child.try_wait().unwrap() {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// SIGTERM with a request in flight whose load takes a minute: the drain
/// waits `--shutdown-timeout` (2 s) for it, no more. The node exits 0 at
/// about 2 s (between 2 s and 7 s after the signal), logs that the drain
/// timed out, and the request ends then with its connection closed
/// instead of waiting for its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_cuts_off_the_drain() {
    bounded(async {
        let mut cluster = node(
            "drain-cut",
            &[
                "--group",
                "slow=synthetic:size=8,delay=60s",
                "--shutdown-timeout",
                "2s",
                "--request-timeout",
                "120s",
                "--load-timeout",
                "120s",
            ],
        )
        .await;
        let node = &mut cluster.nodes[0];
        let addr = node.addr.clone();
        let request = tokio::spawn(async move { get_no_deadline(&addr, "slow", "k").await });
        wait_until(Duration::from_secs(10), "the get reaching the node", || {
            let addr = node.addr.clone();
            async move { counter(&addr, "slow", "loads").await == 1 }
        })
        .await;
        let signalled = Instant::now();
        node.sigterm();
        let code = exit_code_within(node, Duration::from_secs(15)).await;
        let took = signalled.elapsed();
        let log = node.log_text();
        assert_eq!(code, Some(0), "{log}");
        assert!(
            took >= Duration::from_secs(2),
            "exited after {took:?}: {log}"
        );
        assert!(
            took < Duration::from_secs(7),
            "exited after {took:?}: {log}"
        );
        assert!(log.contains("drain timed out"), "{log}");
        let answer = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .expect("the in-flight get ended with the node")
            .unwrap();
        let err = answer.expect_err("no value: the load had 58 s to go");
        // The node closed the connection under it: a transport error on
        // the client's side, not an answer of the node.
        assert!(
            matches!(
                err.code(),
                Code::Unknown | Code::Unavailable | Code::Cancelled
            ),
            "{err:?}"
        );
    })
    .await;
}

/// A request with no `grpc-timeout` of a key whose load takes a minute is
/// answered `DEADLINE_EXCEEDED` by the node after `--request-timeout`
/// (2 s): not before 1.9 s, and well before the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_bounds_a_request_without_a_deadline() {
    bounded(async {
        let cluster = node(
            "request-timeout",
            &[
                "--group",
                "slow=synthetic:size=8,delay=60s",
                "--request-timeout",
                "2s",
                "--load-timeout",
                "120s",
            ],
        )
        .await;
        let addr = &cluster.nodes[0].addr;
        let start = Instant::now();
        let err = get_no_deadline(addr, "slow", "k").await.unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
        // The node answers up to 20 ms early (its enforcement margin).
        assert!(took >= Duration::from_millis(1_900), "{took:?}");
        assert!(took < Duration::from_secs(7), "{took:?}");
        assert_eq!(counter(addr, "slow", "deadline_exceeded").await, 1);
    })
    .await;
}

/// `--negative-ttl 3s`: a NotFound is remembered, so the next gets are
/// answered from the cache without asking the source; once 3 s have passed
/// since the load, a get asks the source again (polled for, bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_ttl_caches_a_not_found_for_that_long() {
    bounded(async {
        let cluster = node(
            "negative-ttl",
            &[
                "--group",
                "syn=synthetic:size=8,missing=nope-",
                "--negative-ttl",
                "3s",
            ],
        )
        .await;
        let addr = &cluster.nodes[0].addr;
        let loaded = Instant::now();
        for _ in 0..3 {
            let err = get_no_deadline(addr, "syn", "nope-1").await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "{err:?}");
        }
        assert_eq!(counter(addr, "syn", "local_load_errs").await, 1);
        assert_eq!(counter(addr, "syn", "negative_hits").await, 2);
        wait_until(
            Duration::from_secs(15),
            "the source asked again",
            || async {
                let err = get_no_deadline(addr, "syn", "nope-1").await.unwrap_err();
                assert_eq!(err.code(), Code::NotFound, "{err:?}");
                counter(addr, "syn", "local_load_errs").await == 2
            },
        )
        .await;
        let after = loaded.elapsed();
        assert!(
            after >= Duration::from_secs(3),
            "asked again after {after:?}"
        );
    })
    .await;
}

/// `--max-value-bytes 1KiB` on two nodes over a `dir:` source holding a
/// 2 KiB and a 1 KiB file: the owner's source refuses the larger file
/// while loading, and the client gets `UNAVAILABLE`, "the source failed"
/// (README, "Status codes"), through either node; the other node passes
/// the owner's answer on instead of loading the file itself. The 1 KiB
/// file is served. (A `synthetic:` size over the limit is refused at
/// start: `cli::tests`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_value_bytes_refuses_a_larger_file_through_either_node() {
    bounded(async {
        let dir = TempDir::new("max-value");
        let root = dir.0.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("big"), vec![b'x'; 2048]).unwrap();
        std::fs::write(root.join("fits"), vec![b'y'; 1024]).unwrap();
        let args: Vec<String> = [
            "--group".to_owned(),
            format!("files=dir:{}", root.display()),
            "--max-value-bytes".to_owned(),
            "1KiB".to_owned(),
            "--peer-timeout".to_owned(),
            "10s".to_owned(),
        ]
        .into();
        let cluster = start_cluster(2, &args, dir).await;
        for node in &cluster.nodes {
            let err = get_no_deadline(&node.addr, "files", "big")
                .await
                .unwrap_err();
            assert_eq!(
                (err.code(), err.message()),
                (Code::Unavailable, "the source failed to load the key"),
                "through {}",
                node.addr
            );
            let value = get_no_deadline(&node.addr, "files", "fits").await.unwrap();
            assert_eq!(value.len(), 1024);
        }
        let mut refusals = Vec::new();
        for node in &cluster.nodes {
            refusals.push(counter(&node.addr, "files", "local_load_errs").await);
            assert_eq!(counter(&node.addr, "files", "fallback_loads").await, 0);
        }
        refusals.sort();
        assert_eq!(
            refusals,
            [0, 2],
            "only the owner's source was asked, once per get"
        );
    })
    .await;
}

/// `--access-log --slow-request-log 300ms --log-format json`: each client
/// Get is one `groupcache::access` line with its group, hashed key,
/// status, size, latency and client address; the get of a 1 s load is
/// also a `groupcache::slow` line; the key itself appears nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_and_slow_request_logs() {
    bounded(async {
        let cluster = node(
            "access-log",
            &[
                "--group",
                "fast=synthetic:size=16",
                "--group",
                "slow=synthetic:size=16,delay=1s,missing=nope-",
                "--access-log",
                "--slow-request-log",
                "300ms",
                "--log-format",
                "json",
            ],
        )
        .await;
        let addr = &cluster.nodes[0].addr;
        get_no_deadline(addr, "fast", "private-key-1")
            .await
            .unwrap();
        get_no_deadline(addr, "slow", "private-key-2")
            .await
            .unwrap();
        let err = get_no_deadline(addr, "slow", "nope-private-3")
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let lines = || -> Vec<serde_json::Value> {
            cluster.nodes[0]
                .log_text()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        };
        let target = |v: &serde_json::Value| v["target"].as_str().unwrap_or("").to_owned();
        wait_until(Duration::from_secs(10), "three access lines", || async {
            lines()
                .iter()
                .filter(|v| target(v) == "groupcache::access")
                .count()
                == 3
        })
        .await;
        let all = lines();
        let access: Vec<_> = all
            .iter()
            .filter(|v| target(v) == "groupcache::access")
            .collect();
        let slow: Vec<_> = all
            .iter()
            .filter(|v| target(v) == "groupcache::slow")
            .collect();
        let f = |v: &serde_json::Value, k: &str| v["fields"][k].clone();
        assert_eq!(f(access[0], "group"), "fast");
        assert_eq!(f(access[0], "code"), "OK");
        assert_eq!(f(access[0], "bytes"), 16);
        assert!(f(access[0], "key").as_str().unwrap().starts_with("xxh3:"));
        assert!(
            f(access[0], "peer")
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert!(f(access[1], "latency_us").as_u64().unwrap() >= 1_000_000);
        assert_eq!(f(access[2], "code"), "NOT_FOUND");
        // Two slow gets (the 1 s load and the 1 s NotFound), the fast one not.
        assert_eq!(slow.len(), 2, "{slow:?}");
        assert!(slow.iter().all(|v| f(v, "group") == "slow"));
        assert!(!cluster.nodes[0].log_text().contains("private-key"));
    })
    .await;
}
