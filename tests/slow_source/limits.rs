//! Floods of misses (issue 10, promise 4): source loads are bounded per
//! node, the excess is refused at once with RESOURCE_EXHAUSTED, loads
//! whose callers all left are cancelled, and the node's memory returns to
//! its baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli_support::load::{
    Call, Outcome, by_code, call, client, clients, concurrent_gets, first_failures, quantile,
    spawn_gets, timed_get,
};
use crate::cli_support::node_stats::{load_limiter, stats_json};
use crate::cli_support::origin::{Origin, origin_value};
use crate::cli_support::{Cluster, Node, TempDir, counter, poll_until, rss_kib, start_cluster_env};
use crate::flood::{rst_after, rst_at_once};
use crate::{args, bounded, group, logs, serial};

/// How far above its baseline the node's RSS may stay once a flood is over
/// (generous: the allocator keeps some of what it got back).
const RSS_SLACK_KIB: u64 = 64 * 1024;

/// One node with the load limit `limit`, queue `queue`, a `slow` group over
/// `origin` and a `fast` synthetic group; every timing explicit.
async fn limited_node(origin: &Origin, limit: usize, queue: usize, tag: &str) -> Cluster {
    let (limit, queue) = (limit.to_string(), queue.to_string());
    let mut flags = args(&[
        "--max-concurrent-loads",
        &limit,
        "--max-queued-loads",
        &queue,
        // Far above the floods: the load limit is what must hold, not the
        // request limit in front of it.
        "--max-concurrent-requests",
        "20000",
        "--peer-timeout",
        "300ms",
        "--load-timeout",
        "30s",
        "--origin-timeout",
        "30s",
        "--request-timeout",
        "60s",
        "--breaker-failures",
        "5",
        "--breaker-backoff",
        "500ms",
        "--breaker-max-backoff",
        "5s",
    ]);
    flags.extend(group("slow", &origin.source()));
    flags.extend(group("fast", "synthetic:size=32"));
    // The allocator (mimalloc) gives freed memory back to the system at
    // once rather than after a delay, so that RSS follows what the node
    // holds: after a flood, 20-30 MiB above the baseline with it, 30-100
    // MiB (varying from flood to flood) without.
    let envs = [("MIMALLOC_PURGE_DELAY", "0".to_owned())];
    start_cluster_env(1, &flags, &envs, TempDir::new(tag)).await
}

/// Samples a process's RSS every 50 ms until stopped; keeps the largest.
struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssPeak {
    fn start(pid: u32) -> Self {
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, p) = (stop.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        RssPeak { stop, peak, task }
    }

    /// Stops sampling; the peak in KiB.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

/// Waits (bounded) for the node's RSS to come back within
/// [`RSS_SLACK_KIB`] of `baseline`; the last reading, in KiB.
async fn settled_rss(node: &Node, baseline: u64) -> u64 {
    let mut last = node.rss_kib();
    poll_until(Duration::from_secs(15), || {
        last = node.rss_kib();
        let ok = last <= baseline + RSS_SLACK_KIB;
        async move { ok }
    })
    .await;
    last
}

/// Gets asked at once in [`cold_flood_is_bounded_by_the_load_limit`]: as
/// many as this 2-core machine answers in a few seconds (4-12 s for the
/// debug build, client and node together).
const FLOOD_GETS: usize = 10_000;

/// One get in this many of the flood is a cache hit of another group.
const PROBE_EVERY: usize = 20;

/// 10,000 concurrent gets (50 s deadlines) on a node with
/// `--max-concurrent-loads 32 --max-queued-loads 64`: distinct cold keys of
/// an origin that holds every request until the test opens its gate, and
/// one in 20 a cache hit of another group. While the origin holds every
/// load (so none has finished), all but at most 32 + 64 of the gets are
/// answered: no refusal waited for a load. The origin never has more than
/// 32 requests at once; every get is a right value or RESOURCE_EXHAUSTED,
/// most cold ones are refused, and once the gate opens the admitted keys
/// get their values; only they reached the origin; the node's RSS returns
/// within 64 MiB of its baseline; its stats report the limit, a peak
/// within it and the refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_flood_is_bounded_by_the_load_limit() {
    const LIMIT: usize = 32;
    const QUEUE: usize = 64;
    const DEADLINE: Duration = Duration::from_secs(50);
    let _serial = serial().await;
    bounded(Duration::from_secs(120), async {
        // Held until the gate opens (at most 60 s).
        let origin = Origin::start(Duration::from_secs(60)).await;
        let cluster = limited_node(&origin, LIMIT, QUEUE, "cold-flood").await;
        let node = &cluster.nodes[0];
        let clients = clients(&[node.addr.as_str()], 16);
        let probe = |i: usize| format!("probe-{}", i / PROBE_EVERY);
        // The probes' keys are loaded first, at most LIMIT at a time (more
        // would be refused: these are loads too).
        let mut warm: Vec<Call> = (0..FLOOD_GETS)
            .step_by(PROBE_EVERY)
            .map(|i| call(&clients[0], "fast", probe(i), Duration::from_secs(10)))
            .collect();
        while !warm.is_empty() {
            let chunk: Vec<Call> = warm.drain(..LIMIT.min(warm.len())).collect();
            let warmed = concurrent_gets(chunk, Instant::now()).await;
            assert!(
                warmed.iter().all(|o| o.result.is_ok()),
                "warm-up: {:?}",
                by_code(&warmed)
            );
        }
        let baseline = node.rss_kib();

        let sampler = RssPeak::start(node.pid());
        let calls = (0..FLOOD_GETS)
            .map(|i| {
                let client = &clients[i % clients.len()];
                if i.is_multiple_of(PROBE_EVERY) {
                    call(client, "fast", probe(i), DEADLINE)
                } else {
                    call(client, "slow", format!("cold-{i}"), DEADLINE)
                }
            })
            .collect();
        let clock = Instant::now();
        let (all, answered) = spawn_gets(calls, clock);
        // (Within the gets' deadline: the held ones must not expire.)
        let held = poll_until(Duration::from_secs(45), || {
            let n = answered.load(Ordering::SeqCst);
            async move { n >= FLOOD_GETS - (LIMIT + QUEUE) }
        })
        .await;
        let (answered_held, held_for) = (answered.load(Ordering::SeqCst), clock.elapsed());
        let (in_flight_held, peak_held) = (origin.in_flight(), origin.peak());
        origin.open_gate();
        let outcomes = all.await.unwrap();
        let took = clock.elapsed();
        let peak_rss = sampler.finish().await;
        // Close the flood's connections: what they hold is theirs, not the
        // node's (the baseline was taken with one of them open).
        drop(clients);

        let cold: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| !o.key.starts_with("probe-"))
            .collect();
        let served = cold
            .iter()
            .filter(|o| o.result.as_deref().ok() == Some(&origin_value(&o.key)[..]))
            .count();
        let refused: Vec<Duration> = cold
            .iter()
            .filter(|o| o.code() == tonic::Code::ResourceExhausted)
            .map(|o| o.elapsed)
            .collect();
        let failed: Vec<Outcome> = outcomes
            .iter()
            .filter(|o| {
                let probe = o.key.starts_with("probe-");
                o.result.is_err() && (probe || o.code() != tonic::Code::ResourceExhausted)
            })
            .cloned()
            .collect();
        let facts = format!(
            "{FLOOD_GETS} gets: {answered_held} answered in {held_for:?} with every load held at \
             the origin ({in_flight_held} there, peak {peak_held}), all in {took:?}; \
             {served} served, {} refused (median {:?}, max {:?}), codes {:?}, \
             first other failures {:?}; origin: {} requests, peak {} at once; \
             RSS baseline {baseline} KiB, peak {peak_rss} KiB",
            refused.len(),
            quantile(&refused, 0.5),
            quantile(&refused, 1.0),
            by_code(&outcomes),
            first_failures(&failed, 5),
            origin.total(),
            origin.peak(),
        );
        assert!(
            origin.peak() <= LIMIT,
            "origin peak above the limit: {facts}\n{}",
            logs(&cluster)
        );
        assert!(failed.is_empty(), "{facts}");
        assert!(
            held,
            "the gets beyond the limit and the queue were not all answered while the loads \
             were held (refusals waiting for loads?): {facts}"
        );
        assert!(
            refused.len() >= cold.len() / 2,
            "the excess was not refused: {facts}"
        );
        assert_eq!(
            origin.total(),
            served,
            "only the served keys were loaded: {facts}"
        );
        let rss = settled_rss(node, baseline).await;
        assert!(
            rss <= baseline + RSS_SLACK_KIB,
            "RSS {rss} KiB did not come back near its baseline: {facts}"
        );
        let limiter = load_limiter(&stats_json(&node.addr).await)
            .expect("stats --json reports the load limiter");
        assert!(
            limiter.limit == LIMIT as u64
                && limiter.peak_in_flight <= LIMIT as u64
                && limiter.in_flight == 0
                && limiter.rejected >= refused.len() as u64,
            "{limiter:?}: {facts}"
        );
    })
    .await;
}

/// Streams reset as soon as sent in
/// [`rst_flood_is_bounded_and_others_are_served`].
const AT_ONCE_STREAMS: usize = 800;

/// Batches and batch size of the streams reset once the node has them.
const AFTER: (usize, usize) = (8, 50);

/// A HEADERS + RST_STREAM flood of distinct cold keys over raw HTTP/2
/// against a 10 s origin, on a node with `--max-concurrent-loads 16
/// --max-queued-loads 32`: 800 streams reset as soon as sent, then 8
/// batches of 50 each reset once the node has counted every get of the
/// batch (so it has loads to cancel), over 4 connections (new ones when
/// the server closes one). The node never runs more than 16 loads at once
/// (its stats' peak), the origin never sees more than twice that (a
/// cancelled load's connection may close a moment after the node's count
/// drops), and it is idle again within 5 s of the flood (the loads nobody
/// waits for are cancelled, well before their 10 s); a separate client getting
/// cached keys of another group meanwhile gets every answer, each within
/// 2 s; the node's RSS returns near its baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rst_flood_is_bounded_and_others_are_served() {
    const LIMIT: usize = 16;
    let _serial = serial().await;
    bounded(Duration::from_secs(120), async {
        let origin = Origin::start(Duration::from_secs(10)).await;
        let cluster = limited_node(&origin, LIMIT, 32, "rst-flood").await;
        let node = &cluster.nodes[0];
        let normal = client(&node.addr);
        let warm: Vec<String> = (0..20).map(|i| format!("warm-{i}")).collect();
        for key in &warm {
            let o = timed_get(
                normal.clone(),
                "fast",
                key,
                Duration::from_secs(5),
                Instant::now(),
            )
            .await;
            assert!(o.result.is_ok(), "{o:?}");
        }
        let baseline = node.rss_kib();

        // The other client: cached gets, one at a time, until told to stop.
        let clock = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let other = {
            let (stop, normal) = (stop.clone(), normal.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                for key in warm.iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    out.push(
                        timed_get(normal.clone(), "fast", key, Duration::from_secs(5), clock).await,
                    );
                }
                out
            })
        };
        let flood_start = clock.elapsed();
        let at_once = rst_at_once(&node.addr, "slow", "rst-now-", 4, AT_ONCE_STREAMS).await;
        let gets_before = counter(&node.addr, "slow", "gets").await;
        let addr = node.addr.as_str();
        let after = rst_after(addr, "slow", "rst-after-", 4, AFTER, |sent| async move {
            let target = gets_before + sent as u64;
            poll_until(Duration::from_secs(5), || async move {
                counter(addr, "slow", "gets").await >= target
            })
            .await
        })
        .await;
        let flood_end = clock.elapsed();
        let idle = poll_until(Duration::from_secs(5), || {
            let n = origin.in_flight();
            async move { n == 0 }
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        let answers = other.await.unwrap();
        let limiter = load_limiter(&stats_json(&node.addr).await);

        let during = answers
            .iter()
            .filter(|o| o.sent >= flood_start && o.sent <= flood_end)
            .count();
        let slow = answers
            .iter()
            .filter(|o| o.elapsed > Duration::from_secs(2))
            .count();
        let facts = format!(
            "flood: {} streams reset at once and {} after, {} batches of which not seen \
             counted by the node, over {} connections, in {:?}; origin: {} requests, \
             peak {} at once, {} in flight now, {} abandoned by the node; other client: \
             {} answers ({during} sent during the flood), codes {:?}, {slow} slower than 2 s; \
             keys still loading {:?}; the node's limiter {limiter:?}",
            at_once.streams,
            after.streams,
            after.unconfirmed,
            at_once.connections + after.connections,
            flood_end - flood_start,
            origin.total(),
            origin.peak(),
            origin.in_flight(),
            origin.abandoned(),
            answers.len(),
            by_code(&answers),
            origin.in_flight_keys(8),
        );
        assert_eq!(
            (at_once.streams, after.streams, after.unconfirmed),
            (AT_ONCE_STREAMS, AFTER.0 * AFTER.1, 0),
            "the flood was not sent or not taken in hand: {facts}"
        );
        // The node's own count is exact; the origin's may run a little over
        // it while loads are being cancelled (a cancelled load's connection
        // closes a moment after the node stops counting it), but never by
        // the size of the flood.
        assert!(
            origin.peak() <= 2 * LIMIT,
            "origin requests in flight far above the limit: {facts}\n{}",
            logs(&cluster)
        );
        let limiter = limiter.expect("stats --json reports the load limiter");
        assert!(
            limiter.peak_in_flight <= LIMIT as u64,
            "the node ran more loads at once than its limit: {facts}"
        );
        assert!(idle, "loads nobody waits for ran on: {facts}");
        assert!(
            during >= 1 && slow == 0 && answers.iter().all(|o| o.result.is_ok()),
            "the other client was not served: {facts}"
        );
        let last = timed_get(normal, "fast", "after-flood", Duration::from_secs(5), clock).await;
        assert!(last.result.is_ok(), "{last:?}: {facts}");
        let rss = settled_rss(node, baseline).await;
        assert!(
            rss <= baseline + RSS_SLACK_KIB,
            "RSS {rss} KiB (baseline {baseline} KiB) did not come back: {facts}"
        );
    })
    .await;
}
