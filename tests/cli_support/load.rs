//! Many `Get`s at once from the test process, through gRPC clients: each
//! call carries its own deadline (`grpc-timeout`) and is also bounded here,
//! and its outcome and latency are kept for the assertions.
//!
//! The clients are tonic's generated client over a plain hyper HTTP/2
//! client, not over a tonic `Channel`: a `Channel` also enforces the
//! `grpc-timeout` it sends, so at the deadline its own timer races the
//! node's answer and the caller may see `CANCELLED: Timeout expired`
//! instead of the node's `DEADLINE_EXCEEDED`. Here every status is the
//! node's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_grpc::pb::GetRequest;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A gRPC client of one node, on an HTTP/2 connection of its own (its
/// clones share it and multiplex their calls over it, up to the server's
/// stream limit).
pub(crate) type Client = GroupcacheClient<HttpClient<HttpConnector, tonic::body::Body>>;

/// A client of the node at `addr` on a new connection (made on first use).
pub(crate) fn client(addr: &str) -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let http = HttpClient::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector);
    let origin = format!("http://{addr}").parse().expect("a valid address");
    GroupcacheClient::with_origin(http, origin)
}

/// `conns` clients of each address, for spreading calls over connections.
pub(crate) fn clients(addrs: &[&str], conns: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for addr in addrs {
        for _ in 0..conns {
            out.push(client(addr));
        }
    }
    out
}

/// How one get ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The key asked.
    pub(crate) key: String,
    /// The deadline it was sent with.
    pub(crate) deadline: Duration,
    /// When it was sent, from the start of the test's clock.
    pub(crate) sent: Duration,
    /// From sending to its answer.
    pub(crate) elapsed: Duration,
    /// The value, or the status code and message.
    pub(crate) result: Result<Bytes, (tonic::Code, String)>,
}

impl Outcome {
    /// The status code (`Ok` for a value).
    pub(crate) fn code(&self) -> tonic::Code {
        match &self.result {
            Ok(_) => tonic::Code::Ok,
            Err((code, _)) => *code,
        }
    }
}

/// One `Get` with `deadline`, measured from `clock`. Bounded here too (the
/// deadline plus 5 s): a call the node never answers comes back as
/// `CANCELLED` with the message "no answer", not as a hung test.
pub(crate) async fn timed_get(
    mut client: Client,
    group: &str,
    key: &str,
    deadline: Duration,
    clock: Instant,
) -> Outcome {
    let mut request = tonic::Request::new(GetRequest {
        group: group.to_owned(),
        key: key.to_owned(),
    });
    request.set_timeout(deadline);
    let start = Instant::now();
    let answer = tokio::time::timeout(deadline + Duration::from_secs(5), client.get(request)).await;
    let elapsed = start.elapsed();
    let result = match answer {
        Ok(Ok(resp)) => Ok(resp.into_inner().value),
        Ok(Err(status)) => Err((status.code(), status.message().to_owned())),
        Err(_) => Err((tonic::Code::Cancelled, "no answer".to_owned())),
    };
    Outcome {
        key: key.to_owned(),
        deadline,
        sent: start - clock,
        elapsed,
        result,
    }
}

/// One get to send: where, what and with which deadline.
pub(crate) struct Call {
    pub(crate) client: Client,
    pub(crate) group: String,
    pub(crate) key: String,
    pub(crate) deadline: Duration,
}

/// A [`Call`] of `key` in `group` through (a clone of) `client`.
pub(crate) fn call(
    client: &Client,
    group: &str,
    key: impl Into<String>,
    deadline: Duration,
) -> Call {
    Call {
        client: client.clone(),
        group: group.to_owned(),
        key: key.into(),
        deadline,
    }
}

/// Sends every call at once and waits for all; the outcomes are in the
/// order of the calls.
pub(crate) async fn concurrent_gets(calls: Vec<Call>, clock: Instant) -> Vec<Outcome> {
    let (all, _) = spawn_gets(calls, clock);
    all.await.expect("a get task panicked")
}

/// Sends every call at once; the handle gives the outcomes (in the order
/// of the calls) once all are answered, the counter says how many are so
/// far.
pub(crate) fn spawn_gets(
    calls: Vec<Call>,
    clock: Instant,
) -> (tokio::task::JoinHandle<Vec<Outcome>>, Arc<AtomicUsize>) {
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|c| {
            let answered = answered.clone();
            tokio::spawn(async move {
                let o = timed_get(c.client, &c.group, &c.key, c.deadline, clock).await;
                answered.fetch_add(1, Ordering::SeqCst);
                o
            })
        })
        .collect();
    let all = tokio::spawn(async move {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.expect("a get task panicked"));
        }
        out
    });
    (all, answered)
}

/// Counts of each status code, for failure messages: `[(OK, 290), ...]`.
pub(crate) fn by_code(outcomes: &[Outcome]) -> Vec<(tonic::Code, usize)> {
    let mut counts: Vec<(tonic::Code, usize)> = Vec::new();
    for o in outcomes {
        match counts.iter_mut().find(|(c, _)| *c == o.code()) {
            Some((_, n)) => *n += 1,
            None => counts.push((o.code(), 1)),
        }
    }
    counts
}

/// The first few failures, for failure messages.
pub(crate) fn first_failures(outcomes: &[Outcome], n: usize) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Ok(_) => None,
            Err((code, msg)) => Some(format!("{} after {:?}: {code:?} {msg}", o.key, o.elapsed)),
        })
        .take(n)
        .collect()
}

/// The `q` quantile (0..=1) of the latencies, nearest rank; zero for none.
pub(crate) fn quantile(latencies: &[Duration], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let mut v = latencies.to_vec();
    v.sort();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
