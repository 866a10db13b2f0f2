//! A whole run: connect, warm up, measure, gather the workers' numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::config::{BenchConfig, Distribution, Stop};
use super::keys::KeyPicker;
use super::report::{Report, latency_of};
use super::timeline::Timeline;
use super::worker::{Shared, new_histogram, run_worker};
use super::{client, cpu, progress, stats};
use crate::Error;

/// Runs the benchmark `cfg` describes and returns what it measured.
///
/// Request failures don't fail the run (they are counted by status code);
/// an invalid setting or an unreachable target does.
pub async fn run(cfg: &BenchConfig) -> Result<Report, Error> {
    cfg.validate()?;
    let keys = cfg.keys.keys()?;
    let picker = match cfg.dist {
        Distribution::Sequential => None,
        d => Some(KeyPicker::new(keys.len(), d)?),
    };
    let clients = client::connect_all(
        &cfg.targets,
        cfg.conns,
        cfg.max_message_bytes,
        cfg.tls.as_ref(),
    )
    .await?;
    let stat_clients: Vec<_> = clients.iter().map(|per| per[0].clone()).collect();

    // Without a warm-up the "before" snapshots are taken before any load.
    let mut before = None;
    if cfg.warmup.is_zero() {
        before = Some(snapshot(cfg, &stat_clients).await);
    }
    let start = Instant::now();
    let measure_start = start + cfg.warmup;
    let (measured_len, budget) = match cfg.stop {
        Stop::Duration(d) => (d, None),
        Stop::Requests { count, max_time } => (
            max_time,
            Some(AtomicI64::new(count.min(i64::MAX as u64) as i64)),
        ),
    };
    let shared = Arc::new(Shared {
        keys,
        group: cfg.group.clone(),
        clients,
        picker,
        seq: AtomicU64::new(0),
        timeout: cfg.timeout,
        batch: cfg.batch,
        authorization: cfg.authorization.clone(),
        verify: cfg.verify.clone(),
        start,
        measure_start,
        deadline: measure_start + measured_len,
        budget,
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        interval: cfg
            .rate
            .map(|r| Duration::from_secs_f64(cfg.concurrency as f64 / r)),
        workers: cfg.concurrency,
        seed: cfg.seed,
        timeline: cfg.timeline.map(Timeline::new),
    });
    let bar = cfg
        .progress
        .then(|| progress::spawn(shared.clone(), cfg.stop, cfg.warmup));
    let tasks: Vec<_> = (0..cfg.concurrency)
        .map(|w| tokio::spawn(run_worker(shared.clone(), w)))
        .collect();
    if before.is_none() {
        tokio::time::sleep_until(measure_start.into()).await;
        before = Some(snapshot(cfg, &stat_clients).await);
    }
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.map_err(|e| worker_failed(e.to_string()))?);
    }
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(b) = bar {
        b.abort();
    }
    let after = snapshot(cfg, &stat_clients).await;
    let before = before.expect("set above");

    let mut hist = new_histogram();
    let mut report = Report {
        label: cfg.label.clone(),
        targets: cfg.targets.clone(),
        group: cfg.group.clone(),
        keys: shared.keys.len() as u64,
        dist: match cfg.dist {
            Distribution::Uniform => "uniform",
            Distribution::Zipf { .. } => "zipf",
            Distribution::Sequential => "seq",
        }
        .into(),
        zipf_s: match cfg.dist {
            Distribution::Zipf { s } => Some(s),
            _ => None,
        },
        concurrency: cfg.concurrency,
        conns: cfg.conns,
        rate: cfg.rate,
        verified: cfg.verify.is_some(),
        batch: cfg.batch,
        ..Report::default()
    };
    let mut last = measure_start;
    for r in results {
        hist.add(&r.hist)
            .map_err(|e| worker_failed(format!("merging histograms: {e:?}")))?;
        report.ok += r.ok;
        for (k, v) in r.errors {
            report.errors += v;
            *report.error_codes.entry(k).or_default() += v;
        }
        last = last.max(r.last.unwrap_or(measure_start));
    }
    report.requests = report.ok + report.errors;
    let elapsed = last.saturating_duration_since(measure_start).as_secs_f64();
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    report.throughput_rps = if elapsed > 0.0 {
        (report.requests as f64 / elapsed).round()
    } else {
        0.0
    };
    report.keys_per_s = report.throughput_rps * cfg.batch as f64;
    (report.latency, report.cdf) = latency_of(&hist);
    if let Some(tl) = &shared.timeline {
        report.timeline = tl.points();
    }
    if report.requests > 0 {
        let per_req = |secs: f64| (secs * 1e6 / report.requests as f64 * 100.0).round() / 100.0;
        if let (Some(c0), Some(c1)) = (before.server_cpu, after.server_cpu) {
            report.server_cpu_us_per_req = Some(per_req(c1 - c0));
            report.server_cpu_cores =
                Some((((c1 - c0) / elapsed.max(1e-9)) * 100.0).round() / 100.0);
        }
        if let (Some(c0), Some(c1)) = (before.client_cpu, after.client_cpu) {
            report.client_cpu_us_per_req = Some(per_req(c1 - c0));
        }
        let per_key = |per_req: f64| (per_req / cfg.batch as f64 * 100.0).round() / 100.0;
        report.server_cpu_us_per_key = report.server_cpu_us_per_req.map(per_key);
        report.client_cpu_us_per_key = report.client_cpu_us_per_req.map(per_key);
    }
    if cfg.stats && before.counters.nodes > 0 && after.counters.nodes > 0 {
        report.stats = Some(stats::delta(&before.counters, &after.counters));
    }
    Ok(report)
}

/// Counters and CPU times at one instant.
struct Snapshot {
    counters: stats::ClusterCounters,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

async fn snapshot(
    cfg: &BenchConfig,
    clients: &[cache_grpc::pb::groupcache_client::GroupcacheClient<tonic::transport::Channel>],
) -> Snapshot {
    let counters = if cfg.stats {
        stats::snapshot(clients, &cfg.group, cfg.authorization.as_ref()).await
    } else {
        Default::default()
    };
    Snapshot {
        counters,
        server_cpu: if cfg.pids.is_empty() {
            None
        } else {
            cpu::total_cpu_seconds(&cfg.pids)
        },
        client_cpu: cpu::self_cpu_seconds(),
    }
}

/// A worker that panicked or a histogram that could not be merged.
fn worker_failed(detail: String) -> Error {
    Error::io("a benchmark worker failed", std::io::Error::other(detail))
}
