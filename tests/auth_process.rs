//! Process tier: `groupcache serve` with client and peer tokens from the
//! environment. `get` without a token is `UNAUTHENTICATED` (exit 1); with
//! `GROUPCACHE_TOKEN` or `--token-file` it is served through every node,
//! peers fetching from each other with the peer token (no fallback); a
//! non-loopback `--listen` without tokens refuses to start.

mod cli_support;

use std::process::Stdio;
use std::time::Duration;

use cli_support::*;
use groupcache::source::synthetic_value;

/// `groupcache get` with `envs` set.
async fn get_with(addr: &str, key: &str, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::from(command());
    cmd.args(["get", "--addr", addr, "--timeout", "5s"])
        .args(extra)
        .args(["g", key])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("get finishes")
        .expect("groupcache runs");
    Output {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_gate_a_mesh_of_processes() {
    let dir = TempDir::new("auth");
    let token_file = dir.0.join("client-token");
    std::fs::write(&token_file, "client-1\n").unwrap();
    let token_file = token_file.display().to_string();
    let extra: Vec<String> = [
        "--group",
        "g=synthetic:size=8",
        "--open-stats",
        "--peer-timeout",
        "10s",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let envs = [
        ("GROUPCACHE_AUTH_TOKENS", "client-1".to_owned()),
        ("GROUPCACHE_PEER_TOKENS", "peer-1".to_owned()),
    ];
    let cluster = start_cluster_env(2, &extra, &envs, dir).await;
    for (i, node) in cluster.nodes.iter().enumerate() {
        let key = format!("k{i}");
        let out = get_with(&node.addr, &key, &[], &[]).await;
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(out.stderr.contains("UNAUTHENTICATED"), "{}", out.stderr);
        let out = get_with(&node.addr, &key, &[], &[("GROUPCACHE_TOKEN", "peer-0")]).await;
        assert!(
            out.stderr.contains("UNAUTHENTICATED: invalid token"),
            "{}",
            out.stderr
        );
        for how in [&["--token-file", token_file.as_str()][..], &[][..]] {
            let env: &[(&str, &str)] = if how.is_empty() {
                &[("GROUPCACHE_TOKEN", "client-1")]
            } else {
                &[]
            };
            let out = get_with(&node.addr, &key, how, env).await;
            assert_eq!(out.code, Some(0), "{how:?}: {}", out.stderr);
            assert_eq!(out.stdout, synthetic_value(&key, 8));
        }
    }
    // Every key of a node's peer was fetched with the peer token: nothing
    // was loaded again locally.
    for node in &cluster.nodes {
        assert_eq!(counter(&node.addr, "g", "fallback_loads").await, 0);
    }
}

/// A non-loopback listen address with nothing protecting it is a usage
/// error naming the flags to add.
#[tokio::test]
async fn an_open_wide_listen_address_is_refused() {
    let out = run(&["serve", "--listen", "0.0.0.0:0", "--group", "g=synthetic"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--auth-token-file"), "{}", out.stderr);
    assert!(out.stderr.contains("--insecure"), "{}", out.stderr);
}
