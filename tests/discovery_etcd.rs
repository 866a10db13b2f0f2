//! Real-process tier: `--discovery etcd:URL/PREFIX` against a real etcd
//! (Debian's etcd-server 3.4), the sources opened in this process.
//!
//! Each test starts `/usr/bin/etcd` as a child process on 127.0.0.1 (free
//! client and peer ports, a temporary data dir) and kills it by pid at the
//! end (a drop guard). It checks that sources registering under one prefix
//! see each other; a joining source reaches the others' next answer; a
//! graceful leave removes a node at once and a crash (a source dropped
//! without leave) after the lease TTL; a stopped etcd is an error within
//! about the request timeout, and once etcd is back (restarted on the same
//! data dir and ports) the source answers again, its own registration
//! present and its watch working.
//!
//! Run by `scripts/test-etcd`, which installs etcd-server if missing and
//! sets `GROUPCACHE_TEST_ETCD=/usr/bin/etcd`; without that variable the
//! tests say they were not run and pass. Every wait is a bounded poll;
//! every test is bounded as a whole.

mod cli_support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use groupcache::discovery::DiscoveryOptions;
use groupcache::discovery::etcd::EtcdSource;
use tokio::time::Instant;

/// The bound on each test as a whole.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
/// The request timeout of the sources.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time");
}

/// An etcd server, a child of this process; killed by pid when dropped.
struct Etcd {
    bin: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl Etcd {
    /// Starts etcd and waits until it answers; `None` (and a note) when
    /// the test was not run by scripts/test-etcd.
    async fn start(test: &str) -> Option<Etcd> {
        let Some(bin) = std::env::var_os("GROUPCACHE_TEST_ETCD") else {
            eprintln!(
                "{test}: not run: GROUPCACHE_TEST_ETCD is not set (scripts/test-etcd sets it \
                 and installs etcd)"
            );
            return None;
        };
        let mut etcd = Etcd {
            bin: bin.into(),
            dir: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
        };
        etcd.spawn().await;
        Some(etcd)
    }

    /// `http://127.0.0.1:PORT`, the client URL.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("etcd is running").id()
    }

    /// Starts the process on this data dir and these ports, and waits
    /// until it answers a read.
    async fn spawn(&mut self) {
        let client = self.url();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .arg("--name=default")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let read = http
                .post(format!("{client}/v3/kv/range"))
                .body(r#"{"key":"AA=="}"#)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if matches!(&read, Ok(r) if r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer within 20 s: {read:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process, by pid.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Kills the process (by pid) and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The end of etcd's log, for failure messages.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// One call of etcd's JSON gateway, straight from the test.
    async fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.url()))
            .body(body.to_string())
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice(&answer).unwrap()
    }

    /// The value of one key and its lease id, read straight from etcd.
    async fn get_with_lease(&self, key: &str) -> Option<(String, String)> {
        let answer = self
            .call(
                "/v3/kv/range",
                serde_json::json!({ "key": B64.encode(key) }),
            )
            .await;
        let kv = &answer["kvs"][0];
        let value = B64.decode(kv["value"].as_str()?).unwrap();
        let lease = kv["lease"].as_str().unwrap_or("0").to_owned();
        Some((String::from_utf8(value).unwrap(), lease))
    }

    /// The value of one key, read straight from etcd.
    async fn get(&self, key: &str) -> Option<String> {
        self.get_with_lease(key).await.map(|(value, _)| value)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- etcd's log\n{}", self.log());
        }
        self.kill();
    }
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A source registering `addr` under `/gc/` with a lease of `ttl`.
async fn join(etcd: &Etcd, addr: &str, ttl: Duration) -> EtcdSource {
    join_at(&[etcd.url()], addr, ttl).await
}

/// [`join`] through these endpoints.
async fn join_at(endpoints: &[String], addr: &str, ttl: Duration) -> EtcdSource {
    let mut opts = DiscoveryOptions::new(addr);
    opts.timeout = REQUEST_TIMEOUT;
    opts.etcd_lease_ttl = ttl;
    EtcdSource::connect(endpoints, "/gc/", &opts)
        .await
        .unwrap_or_else(|e| panic!("{addr} could not join: {e}"))
}

/// Owned strings, for comparing answers.
fn set(addrs: &[&str]) -> Vec<String> {
    addrs.iter().map(|a| (*a).to_owned()).collect()
}

/// The next answer of `source`, within `within`; an error or no answer
/// fails the test.
async fn next_within(source: &mut EtcdSource, within: Duration) -> Vec<String> {
    tokio::time::timeout(within, source.next())
        .await
        .unwrap_or_else(|_| panic!("no answer within {within:?}"))
        .unwrap_or_else(|e| panic!("an error instead of an answer: {e}"))
}

/// Calls `next` until it answers `want`, within `within` (errors are
/// skipped: the source retries after each); returns how long it took.
async fn answers_within(source: &mut EtcdSource, want: &[String], within: Duration) -> Duration {
    let start = Instant::now();
    let deadline = start + within;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, source.next()).await {
            Ok(Ok(answer)) if answer == want => return start.elapsed(),
            Ok(answer) => last = Some(answer),
            Err(_) => panic!("did not answer {want:?} within {within:?}; last: {last:?}"),
        }
    }
}

/// Sources see each other; a joining one (its first endpoint dead) reaches
/// the others' next answer;
/// a graceful leave removes a node at once (well before its 10 s lease
/// TTL); a crashed one (dropped without leave, its renewal stopped)
/// disappears after its 2 s TTL, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_leave_and_crash() {
    bounded(async {
        let Some(etcd) = Etcd::start("members_join_leave_and_crash").await else {
            return;
        };
        let ttl = Duration::from_secs(2);
        let mut a = join(&etcd, "127.0.0.1:7101", ttl).await;
        let mut b = join(&etcd, "127.0.0.1:7102", ttl).await;
        let two = set(&["127.0.0.1:7101", "127.0.0.1:7102"]);
        assert_eq!(next_within(&mut a, Duration::from_secs(3)).await, two);
        assert_eq!(next_within(&mut b, Duration::from_secs(3)).await, two);
        // The key layout: PREFIX + address = address.
        assert_eq!(
            etcd.get("/gc/127.0.0.1:7101").await.as_deref(),
            Some("127.0.0.1:7101")
        );

        // A third joins, with a long lease, through a list whose first
        // endpoint refuses connections.
        let dead = format!("http://127.0.0.1:{}", free_port());
        let mut c = join_at(
            &[dead, etcd.url()],
            "127.0.0.1:7103",
            Duration::from_secs(10),
        )
        .await;
        let three = set(&["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]);
        assert_eq!(next_within(&mut c, Duration::from_secs(3)).await, three);
        assert_eq!(next_within(&mut a, Duration::from_secs(5)).await, three);
        assert_eq!(next_within(&mut b, Duration::from_secs(5)).await, three);

        // It leaves: gone from the others' next answer at once.
        c.leave().await.expect("leave");
        assert_eq!(etcd.get("/gc/127.0.0.1:7103").await, None);
        let took = answers_within(&mut a, &two, Duration::from_secs(2)).await;
        answers_within(&mut b, &two, Duration::from_secs(2)).await;
        eprintln!("a graceful leave reached the others in {took:?} (lease TTL 10 s)");
        // The leaver's watch goes on.
        assert_eq!(next_within(&mut c, Duration::from_secs(3)).await, two);

        // b crashes: its registration lives until its lease expires.
        drop(b);
        let crashed = Instant::now();
        let one = set(&["127.0.0.1:7101"]);
        answers_within(&mut a, &one, ttl + Duration::from_secs(6)).await;
        let took = crashed.elapsed();
        eprintln!("a crashed node disappeared after {took:?} (lease TTL {ttl:?})");
        assert!(
            took >= Duration::from_secs(1),
            "a crashed node's key went in {took:?}, before its lease could expire"
        );
        assert_eq!(etcd.get("/gc/127.0.0.1:7102").await, None);
    })
    .await;
}

/// A stopped etcd makes `next` fail within about the request timeout
/// (the renewal notices the hung connection), naming the endpoint; once
/// etcd is restarted on the same data dir and ports, the source answers
/// again with its own registration present, and its watch works again (a
/// node joining afterwards reaches its next answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_an_error_then_the_source_recovers() {
    bounded(async {
        let Some(mut etcd) = Etcd::start("an_outage_is_an_error_then_the_source_recovers").await
        else {
            return;
        };
        let ttl = Duration::from_secs(3);
        let mut a = join(&etcd, "127.0.0.1:7101", ttl).await;
        let one = set(&["127.0.0.1:7101"]);
        assert_eq!(next_within(&mut a, Duration::from_secs(3)).await, one);
        // Nothing changes: no answer.
        let quiet = tokio::time::timeout(Duration::from_millis(500), a.next()).await;
        assert!(quiet.is_err(), "answered with nothing changed: {quiet:?}");

        // Stopped: the connections hang.
        etcd.signal("STOP");
        let stopped = Instant::now();
        let within = ttl / 3 + REQUEST_TIMEOUT + Duration::from_secs(3);
        let error = tokio::time::timeout(within, a.next())
            .await
            .unwrap_or_else(|_| panic!("no error within {within:?} of etcd stopping"))
            .expect_err("an answer from a stopped etcd");
        let took = stopped.elapsed();
        eprintln!("stopped etcd: an error after {took:?}: {error}");
        let error = error.to_string();
        assert!(
            error.contains(&etcd.url()),
            "the error names no endpoint: {error}"
        );
        // Gone: errors go on (each within the back-off and the timeout).
        etcd.kill();
        let within = Duration::from_secs(1) + REQUEST_TIMEOUT + Duration::from_secs(3);
        let error = tokio::time::timeout(within, a.next())
            .await
            .unwrap_or_else(|_| panic!("no error within {within:?} while etcd is down"))
            .expect_err("an answer while etcd is down");
        eprintln!("etcd down: {error}");

        // Back on the same data dir and ports: the source recovers.
        etcd.spawn().await;
        let took = answers_within(&mut a, &one, Duration::from_secs(15)).await;
        eprintln!("etcd back: answered again after {took:?}");
        assert_eq!(
            etcd.get("/gc/127.0.0.1:7101").await.as_deref(),
            Some("127.0.0.1:7101")
        );
        // The watch is back too.
        let _b = join(&etcd, "127.0.0.1:7102", ttl).await;
        let two = set(&["127.0.0.1:7101", "127.0.0.1:7102"]);
        assert_eq!(next_within(&mut a, Duration::from_secs(5)).await, two);
    })
    .await;
}

/// A lease lost while the node lives (revoked by someone else here; an
/// expiry during a partition is the same) is replaced by the renewal
/// task: the key comes back, under a new lease, within about a third of
/// the TTL, and the others see it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_replaced() {
    bounded(async {
        let Some(etcd) = Etcd::start("a_lost_lease_is_replaced").await else {
            return;
        };
        let ttl = Duration::from_secs(3);
        let mut a = join(&etcd, "127.0.0.1:7101", ttl).await;
        let mut b = join(&etcd, "127.0.0.1:7102", ttl).await;
        let two = set(&["127.0.0.1:7101", "127.0.0.1:7102"]);
        assert_eq!(next_within(&mut a, Duration::from_secs(3)).await, two);
        assert_eq!(next_within(&mut b, Duration::from_secs(3)).await, two);

        let (_, lease) = etcd.get_with_lease("/gc/127.0.0.1:7102").await.unwrap();
        let revoked = etcd
            .call("/v3/lease/revoke", serde_json::json!({ "ID": lease }))
            .await;
        assert!(revoked.get("error").is_none(), "revoke: {revoked}");
        answers_within(&mut a, &set(&["127.0.0.1:7101"]), Duration::from_secs(3)).await;
        let took = answers_within(&mut a, &two, ttl + Duration::from_secs(3)).await;
        eprintln!("a revoked lease was replaced in {took:?} (lease TTL {ttl:?})");
        let (value, new_lease) = etcd.get_with_lease("/gc/127.0.0.1:7102").await.unwrap();
        assert_eq!(value, "127.0.0.1:7102");
        assert_ne!(new_lease, lease, "the key is back under the revoked lease");
        // The node's own view: by the time it reads again the key is back,
        // so the set it answered has not changed and it stays quiet.
        let quiet = tokio::time::timeout(Duration::from_millis(500), b.next()).await;
        assert!(quiet.is_err(), "answered an unchanged set: {quiet:?}");
    })
    .await;
}

/// Two `groupcache serve` processes with `--discovery etcd:` find each
/// other; one stopped with SIGTERM revokes its lease, so the other drops
/// it at once (well before the lease TTL), and it exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_and_a_graceful_leave_is_seen_at_once() {
    let Some(etcd) = Etcd::start("nodes_find_each_other").await else {
        return;
    };
    bounded(async {
        let dir = cli_support::TempDir::new("etcd-nodes");
        let addrs: Vec<String> = cli_support::free_ports(2)
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let spec = format!("etcd:{}/gc/nodes", etcd.url());
        let flags = [
            "--discovery",
            &spec,
            "--discovery-debounce",
            "200ms",
            "--etcd-lease-ttl",
            "30s",
            "--group",
            "g=synthetic:size=8",
        ];
        let mut nodes = cli_support::start_discovering(&addrs, &flags, &dir).await;
        nodes[1].sigterm();
        let left = Instant::now();
        assert_eq!(
            nodes[1].wait_exit(Duration::from_secs(20)),
            Some(0),
            "{}",
            nodes[1].log_text()
        );
        cli_support::wait_for_peers(&addrs[0], &addrs[..1], Duration::from_secs(10)).await;
        assert!(
            left.elapsed() < Duration::from_secs(20),
            "seen only after {:?}, not at once (the lease TTL is 30 s)",
            left.elapsed()
        );
        assert!(nodes[1].log_text().contains("left the discovery source"));
    })
    .await;
}
