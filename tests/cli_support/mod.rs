//! Helpers of the process tests: start real `groupcache serve` processes on
//! loopback, wait for them, run `groupcache` client commands, and kill
//! everything this test started when it ends.
//!
//! - [`origin`]: a slow HTTP origin in the test process, counting loads at
//!   the source;
//! - [`load`]: many concurrent `Get`s through tonic clients, with their
//!   outcomes and latencies;
//! - [`node_stats`]: the node-wide sections of `groupcache stats --json`
//!   (peer health, load limiter);
//! - [`scrape`]: a node's `--metrics-listen` page, read back.
#![allow(dead_code)] // each test uses a different subset

pub(crate) mod load;
pub(crate) mod node_stats;
pub(crate) mod origin;
pub(crate) mod scrape;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{GroupStats, StatsRequest};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_groupcache");

/// The longest wait for a node to answer after it started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest any client command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// A `groupcache` command with no `GROUPCACHE_*` variable inherited from
/// the environment running the tests.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GROUPCACHE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A fresh directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "groupcache-proc-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `groupcache serve` process this test started; killed (SIGKILL, by
/// its pid) and reaped on drop if still running.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) log: PathBuf,
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`) to `pid` with kill(1): one
/// process, by its id.
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

impl Node {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to this node (its own pid only).
    pub(crate) fn sigterm(&self) {
        send_signal(self.pid(), "TERM");
    }

    /// Stops the process (SIGSTOP): it keeps its sockets open, so peers see
    /// a hung node, not a closed port. The guard continues it (SIGCONT)
    /// when resumed or dropped, so a failing test never leaves it stopped.
    #[must_use = "dropping the guard continues the process at once"]
    pub(crate) fn sigstop(&self) -> Stopped {
        send_signal(self.pid(), "STOP");
        Stopped {
            pid: self.pid(),
            resumed: false,
        }
    }

    /// The resident set size in KiB (see [`rss_kib`]).
    pub(crate) fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).expect("the node's /proc/PID/status has VmRSS")
    }

    /// Kills this node at once (SIGKILL) and reaps it.
    pub(crate) fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The node's log so far (for failure messages).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The resident set size of `pid` in KiB (`VmRSS` of /proc/PID/status);
/// `None` once the process is gone.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A node stopped by [`Node::sigstop`]; continued (SIGCONT) on
/// [`Stopped::resume`] or drop.
pub(crate) struct Stopped {
    pid: u32,
    resumed: bool,
}

impl Stopped {
    /// Continues the process now.
    pub(crate) fn resume(mut self) {
        self.resumed = true;
        send_signal(self.pid, "CONT");
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if !self.resumed {
            // Not `send_signal`: no assertion (and no panic) while unwinding.
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid.to_string()])
                .status();
        }
    }
}

/// `n` loopback ports that were free a moment ago (bound to port 0 at
/// once, then released).
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Starts a `groupcache serve` on `addr` with `args`, logging to `dir`.
pub(crate) fn spawn_node(addr: &str, args: &[String], envs: &[(&str, String)], dir: &Path) -> Node {
    let log = dir.join(format!("node-{}.log", addr.replace(':', "_")));
    let mut cmd = command();
    cmd.arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("groupcache starts");
    Node {
        child,
        addr: addr.to_owned(),
        log,
    }
}

/// Waits until the node answers a Stats call; false if it exited or did not
/// answer in time.
pub(crate) async fn wait_ready(node: &mut Node) -> bool {
    let start = Instant::now();
    while start.elapsed() < READY_TIMEOUT {
        if let Ok(Some(_)) = node.child.try_wait() {
            return false;
        }
        if stats(&node.addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Polls `cond` every 20 ms until it holds (true) or `limit` has passed
/// (false).
pub(crate) async fn poll_until<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`poll_until`], panicking with `what` when `limit` passes first.
pub(crate) async fn wait_until<F, Fut>(limit: Duration, what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    assert!(
        poll_until(limit, cond).await,
        "{what} did not happen within {limit:?}"
    );
}

/// A running mesh of `groupcache serve` processes.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Node>,
    pub(crate) dir: TempDir,
}

/// Starts `n` nodes peering with each other, each given `extra` flags
/// (the groups). Retries with new ports when a port was taken in between.
pub(crate) async fn start_cluster(n: usize, extra: &[String], dir: TempDir) -> Cluster {
    start_cluster_env(n, extra, &[], dir).await
}

/// [`start_cluster`], with `envs` set in every node's environment.
pub(crate) async fn start_cluster_env(
    n: usize,
    extra: &[String],
    envs: &[(&str, String)],
    dir: TempDir,
) -> Cluster {
    start_cluster_each(n, |_| extra.to_vec(), envs, dir).await
}

/// [`start_cluster_env`], node `i` given the flags `extra(i)` (called
/// again on each attempt, so that ports it picks are picked afresh).
pub(crate) async fn start_cluster_each(
    n: usize,
    extra: impl Fn(usize) -> Vec<String>,
    envs: &[(&str, String)],
    dir: TempDir,
) -> Cluster {
    for _attempt in 0..3 {
        let addrs: Vec<String> = free_ports(n)
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let peers = addrs.join(",");
        let mut nodes: Vec<Node> = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let mut args = vec![
                    "--listen".to_owned(),
                    addr.clone(),
                    "--peers".to_owned(),
                    peers.clone(),
                ];
                args.extend(extra(i));
                spawn_node(addr, &args, envs, &dir.0)
            })
            .collect();
        let mut all = true;
        for node in &mut nodes {
            all &= wait_ready(node).await;
        }
        if all {
            return Cluster { nodes, dir };
        }
        for node in &nodes {
            eprintln!(
                "node {} did not start; log:\n{}",
                node.addr,
                node.log_text()
            );
        }
    }
    panic!("the cluster did not start in 3 attempts");
}

/// Starts one node configured through environment variables only (besides
/// `serve`): `GROUPCACHE_LISTEN` is set to a free port.
pub(crate) async fn start_env_node(envs: &[(&str, String)], dir: &TempDir) -> Node {
    for _attempt in 0..3 {
        let addr = format!("127.0.0.1:{}", free_ports(1)[0]);
        let mut all = envs.to_vec();
        all.push(("GROUPCACHE_LISTEN", addr.clone()));
        let mut node = spawn_node(&addr, &[], &all, &dir.0);
        if wait_ready(&mut node).await {
            return node;
        }
        eprintln!("node {addr} did not start; log:\n{}", node.log_text());
    }
    panic!("the node did not start in 3 attempts");
}

/// Calls Stats on `addr` (all groups) with a short deadline.
pub(crate) async fn stats(addr: &str) -> Result<Vec<GroupStats>, String> {
    let fut = async {
        let mut client = GroupcacheClient::connect(format!("http://{addr}"))
            .await
            .map_err(|e| e.to_string())?;
        let resp = client
            .stats(StatsRequest::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(resp.into_inner().groups)
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .map_err(|_| "stats timed out".to_owned())?
}

/// The peers `addr` lists in its Stats, if it answers within 2 s.
pub(crate) async fn peers_of(addr: &str) -> Option<Vec<String>> {
    let fut = async {
        let mut client = GroupcacheClient::connect(format!("http://{addr}"))
            .await
            .ok()?;
        let resp = client.stats(StatsRequest::default()).await.ok()?;
        Some(resp.into_inner().peers)
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

/// Starts `groupcache serve --listen ADDR FLAGS...` for each of `addrs`
/// (nodes that find each other through `--discovery`), waits until each
/// answers, then until each lists all of `addrs` as its peers.
pub(crate) async fn start_discovering(
    addrs: &[String],
    flags: &[&str],
    dir: &TempDir,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = addrs
        .iter()
        .map(|addr| {
            let mut args = vec!["--listen".to_owned(), addr.clone()];
            args.extend(flags.iter().map(|f| f.to_string()));
            spawn_node(addr, &args, &[], &dir.0)
        })
        .collect();
    for node in &mut nodes {
        assert!(wait_ready(node).await, "{}", node.log_text());
    }
    let mut all = addrs.to_vec();
    all.sort();
    for addr in addrs {
        wait_for_peers(addr, &all, Duration::from_secs(20)).await;
    }
    nodes
}

/// Waits until `addr` lists exactly `want` (sorted) as its peers, failing
/// the test after `within` with what it lists.
pub(crate) async fn wait_for_peers(addr: &str, want: &[String], within: Duration) {
    let seen = poll_until(within, || async {
        peers_of(addr).await.as_deref() == Some(want)
    })
    .await;
    assert!(
        seen,
        "{addr} lists {:?}, not {want:?}",
        peers_of(addr).await
    );
}

/// One counter of one group on `addr`.
pub(crate) async fn counter(addr: &str, group: &str, name: &str) -> u64 {
    let groups = stats(addr).await.expect("stats answer");
    let g = groups
        .iter()
        .find(|g| g.name == group)
        .expect("group exists");
    g.counters.get(name).copied().unwrap_or(0)
}

/// What a finished client command printed and returned.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

/// Runs `groupcache ARGS` to completion (bounded), capturing its output.
pub(crate) async fn run(args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::from(command());
    cmd.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("groupcache {args:?} did not finish in time"))
        .expect("groupcache runs");
    Output {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `groupcache get --addr ADDR GROUP KEY`.
pub(crate) async fn get(addr: &str, group: &str, key: &str) -> Output {
    run(&["get", "--addr", addr, "--timeout", "5s", group, key]).await
}
