//! `groupcache get-many` against three real `groupcache serve` processes,
//! one of them killed (SIGKILL): every key answered, a line per key, the
//! exit codes, `--json`, and the batch limit. Every process is started by
//! the test and killed by its pid when the test ends.

mod cli_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cache_grpc::{PeerPool, PoolOptions};
use cli_support::*;
use groupcache::source::synthetic_value;

/// The value size of the `syn` group.
const SIZE: usize = 16;

/// Three nodes, the third killed: `get-many` through the first answers
/// every key, the dead owner's by fallback (counted on the first node), a
/// result per key in order (`--json`); a NOT_FOUND key makes the exit
/// code 3, with a line per key; more keys than `--max-batch-keys` is
/// INVALID_ARGUMENT naming the limit (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_with_one_node_dead() {
    let flags: Vec<String> = [
        "--peer-timeout",
        "10s",
        "--max-batch-keys",
        "50",
        "--group",
        "syn=synthetic:size=16,missing=missing-",
    ]
    .map(String::from)
    .to_vec();
    let mut cluster = start_cluster(3, &flags, TempDir::new("get-many")).await;
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    let ring = PeerPool::new(&addrs[0], &addrs, PoolOptions::default()).unwrap();
    let keys: Vec<String> = (0..12).map(|i| format!("key-{i}")).collect();
    let dead = keys.iter().filter(|k| ring.owner(k) == addrs[2]).count();
    assert!(dead > 0, "no key of 12 on the third node");
    cluster.nodes[2].sigkill();

    let mut args = vec!["get-many", "--json", "--addr", &addrs[0], "syn"];
    args.extend(keys.iter().map(String::as_str));
    let out = run(&args).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json.as_array().unwrap();
    assert_eq!(results.len(), keys.len());
    for (key, result) in keys.iter().zip(results) {
        assert_eq!(result["key"], *key);
        assert_eq!(result["code"], "OK");
        let value = B64.encode(synthetic_value(key, SIZE));
        assert_eq!(result["value_base64"], value, "{key}");
    }
    assert_eq!(
        counter(&addrs[0], "syn", "fallback_loads").await,
        dead as u64
    );
    assert_eq!(counter(&addrs[0], "syn", "batch_gets").await, 1);

    let out = run(&["get-many", "--addr", &addrs[1], "syn", "key-1", "missing-1"]).await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(out.stderr.trim(), "1 of 2 keys failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("key-1\tOK\t"), "{text}");
    assert_eq!(lines[1], "missing-1\tNOT_FOUND\tkey not found");

    let many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    let mut args = vec!["get-many", "--addr", &addrs[0], "syn"];
    args.extend(many.iter().map(String::as_str));
    let out = run(&args).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("INVALID_ARGUMENT: a batch of 51 keys"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("limit of 50 keys"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
