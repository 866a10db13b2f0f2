//! [`GroupcacheService`]: what happens on a `Get` (for clients), a `Fetch`
//! (for peers) and a `Stats` (for operators), whichever codec and transport
//! brought the request.
//!
//! - `Get`: the group by name (`INVALID_ARGUMENT` if unknown), then
//!   [`Group::get_with_ttl`] under the request's deadline: the caches, or
//!   the owner over the peer pool, or the loader. The value (over
//!   `max_value_bytes`: `RESOURCE_EXHAUSTED`) and its TTL in milliseconds.
//! - `Fetch`: the same for a peer, through [`Group::fetch_for_peer`]: the
//!   owner's caches or its loader, never another peer (a request never
//!   bounces), and the key's request rate for the requester's hot cache.
//!   With `cached_only` (warm takeover), the caches alone: `NOT_FOUND`
//!   when the key is not cached. A ring fingerprint that differs from this
//!   node's is counted and logged (rate-limited), and the fetch answered.
//! - `Stats`: counters, caches, load limiter, peer health and membership.
//! - `Put`: values a leaving peer hands over, stored in the main cache as
//!   if loaded here (never forwarded).
//! - `Remove` and `Set` (admins): the change sent across the mesh by
//!   [`mutations`](crate::mutations), owners first; `Invalidate` and
//!   `Store` (peers): their halves on each node, never forwarded. In
//!   `service/mutations.rs`.
//! - `GetMany` and `FetchMany`: batches of keys, a result per key
//!   (`batch.rs`).
//!
//! Every error leaves as a gRPC status through [`status`], the one mapping.

mod batch;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use cache_core::{
    CacheStats, Group, HandoffEntry, LoadContext, LoadLimiterStats, Registry, StatsSnapshot,
};
use tonic::{Request, Response, Status};

use crate::access_log::{AccessLog, Rpc};
use crate::middleware::deadline::Deadline;
use crate::pb::groupcache_server::Groupcache;
use crate::pb::{self, FetchRequest, FetchResponse, GetRequest, GetResponse};
use crate::server::gauges::NodeGauges;
use crate::trace_context::TraceContext;
use crate::{PeerHealth, PeerPool, status};

mod mutations;

/// The service implementation. Cheap to clone (registry and pool are
/// handles).
#[derive(Debug, Clone)]
pub struct GroupcacheService {
    registry: Registry,
    pool: PeerPool,
    /// Values above this are refused rather than sent (they could not be
    /// decoded by a peer or client configured with the same limit).
    max_value_bytes: usize,
    /// The most keys of one `GetMany`, `FetchMany` or `Remove`.
    max_batch_keys: usize,
    /// The server's view of itself, for `Stats` (set by `serve`).
    gauges: Option<NodeGauges>,
    /// Which requests are logged (default: none).
    access_log: AccessLog,
    /// How long `Remove` and `Set` wait for the other nodes, each step,
    /// when the request has no deadline.
    mutation_timeout: Duration,
    /// Why `Remove` and `Set` are refused here, if they are.
    mutations_off: Option<String>,
}

impl GroupcacheService {
    /// A service answering for the groups of `registry`, on the node
    /// described by `pool`.
    pub fn new(registry: Registry, pool: PeerPool, max_value_bytes: usize) -> Self {
        GroupcacheService {
            registry,
            pool,
            max_value_bytes,
            max_batch_keys: crate::limits::DEFAULT_MAX_BATCH_KEYS,
            gauges: None,
            access_log: AccessLog::off(),
            mutation_timeout: crate::mutations::DEFAULT_MUTATION_TIMEOUT,
            mutations_off: None,
        }
    }

    /// Waits at most `timeout` for the other nodes in each step of a
    /// `Remove` or `Set` that has no deadline of its own (default
    /// [`DEFAULT_MUTATION_TIMEOUT`](crate::mutations::DEFAULT_MUTATION_TIMEOUT)).
    pub fn with_mutation_timeout(mut self, timeout: Duration) -> Self {
        self.mutation_timeout = timeout;
        self
    }

    /// Refuses `Remove` and `Set` (`FAILED_PRECONDITION`, saying
    /// `reason`) when `reason` is given.
    pub fn with_mutations_off(mut self, reason: Option<String>) -> Self {
        self.mutations_off = reason;
        self
    }

    /// Logs requests as `access_log` says.
    pub fn with_access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = access_log;
        self
    }

    /// Refuses batches (`GetMany`, `FetchMany`, `Remove`) of more than `keys` keys
    /// (default [`DEFAULT_MAX_BATCH_KEYS`](crate::limits::DEFAULT_MAX_BATCH_KEYS)).
    pub fn with_max_batch_keys(mut self, keys: usize) -> Self {
        self.max_batch_keys = keys;
        self
    }

    /// Reports `gauges` in `Stats`.
    pub(crate) fn with_gauges(mut self, gauges: NodeGauges) -> Self {
        self.gauges = Some(gauges);
        self
    }

    /// The largest value this service answers with.
    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    /// The message limit both ways: the largest response this service
    /// may send.
    fn message_limit(&self) -> usize {
        crate::limits::message_limit(self.max_value_bytes)
    }

    /// Counts (and logs, rate-limited) a requester's ring fingerprint
    /// that differs from this node's (0: not sent).
    fn check_ring(&self, ring: u64, peer: Option<SocketAddr>) {
        let ours = self.pool.ring_fingerprint();
        if ring != 0 && ring != ours {
            self.pool.membership().record_mismatch(peer, ring, ours);
        }
    }

    fn group(&self, name: &str) -> Result<Group, Status> {
        self.registry
            .require(name)
            .map_err(|e| status::to_status(&e))
    }

    fn check_size(&self, value: &bytes::Bytes) -> Result<(), Status> {
        if value.len() > self.max_value_bytes {
            return Err(status::to_status(&cache_core::Error::ValueTooLarge {
                size: value.len() as u64,
                limit: self.max_value_bytes as u64,
            }));
        }
        Ok(())
    }
}

/// The load context of a request: the deadline captured by the deadline
/// layer and the trace context read by the trace layer (both found in the
/// request's extensions), if any, and the instant the deadline layer
/// received the request, which times a `Get` in its group's latency
/// histograms.
pub(crate) fn context(deadline: Option<&Deadline>, trace: Option<&TraceContext>) -> LoadContext {
    let ctx = LoadContext::new().with_trace(trace.cloned());
    match deadline {
        Some(d) => ctx.deadline(d.at).started_at(d.received),
        None => ctx,
    }
}

/// Milliseconds left of a TTL, rounded up so that a short TTL never reads as
/// "no expiry" (0).
fn ttl_ms(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |t| {
        u64::try_from(t.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1)
    })
}

impl GroupcacheService {
    /// `Get`: the answer to `request` under `ctx`. Shared by the tonic
    /// handler and the [unary codec](crate::codec::unary).
    pub(crate) async fn get_message(
        &self,
        ctx: LoadContext,
        request: GetRequest,
        peer: Option<SocketAddr>,
    ) -> Result<GetResponse, Status> {
        let started = self.log_start(&ctx);
        let answer = self.get_answer(ctx, &request).await;
        if let Some(started) = started {
            let size = answer.as_ref().map(|r| r.value.len());
            self.log(Rpc::Get, &request.group, &request.key, size, started, peer);
        }
        answer
    }

    async fn get_answer(
        &self,
        ctx: LoadContext,
        request: &GetRequest,
    ) -> Result<GetResponse, Status> {
        let GetRequest { group, key } = request;
        let g = self.group(group)?;
        let loaded = g.get_with_ttl(key, ctx).await.map_err(|e| {
            tracing::debug!(%group, %key, error = %e, "get failed");
            status::to_status(&e)
        })?;
        self.check_size(&loaded.value)?;
        Ok(GetResponse {
            value: loaded.value,
            ttl_ms: ttl_ms(loaded.ttl),
        })
    }

    /// `Fetch`: the answer to `request` under `ctx`. Shared by the tonic
    /// handler and the [unary codec](crate::codec::unary).
    pub(crate) async fn fetch_message(
        &self,
        ctx: LoadContext,
        request: FetchRequest,
        peer: Option<SocketAddr>,
    ) -> Result<FetchResponse, Status> {
        let started = self.log_start(&ctx);
        let answer = self.fetch_answer(ctx, &request, peer).await;
        if let Some(started) = started {
            let size = answer.as_ref().map(|r| r.value.len());
            self.log(
                Rpc::Fetch,
                &request.group,
                &request.key,
                size,
                started,
                peer,
            );
        }
        answer
    }

    /// When a request to be logged arrived: `None` with the request logs
    /// off (one branch).
    fn log_start(&self, ctx: &LoadContext) -> Option<Instant> {
        self.access_log
            .is_on()
            .then(|| ctx.get_started_at().unwrap_or_else(Instant::now))
    }

    /// Hands an answered request to the request logs.
    fn log(
        &self,
        rpc: Rpc,
        group: &str,
        key: &str,
        size: Result<usize, &Status>,
        started: Instant,
        peer: Option<SocketAddr>,
    ) {
        let outcome = size.map_err(Status::code);
        self.access_log
            .record(rpc, group, key, outcome, started, peer);
    }

    async fn fetch_answer(
        &self,
        ctx: LoadContext,
        request: &FetchRequest,
        peer: Option<SocketAddr>,
    ) -> Result<FetchResponse, Status> {
        let FetchRequest {
            group,
            key,
            ring,
            cached_only,
        } = request;
        self.check_ring(*ring, peer);
        let g = self.group(group)?;
        let fetched = if *cached_only {
            g.peek(key)
                .ok_or_else(|| status::to_status(&cache_core::Error::NotFound))?
        } else {
            g.fetch_for_peer(key, ctx).await.map_err(|e| {
                tracing::debug!(%group, %key, error = %e, "fetch failed");
                status::to_status(&e)
            })?
        };
        if fetched.not_found {
            return Err(status::not_found_for(fetched.ttl.unwrap_or_default()));
        }
        self.check_size(&fetched.value)?;
        Ok(FetchResponse {
            value: fetched.value,
            minute_qps: fetched.minute_qps.unwrap_or(0.0),
            ttl_ms: ttl_ms(fetched.ttl),
            stale: fetched.stale,
        })
    }
}

#[tonic::async_trait]
impl Groupcache for GroupcacheService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let ctx = context(
            request.extensions().get::<Deadline>(),
            request.extensions().get::<TraceContext>(),
        );
        let peer = request.remote_addr();
        self.get_message(ctx, request.into_inner(), peer)
            .await
            .map(Response::new)
    }

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<FetchResponse>, Status> {
        let ctx = context(
            request.extensions().get::<Deadline>(),
            request.extensions().get::<TraceContext>(),
        );
        let peer = request.remote_addr();
        self.fetch_message(ctx, request.into_inner(), peer)
            .await
            .map(Response::new)
    }

    async fn stats(
        &self,
        request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        let name = request.into_inner().group;
        let groups = if name.is_empty() {
            self.registry.groups()
        } else {
            vec![self.group(&name)?]
        };
        Ok(Response::new(pb::StatsResponse {
            node: self.pool.self_id().to_owned(),
            peers: self.pool.peers(),
            groups: groups.iter().map(group_stats).collect(),
            peer_health: self
                .pool
                .health()
                .into_iter()
                .map(|(peer, h)| peer_health(peer, &h))
                .collect(),
            info: self.gauges.as_ref().map(NodeGauges::info),
            membership: Some(membership(&self.pool)),
        }))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        self.put_answer(request.into_inner()).map(Response::new)
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let budget = self.mutation_budget(request.extensions().get::<Deadline>());
        self.remove_answer(request.into_inner(), budget)
            .await
            .map(Response::new)
    }

    async fn get_many(
        &self,
        request: Request<pb::GetManyRequest>,
    ) -> Result<Response<pb::GetManyResponse>, Status> {
        let ctx = context(
            request.extensions().get::<Deadline>(),
            request.extensions().get::<TraceContext>(),
        );
        self.get_many_answer(ctx, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn set(
        &self,
        request: Request<pb::SetRequest>,
    ) -> Result<Response<pb::MutationResponse>, Status> {
        let budget = self.mutation_budget(request.extensions().get::<Deadline>());
        self.set_answer(request.into_inner(), budget)
            .await
            .map(Response::new)
    }

    async fn invalidate(
        &self,
        request: Request<pb::InvalidateRequest>,
    ) -> Result<Response<pb::InvalidateResponse>, Status> {
        self.invalidate_answer(request.into_inner())
            .map(Response::new)
    }

    async fn store(
        &self,
        request: Request<pb::SetRequest>,
    ) -> Result<Response<pb::StoreResponse>, Status> {
        self.store_answer(request.into_inner()).map(Response::new)
    }

    async fn fetch_many(
        &self,
        request: Request<pb::FetchManyRequest>,
    ) -> Result<Response<pb::FetchManyResponse>, Status> {
        let ctx = context(
            request.extensions().get::<Deadline>(),
            request.extensions().get::<TraceContext>(),
        );
        let peer = request.remote_addr();
        self.fetch_many_answer(ctx, request.into_inner(), peer)
            .await
            .map(Response::new)
    }
}

impl GroupcacheService {
    /// `Put`: stores each handed-over entry of the request in the group's
    /// main cache (entries with a bad key, an expired TTL or a value over
    /// the size limit are skipped); answers how many were stored.
    fn put_answer(&self, request: pb::PutRequest) -> Result<pb::PutResponse, Status> {
        let g = self.group(&request.group)?;
        let mut stored = 0u32;
        for entry in request.entries {
            if entry.value.len() > self.max_value_bytes {
                continue;
            }
            let accepted = g.accept_handoff(HandoffEntry {
                key: entry.key,
                // An exact-size copy: the request's buffer is not kept alive
                // by the cache.
                value: bytes::Bytes::copy_from_slice(&entry.value),
                ttl: (entry.ttl_ms > 0).then(|| Duration::from_millis(entry.ttl_ms)),
            });
            stored += u32::from(accepted);
        }
        Ok(pb::PutResponse { stored })
    }
}

/// The membership part of `Stats`.
fn membership(pool: &PeerPool) -> pb::Membership {
    let m = pool.membership_snapshot();
    pb::Membership {
        source: m.source,
        ring: crate::pool::format_ring(m.ring),
        changed_unix_ms: m
            .changed_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        changes: m.changes,
        ring_mismatches: m.ring_mismatches,
        discovery_errors: m.discovery_errors,
        rejected_answers: m.rejected_answers,
        last_error: m.last_error,
        ready: m.ready,
    }
}

fn group_stats(group: &Group) -> pb::GroupStats {
    let snap: StatsSnapshot = group.stats();
    pb::GroupStats {
        name: group.name().to_owned(),
        counters: snap
            .counters()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        main_cache: Some(cache_stats(&snap.main_cache)),
        hot_cache: Some(cache_stats(&snap.hot_cache)),
        cache_bytes: group.cache_bytes(),
        loads: Some(load_stats(&group.load_limiter().stats())),
    }
}

fn load_stats(l: &LoadLimiterStats) -> pb::LoadLimiterStats {
    pb::LoadLimiterStats {
        max_concurrent: l.max_concurrent,
        max_queued: l.max_queued,
        running: l.running,
        queued: l.queued,
        peak_running: l.peak_running,
        rejected: l.rejected,
    }
}

fn peer_health(peer: String, h: &PeerHealth) -> pb::PeerHealth {
    pb::PeerHealth {
        peer,
        state: if h.open { "open" } else { "healthy" }.to_owned(),
        breaker_opens: h.opens,
        skipped_fetches: h.skipped,
        failures: h.failures,
        consecutive_failures: h.consecutive_failures,
    }
}

fn cache_stats(c: &CacheStats) -> pb::CacheStats {
    pb::CacheStats {
        bytes: c.bytes,
        items: c.items,
        gets: c.gets,
        hits: c.hits,
        evictions: c.evictions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TTLs are rounded up to whole milliseconds; none is 0.
    #[test]
    fn ttl_rounds_up() {
        assert_eq!(ttl_ms(None), 0);
        assert_eq!(ttl_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(ttl_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(ttl_ms(Some(Duration::from_secs(3))), 3000);
    }
}
