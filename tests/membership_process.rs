//! Process tier: meshes of `groupcache serve --discovery file:PATH`
//! processes in front of an HTTP origin that counts every load. A rolling
//! restart of all 3 nodes and a 4th node joining, both under steady load:
//! no client errors, and the origin sees far fewer loads than keys in use.
//! Also: the node is NOT_SERVING until its first peer set is applied, an
//! empty peers file is held back, and every node reports the same ring.
//!
//! The load balancer is the test: clients send to the nodes "in rotation",
//! and a node is taken out of rotation (and out of the peers file, as a
//! deploy tool does) before it gets SIGTERM, and put back once it answers
//! SERVING, as a Kubernetes Service does with readiness and a preStop hook.

mod cli_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cache_grpc::pb::StatsRequest;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cli_support::load::{client, timed_get};
use cli_support::origin::{Origin, origin_value};
use cli_support::*;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Keys in use: each is loaded once when the mesh warms up.
const KEYS: usize = 300;

/// The membership of `addr` as its Stats say: (source, ring, peers).
async fn membership(addr: &str) -> Option<(String, String, usize, u64)> {
    let fut = async {
        let mut c = GroupcacheClient::connect(format!("http://{addr}"))
            .await
            .ok()?;
        let s = c.stats(StatsRequest::default()).await.ok()?.into_inner();
        let m = s.membership?;
        Some((m.source, m.ring, s.peers.len(), m.rejected_answers))
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

/// The health `addr` reports for the whole server.
async fn health(addr: &str) -> Option<ServingStatus> {
    let fut = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .ok()?;
        ServingStatus::try_from(answer.into_inner().status).ok()
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

fn write_peers(path: &std::path::Path, addrs: &[&String]) {
    let tmp = path.with_extension("tmp");
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn node_args(addr: &str, peers_file: &std::path::Path, origin: &Origin) -> Vec<String> {
    [
        "--listen",
        addr,
        "--discovery",
        &format!("file:{}", peers_file.display()),
        "--discovery-debounce",
        "200ms",
        "--group",
        &format!("g={}", origin.source()),
        // A patient peer timeout: a busy debug build is not a dead peer.
        "--peer-timeout",
        "5s",
        "--takeover-timeout",
        "2s",
        "--shutdown-grace",
        "500ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts a node and waits until it answers SERVING.
async fn start(addr: &str, args: &[String], dir: &TempDir) -> Node {
    let mut node = spawn_node(addr, args, &[], &dir.0);
    assert!(wait_ready(&mut node).await, "{}", node.log_text());
    wait_until(
        Duration::from_secs(20),
        "the node turns SERVING",
        || async { health(addr).await == Some(ServingStatus::Serving) },
    )
    .await;
    node
}

/// The ring all of `addrs` agree on with `n` peers, if they do.
async fn agreed_ring(addrs: &[&String], n: usize) -> Option<String> {
    let mut rings = Vec::new();
    for addr in addrs {
        match membership(addr).await {
            Some((_, r, peers, _)) if peers == n => rings.push(r),
            _ => return None,
        }
    }
    rings.dedup();
    (rings.len() == 1).then(|| rings.remove(0))
}

/// Waits until each of `addrs` has `n` peers on one ring; that ring.
async fn wait_for_ring(addrs: &[&String], n: usize) -> String {
    wait_until(
        Duration::from_secs(20),
        "the nodes agree on the ring",
        || async { agreed_ring(addrs, n).await.is_some() },
    )
    .await;
    agreed_ring(addrs, n).await.expect("still agreed")
}

/// Steady load: gets of the key set, spread over the nodes in rotation,
/// until stopped. Counts gets and failures (with the first few kept).
struct Load {
    stop: Arc<AtomicBool>,
    gets: Arc<AtomicU64>,
    failures: Arc<parking_lot::Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addrs: Vec<String>, in_rotation: Arc<Vec<AtomicBool>>, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let gets = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let clock = std::time::Instant::now();
        let tasks = (0..workers)
            .map(|w| {
                let (stop, gets, failures) = (stop.clone(), gets.clone(), failures.clone());
                let (addrs, in_rotation) = (addrs.clone(), in_rotation.clone());
                tokio::spawn(async move {
                    let clients: Vec<_> = addrs.iter().map(|a| client(a)).collect();
                    let mut i = w * 7919;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let node = i % addrs.len();
                        if !in_rotation[node].load(Ordering::SeqCst) {
                            continue;
                        }
                        let key = format!("key-{}", (i * 31) % KEYS);
                        let out = timed_get(
                            clients[node].clone(),
                            "g",
                            &key,
                            Duration::from_secs(10),
                            clock,
                        )
                        .await;
                        gets.fetch_add(1, Ordering::SeqCst);
                        match out.result {
                            Ok(v) if v[..] == origin_value(&key)[..] => {}
                            other => failures
                                .lock()
                                .push(format!("{} via {}: {other:?}", key, addrs[node])),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            gets,
            failures,
            tasks,
        }
    }

    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.gets.load(Ordering::SeqCst),
            self.failures.lock().clone(),
        )
    }
}

/// Gets every key once through node 0.
async fn warm(addr: &str) {
    let c = client(addr);
    let clock = std::time::Instant::now();
    for k in 0..KEYS {
        let key = format!("key-{k}");
        let out = timed_get(c.clone(), "g", &key, Duration::from_secs(10), clock).await;
        assert!(out.result.is_ok(), "{key}: {:?}", out.result);
    }
}

/// The pieces every test here shares: an origin answering at once, a
/// peers file, and `n` free addresses.
struct Mesh {
    dir: TempDir,
    origin: Origin,
    peers_file: std::path::PathBuf,
    addrs: Vec<String>,
}

impl Mesh {
    async fn new(tag: &str, n: usize) -> Mesh {
        let dir = TempDir::new(tag);
        let origin = Origin::start(Duration::ZERO).await;
        origin.open_gate();
        let peers_file = dir.0.join("peers");
        let addrs = free_ports(n)
            .into_iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        Mesh {
            dir,
            origin,
            peers_file,
            addrs,
        }
    }

    /// The addresses of `nodes`.
    fn of(&self, nodes: std::ops::Range<usize>) -> Vec<&String> {
        self.addrs[nodes].iter().collect()
    }

    fn write_peers(&self, nodes: std::ops::Range<usize>) {
        write_peers(&self.peers_file, &self.of(nodes));
    }

    /// Starts node `i` with the common flags, `changes` (flag, value)
    /// replacing or adding to them, and waits until it is SERVING.
    async fn start(&self, i: usize, changes: &[(&str, &str)]) -> Node {
        let addr = &self.addrs[i];
        let mut args = node_args(addr, &self.peers_file, &self.origin);
        for (flag, value) in changes {
            match args.iter().position(|a| a == flag) {
                Some(at) => args[at + 1] = value.to_string(),
                None => args.extend([flag.to_string(), value.to_string()]),
            }
        }
        start(addr, &args, &self.dir).await
    }

    /// Source loads since `before`, and the load's outcome checked: no
    /// failed get. Prints the figures for the docs.
    fn report(&self, what: &str, before: usize, gets: u64, failures: &[String]) -> usize {
        let loads = self.origin.total() - before;
        println!(
            "{what}: {gets} gets, {} errors, {loads} source loads for {KEYS} keys",
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "{} failed gets: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(
            gets > KEYS as u64,
            "too little load to say anything: {gets} gets"
        );
        loads
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_costs_no_errors_and_few_loads() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let mesh = Mesh::new("rolling", 3).await;
        let (addrs, all) = (&mesh.addrs, mesh.of(0..3));
        mesh.write_peers(0..3);
        let mut nodes = Vec::new();
        for i in 0..3 {
            nodes.push(mesh.start(i, &[]).await);
        }
        let ring = wait_for_ring(&all, 3).await;
        let (source, ..) = membership(&addrs[0]).await.unwrap();
        assert_eq!(source, format!("file:{}", mesh.peers_file.display()));
        warm(&addrs[0]).await;
        assert_eq!(
            mesh.origin.total(),
            KEYS,
            "each key loaded once when warming"
        );

        let in_rotation = Arc::new((0..3).map(|_| AtomicBool::new(true)).collect::<Vec<_>>());
        let load = Load::start(addrs.clone(), in_rotation.clone(), 4);
        for i in 0..3 {
            // Out of rotation and out of the file; the others follow.
            in_rotation[i].store(false, Ordering::SeqCst);
            let rest: Vec<&String> = addrs.iter().filter(|a| **a != addrs[i]).collect();
            write_peers(&mesh.peers_file, &rest);
            wait_for_ring(&rest, 2).await;
            nodes[i].sigterm();
            let code = nodes[i].wait_exit(Duration::from_secs(30));
            assert_eq!(code, Some(0), "{}", nodes[i].log_text());
            let log = nodes[i].log_text();
            assert!(log.contains("handed the hottest values"), "{log}");
            // The same node again, empty, back in the file and in rotation.
            nodes[i] = mesh.start(i, &[]).await;
            mesh.write_peers(0..3);
            assert_eq!(wait_for_ring(&all, 3).await, ring);
            in_rotation[i].store(true, Ordering::SeqCst);
        }
        // A moment of load on the rolled mesh.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (gets, failures) = load.finish().await;
        let loads = mesh.report("rolling restart of 3 nodes", KEYS, gets, &failures);
        assert!(
            loads < KEYS / 10,
            "{loads} source loads during the roll, for {KEYS} keys"
        );
    })
    .await
    .expect("the test finished in time");
}

/// With warm takeover off, a leaving node's handoff alone keeps its keys
/// warm: it gets SIGTERM first, hands its values to their next owners and
/// keeps serving for its grace while the others drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_node_hands_its_keys_over() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mesh = Mesh::new("handoff", 3).await;
        mesh.write_peers(0..3);
        let flags = [("--shutdown-grace", "5s"), ("--takeover-window", "0s")];
        let mut nodes = Vec::new();
        for i in 0..3 {
            nodes.push(mesh.start(i, &flags).await);
        }
        wait_for_ring(&mesh.of(0..3), 3).await;
        warm(&mesh.addrs[0]).await;
        let in_rotation = Arc::new((0..3).map(|i| AtomicBool::new(i < 2)).collect::<Vec<_>>());
        let load = Load::start(mesh.addrs.clone(), in_rotation, 4);
        nodes[2].sigterm();
        wait_until(Duration::from_secs(20), "the handoff is logged", || async {
            nodes[2].log_text().contains("handed the hottest values")
        })
        .await;
        mesh.write_peers(0..2);
        wait_for_ring(&mesh.of(0..2), 2).await;
        let log = nodes[2].log_text();
        assert_eq!(
            nodes[2].wait_exit(Duration::from_secs(30)),
            Some(0),
            "{log}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (gets, failures) = load.finish().await;
        let handed = log
            .lines()
            .find(|l| l.contains("handed the hottest values"));
        let loads = mesh.report("one node leaves, handoff only", KEYS, gets, &failures);
        println!("{}", handed.unwrap_or_default());
        assert!(
            loads < KEYS / 30,
            "{loads} source loads after the leave, for {KEYS} keys"
        );
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_joins_a_warm_mesh_without_a_miss_storm() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mesh = Mesh::new("join", 4).await;
        let (three, four) = (mesh.of(0..3), mesh.of(0..4));
        mesh.write_peers(0..3);
        let mut nodes = Vec::new();
        for i in 0..3 {
            nodes.push(mesh.start(i, &[]).await);
        }
        wait_for_ring(&three, 3).await;
        warm(&mesh.addrs[0]).await;
        let cold = mesh.origin.total();
        assert_eq!(cold, KEYS);

        let in_rotation = Arc::new((0..4).map(|i| AtomicBool::new(i < 3)).collect::<Vec<_>>());
        let load = Load::start(mesh.addrs.clone(), in_rotation.clone(), 4);
        // The new node starts from the file the others read, with itself
        // added: it is ready with the 4-node ring, then the others follow.
        mesh.write_peers(0..4);
        nodes.push(mesh.start(3, &[]).await);
        in_rotation[3].store(true, Ordering::SeqCst);
        wait_for_ring(&four, 4).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (gets, failures) = load.finish().await;
        let loads = mesh.report("4th node joining", cold, gets, &failures);
        assert!(
            loads * 10 < cold,
            "{loads} loads after the join, a cold start took {cold}"
        );

        // An empty peers file is held back: the ring stays.
        let before = membership(&mesh.addrs[0]).await.unwrap();
        write_peers(&mesh.peers_file, &[]);
        wait_until(
            Duration::from_secs(20),
            "the empty answer is counted",
            || async {
                membership(&mesh.addrs[0])
                    .await
                    .is_some_and(|m| m.3 > before.3)
            },
        )
        .await;
        let after = membership(&mesh.addrs[0]).await.unwrap();
        assert_eq!(
            (after.1, after.2),
            (before.1, 4),
            "the ring changed on an empty file"
        );
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_serving_until_the_first_peer_set_is_applied() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mesh = Mesh::new("first-set", 1).await;
        let addr = &mesh.addrs[0];
        // No file yet: the source cannot answer.
        let args = node_args(addr, &mesh.peers_file, &mesh.origin);
        let mut node = spawn_node(addr, &args, &[], &mesh.dir.0);
        assert!(wait_ready(&mut node).await, "{}", node.log_text());
        assert_eq!(health(addr).await, Some(ServingStatus::NotServing));
        mesh.write_peers(0..1);
        wait_until(
            Duration::from_secs(20),
            "SERVING once the file is there",
            || async { health(addr).await == Some(ServingStatus::Serving) },
        )
        .await;
        node.sigterm();
        assert_eq!(
            node.wait_exit(Duration::from_secs(20)),
            Some(0),
            "{}",
            node.log_text()
        );
    })
    .await
    .expect("the test finished in time");
}
