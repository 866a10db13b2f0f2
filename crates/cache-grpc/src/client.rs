//! [`GrpcPeer`]: a [`PeerClient`] that fetches from one peer over a tonic
//! [`Channel`].
//!
//! One channel per peer, created on first use and kept for the life of the
//! peer: HTTP/2 multiplexes every concurrent fetch over one connection, and
//! the channel reconnects by itself after the peer restarts.
//!
//! How a dead peer is told from a slow one: a fetch waits for the owner's
//! answer as long as the group's flight lives (an owner's load may take
//! seconds), and liveness is judged on the connection instead. Connecting
//! is bounded by the peer timeout, and while fetches are in flight the
//! connection sends an HTTP/2 PING whenever it has read nothing for a
//! quarter of the peer timeout; a PING unanswered for a whole peer timeout
//! closes the connection, failing its fetches with `UNAVAILABLE` (the group
//! then loads locally). A live owner's HTTP/2 stack answers PINGs at once however long
//! its load takes; a dead, unreachable or stopped (SIGSTOP) one does not.
//! Transport failures feed the peer's [`breaker`], which skips the peer
//! once they pile up. Each fetch sent is timed, whatever its result, in the
//! peer's [`fetch_latency`](GrpcPeer::fetch_latency) histogram.

mod batch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{
    Error as CoreError, Fetched, LatencyHistogram, LatencySnapshot, LoadContext, PeerClient,
};
use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument;

use tokio_util::either::Either;

use crate::auth::Tokens;
use crate::breaker::{self, Breaker, PeerHealth};
use crate::tls::ClientTls;
use crate::tls::client::tcp_to;
use crate::trace_context::hop::Hop;
use crate::transport::coalesce::CoalescingIo;

mod calls;

use crate::pb::FetchRequest;
use crate::pb::groupcache_client::GroupcacheClient;
use crate::{Error, PoolOptions, limits, status};

/// The client side of one peer.
#[derive(Debug)]
pub struct GrpcPeer {
    /// Canonical id (`host:port`), also the ring's name for the peer.
    id: String,
    /// Where and how to connect; turned into [`Self::channel`] on first use.
    endpoint: Endpoint,
    /// Created lazily, inside a runtime (a tonic channel spawns a worker
    /// task), then cloned for every fetch (a clone shares the connection).
    channel: OnceLock<Channel>,
    /// Encode and decode limit, from the pool's `max_value_bytes`.
    max_message_bytes: usize,
    /// Skips the peer while it is judged dead; shared with its probe task
    /// (which holds it weakly and ends when the peer is dropped).
    breaker: Arc<Breaker>,
    /// Connect through [`CoalescingIo`] (see [`PoolOptions::write_coalescing`]).
    write_coalescing: bool,
    /// Dial over TLS (see [`PoolOptionsBuilder::tls`](crate::PoolOptionsBuilder::tls)).
    tls: Option<ClientTls>,
    /// Sent as `authorization: Bearer` on every fetch (see
    /// [`PoolOptionsBuilder::peer_tokens`](crate::PoolOptionsBuilder::peer_tokens)).
    peer_tokens: Option<Tokens>,
    /// How long each fetch sent took (not the ones the breaker skipped).
    fetch_latency: LatencyHistogram,
    /// This node's ring fingerprint, kept current by the pool; sent with
    /// every fetch.
    ring: Arc<AtomicU64>,
    /// The bound on a cache-only fetch (warm takeover).
    takeover_timeout: Duration,
}

impl GrpcPeer {
    /// A client for the peer with canonical id `id`. Connects on first use.
    pub(crate) fn new(id: String, opts: &PoolOptions, ring: Arc<AtomicU64>) -> Result<Self, Error> {
        let endpoint = Endpoint::from_shared(format!("http://{id}"))
            .map_err(|e| Error::InvalidPeer {
                addr: id.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(opts.peer_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(ping_after(opts.peer_timeout))
            .keep_alive_timeout(opts.peer_timeout)
            .keep_alive_while_idle(false)
            // A fetch whose callers all left is cancelled (RST_STREAM); the
            // owner's answer may still arrive. Remembering that many reset
            // streams makes h2 ignore such late frames instead of counting
            // them as errors, which past its limit would close the channel.
            .http2_max_concurrent_reset_streams(REMEMBERED_RESETS);
        let breaker = Arc::new(Breaker::new(id.clone(), opts.breaker, opts.peer_timeout));
        Ok(GrpcPeer {
            id,
            endpoint,
            channel: OnceLock::new(),
            max_message_bytes: limits::message_limit(opts.max_value_bytes),
            breaker,
            write_coalescing: opts.write_coalescing,
            peer_tokens: opts.peer_tokens.clone(),
            tls: opts.tls.clone(),
            fetch_latency: LatencyHistogram::default(),
            ring,
            takeover_timeout: opts.takeover_timeout,
        })
    }

    /// The peer's health: its breaker's state and counters.
    pub fn health(&self) -> PeerHealth {
        self.breaker.health()
    }

    /// How long the fetches sent to this peer took, from the call to its
    /// answer or failure (the ones its breaker skipped are not sent, so not
    /// here).
    pub fn fetch_latency(&self) -> LatencySnapshot {
        self.fetch_latency.snapshot()
    }

    /// The channel, created on first use (inside a runtime: a tonic channel
    /// spawns its connection task there).
    fn channel(&self) -> Channel {
        self.channel
            .get_or_init(|| {
                if let Some(tls) = &self.tls {
                    let (tls, coalescing) = (tls.clone(), self.write_coalescing);
                    self.endpoint
                        .connect_with_connector_lazy(tower::service_fn(move |uri| {
                            connect_tls(uri, tls.clone(), coalescing)
                        }))
                } else if self.write_coalescing {
                    self.endpoint
                        .connect_with_connector_lazy(tower::service_fn(connect_coalescing))
                } else {
                    self.endpoint.connect_lazy()
                }
            })
            .clone()
    }

    /// Feeds what a fetch said of the peer to the breaker; starts the probe
    /// task when this failure opened it.
    fn record(&self, verdict: Verdict, error: &dyn std::fmt::Display) {
        match verdict {
            Verdict::Alive => self.breaker.record_success(),
            Verdict::Unknown => {}
            Verdict::Unreachable => {
                if self.breaker.record_failure(error) {
                    tokio::spawn(breaker::probe_until_healthy(
                        Arc::downgrade(&self.breaker),
                        self.channel(),
                        self.peer_tokens.clone(),
                    ));
                }
            }
        }
    }

    /// A gRPC client on this peer's channel, with the message limits set.
    /// The first call must be made inside a tokio runtime (it creates the
    /// channel, which spawns its connection task there).
    pub fn client(&self) -> GroupcacheClient<Channel> {
        GroupcacheClient::new(self.channel())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }
}

/// Cancelled fetches a peer connection remembers (h2's default is 50 for 30
/// s), so that answers arriving after a cancel are dropped quietly.
const REMEMBERED_RESETS: usize = 4096;

/// How long a peer connection with fetches in flight may read nothing
/// before it sends a PING: a quarter of the peer timeout. The PING's answer
/// then gets the whole peer timeout (a live node on a busy machine must not
/// be judged dead), and a dead one is found within 1.25 peer timeouts of
/// its last word.
fn ping_after(peer_timeout: Duration) -> Duration {
    (peer_timeout / 4).max(Duration::from_millis(1))
}

/// Bytes a peer connection may queue before its writes wait for the writer
/// task (fetch requests are small: this is never reached in practice).
const CLIENT_WRITE_BUFFER: usize = 64 * 1024;

/// Opens a TCP connection to `uri`'s `host:port` with `TCP_NODELAY` and
/// wraps it in a [`CoalescingIo`]. The channel applies the connect timeout.
async fn connect_coalescing(uri: Uri) -> std::io::Result<TokioIo<CoalescingIo>> {
    let (_, stream) = tcp_to(&uri).await?;
    Ok(TokioIo::new(CoalescingIo::new(stream, CLIENT_WRITE_BUFFER)))
}

/// A peer connection over TLS whose records are written through a
/// [`CoalescingIo`] (or straight to the socket).
type TlsPeerIo = tokio_rustls::client::TlsStream<Either<TcpStream, CoalescingIo>>;

/// Opens TCP to `uri`'s `host:port`, then TLS with the host as the server
/// name (the peer's certificate must be valid for it).
async fn connect_tls(
    uri: Uri,
    tls: ClientTls,
    coalescing: bool,
) -> std::io::Result<TokioIo<TlsPeerIo>> {
    let (host, stream) = tcp_to(&uri).await?;
    let io = if coalescing {
        Either::Right(CoalescingIo::new(stream, CLIENT_WRITE_BUFFER))
    } else {
        Either::Left(stream)
    };
    Ok(TokioIo::new(tls.connect(&host, io).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    /// Only unmarked UNAVAILABLE/UNKNOWN (what tonic reports for a dead
    /// connection) count against the peer; statuses its server sent, the
    /// owner's marked answers included, prove it alive; our own timer's
    /// prove nothing.
    #[test]
    fn statuses_judge_the_peer() {
        let transport = [
            Status::unavailable("connection refused"),
            Status::unknown("h2 error"),
            Status::cancelled("connection closed"),
        ];
        for s in transport {
            assert_eq!(verdict_of(&s), Verdict::Unreachable, "{s:?}");
        }
        let answered = [
            Status::invalid_argument("unknown group"),
            Status::resource_exhausted("shed"),
            Status::internal("boom"),
            status::to_status(&CoreError::source_failed("db")),
            status::to_status(&CoreError::NotFound),
            Status::deadline_exceeded("the owner's deadline layer"),
        ];
        for s in answered {
            assert_eq!(verdict_of(&s), Verdict::Alive, "{s:?}");
        }
    }

    /// `CANCELLED` once the budget is spent is the channel's own timer;
    /// before that, a connection that went away.
    #[test]
    fn own_timer_is_told_by_the_time() {
        let cancelled = Status::new(Code::Cancelled, "Timeout expired");
        let budget = Some(Duration::from_millis(300));
        assert!(is_own_timer(&cancelled, budget, Duration::from_millis(299)));
        assert!(!is_own_timer(
            &cancelled,
            budget,
            Duration::from_millis(100)
        ));
        assert!(!is_own_timer(&cancelled, None, Duration::from_secs(60)));
        assert!(!is_own_timer(
            &Status::unavailable("x"),
            budget,
            Duration::from_secs(1)
        ));
    }
}

#[async_trait]
impl PeerClient for GrpcPeer {
    fn id(&self) -> &str {
        &self.id
    }

    /// Sends `Fetch` with `grpc-timeout` set to the time left on `ctx` (the
    /// group's load timeout; none when `ctx` has no deadline) and the trace
    /// context of `ctx` under this hop's span ([`Hop`]), unless the peer's
    /// breaker is open: then fails at once with `Unavailable`.
    async fn fetch(&self, group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, CoreError> {
        let hop = Hop::start(&self.id, group, ctx.trace());
        if !self.breaker.allow() {
            hop.finish("skipped");
            return Err(CoreError::unavailable(
                "skipped: the peer's breaker is open",
            ));
        }
        let started = tokio::time::Instant::now();
        let (outcome, verdict) = self
            .send_fetch(group, key, ctx.remaining(), false, &hop)
            .instrument(hop.span().clone())
            .await;
        self.settle(&hop, started, &outcome, verdict);
        outcome
    }

    /// Sends one `FetchMany` for all of `keys`, with the deadline and trace
    /// context of a `Fetch`, unless the peer's breaker is open (then fails
    /// at once with `Unavailable`, and the group loads every key itself).
    /// Timed in [`fetch_latency`](GrpcPeer::fetch_latency) as one fetch,
    /// and fed to the breaker as one.
    async fn fetch_many(
        &self,
        group: &str,
        keys: &[String],
        ctx: &LoadContext,
    ) -> Result<Vec<Result<Fetched, CoreError>>, CoreError> {
        let hop = Hop::start(&self.id, group, ctx.trace());
        if !self.breaker.allow() {
            hop.finish("skipped");
            return Err(CoreError::unavailable(
                "skipped: the peer's breaker is open",
            ));
        }
        let started = tokio::time::Instant::now();
        let (outcome, verdict) = self
            .send_fetch_many(group, keys, ctx.remaining(), &hop)
            .instrument(hop.span().clone())
            .await;
        self.settle(&hop, started, &outcome, verdict);
        outcome
    }

    /// Sends `Fetch` with `cached_only` set, bounded by the pool's takeover
    /// timeout (or less, if `ctx` has less left). Not timed in
    /// [`fetch_latency`](GrpcPeer::fetch_latency): these are not loads.
    async fn fetch_cached(
        &self,
        group: &str,
        key: &str,
        ctx: &LoadContext,
    ) -> Result<Fetched, CoreError> {
        if !self.breaker.allow() {
            return Err(CoreError::unavailable(
                "skipped: the peer's breaker is open",
            ));
        }
        let budget = ctx.remaining().map_or(self.takeover_timeout, |left| {
            left.min(self.takeover_timeout)
        });
        let hop = Hop::start(&self.id, group, ctx.trace());
        let (outcome, verdict) = self
            .send_fetch(group, key, Some(budget), true, &hop)
            .instrument(hop.span().clone())
            .await;
        hop.finish(if outcome.is_ok() { "ok" } else { "error" });
        match &outcome {
            Ok(_) => self.record(verdict, &"ok"),
            Err(err) => self.record(verdict, err),
        }
        outcome
    }
}

/// True when `status` is the channel's own timer (tonic enforces the
/// `grpc-timeout` it sends, answering `CANCELLED`) rather than a dead
/// connection (which hyper also reports as `CANCELLED`): the budget was
/// spent, give or take the two timers' start-up gap.
fn is_own_timer(status: &tonic::Status, budget: Option<Duration>, elapsed: Duration) -> bool {
    const TIMER_SLACK: Duration = Duration::from_millis(5);
    status.code() == tonic::Code::Cancelled
        && budget.is_some_and(|budget| elapsed + TIMER_SLACK >= budget)
}

/// What one fetch says of the peer's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It answered (a value, or any status its server sent).
    Alive,
    /// It could not be reached, or its connection was judged dead.
    Unreachable,
    /// Nothing either way (our own deadline passed first).
    Unknown,
}

/// The verdict of a status received for a fetch (the channel's own timer
/// already set aside): `UNAVAILABLE`, `UNKNOWN` and `CANCELLED` without the
/// owner's marker are what tonic reports for a refused, reset or dead
/// connection; every other status was sent by the peer's server, which is
/// therefore alive (an owner lacking the group, one shedding load, its
/// deadline layer).
fn verdict_of(status: &tonic::Status) -> Verdict {
    let marked = status.metadata().get(status::ERROR_KIND_KEY).is_some();
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled if !marked => {
            Verdict::Unreachable
        }
        _ => Verdict::Alive,
    }
}

impl GrpcPeer {
    /// Closes a call sent to this peer: times it in `fetch_latency`, ends
    /// its hop span with its outcome, and tells the breaker what it says
    /// of the peer.
    fn settle<T>(
        &self,
        hop: &Hop,
        started: tokio::time::Instant,
        outcome: &Result<T, CoreError>,
        verdict: Verdict,
    ) {
        self.fetch_latency.record(started.elapsed());
        match outcome {
            Ok(_) => {
                hop.finish("ok");
                self.record(verdict, &"ok");
            }
            Err(err) => {
                hop.finish("error");
                self.record(verdict, err);
            }
        }
    }

    /// A request to this peer carrying `message`, with `budget` as its
    /// deadline, this node's peer token and `hop`'s trace context; `None`
    /// when the budget is already spent.
    fn peer_request<T>(
        &self,
        message: T,
        budget: Option<Duration>,
        hop: &Hop,
    ) -> Option<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        if let Some(budget) = budget {
            if budget.is_zero() {
                return None;
            }
            request.set_timeout(budget);
        }
        if let Some(tokens) = &self.peer_tokens {
            request
                .metadata_mut()
                .insert("authorization", tokens.header());
        }
        hop.write(request.metadata_mut());
        Some(request)
    }

    /// One `Fetch` call (from the peer's caches only when `cached_only`),
    /// bounded by `budget` when given, carrying this node's ring
    /// fingerprint and `hop`'s trace context, and what it says of the
    /// peer's health.
    async fn send_fetch(
        &self,
        group: &str,
        key: &str,
        budget: Option<Duration>,
        cached_only: bool,
        hop: &Hop,
    ) -> (Result<Fetched, CoreError>, Verdict) {
        let message = FetchRequest {
            group: group.to_owned(),
            key: key.to_owned(),
            ring: self.ring.load(Ordering::Relaxed),
            cached_only,
        };
        let Some(request) = self.peer_request(message, budget, hop) else {
            return (Err(CoreError::DeadlineExceeded), Verdict::Unknown);
        };
        let mut client = self.client();
        let started = tokio::time::Instant::now();
        let call = client.fetch(request);
        let answer = match budget {
            Some(budget) => tokio::time::timeout(budget, call).await,
            None => Ok(call.await),
        };
        match answer {
            Ok(Ok(response)) => {
                let r = response.into_inner();
                // prost decodes a `bytes` field as a slice of tonic's
                // per-call decode buffer (8 KiB or more), and that whole
                // buffer would live as long as the value does in the hot
                // cache. An exact-size copy is cheap next to the network hop.
                let fetched = Fetched {
                    value: Bytes::copy_from_slice(&r.value),
                    minute_qps: Some(r.minute_qps),
                    ttl: (r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms)),
                    not_found: false,
                    stale: r.stale,
                };
                (Ok(fetched), Verdict::Alive)
            }
            Ok(Err(status)) if status::negative_ttl(&status).is_some() => {
                let ttl = status::negative_ttl(&status).unwrap_or_default();
                (Ok(Fetched::not_found(ttl)), Verdict::Alive)
            }
            Ok(Err(status)) if is_own_timer(&status, budget, started.elapsed()) => {
                tracing::debug!(peer = %self.id, %key, ?budget, "peer fetch timed out");
                (Err(CoreError::DeadlineExceeded), Verdict::Unknown)
            }
            Ok(Err(status)) => {
                let err = status::from_status(&status);
                tracing::debug!(peer = %self.id, %key, code = ?status.code(), error = %err, "peer fetch failed");
                (Err(err), verdict_of(&status))
            }
            Err(_elapsed) => {
                tracing::debug!(peer = %self.id, %key, ?budget, "peer fetch timed out");
                (Err(CoreError::DeadlineExceeded), Verdict::Unknown)
            }
        }
    }
}
