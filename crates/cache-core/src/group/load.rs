//! What a group does on a miss: the work of a flight (re-check, pick the
//! owner, fetch from it or load locally) and how results populate the
//! caches.
//!
//! Who bounds a load: not the caller that started it. A flight serves every
//! caller waiting for its key, so it runs until it is done, until the
//! group's load timeout, or until no caller waits any more, whichever comes
//! first; then it is dropped (its loader call or peer fetch with it). Each
//! caller bounds only its own wait. A load also waits for a permit of the
//! group's [`LoadLimiter`](crate::LoadLimiter) before it calls the loader.
//!
//! A key this node owns is loaded in a local flight (shared by this node's
//! gets and peers' fetches of it) that re-checks the main cache, then,
//! during a warm-up period after the ring changed, asks the key's previous
//! owner for its cached copy (warm takeover, `takeover.rs`: a value answers
//! the flight with no loader call; anything else goes on to the loader),
//! and only then calls the loader. The ask holds no load-limiter permit.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::ttl::TtlPolicy;
use super::{Found, Inner, Via, spans};
use crate::promotion::PromotionInput;
use crate::stats::incr;
use crate::store::counter::StripedCounter;
use crate::store::{CacheKind, Cached, Entry};
use crate::{Error, Fetched, LoadContext, Loaded, PeerClient, TraceContext};

impl Inner {
    /// The work of a `get` flight; runs in the flight's task until done or
    /// until no caller waits for it any more.
    pub(super) async fn load(
        self: Arc<Self>,
        key: String,
        ctx: LoadContext,
    ) -> Result<Found, Error> {
        let work = async {
            // Re-check both caches. Our caller missed them before joining
            // the singleflight, but a previous flight for this key may have
            // populated the cache and left the map in between (caller A
            // misses, flight F of caller B completes and removes itself, A
            // finds no flight and starts a new one). Without this check A
            // would load the key a second time. (Test:
            // `tests/group_recheck.rs`.)
            if let Some(hit) = self.lookup_hot_then_main(&key) {
                return hit;
            }
            incr(&self.stats.loads_deduped);
            match self.peers.pick(&key) {
                // The local flight is shared with peers' fetches of the key;
                // this flight is one of its waiters, and leaves it when its
                // own callers are gone (so that flight's token fires too).
                None => self.load_owned(&key, None, ctx.trace()).await,
                Some(peer) => self.load_from_peer(peer, &key, &ctx).await,
            }
        };
        until_cancelled(&ctx, work).await
    }

    /// Loads a key this node owns through the local flights (shared with
    /// peer fetches), populating the main cache. `wait` bounds this
    /// caller's wait only; a flight this call starts carries `trace` to
    /// the loader.
    pub(super) async fn load_owned(
        self: &Arc<Self>,
        key: &str,
        wait: Option<Instant>,
        trace: Option<&TraceContext>,
    ) -> Result<Found, Error> {
        let (inner, owned_key) = (Arc::clone(self), key.to_owned());
        let trace = trace.cloned();
        self.local_flights
            .run(key, wait, move |ctx| async move {
                let ctx = ctx.with_trace(trace);
                until_cancelled(&ctx, inner.load_locally(owned_key, &ctx)).await
            })
            .await
    }

    /// The work of a local flight: the previous owner's cached copy during
    /// a warm takeover, else run the loader; the value goes into the main
    /// cache (a loader's `NotFound` too, for `negative_ttl`, when enabled).
    async fn load_locally(&self, key: String, ctx: &LoadContext) -> Result<Found, Error> {
        let generation = self.generations.current(&key);
        // Re-check the main cache: a local flight of a `get` or of a peer
        // fetch may have filled it since this caller looked (same
        // interleaving as in `load`).
        if let Some(hit) = self.lookup(&key, &[CacheKind::Main], false) {
            return hit;
        }
        // Warm takeover: the previous owner may still hold the key. Asked
        // before the loader takes a permit (the ask is not a source load).
        if let Some(found) = self.take_over(&key, generation, ctx).await {
            return Ok(found);
        }
        match self.call_getter(&key, ctx, false).await {
            Ok(loaded) => {
                let found = self.found(loaded, Via::Load);
                self.populate(CacheKind::Main, &key, generation, &found);
                Ok(found)
            }
            Err(Error::NotFound) => {
                if let Some(ttl) = self.opts.negative_ttl {
                    let entry = Entry {
                        data: Cached::NotFound,
                        expires_at: Some(Instant::now() + ttl),
                    };
                    self.generations.insert_if_current(&key, generation, || {
                        self.store.insert(CacheKind::Main, &key, entry)
                    });
                }
                Err(Error::NotFound)
            }
            Err(err) => Err(err),
        }
    }

    /// Fetches a key from its owner, waiting as long as the flight lives
    /// (at most the load timeout): a live owner still loading is waited
    /// for. What the owner's answer does is [`apply_fetched`]'s.
    ///
    /// [`apply_fetched`]: Inner::apply_fetched
    async fn load_from_peer(
        &self,
        peer: Arc<dyn PeerClient>,
        key: &str,
        ctx: &LoadContext,
    ) -> Result<Found, Error> {
        let generation = self.generations.current(key);
        let peer_ctx = self.with_load_timeout(ctx);
        let fetched = bounded(&peer_ctx, peer.fetch(&self.name, key, &peer_ctx)).await;
        self.apply_fetched(peer.id(), key, generation, ctx, fetched)
            .await
    }

    /// What a flight does with its owner's answer for `key` (`generation`:
    /// the key's, read before the fetch was sent), for a single fetch and
    /// for a key of a batch alike: a value is returned, and promoted to
    /// the hot cache if the policy says so; when the peer could not answer
    /// (its client judged it dead or skipped it, or it shed the request),
    /// the key is loaded locally into the hot cache instead, under the
    /// flight's `ctx`; any other error is passed on. Counts one
    /// `peer_loads`.
    pub(super) async fn apply_fetched(
        &self,
        peer: &str,
        key: &str,
        generation: u64,
        ctx: &LoadContext,
        fetched: Result<Fetched, Error>,
    ) -> Result<Found, Error> {
        incr(&self.stats.peer_loads);
        match fetched {
            Ok(fetched) if fetched.not_found => {
                // The owner remembers this NotFound: so may we, as long.
                if let Some(ttl) = fetched.ttl {
                    let entry = Entry {
                        data: Cached::NotFound,
                        expires_at: self.hot_expiry(Some(Instant::now() + ttl)),
                    };
                    let kept = self.generations.insert_if_current(key, generation, || {
                        self.store.insert(CacheKind::Hot, key, entry)
                    });
                    if kept {
                        incr(&self.stats.negative_promotions);
                    }
                }
                incr(&self.stats.peer_errors);
                Err(Error::NotFound)
            }
            Ok(fetched) => {
                let found = Found {
                    value: fetched.value,
                    expires_at: TtlPolicy::after(Instant::now(), fetched.ttl),
                    via: Via::Peer,
                };
                // A stale answer (the owner is refreshing it) is served, not
                // copied: a hot copy never outlives the owner's value.
                if !fetched.stale {
                    self.maybe_promote(key, generation, fetched.minute_qps, &found);
                }
                Ok(found)
            }
            Err(err) if err.is_peer_fallback() => {
                incr(&self.stats.peer_errors);
                incr(&self.stats.fallback_loads);
                tracing::debug!(group = %self.name, peer, error = %err, "owner unavailable, loading locally");
                // A key owned elsewhere never enters our main cache: the hot
                // cache bounds how much of the budget such copies can take.
                let found = self.found(self.call_getter(key, ctx, true).await?, Via::Fallback);
                self.populate(CacheKind::Hot, key, generation, &found);
                Ok(found)
            }
            Err(Error::DeadlineExceeded) => {
                // The flight's budget (the load timeout) ran out while the
                // owner was loading: loading here too would start over.
                incr(&self.stats.peer_errors);
                incr(&self.stats.load_timeouts);
                let err = self.load_timed_out("the owner did not answer");
                self.log_failed_load(key, &err);
                Err(err)
            }
            Err(err) => {
                // NotFound, SourceFailed, TooManyLoads: the owner's source
                // answered. Loading here would only ask the source again.
                incr(&self.stats.peer_errors);
                Err(err)
            }
        }
    }

    /// Puts a fetched value in the hot cache if the promotion policy says so.
    fn maybe_promote(&self, key: &str, generation: u64, owner_qps: Option<f64>, found: &Found) {
        let size = crate::store::entry_size(key, found.value.len());
        let input = PromotionInput {
            key,
            owner_qps,
            now: Instant::now(),
            hot_has_room: self.store.has_room(CacheKind::Hot, size),
        };
        if !self.promotion.should_promote(&input) {
            return;
        }
        if self.populate(CacheKind::Hot, key, generation, found) {
            incr(&self.stats.promotions);
        }
    }

    /// A loaded value with its fresh expiry computed from now (the TTL
    /// cap and jitter applied: `ttl.rs`).
    fn found(&self, loaded: Loaded, via: Via) -> Found {
        Found {
            value: loaded.value,
            expires_at: TtlPolicy::after(Instant::now(), self.opts.ttl.fresh_ttl(loaded.ttl)),
            via,
        }
    }

    /// Inserts `found` into `kind` unless `key` was removed since
    /// `generation` was read or the value is already expired (a zero TTL:
    /// answered, never cached); true if inserted.
    pub(super) fn populate(
        &self,
        kind: CacheKind,
        key: &str,
        generation: u64,
        found: &Found,
    ) -> bool {
        let now = Instant::now();
        if found.expires_at.is_some_and(|at| at <= now) {
            return false;
        }
        let fresh_until = match kind {
            CacheKind::Hot => self.hot_expiry(found.expires_at),
            CacheKind::Main => found.expires_at,
        };
        let entry = self.value_entry(found.value.clone(), fresh_until);
        self.generations
            .insert_if_current(key, generation, || self.store.insert(kind, key, entry))
    }

    /// When a hot copy that its owner keeps until `owner_expiry` (`None`:
    /// no expiry) must leave this node's hot cache: then, and no later than
    /// the hot TTL from now.
    fn hot_expiry(&self, owner_expiry: Option<Instant>) -> Option<Instant> {
        let cap = self.opts.hot_ttl.map(|ttl| Instant::now() + ttl);
        match (owner_expiry, cap) {
            (Some(owner), Some(cap)) => Some(owner.min(cap)),
            (owner, cap) => owner.or(cap),
        }
    }

    /// `flight` (a flight's context: its token) with the load timeout from
    /// now as its deadline.
    pub(super) fn with_load_timeout(&self, flight: &LoadContext) -> LoadContext {
        match self.opts.load_timeout {
            Some(timeout) => flight.clone().deadline(Instant::now() + timeout),
            None => flight.clone(),
        }
    }

    /// The error of a load that ran out of the load timeout.
    fn load_timed_out(&self, what: &str) -> Error {
        let timeout = self.opts.load_timeout.unwrap_or_default();
        Error::source_failed(format!("{what} within the load timeout of {timeout:?}"))
    }

    /// Calls the loader for a flight (a `fallback` for a key owned
    /// elsewhere, or not) in its `load` span, which records the outcome.
    async fn call_getter(
        &self,
        key: &str,
        flight: &LoadContext,
        fallback: bool,
    ) -> Result<Loaded, Error> {
        let span = spans::load(&self.name, fallback);
        let result = self
            .call_getter_counted(key, flight)
            .instrument(span.clone())
            .await;
        spans::record_load(&span, &result);
        result
    }

    /// Calls the loader, counting its outcome: first a permit of the load
    /// limiter (waiting in its queue, or [`Error::TooManyLoads`] at once
    /// when that is full), then the loader, bounded by the load timeout. A
    /// panic becomes [`Error::LoaderPanicked`]. A failure is logged here,
    /// once for all the callers waiting for it. The call's time, from the
    /// permit to its answer, goes into the load latency histogram (not
    /// when it is cancelled).
    async fn call_getter_counted(&self, key: &str, flight: &LoadContext) -> Result<Loaded, Error> {
        let _permit = match self.limiter.acquire().await {
            Ok(permit) => permit,
            Err(err) => {
                incr(&self.stats.loads_rejected);
                tracing::debug!(group = %self.name, key, "load refused: the load limit and its queue are full");
                return Err(err);
            }
        };
        let started = Instant::now();
        let ctx = self.with_load_timeout(flight);
        // Counts the call as abandoned unless it finishes: the flight drops
        // it when no caller waits any more.
        let abandoned = CountOnDrop(Some(&self.stats.loads_cancelled));
        let call = AssertUnwindSafe(self.getter.get(key, &ctx)).catch_unwind();
        let outcome = match ctx.get_deadline() {
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.ok(),
            None => Some(call.await),
        };
        abandoned.disarm();
        self.stats
            .load_latency
            .record(Instant::now().saturating_duration_since(started));
        let result = match outcome {
            Some(Ok(Ok(loaded))) => {
                incr(&self.stats.local_loads);
                return Ok(loaded);
            }
            // A loader that bounds its own work by the context's deadline
            // (the load timeout) reports it as a deadline: to the callers it
            // is the load timeout, not theirs.
            Some(Ok(Err(Error::DeadlineExceeded))) if ctx.is_expired() => {
                incr(&self.stats.load_timeouts);
                self.load_timed_out("the loader did not answer")
            }
            Some(Ok(Err(err))) => err,
            Some(Err(_panic)) => {
                incr(&self.stats.loader_panics);
                Error::LoaderPanicked
            }
            None => {
                incr(&self.stats.load_timeouts);
                self.load_timed_out("the loader did not answer")
            }
        };
        incr(&self.stats.local_load_errs);
        if result != Error::NotFound {
            self.log_failed_load(key, &result);
        }
        Err(result)
    }

    /// Logs a failed load once for all its callers, with how many wait.
    fn log_failed_load(&self, key: &str, err: &Error) {
        let gets = self.flights.waiters(key);
        // A get flight of an owned key is one waiter of the local flight:
        // count its callers instead.
        let waiters = self
            .local_flights
            .waiters(key)
            .saturating_sub(usize::from(gets > 0))
            + gets;
        tracing::warn!(group = %self.name, key, waiters, error = %err, "load failed");
    }
}

/// Runs `work` until it finishes or `flight`'s token fires (no caller waits
/// for the flight any more; nobody sees the error then). The token is
/// polled first, so work that is already abandoned does not start.
pub(super) async fn until_cancelled<T>(
    flight: &LoadContext,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::select! {
        biased;
        () = flight.cancellation().cancelled() => Err(Error::DeadlineExceeded),
        done = work => done,
    }
}

/// Runs a peer fetch bounded by `ctx`'s deadline (the load timeout) here
/// too: a client that ignores the deadline must not hold the flight past
/// it ([`Error::DeadlineExceeded`] then).
pub(super) async fn bounded<T>(
    ctx: &LoadContext,
    fetch: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match ctx.get_deadline() {
        Some(deadline) => tokio::time::timeout_at(deadline, fetch)
            .await
            .unwrap_or(Err(Error::DeadlineExceeded)),
        None => fetch.await,
    }
}

/// Increments a counter when dropped, unless disarmed first.
struct CountOnDrop<'a>(Option<&'a StripedCounter>);

impl CountOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(counter) = self.0 {
            incr(counter);
        }
    }
}
