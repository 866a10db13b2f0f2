//! Real-server tier: the DNS discovery source (`--discovery dns:NAME:PORT`
//! and `dns+srv:NAME`) against Debian's dnsmasq, started by each test as a
//! child process on 127.0.0.1 with a free port, a hosts file and SRV
//! records in a temporary directory, and killed by pid at the end:
//!
//! - A and AAAA records come back as sorted `IP:PORT` / `[v6]:PORT`, and
//!   after the hosts file changes and dnsmasq gets SIGHUP the next polls
//!   answer the new set;
//! - an answer too large for UDP comes over TCP;
//! - SRV records give their targets' addresses at the records' ports,
//!   from the additional records or from a lookup; a target with no
//!   address is left out;
//! - an unknown name, or a name without records, is an error naming it;
//! - a server that never answers (a UDP socket of this test) is a timeout
//!   error within about the timeout. This one needs no dnsmasq and always
//!   runs.
//!
//! Run it with `scripts/test-dns`, which installs dnsmasq if missing and
//! sets `GROUPCACHE_TEST_DNSMASQ=/usr/sbin/dnsmasq`. Without that variable
//! the dnsmasq tests print that they were not run and pass, so that
//! `cargo test --workspace` runs on a machine without dnsmasq; the script
//! is the gate (`./scripts/check` runs it). dnsmasq is started with
//! `--no-resolv --local=/mesh.test/`: it answers only from its own files
//! and never forwards a query, so no traffic leaves loopback.

mod cli_support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use groupcache::Error;
use groupcache::discovery::dns::DnsSource;
use groupcache::discovery::{DiscoveryOptions, DiscoverySpec};

/// The variable `scripts/test-dns` sets to the dnsmasq binary.
const DNSMASQ_VAR: &str = "GROUPCACHE_TEST_DNSMASQ";

/// The longest any test may take.
const BOUND: Duration = Duration::from_secs(30);

/// dnsmasq's binary, or `None` (with a note on stderr) when the test is
/// not run by `scripts/test-dns`.
fn dnsmasq_binary(test: &str) -> Option<PathBuf> {
    let Some(path) = std::env::var_os(DNSMASQ_VAR) else {
        eprintln!(
            "discovery_dns::{test}: not run: {DNSMASQ_VAR} is unset (not started by \
             scripts/test-dns, which installs dnsmasq and runs this test)"
        );
        return None;
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{DNSMASQ_VAR}={} is not a file: run scripts/test-dns (it installs Debian's dnsmasq)",
        path.display()
    );
    Some(path)
}

/// A dnsmasq child on 127.0.0.1, answering for `mesh.test` only from its
/// hosts file and flags. Killed by pid when dropped.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    hosts: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dnsmasq {
    /// Starts dnsmasq with `hosts` as its hosts file and `flags` added
    /// (`--srv-host=...`), and waits until it answers.
    fn start(binary: &Path, hosts: &str, flags: &[&str]) -> Dnsmasq {
        // The free UDP port may be taken for TCP (dnsmasq binds both), or
        // by someone else before dnsmasq binds it: a few tries.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let hosts_path = dir.path().join("hosts");
            std::fs::write(&hosts_path, hosts).unwrap();
            let log = dir.path().join("dnsmasq.log");
            let port = UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new(binary)
                .args([
                    "--conf-file=/dev/null",
                    "--no-daemon",
                    "--no-resolv",
                    "--no-hosts",
                    "--local=/mesh.test/",
                    // An hour: a resolver that cached answers would not
                    // see a change for that long.
                    "--local-ttl=3600",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--pid-file=",
                    &format!("--port={port}"),
                    &format!("--addn-hosts={}", hosts_path.display()),
                ])
                .args(flags)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut server = Dnsmasq {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                hosts: hosts_path,
                log,
                _dir: dir,
            };
            if server.wait_ready() {
                return server;
            }
            last_log = server.log_text();
            eprintln!("dnsmasq exited at start on port {port}: {last_log}");
        }
        panic!("dnsmasq did not start in 5 tries: {last_log}");
    }

    /// Waits (at most 5 s) until dnsmasq answers a query; `false` if it
    /// exited first.
    fn wait_ready(&mut self) -> bool {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let query = a_query("ready.mesh.test", false);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            socket.send_to(&query, self.addr).unwrap();
            let mut buf = [0; 512];
            if socket.recv_from(&mut buf).is_ok() {
                return true;
            }
        }
        panic!("dnsmasq did not answer within 5 s: {}", self.log_text());
    }

    /// Replaces the hosts file (by a rename, as deploy tools do) and tells
    /// dnsmasq to read it again (SIGHUP, to the pid this test started).
    fn set_hosts(&self, hosts: &str) {
        let tmp = self.hosts.with_extension("new");
        std::fs::write(&tmp, hosts).unwrap();
        std::fs::rename(&tmp, &self.hosts).unwrap();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -HUP {} failed", self.child.id());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn options(&self) -> DiscoveryOptions {
        let mut opts = DiscoveryOptions::new("127.0.0.1:7001");
        opts.dns_server = Some(self.addr);
        opts.interval = Duration::from_millis(200);
        opts.timeout = Duration::from_secs(2);
        opts
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // SIGKILL to the pid this test started, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DNS query for the A records of `name` (id 1, recursion desired),
/// with an EDNS OPT record offering 1232 bytes when `edns` (as hickory
/// sends).
fn a_query(name: &str, edns: bool) -> Vec<u8> {
    let mut q = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn spec(text: &str) -> DiscoverySpec {
    DiscoverySpec::parse(text).unwrap()
}

/// One answer, bounded.
async fn next(source: &mut DnsSource) -> Result<Vec<String>, Error> {
    tokio::time::timeout(Duration::from_secs(5), source.next())
        .await
        .expect("no answer within 5 s")
}

/// Polls until the answer is `want`, for at most 5 s; panics with the last
/// answer.
async fn wait_for(source: &mut DnsSource, want: &[&str]) {
    let start = Instant::now();
    loop {
        let got = next(source).await;
        if matches!(&got, Ok(peers) if peers == want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {got:?} after 5 s, expected {want:?}"
        );
    }
}

/// A and AAAA records come back sorted as IP:PORT, IPv6 bracketed, the
/// first at once; an AAAA query answered REFUSED does not void the A
/// records; a changed hosts file is answered after SIGHUP.
#[tokio::test]
async fn a_records_follow_the_hosts_file() {
    let Some(binary) = dnsmasq_binary("a_records_follow_the_hosts_file") else {
        return;
    };
    let hosts = "127.0.0.10 gc.mesh.test\n127.0.0.3 gc.mesh.test\n127.0.0.2 gc.mesh.test\n\
                 ::1 gc.mesh.test\n127.0.0.99 other.mesh.test\n127.0.0.7 v4.elsewhere.test\n";
    let dns = Dnsmasq::start(&binary, hosts, &[]);
    tokio::time::timeout(BOUND, async {
        let mut source = DnsSource::new(&spec("dns:gc.mesh.test:7001"), &dns.options()).unwrap();
        let start = Instant::now();
        let first = next(&mut source).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            first,
            [
                "127.0.0.2:7001",
                "127.0.0.3:7001",
                "127.0.0.10:7001",
                "[::1]:7001"
            ]
        );
        // The next poll waits for the interval, and may answer the same.
        let start = Instant::now();
        assert_eq!(next(&mut source).await.unwrap(), first);
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );

        // Outside mesh.test dnsmasq answers the AAAA query REFUSED: the
        // A records still make the answer.
        let mut v4 = DnsSource::new(&spec("dns:v4.elsewhere.test:7001"), &dns.options()).unwrap();
        assert_eq!(next(&mut v4).await.unwrap(), ["127.0.0.7:7001"]);

        dns.set_hosts("127.0.0.2 gc.mesh.test\n127.0.0.4 gc.mesh.test\n");
        wait_for(&mut source, &["127.0.0.2:7001", "127.0.0.4:7001"]).await;
    })
    .await
    .unwrap_or_else(|_| panic!("over {BOUND:?}: {}", dns.log_text()));
}

/// 150 addresses do not fit the 1232 bytes of a UDP answer: dnsmasq
/// truncates it and the source asks again over TCP.
#[tokio::test]
async fn a_large_answer_comes_over_tcp() {
    let Some(binary) = dnsmasq_binary("a_large_answer_comes_over_tcp") else {
        return;
    };
    let hosts: String = (1..=150)
        .map(|i| format!("127.0.1.{i} big.mesh.test\n"))
        .collect();
    let dns = Dnsmasq::start(&binary, &hosts, &[]);
    // The UDP answer is truncated indeed (TC bit), so TCP is what answers.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
        .send_to(&a_query("big.mesh.test", true), dns.addr)
        .unwrap();
    let mut buf = [0; 4096];
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    assert!(
        len > 12 && buf[2] & 0x02 != 0,
        "the UDP answer is not truncated"
    );

    tokio::time::timeout(BOUND, async {
        let mut source = DnsSource::new(&spec("dns:big.mesh.test:7001"), &dns.options()).unwrap();
        let want: Vec<String> = (1..=150).map(|i| format!("127.0.1.{i}:7001")).collect();
        assert_eq!(next(&mut source).await.unwrap(), want);
    })
    .await
    .unwrap_or_else(|_| panic!("over {BOUND:?}: {}", dns.log_text()));
}

/// SRV records give each target's addresses at the record's port: from
/// the additional records (hosts-file targets, then not asked for) or
/// from a lookup (the `--address` target, which dnsmasq does not add); a
/// target with no address is left out.
#[tokio::test]
async fn srv_records_give_addresses_at_their_ports() {
    let Some(binary) = dnsmasq_binary("srv_records_give_addresses_at_their_ports") else {
        return;
    };
    let hosts = "127.0.0.11 n1.mesh.test\n127.0.0.13 n2.mesh.test\n127.0.0.12 n2.mesh.test\n";
    let srv = "_gc._tcp.mesh.test";
    let dns = Dnsmasq::start(
        &binary,
        hosts,
        &[
            &format!("--srv-host={srv},n1.mesh.test,7001,10,5"),
            &format!("--srv-host={srv},n2.mesh.test,7002,20,1"),
            &format!("--srv-host={srv},n4.mesh.test,7004"),
            &format!("--srv-host={srv},gone.mesh.test,7009"),
            "--address=/n4.mesh.test/127.0.0.14",
            "--log-queries",
        ],
    );
    tokio::time::timeout(BOUND, async {
        let mut source = DnsSource::new(&spec(&format!("dns+srv:{srv}")), &dns.options()).unwrap();
        assert_eq!(
            next(&mut source).await.unwrap(),
            [
                "127.0.0.11:7001",
                "127.0.0.12:7002",
                "127.0.0.13:7002",
                "127.0.0.14:7004"
            ]
        );
        // n4 was looked up; n1 and n2 came with the SRV answer and were
        // not asked for (dnsmasq logs each query it gets).
        let start = Instant::now();
        while !dns.log_text().contains("query[A] n4.mesh.test") {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "n4 not looked up: {}",
                dns.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let log = dns.log_text();
        assert!(
            !log.contains("] n1.mesh.test") && !log.contains("] n2.mesh.test"),
            "{log}"
        );
        dns.set_hosts("127.0.0.11 n1.mesh.test\n127.0.0.15 gone.mesh.test\n");
        wait_for(
            &mut source,
            &["127.0.0.11:7001", "127.0.0.14:7004", "127.0.0.15:7009"],
        )
        .await;
    })
    .await
    .unwrap_or_else(|_| panic!("over {BOUND:?}: {}", dns.log_text()));
}

/// An unknown name is a `Discovery` error naming it, the server and
/// NXDOMAIN (or REFUSED, outside the zone dnsmasq answers for); a name
/// without the records asked says so.
#[tokio::test]
async fn unknown_names_are_errors_naming_them() {
    let Some(binary) = dnsmasq_binary("unknown_names_are_errors_naming_them") else {
        return;
    };
    let dns = Dnsmasq::start(
        &binary,
        "127.0.0.2 gc.mesh.test\n",
        &["--srv-host=_gc._tcp.mesh.test,nowhere.mesh.test,7001"],
    );
    let server = dns.addr.to_string();
    tokio::time::timeout(BOUND, async {
        for (text, what) in [
            ("dns:nope.mesh.test:7001", "nope.mesh.test does not exist (NXDOMAIN"),
            ("dns+srv:_nope._tcp.mesh.test", "_nope._tcp.mesh.test does not exist (NXDOMAIN"),
            ("dns+srv:gc.mesh.test", "gc.mesh.test has no SRV records"),
            ("dns:nope.elsewhere.test:7001", "answered REFUSED for nope.elsewhere.test"),
            (
                "dns+srv:_gc._tcp.mesh.test",
                "none of the SRV targets of _gc._tcp.mesh.test has an A or AAAA record (nowhere.mesh.test)",
            ),
        ] {
            let mut source = DnsSource::new(&spec(text), &dns.options()).unwrap();
            let err = next(&mut source).await.unwrap_err();
            assert!(matches!(err, Error::Discovery(_)), "{text}: {err:?}");
            let message = err.to_string();
            assert!(message.contains(text), "{text}: {message}");
            assert!(message.contains(what), "{text}: {message}");
            assert!(message.contains(&server), "{text}: {message}");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("over {BOUND:?}: {}", dns.log_text()));
}

/// A server that never answers (a bound UDP socket that reads nothing)
/// is a timeout error naming it, after about the timeout. Needs no
/// dnsmasq: always runs.
#[tokio::test]
async fn a_silent_server_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut opts = DiscoveryOptions::new("127.0.0.1:7001");
    opts.dns_server = Some(silent.local_addr().unwrap());
    opts.timeout = Duration::from_millis(500);
    let mut source = DnsSource::new(&spec("dns:gc.mesh.test:7001"), &opts).unwrap();
    let start = Instant::now();
    let err = next(&mut source).await.unwrap_err().to_string();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert!(err.contains("timeout"), "{err}");
    assert!(
        err.contains(&silent.local_addr().unwrap().to_string()),
        "{err}"
    );
}

/// Two `groupcache serve` processes on 127.0.0.2 and 127.0.0.3 (one port,
/// as pods of a headless Service) find each other through dnsmasq, and
/// follow the record set when it changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_processes_find_each_other_through_dns() {
    let Some(binary) = dnsmasq_binary("serve_processes_find_each_other_through_dns") else {
        return;
    };
    let dns = Dnsmasq::start(
        &binary,
        "127.0.0.2 gc.mesh.test\n127.0.0.3 gc.mesh.test\n",
        &[],
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = cli_support::TempDir::new("dns-nodes");
        // One port free on both addresses.
        let port = (0..50)
            .map(|_| cli_support::free_ports(1)[0])
            .find(|p| {
                ["127.0.0.2", "127.0.0.3"]
                    .iter()
                    .all(|ip| std::net::TcpListener::bind((*ip, *p)).is_ok())
            })
            .expect("a port free on 127.0.0.2 and 127.0.0.3");
        let addrs: Vec<String> = ["127.0.0.2", "127.0.0.3"]
            .iter()
            .map(|ip| format!("{ip}:{port}"))
            .collect();
        let spec = format!("dns:gc.mesh.test:{port}");
        let server = dns.addr.to_string();
        let flags = [
            "--discovery",
            &spec,
            "--discovery-dns-server",
            &server,
            "--discovery-interval",
            "300ms",
            "--discovery-debounce",
            "200ms",
            "--group",
            "g=synthetic:size=8",
        ];
        let _nodes = cli_support::start_discovering(&addrs, &flags, &dir).await;
        // 127.0.0.3 leaves the record set: 127.0.0.2 drops it.
        dns.set_hosts("127.0.0.2 gc.mesh.test\n");
        cli_support::wait_for_peers(&addrs[0], &addrs[..1], Duration::from_secs(20)).await;
    })
    .await
    .unwrap_or_else(|_| panic!("over 60 s: {}", dns.log_text()));
}
