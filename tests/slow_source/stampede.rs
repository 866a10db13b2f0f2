//! Stampedes over a source much slower than the peer timeout (issue 10,
//! promises 1 and 2): the owner's load is not bounded by the deadline of
//! whoever started it, and a live owner that is still loading is waited for,
//! so hundreds of gets over 3 nodes cost one origin request per key.

use std::time::{Duration, Instant};

use crate::cli_support::load::{by_code, call, clients, concurrent_gets, first_failures};
use crate::cli_support::origin::{Origin, origin_value};
use crate::cli_support::{Cluster, TempDir, counter, start_cluster};
use crate::{addrs, args, bounded, group, logs, node_facts, serial};

/// The peer timeout of these clusters: the origin is 5-8 times slower.
const PEER_TIMEOUT: &str = "300ms";

/// Concurrent gets per stampede, spread evenly over the 3 nodes.
const GETS: usize = 300;

/// Starts 3 nodes with a `slow` group over `origin`, every timing explicit:
/// loads may take up to 20 s, origin requests too, requests up to 60 s.
async fn slow_cluster(origin: &Origin, tag: &str) -> Cluster {
    let mut flags = args(&[
        "--peer-timeout",
        PEER_TIMEOUT,
        "--load-timeout",
        "20s",
        "--origin-timeout",
        "20s",
        "--request-timeout",
        "60s",
        "--max-concurrent-loads",
        "256",
        "--max-queued-loads",
        "2048",
        "--breaker-failures",
        "5",
        "--breaker-backoff",
        "500ms",
        "--breaker-max-backoff",
        "5s",
    ]);
    flags.extend(group("slow", &origin.source()));
    start_cluster(3, &flags, TempDir::new(tag)).await
}

/// Sum of a `slow` group counter over the nodes.
async fn total(cluster: &Cluster, name: &str) -> u64 {
    let mut sum = 0;
    for node in &cluster.nodes {
        sum += counter(&node.addr, "slow", name).await;
    }
    sum
}

/// 300 concurrent gets of one cold key, spread over 3 nodes with 30 s
/// deadlines, against an origin that answers after 1.5 s (5x the peer
/// timeout): exactly one origin request and 300 right values, for each of
/// 3 keys in turn; no node fell back to a local load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_source_stampede_loads_each_key_once() {
    const ROUNDS: usize = 3;
    let _serial = serial().await;
    bounded(Duration::from_secs(90), async {
        let origin = Origin::start(Duration::from_millis(1500)).await;
        let cluster = slow_cluster(&origin, "stampede").await;
        let clients = clients(&addrs(&cluster), 2);
        for round in 0..ROUNDS {
            let key = format!("stampede-{round}");
            let calls = (0..GETS)
                .map(|i| {
                    call(
                        &clients[i % clients.len()],
                        "slow",
                        &key,
                        Duration::from_secs(30),
                    )
                })
                .collect();
            let outcomes = concurrent_gets(calls, Instant::now()).await;
            let ok = outcomes
                .iter()
                .filter(|o| o.result.as_deref().ok() == Some(&origin_value(&key)[..]))
                .count();
            if (ok, origin.requests_for(&key)) != (GETS, 1) {
                panic!(
                    "round {round}: {ok} of {GETS} right values and {} origin requests for {key} \
                     (expected {GETS} and 1); codes {:?}; first failures {:?}\n{}{}",
                    origin.requests_for(&key),
                    by_code(&outcomes),
                    first_failures(&outcomes, 5),
                    node_facts(&cluster, "slow").await,
                    logs(&cluster)
                );
            }
        }
        assert_eq!(origin.total(), ROUNDS, "no late extra origin request");
        assert_eq!(total(&cluster, "fallback_loads").await, 0);
        assert_eq!(total(&cluster, "local_loads").await, ROUNDS as u64);
    })
    .await;
}

/// A 2 s load, half of the callers with a 500 ms deadline and half with
/// 20 s: the short ones get DEADLINE_EXCEEDED near their deadline (within
/// 2 s after it, not before it), the long ones all get the value, and the
/// origin is asked once. In the first round the flight is started by short
/// callers only (one per node, and the long ones join once the origin has
/// the request): the starter's deadline must not bound the load. In the
/// second, all 300 are sent at once in mixed order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_deadlines_leave_without_failing_the_load() {
    const SHORT: Duration = Duration::from_millis(500);
    const LONG: Duration = Duration::from_secs(20);
    let _serial = serial().await;
    bounded(Duration::from_secs(90), async {
        let origin = Origin::start(Duration::from_secs(2)).await;
        let cluster = slow_cluster(&origin, "deadlines").await;
        let clients = clients(&addrs(&cluster), 2);
        // The i-th call of a round: even ones short, odd ones long.
        let nth = |i: usize, key: &str| {
            let deadline = if i.is_multiple_of(2) { SHORT } else { LONG };
            call(&clients[i % clients.len()], "slow", key, deadline)
        };
        for round in 0..2 {
            let key = format!("deadlines-{round}");
            let clock = Instant::now();
            let mut outcomes = Vec::new();
            if round == 0 {
                // One short caller per node starts the flights...
                let first: Vec<_> = (0..clients.len())
                    .step_by(2)
                    .map(|c| call(&clients[c], "slow", &key, SHORT))
                    .collect();
                let starters = tokio::spawn(concurrent_gets(first, clock));
                // ...and the others come once the origin has the request.
                let since = Instant::now();
                while origin.requests_for(&key) == 0 {
                    assert!(
                        since.elapsed() < Duration::from_secs(5),
                        "the origin never got {key}"
                    );
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let rest = (3..GETS).map(|i| nth(i, &key)).collect();
                outcomes.extend(concurrent_gets(rest, clock).await);
                outcomes.extend(starters.await.unwrap());
            } else {
                let all = (0..GETS).map(|i| nth(i, &key)).collect();
                outcomes = concurrent_gets(all, clock).await;
            }
            let (short, long): (Vec<_>, Vec<_>) =
                outcomes.iter().partition(|o| o.deadline == SHORT);
            let late: Vec<String> = short
                .iter()
                .filter(|o| {
                    o.code() != tonic::Code::DeadlineExceeded
                        || o.elapsed + Duration::from_millis(100) < SHORT
                        || o.elapsed > SHORT + Duration::from_secs(2)
                })
                .take(5)
                .map(|o| format!("{:?} after {:?}", o.result.as_ref().err(), o.elapsed))
                .collect();
            let long_ok = long
                .iter()
                .filter(|o| o.result.as_deref().ok() == Some(&origin_value(&key)[..]))
                .count();
            let long_codes = by_code(&long.iter().map(|o| (*o).clone()).collect::<Vec<_>>());
            assert!(
                late.is_empty() && long_ok == long.len() && origin.requests_for(&key) == 1,
                "round {round}: short callers not answered DEADLINE_EXCEEDED near {SHORT:?}: \
                 {late:?}; \
                 {long_ok} of {} long callers got the value (codes {long_codes:?}); \
                 {} origin requests (expected 1)\n{}",
                long.len(),
                origin.requests_for(&key),
                logs(&cluster)
            );
        }
        assert_eq!(origin.total(), 2, "no late extra origin request");
    })
    .await;
}
