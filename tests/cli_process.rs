//! End-to-end tests of the `groupcache` binary: real `groupcache serve`
//! processes on loopback, driven by `groupcache get` and `groupcache stats`
//! processes. Every process is started by the test and killed by its pid
//! when the test ends.

mod cli_support;

use std::time::Duration;

use cli_support::*;
use groupcache::source::synthetic_value;

/// The value size of the `syn` group.
const SIZE: usize = 100;

/// Flags of a node with a `files` group over `root` and a `syn` group,
/// and a peer timeout long enough that a loaded machine never judges a
/// live peer dead (the tests count loads and fallbacks).
fn groups(root: &std::path::Path) -> Vec<String> {
    vec![
        "--peer-timeout".into(),
        "10s".into(),
        "--group".into(),
        format!("files=dir:{}", root.display()),
        "--group".into(),
        format!("syn=synthetic:size={SIZE},missing=missing-"),
        "--group".into(),
        "slow=synthetic:size=8,delay=5s".into(),
    ]
}

/// A temp dir with `root/hello.txt`, `root/sub/deep.txt`, a `secret` next
/// to `root`, and a symlink `root/leak` to it.
fn files() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("files");
    let root = dir.0.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello from disk").unwrap();
    std::fs::write(root.join("sub/deep.txt"), b"deep").unwrap();
    std::fs::write(dir.0.join("secret"), b"TOP SECRET").unwrap();
    std::os::unix::fs::symlink(dir.0.join("secret"), root.join("leak")).unwrap();
    (dir, root)
}

/// Three nodes: `get` returns the right bytes from every node, each key is
/// loaded exactly once in the whole cluster (on its owner, no fallback),
/// and `stats --json` parses and agrees with the Stats RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_and_load_each_key_once() {
    let (dir, root) = files();
    let cluster = start_cluster(3, &groups(&root), dir).await;
    let keys: Vec<String> = (0..8).map(|i| format!("key-{i}")).collect();
    for key in &keys {
        for node in &cluster.nodes {
            let out = get(&node.addr, "syn", key).await;
            assert_eq!(out.code, Some(0), "{key} via {}: {}", node.addr, out.stderr);
            assert_eq!(
                out.stdout,
                synthetic_value(key, SIZE),
                "{key} via {}",
                node.addr
            );
        }
    }
    for node in &cluster.nodes {
        let out = get(&node.addr, "files", "hello.txt").await;
        assert_eq!(
            (out.code, out.stdout.as_slice()),
            (Some(0), &b"hello from disk"[..])
        );
        let out = get(&node.addr, "files", "sub/deep.txt").await;
        assert_eq!((out.code, out.stdout.as_slice()), (Some(0), &b"deep"[..]));
    }
    let mut loads = 0;
    let mut fallbacks = 0;
    for node in &cluster.nodes {
        loads += counter(&node.addr, "syn", "local_loads").await;
        fallbacks += counter(&node.addr, "syn", "fallback_loads").await;
    }
    assert_eq!(
        loads,
        keys.len() as u64,
        "each key loaded once in the cluster"
    );
    assert_eq!(fallbacks, 0);

    let addr = &cluster.nodes[0].addr;
    let out = run(&["stats", "--addr", addr, "--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stats --json is JSON");
    assert_eq!(json["node"], addr.as_str());
    assert_eq!(json["peers"].as_array().unwrap().len(), 3);
    let syn = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "syn")
        .expect("syn group in the JSON");
    let rpc_gets = counter(addr, "syn", "gets").await;
    assert_eq!(syn["counters"]["gets"], rpc_gets);
    assert_eq!(rpc_gets, keys.len() as u64);
    let table = run(&["stats", "--addr", addr]).await;
    assert_eq!(table.code, Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("local_loads") && text.contains("hot_cache.hits"),
        "{text}"
    );
}

/// Both runtimes and both write paths (the default: a worker per core and
/// coalesced writes; one thread; and `--threads 2 --dev stock`: hyper's
/// transport, tonic's codec, one write per answer) serve the
/// right bytes through every node, for values small enough to be copied
/// into h2's buffer, large enough to be sent apart (>= 256 bytes), and
/// spanning several DATA frames and flow-control windows; each key is
/// loaded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_and_write_paths_serve_the_same_bytes() {
    const BIG: usize = 200_000;
    for flags in [
        &[][..],
        &["--threads", "1"][..],
        &["--threads", "2", "--dev", "stock"][..],
    ] {
        let dir = TempDir::new("runtimes");
        let mut args: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        // Each key loaded once: no live peer may be judged dead.
        args.extend(["--peer-timeout".to_owned(), "10s".to_owned()]);
        for spec in [
            format!("syn=synthetic:size={SIZE}"),
            "mid=synthetic:size=1024".to_owned(),
            format!("big=synthetic:size={BIG}"),
        ] {
            args.push("--group".into());
            args.push(spec);
        }
        let cluster = start_cluster(3, &args, dir).await;
        for (group, size) in [("syn", SIZE), ("mid", 1024), ("big", BIG)] {
            for i in 0..4 {
                let key = format!("k{i}");
                for node in &cluster.nodes {
                    let out = get(&node.addr, group, &key).await;
                    assert_eq!(out.code, Some(0), "{flags:?} {group}/{key}: {}", out.stderr);
                    assert_eq!(
                        out.stdout,
                        synthetic_value(&key, size),
                        "{flags:?} {group}/{key}"
                    );
                }
            }
            let mut loads = 0;
            for node in &cluster.nodes {
                loads += counter(&node.addr, group, "local_loads").await;
            }
            assert_eq!(loads, 4, "{flags:?} {group}: each key loaded once");
        }
    }
}

/// Killing a key's owner (SIGKILL) leaves the survivors answering that key
/// and every other key correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_answer_after_the_owner_is_killed() {
    let (dir, root) = files();
    let mut cluster = start_cluster(3, &groups(&root), dir).await;
    let victim_key = "victim";
    let out = get(&cluster.nodes[0].addr, "syn", victim_key).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut owner = None;
    for (i, node) in cluster.nodes.iter().enumerate() {
        if counter(&node.addr, "syn", "local_loads").await == 1 {
            owner = Some(i);
        }
    }
    let owner = owner.expect("one node loaded the key");
    cluster.nodes[owner].sigkill();
    let keys: Vec<String> = std::iter::once(victim_key.to_owned())
        .chain((0..6).map(|i| format!("after-{i}")))
        .collect();
    for (i, node) in cluster.nodes.iter().enumerate() {
        if i == owner {
            continue;
        }
        for key in &keys {
            let out = get(&node.addr, "syn", key).await;
            assert_eq!(out.code, Some(0), "{key} via {}: {}", node.addr, out.stderr);
            assert_eq!(out.stdout, synthetic_value(key, SIZE));
        }
        let out = get(&node.addr, "files", "hello.txt").await;
        assert_eq!(out.stdout, b"hello from disk");
    }
}

/// NOT_FOUND exits 3 with `NOT_FOUND: ...` on stderr; traversal keys and
/// symlinks out of the root never return the secret; an unknown group, a
/// passed `--timeout` and an unreachable node exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_exit_codes_and_path_traversal() {
    let (dir, root) = files();
    let cluster = start_cluster(3, &groups(&root), dir).await;
    for node in &cluster.nodes {
        let out = get(&node.addr, "syn", "missing-1").await;
        assert_eq!(out.code, Some(3), "{}", out.stderr);
        assert!(out.stderr.starts_with("NOT_FOUND: "), "{}", out.stderr);
        assert!(out.stdout.is_empty());

        // The README's promise: INVALID_ARGUMENT and exit 1, with the
        // owner's reason on the owner and "refused by the key's owner" on
        // the other nodes.
        for key in ["../secret", "sub/../../secret", "/etc/passwd", "..\\secret"] {
            let out = get(&node.addr, "files", key).await;
            assert_eq!(out.code, Some(1), "{key}: {out:?}");
            assert!(
                out.stderr.starts_with("INVALID_ARGUMENT: invalid key: "),
                "{key}: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{key} returned data");
        }
        let out = get(&node.addr, "files", "leak").await;
        assert_eq!(out.code, Some(3), "symlink out: {}", out.stderr);
        assert!(out.stdout.is_empty());

        let out = get(&node.addr, "nope", "k").await;
        assert_eq!(out.code, Some(1));
        assert!(
            out.stderr.starts_with("INVALID_ARGUMENT: "),
            "{}",
            out.stderr
        );
    }
    let addr = &cluster.nodes[0].addr;
    // The source takes 5 s: a 1 s deadline passes, whichever side's timer
    // reports it (the node's, or the client's on a slow machine).
    let out = run(&["get", "--addr", addr, "--timeout", "1s", "slow", "k"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.starts_with("DEADLINE_EXCEEDED: "),
        "{}",
        out.stderr
    );

    let closed = format!("127.0.0.1:{}", free_ports(1)[0]);
    let out = run(&["get", "--addr", &closed, "--timeout", "2s", "syn", "k"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.starts_with("UNAVAILABLE: "), "{}", out.stderr);
}

/// SIGTERM while a slow request is in flight: the request completes with
/// the right value and the node exits 0. The node is configured through
/// environment variables only (two groups in `GROUPCACHE_GROUP`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let dir = TempDir::new("sigterm");
    let mut node = start_env_node(
        &[
            (
                "GROUPCACHE_GROUP",
                "slow=synthetic:size=32,delay=1500ms;other=synthetic:size=4".to_owned(),
            ),
            ("GROUPCACHE_CACHE_BYTES", "2MiB".to_owned()),
        ],
        &dir,
    )
    .await;
    let groups = stats(&node.addr).await.unwrap();
    let mut names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["other", "slow"], "two groups from one variable");
    assert!(groups.iter().all(|g| g.cache_bytes == 2 << 20));
    let addr = node.addr.clone();
    let request = tokio::spawn(async move { get(&addr, "slow", "drain-me").await });
    // Wait (bounded) until the node has the request in hand.
    let start = std::time::Instant::now();
    while counter(&node.addr, "slow", "gets").await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the get never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.sigterm();
    let out = tokio::time::timeout(Duration::from_secs(15), request)
        .await
        .expect("the in-flight get finished")
        .unwrap();
    assert_eq!(
        out.code,
        Some(0),
        "{}\nnode log:\n{}",
        out.stderr,
        node.log_text()
    );
    assert_eq!(out.stdout, synthetic_value("drain-me", 32));
    assert_eq!(
        node.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        node.log_text()
    );
    assert!(node.log_text().contains("SIGTERM"));
}

/// Bad configurations fail at start with a clear message and exit 2; a
/// taken listen port exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused() {
    for (args, needle) in [
        (&["serve"][..], "--group"),
        (&["serve", "--group", "g=nosuch:x"][..], "unknown source"),
        (
            &["serve", "--group", "g=synthetic", "--cache-bytes", "big"][..],
            "bad size",
        ),
        (
            &["serve", "--group", "g=synthetic", "--peer-timeout", "9"][..],
            "bad duration",
        ),
        (
            &["serve", "--group", "g=synthetic", "--group", "g=synthetic"][..],
            "given twice",
        ),
        (
            &["serve", "--group", "g=dir:/no/such/groupcache/dir"][..],
            "/no/such/groupcache/dir",
        ),
        (
            &["serve", "--group", "g=synthetic", "--peers", "a:1,"][..],
            "bad peer address",
        ),
        (&["frobnicate"][..], "unrecognized subcommand"),
    ] {
        let out = run(args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--listen", &addr, "--group", "g=synthetic"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("cannot listen"), "{}", out.stderr);
}

/// `groupcache demo` runs a 3-node mesh, shows the stampede costing one
/// load, and exits 0 by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_and_exits() {
    let out = run(&["demo", "--delay", "100ms", "--clients", "60"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("database loads: 1 "), "{text}");
    assert!(text.contains("60 answers"), "{text}");
    assert!(text.contains("50 hot-cache hits"), "{text}");
    assert!(text.contains("All 3 nodes stopped"), "{text}");
}

/// A node whose stderr reader went away (`serve 2>&1 | head -1`, a dead log
/// shipper) keeps serving: its log writes fail and are dropped, never a
/// panic; it still answers, and still exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_does_not_kill_the_node() {
    let port = free_ports(1)[0];
    let addr = format!("127.0.0.1:{port}");
    let dir = TempDir::new("closed-stderr");
    let mut child = command()
        .args([
            "serve",
            "--listen",
            &addr,
            "--group",
            "syn=synthetic:size=8",
        ])
        .args(["--log", "debug"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groupcache starts");
    // Close the read end: every later write to stderr fails (EPIPE).
    drop(child.stderr.take());
    let mut node = Node {
        child,
        addr: addr.clone(),
        log: dir.0.join("none.log"),
    };
    assert!(wait_ready(&mut node).await, "the node did not come up");
    for i in 0..20 {
        let out = get(&addr, "syn", &format!("k{i}")).await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    node.sigterm();
    assert_eq!(node.wait_exit(Duration::from_secs(15)), Some(0));
}

/// `groupcache wait` returns once every node listed answers health SERVING
/// (nodes started a moment before, as a script does), `get --wait` waits
/// the same way before its call, and a node that never comes up makes
/// `wait` exit 1 at its timeout, naming the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_once_nodes_serve() {
    let dir = TempDir::new("wait");
    let ports = free_ports(2);
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let peers = addrs.join(",");
    let mut children = Vec::new();
    for addr in &addrs {
        let child = command()
            .args(["serve", "--listen", addr, "--peers", &peers])
            .args(["--peer-timeout", "5s", "--group", "syn=synthetic:size=8"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(dir.0.join(format!("{}.log", addr.replace(':', "_"))))
                    .unwrap(),
            )
            .spawn()
            .expect("groupcache starts");
        children.push(Node {
            child,
            addr: addr.clone(),
            log: dir.0.join("node.log"),
        });
    }
    let out = run(&["wait", "--addr", &peers, "--timeout", "20s"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = run(&["get", "--wait", "20s", "--addr", &addrs[1], "syn", "k"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, synthetic_value("k", 8));

    let closed = format!("127.0.0.1:{}", free_ports(1)[0]);
    let out = run(&["wait", "--addr", &closed, "--timeout", "500ms"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&closed) && out.stderr.contains("not ready"),
        "{}",
        out.stderr
    );
    drop(children);
}

/// A switch set from its environment variable takes `1/0`, `yes/no`,
/// `true/false`, `on/off`; anything else is a usage error listing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_from_the_environment_take_the_usual_spellings() {
    let closed = format!("127.0.0.1:{}", free_ports(1)[0]);
    for (value, code) in [("1", 1), ("yes", 1), ("off", 1), ("maybe", 2)] {
        let out = command()
            .args(["stats", "--addr", &closed, "--timeout", "1s"])
            .env("GROUPCACHE_JSON", value)
            .output()
            .expect("groupcache runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 1: parsed, then the closed port; 2: refused before any call.
        assert_eq!(out.status.code(), Some(code), "{value}: {stderr}");
        if code == 2 {
            assert!(
                stderr.contains("expected 1, 0, true, false, yes, no"),
                "{stderr}"
            );
        } else {
            assert!(stderr.contains("UNAVAILABLE"), "{value}: {stderr}");
        }
    }
}
