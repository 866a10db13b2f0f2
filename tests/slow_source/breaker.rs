//! A hung owner (issue 10, promises 2 and 3): SIGSTOPped, it keeps its
//! sockets open and answers nothing. Its peers must judge it dead within
//! about the peer timeout, open its breaker (its keys loaded locally, no
//! wait), probe it off the request path, and use it again once it answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use groupcache::grpc::{PeerPool, PoolOptions};
use groupcache::source::synthetic_value;

use crate::cli_support::load::{
    Client, Outcome, by_code, client, first_failures, quantile, timed_get,
};
use crate::cli_support::node_stats::{peer_health, stats_json};
use crate::cli_support::{Cluster, TempDir, counter, start_cluster, wait_until};
use crate::{addrs, args, bounded, group, logs, serial};

/// The peer timeout of this cluster: long, so that a request that waits
/// for the stopped owner stands out from every other one.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

/// Requests in flight at once (one per worker, closed loop).
const WORKERS: usize = 4;

/// The value size of the `syn` group.
const SIZE: usize = 64;

/// A steady closed loop of gets, each of a key never asked before (so each
/// one goes to the key's owner, or falls back): `WORKERS` tasks, each
/// sending its next get when its previous one is answered.
struct LoadLoop {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
}

impl LoadLoop {
    /// Starts the workers over `clients` (taken in turn) and `keys` (each
    /// used once); times are measured from `clock`.
    fn start(clients: Vec<Client>, keys: Vec<String>, clock: Instant) -> Self {
        let (stop, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (clients, keys) = (Arc::new(clients), Arc::new(keys));
        let next = Arc::new(AtomicUsize::new(0));
        let tasks = (0..WORKERS)
            .map(|_| {
                let (stop, done, next) = (stop.clone(), done.clone(), next.clone());
                let (clients, keys) = (clients.clone(), keys.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        // Out of fresh keys: this worker is done.
                        let Some(key) = keys.get(i) else { break };
                        let client = clients[i % clients.len()].clone();
                        out.push(
                            timed_get(client, "syn", key, Duration::from_secs(5), clock).await,
                        );
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    out
                })
            })
            .collect();
        LoadLoop { stop, done, tasks }
    }

    /// Gets answered so far.
    fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Stops the workers and returns every outcome.
    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await.expect("a load worker panicked"));
        }
        all
    }
}

/// Asserts that every get of `phase` got its key's value.
fn assert_all_right(outcomes: &[Outcome], phase: &str, cluster: &Cluster) {
    let wrong = outcomes
        .iter()
        .filter(|o| o.result.as_deref().ok() != Some(&synthetic_value(&o.key, SIZE)[..]))
        .count();
    assert!(
        wrong == 0,
        "{phase}: {wrong} of {} gets failed or were wrong (codes {:?}); first {:?}\n{}",
        outcomes.len(),
        by_code(outcomes),
        first_failures(outcomes, 5),
        logs(cluster)
    );
}

/// The owner of a third of the keys is SIGSTOPped for 6 s under a steady
/// load of its keys through the other two nodes (peer timeout 1 s, breaker
/// after 3 failures): every get is answered with the right value; both
/// nodes report the peer's breaker open within 4 s; from then until
/// SIGCONT, p99 is below 200 ms (no request waits the peer timeout once
/// the breaker is open); both count a breaker opening and skipped fetches;
/// after SIGCONT both see the peer healthy again and its `server_requests`
/// grows (its keys are fetched from it again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_owner_is_skipped_then_used_again() {
    const STOPPED: Duration = Duration::from_secs(6);
    // The breakers must open within this of the stop (4 peer timeouts:
    // with 4 gets in flight over 2 nodes, 3 failures at each take 2).
    const OPEN_WITHIN: Duration = Duration::from_secs(4);
    // Without a breaker seen open, the window starts this long after the
    // stop (for the failure message).
    const SETTLE: Duration = Duration::from_millis(2500);
    let _serial = serial().await;
    bounded(Duration::from_secs(120), async {
        let peer_timeout = format!("{}ms", PEER_TIMEOUT.as_millis());
        let mut flags = args(&[
            "--peer-timeout",
            &peer_timeout,
            "--load-timeout",
            "10s",
            "--request-timeout",
            "10s",
            "--breaker-failures",
            "3",
            "--breaker-backoff",
            "300ms",
            "--breaker-max-backoff",
            "1s",
            "--max-concurrent-loads",
            "256",
            "--max-queued-loads",
            "2048",
            // Every get of a key owned elsewhere is a fetch from its owner.
            "--promotion",
            "never",
        ]);
        flags.extend(group("syn", &format!("synthetic:size={SIZE}")));
        let cluster = start_cluster(3, &flags, TempDir::new("sigstop")).await;
        let peers: Vec<String> = addrs(&cluster).iter().map(|a| (*a).to_owned()).collect();
        let (a, b, c) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
        let all: Vec<String> = (0..300_000).map(|i| format!("stop-{i}")).collect();
        // The keys the third node owns, by the ring the nodes use.
        let ring = PeerPool::new(&c.addr, &peers, PoolOptions::default()).unwrap();
        let c_id = ring.self_id().to_string();
        let mut owned_by_c: Vec<String> = all
            .iter()
            .filter(|k| ring.owner(k) == c_id)
            .cloned()
            .collect();
        // Fresh keys for the load after SIGCONT.
        let after_keys = owned_by_c.split_off(owned_by_c.len() / 2);
        let clients = vec![client(&a.addr), client(&b.addr)];
        let clock = Instant::now();
        let load = LoadLoop::start(clients.clone(), owned_by_c, clock);

        // A baseline with every node up.
        let load_ref = &load;
        wait_until(
            Duration::from_secs(20),
            "200 baseline gets",
            || async move { load_ref.done() >= 200 },
        )
        .await;
        let stopped = c.sigstop();
        let stop_at = clock.elapsed();
        // Both nodes report the breaker open (polled every 100 ms, a stats
        // process each time: not more, the latencies are being measured);
        // the load runs on meanwhile.
        let mut opened_at = None;
        while clock.elapsed() < stop_at + OPEN_WITHIN {
            let mut open = true;
            for node in [a, b] {
                let health = peer_health(&stats_json(&node.addr).await, &c.addr);
                open &= health.is_some_and(|h| !h.is_healthy());
            }
            if open {
                opened_at = Some(clock.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The rest of the stop: its length is the scenario, nothing is
        // waited for here.
        tokio::time::sleep_until((clock + stop_at + STOPPED).into()).await;
        let cont_at = clock.elapsed();
        let outcomes = load.finish().await;
        stopped.resume();

        assert_all_right(&outcomes, "before and during the stop", &cluster);
        // From the moment both breakers were seen open (or, if they never
        // were, SETTLE after the stop), no get may wait for the owner.
        let from = opened_at.unwrap_or(stop_at + SETTLE);
        let window: Vec<Duration> = outcomes
            .iter()
            .filter(|o| o.sent >= from && o.sent + o.elapsed <= cont_at)
            .map(|o| o.elapsed)
            .collect();
        let (p99, max) = (quantile(&window, 0.99), quantile(&window, 1.0));
        let before: Vec<Duration> = outcomes
            .iter()
            .filter(|o| o.sent + o.elapsed <= stop_at)
            .map(|o| o.elapsed)
            .collect();
        assert!(
            window.len() >= 50 && p99 < Duration::from_millis(200),
            "with the owner stopped, from {:?} after the stop (breakers seen open: {}) to SIGCONT: \
             {} gets, p99 {p99:?}, max {max:?} (expected p99 < 200 ms; the peer timeout is \
             {PEER_TIMEOUT:?}; p99 before the stop {:?})\n{}",
            from - stop_at,
            opened_at.is_some(),
            window.len(),
            quantile(&before, 0.99),
            logs(&cluster)
        );
        assert!(
            opened_at.is_some(),
            "the nodes did not both report the stopped peer's breaker open within {OPEN_WITHIN:?}"
        );
        for node in [a, b] {
            let health = peer_health(&stats_json(&node.addr).await, &c.addr)
                .expect("stats --json reports the health of each peer");
            assert!(
                health.breaker_opens >= 1 && health.skipped_fetches >= 1,
                "{} about the stopped peer: {health:?}",
                node.addr
            );
        }

        // Continued, under load again: both nodes see the peer healthy...
        let load = LoadLoop::start(clients, after_keys, clock);
        for node in [a, b] {
            wait_until(
                Duration::from_secs(15),
                "the breaker closing",
                || async move {
                    peer_health(&stats_json(&node.addr).await, &c.addr)
                        .is_some_and(|h| h.is_healthy())
                },
            )
            .await;
        }
        // ...and fetch its keys from it again.
        let served = counter(&c.addr, "syn", "server_requests").await;
        wait_until(
            Duration::from_secs(10),
            "fetches from the continued owner",
            || async move { counter(&c.addr, "syn", "server_requests").await >= served + 20 },
        )
        .await;
        assert_all_right(&load.finish().await, "after SIGCONT", &cluster);
    })
    .await;
}
