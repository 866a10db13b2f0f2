//! One worker: a closed loop (send when the previous answer is in) or an
//! open loop (send on a fixed schedule, latency from the intended send time).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{GetManyRequest, GetRequest};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use super::config::Verify;
use super::keys::KeyPicker;
use super::timeline::Timeline;
use crate::error::code_name;

/// Largest latency the histograms hold (one hour, in nanoseconds); longer
/// ones are recorded as this.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// Extra wait beyond the request deadline before the client gives up on its
/// own.
const CLIENT_GRACE: Duration = Duration::from_millis(100);

/// A new latency histogram: 1 ns .. 1 h, 3 significant digits.
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// State shared by all workers of a run.
pub(crate) struct Shared {
    /// The keys, in key-set order.
    pub(crate) keys: Vec<String>,
    /// The group asked.
    pub(crate) group: String,
    /// `clients[target][conn]`.
    pub(crate) clients: Vec<Vec<GroupcacheClient<Channel>>>,
    /// Draws key indexes; `None` for the sequential order.
    pub(crate) picker: Option<KeyPicker>,
    /// Next key of the sequential order.
    pub(crate) seq: AtomicU64,
    /// Per-request deadline.
    pub(crate) timeout: Duration,
    /// Keys per request: 1 sends `Get`, more one `GetMany`.
    pub(crate) batch: usize,
    /// The `authorization` header of every request, if any.
    pub(crate) authorization: Option<tonic::metadata::AsciiMetadataValue>,
    /// Value verification.
    pub(crate) verify: Option<Verify>,
    /// When the run (warm-up included) started.
    pub(crate) start: Instant,
    /// Requests sent from here on are measured.
    pub(crate) measure_start: Instant,
    /// No request is sent from here on.
    pub(crate) deadline: Instant,
    /// Measured requests still to send (request-count mode).
    pub(crate) budget: Option<AtomicI64>,
    /// Measured requests completed (for the progress bar).
    pub(crate) done: AtomicU64,
    /// Set when the request budget is spent: every worker stops.
    pub(crate) stop: AtomicBool,
    /// Open loop: time between two sends of one worker.
    pub(crate) interval: Option<Duration>,
    /// Number of workers.
    pub(crate) workers: usize,
    /// Seed of the random choices.
    pub(crate) seed: u64,
    /// Per-slice figures, when asked for.
    pub(crate) timeline: Option<Timeline>,
}

/// What one worker measured.
pub(crate) struct WorkerResult {
    /// Latencies of the measured requests, in nanoseconds.
    pub(crate) hist: Histogram<u64>,
    /// Measured requests that succeeded (and verified, if asked).
    pub(crate) ok: u64,
    /// Measured failures by status name.
    pub(crate) errors: BTreeMap<String, u64>,
    /// When the last measured request completed.
    pub(crate) last: Option<Instant>,
}

/// Runs worker number `w` until the deadline or the budget is reached.
pub(crate) async fn run_worker(sh: Arc<Shared>, w: usize) -> WorkerResult {
    let mut rng =
        SmallRng::seed_from_u64(sh.seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let conns = sh.clients.first().map_or(1, Vec::len);
    let mut clients: Vec<_> = sh
        .clients
        .iter()
        .map(|per| per[w % conns].clone())
        .collect();
    let mut res = WorkerResult {
        hist: new_histogram(),
        ok: 0,
        errors: BTreeMap::new(),
        last: None,
    };
    // Open loop: worker w's sends are staggered by interval / workers.
    let mut slice = None;
    let mut next_send = sh
        .interval
        .map(|iv| sh.start + iv.mul_f64(w as f64 / sh.workers as f64));
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let send_at = match (next_send.as_mut(), sh.interval) {
            (Some(t), Some(iv)) => {
                let at = *t;
                *t += iv;
                if at >= sh.deadline {
                    break;
                }
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                at
            }
            _ => Instant::now(),
        };
        if send_at >= sh.deadline {
            break;
        }
        let measured = send_at >= sh.measure_start;
        if measured
            && let Some(b) = &sh.budget
            && b.fetch_sub(1, Ordering::Relaxed) <= 0
        {
            sh.stop.store(true, Ordering::Relaxed);
            break;
        }
        // Keys first, then the target (the order single gets always drew
        // them in, so a seed gives the runs it always gave).
        let keys: Vec<usize> = (0..sh.batch).map(|_| next_key(&sh, &mut rng)).collect();
        let t = if clients.len() > 1 {
            rng.random_range(0..clients.len())
        } else {
            0
        };
        let answer = match keys.as_slice() {
            [one] => get(&sh, *one, &mut clients[t]).await,
            many => get_many(&sh, many, &mut clients[t]).await,
        };
        let end = Instant::now();
        if !measured {
            continue;
        }
        let latency = end.saturating_duration_since(send_at);
        res.hist.saturating_record(latency.as_nanos() as u64);
        let failed = match answer {
            Ok(()) => {
                res.ok += 1;
                false
            }
            Err(code) => {
                *res.errors.entry(code.into()).or_default() += 1;
                true
            }
        };
        if let Some(tl) = &sh.timeline {
            let since = send_at.saturating_duration_since(sh.measure_start);
            tl.record(&mut slice, since, latency.as_micros() as u64, failed);
        }
        sh.done.fetch_add(1, Ordering::Relaxed);
        res.last = Some(end);
    }
    if let Some(tl) = &sh.timeline {
        tl.flush(&mut slice);
    }
    res
}

/// The index of the next key to ask for: drawn, or the next in order.
fn next_key(sh: &Shared, rng: &mut SmallRng) -> usize {
    match &sh.picker {
        Some(p) => p.pick(rng),
        None => (sh.seq.fetch_add(1, Ordering::Relaxed) % sh.keys.len() as u64) as usize,
    }
}

/// A request with the run's deadline and `authorization`.
fn request<T>(sh: &Shared, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(sh.timeout);
    if let Some(a) = &sh.authorization {
        req.metadata_mut().insert("authorization", a.clone());
    }
    req
}

/// Bounds a call by the run's deadline here too: the deadline travels as
/// grpc-timeout, but a stalled server (or a stopped process) may never
/// answer. A small grace lets the server's own DEADLINE_EXCEEDED arrive
/// first.
async fn bounded<T>(
    sh: &Shared,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(sh.timeout + CLIENT_GRACE, call).await {
        Ok(answer) => answer.map(tonic::Response::into_inner),
        Err(_) => Err(tonic::Status::deadline_exceeded(
            "no answer within the timeout (client side)",
        )),
    }
}

/// One `Get` of the key at `index`: `Err` with the failure's name (a
/// status code, or `WRONG_VALUE`).
async fn get(
    sh: &Shared,
    index: usize,
    client: &mut GroupcacheClient<Channel>,
) -> Result<(), &'static str> {
    let key = &sh.keys[index];
    let req = request(
        sh,
        GetRequest {
            group: sh.group.clone(),
            key: key.clone(),
        },
    );
    let value = bounded(sh, client.get(req))
        .await
        .map_err(|status| code_name(status.code()))?
        .value;
    check(sh, key, &value)
}

/// One `GetMany` of the keys at `indexes`: `Err` with the name of the
/// call's failure, or of the first key's that failed.
async fn get_many(
    sh: &Shared,
    indexes: &[usize],
    client: &mut GroupcacheClient<Channel>,
) -> Result<(), &'static str> {
    let keys: Vec<String> = indexes.iter().map(|&i| sh.keys[i].clone()).collect();
    let req = request(
        sh,
        GetManyRequest {
            group: sh.group.clone(),
            keys,
        },
    );
    let results = bounded(sh, client.get_many(req))
        .await
        .map_err(|status| code_name(status.code()))?
        .results;
    if results.len() != indexes.len() {
        return Err("WRONG_VALUE");
    }
    for r in &results {
        if r.code != 0 {
            let code = tonic::Code::from_i32(i32::try_from(r.code).unwrap_or(i32::MAX));
            return Err(code_name(code));
        }
        check(sh, &r.key, &r.value)?;
    }
    Ok(())
}

/// Checks `value` against the expected value of `key`, when verifying.
fn check(sh: &Shared, key: &str, value: &[u8]) -> Result<(), &'static str> {
    match &sh.verify {
        Some(v) if value != (v.expected)(key, v.size) => Err("WRONG_VALUE"),
        _ => Ok(()),
    }
}
