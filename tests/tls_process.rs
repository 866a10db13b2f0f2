//! Process tier: `groupcache serve --tls-cert --tls-key --tls-ca`. Two
//! nodes on loopback talk mTLS to each other (a key owned by the other node
//! is fetched, never loaded twice); `get`, `stats` and `wait` reach them
//! with `--tls-ca` (or the same `GROUPCACHE_TLS_*` variables the nodes
//! read); a plaintext `get` is told the port requires TLS; a non-loopback
//! `--listen` with TLS starts without `--insecure`.

#[allow(dead_code, unreachable_pub)]
#[path = "../crates/cache-grpc/tests/common/certs.rs"]
mod certs;
mod cli_support;

use std::process::Stdio;
use std::time::Duration;

use certs::TestCa;
use cli_support::*;
use groupcache::source::synthetic_value;

fn spawn(addr: &str, peers: &str, tls: &[String], dir: &TempDir) -> Node {
    let mut args: Vec<String> = ["--listen", addr, "--peers", peers]
        .iter()
        .chain(&["--group", "g=synthetic:size=8", "--peer-timeout", "10s"])
        .map(|s| s.to_string())
        .collect();
    args.extend(tls.iter().cloned());
    spawn_node(addr, &args, &[], &dir.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mtls_mesh_of_processes() {
    let dir = TempDir::new("tls");
    let ca = TestCa::new(&dir.0, "proc");
    let leaf = ca.leaf("node", &["127.0.0.1", "localhost"]);
    let (ca_file, cert, key) = (
        ca.ca_file().display().to_string(),
        leaf.cert.display().to_string(),
        leaf.key.display().to_string(),
    );
    let tls: Vec<String> = ["--tls-cert", &cert, "--tls-key", &key, "--tls-ca", &ca_file]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let addrs: Vec<String> = free_ports(2)
        .into_iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let peers = addrs.join(",");
    let nodes: Vec<Node> = addrs.iter().map(|a| spawn(a, &peers, &tls, &dir)).collect();
    let all = addrs.join(",");
    let out = run(&[
        "wait",
        "--addr",
        &all,
        "--timeout",
        "15s",
        "--tls-ca",
        &ca_file,
    ])
    .await;
    if out.code != Some(0) {
        for n in &nodes {
            eprintln!("{}:\n{}", n.addr, n.log_text());
        }
        panic!("the TLS nodes did not come up: {}", out.stderr);
    }

    for (i, node) in nodes.iter().enumerate() {
        for k in 0..4 {
            let key = format!("k{i}-{k}");
            let https = format!("https://{}", node.addr);
            let out = run(&[
                "get",
                "--addr",
                &https,
                "--tls-ca",
                &ca_file,
                "--timeout",
                "5s",
                "g",
                &key,
            ])
            .await;
            assert_eq!(out.code, Some(0), "{}", out.stderr);
            assert_eq!(out.stdout, synthetic_value(&key, 8));
        }
        // Plaintext at the TLS port: told why.
        let out = run(&["get", "--addr", &node.addr, "--timeout", "5s", "g", "k"]).await;
        assert_eq!(out.code, Some(1), "{}", out.stderr);
        assert!(
            out.stderr.contains("UNAVAILABLE") && out.stderr.contains("requires TLS"),
            "{}",
            out.stderr
        );
    }
    // Peers fetched from each other over mTLS: nothing loaded twice.
    for node in &nodes {
        let mut cmd = tokio::process::Command::from(command());
        cmd.args(["stats", "--addr", &node.addr, "--timeout", "5s", "--json"])
            .env("GROUPCACHE_TLS_CA", &ca_file)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = v.to_string();
        assert!(text.contains("\"fallback_loads\":0"), "{text}");
    }
}

/// TLS counts as protection: a wide listen address starts without
/// --insecure; files that do not belong together are a usage error naming
/// them.
#[tokio::test]
async fn tls_flags_are_checked() {
    let dir = TempDir::new("tls-flags");
    let ca = TestCa::new(&dir.0, "flags");
    let a = ca.leaf("a", &["127.0.0.1"]);
    let b = ca.leaf("b", &["127.0.0.1"]);
    let (cert, other_key) = (a.cert.display().to_string(), b.key.display().to_string());
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--group",
        "g=synthetic",
        "--tls-cert",
        &cert,
        "--tls-key",
        &other_key,
    ])
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("a.pem"), "{}", out.stderr);
    let out = run(&["serve", "--group", "g=synthetic", "--tls-cert", &cert]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--tls-key"), "{}", out.stderr);

    let port = free_ports(1)[0];
    let listen = format!("0.0.0.0:{port}");
    let self_addr = format!("127.0.0.1:{port}");
    let key = a.key.display().to_string();
    let log = dir.0.join("wide.log");
    let child = command()
        .args(["serve", "--listen", &listen, "--self", &self_addr])
        .args([
            "--group",
            "g=synthetic",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut node = Node {
        child,
        addr: self_addr.clone(),
        log,
    };
    let ca_file = ca.ca_file().display().to_string();
    let out = run(&[
        "wait",
        "--addr",
        &self_addr,
        "--timeout",
        "15s",
        "--tls-ca",
        &ca_file,
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stderr, node.log_text());
    node.sigterm();
    assert_eq!(node.wait_exit(Duration::from_secs(15)), Some(0));
}
