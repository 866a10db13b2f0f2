//! Process tier: `groupcache remove` and `groupcache set` against a mesh of
//! 3 `serve` processes in front of an HTTP origin that counts its loads.
//! A Remove reaches every node (each key is loaded once more, on its
//! owner); a node stopped (SIGSTOP) during a Set is reported unreached, and
//! once resumed it serves the old value from its hot cache for at most
//! `--hot-ttl`, then the new one.

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::origin::{Origin, origin_value};
use cli_support::*;

/// The hot TTL of the nodes: the bound on a missed change.
const HOT_TTL: Duration = Duration::from_secs(3);

async fn mesh(origin: &Origin, tag: &str) -> Cluster {
    let extra: Vec<String> = [
        "--group",
        &format!("g={}", origin.source()),
        "--promotion",
        "always",
        "--hot-ttl",
        "3s",
        "--peer-timeout",
        "2s",
        "--mutation-timeout",
        "1s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    start_cluster(3, &extra, TempDir::new(tag)).await
}

async fn value_on(addr: &str, key: &str) -> Vec<u8> {
    let out = get(addr, "g", key).await;
    assert_eq!(out.code, Some(0), "get {key} from {addr}: {}", out.stderr);
    out.stdout
}

/// Keys warm on every node (owner's main cache, hot copies elsewhere) are
/// gone everywhere after one `groupcache remove`, which names all three
/// nodes: the next gets load each key exactly once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_reaches_every_process() {
    let origin = Origin::start(Duration::ZERO).await;
    let cluster = mesh(&origin, "remove-mesh").await;
    let addrs: Vec<&str> = cluster.nodes.iter().map(|n| n.addr.as_str()).collect();
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for addr in &addrs {
        for key in &keys {
            assert_eq!(value_on(addr, key).await, origin_value(key));
        }
    }
    assert_eq!(origin.total(), keys.len(), "each key loaded once");

    let mut args = vec!["remove", "--addr", addrs[1], "g"];
    args.extend(keys.iter().map(String::as_str));
    let out = run(&args).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for addr in &addrs {
        assert!(text.contains(addr), "{addr} not reached: {text}");
    }

    for addr in &addrs {
        for key in &keys {
            assert_eq!(value_on(addr, key).await, origin_value(key));
        }
    }
    for key in &keys {
        assert_eq!(origin.requests_for(key), 2, "{key}: loaded once more");
    }
}

/// A node stopped during a Set is reported unreached (exit 1, named on
/// stderr) while the others answer the new value at once; resumed, it
/// answers the new value within the hot TTL of when it copied the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_during_a_set_catches_up_within_the_hot_ttl() {
    let origin = Origin::start(Duration::ZERO).await;
    let cluster = mesh(&origin, "set-stopped").await;
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.clone()).collect();
    let (asked, stopped) = (&addrs[0], &addrs[2]);
    let keys: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    for addr in &addrs {
        for key in &keys {
            value_on(addr, key).await;
        }
    }
    let warmed = Instant::now();

    let pause = cluster.nodes[2].sigstop();
    let mut set_keys = Vec::new();
    for key in &keys {
        let out = run(&["set", "--addr", asked, "--timeout", "5s", "g", key, "new"]).await;
        if out.stderr.contains("did not confirm") {
            continue; // the stopped node owns this key: the Set was not confirmed
        }
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("not reached: {stopped}")),
            "{}",
            out.stderr
        );
        set_keys.push(key.clone());
    }
    assert!(!set_keys.is_empty(), "the stopped node owned every key");
    for key in &set_keys {
        for addr in &addrs[..2] {
            assert_eq!(value_on(addr, key).await, b"new", "{key} on {addr}");
        }
    }
    pause.resume();

    let limit =
        (warmed + HOT_TTL + Duration::from_secs(2)).saturating_duration_since(Instant::now());
    wait_until(limit, "the resumed node answers the new values", || async {
        let mut all = true;
        for key in &set_keys {
            all &= value_on(stopped, key).await == b"new";
        }
        all
    })
    .await;
    for key in &set_keys {
        assert_eq!(origin.requests_for(key), 1, "{key}: a Set loads nothing");
    }
}

/// A node stopped during a Remove is named unreached (exit 1); once it is
/// back, the same Remove again reaches every node (it is idempotent), and
/// each key is then loaded once more in the whole mesh, on its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remove_missed_by_a_stopped_node_is_completed_by_running_it_again() {
    let origin = Origin::start(Duration::ZERO).await;
    let cluster = mesh(&origin, "remove-stopped").await;
    let addrs: Vec<&str> = cluster.nodes.iter().map(|n| n.addr.as_str()).collect();
    let keys: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    for addr in &addrs {
        for key in &keys {
            value_on(addr, key).await;
        }
    }
    let mut args = vec!["remove", "--addr", addrs[0], "--timeout", "5s", "g"];
    args.extend(keys.iter().map(String::as_str));

    let pause = cluster.nodes[2].sigstop();
    let out = run(&args).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("not reached: {}", addrs[2])),
        "{}",
        out.stderr
    );
    pause.resume();

    let out = run(&args).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for addr in &addrs {
        for key in &keys {
            assert_eq!(value_on(addr, key).await, origin_value(key));
        }
    }
    for key in &keys {
        assert_eq!(origin.requests_for(key), 2, "{key}: loaded once more");
    }
}
