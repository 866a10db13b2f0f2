//! What a group does on a miss: the work of a flight (re-check, pick the
//! owner, fetch from it or load locally) and how results populate the
//! caches.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;

use super::{Found, Inner};
use crate::promotion::PromotionInput;
use crate::stats::incr;
use crate::store::{CacheKind, Cached, Entry};
use crate::{Error, LoadContext, Loaded, PeerClient};

impl Inner {
    /// The work of a `get` flight; runs in the flight's task.
    pub(super) async fn load(
        self: Arc<Self>,
        key: String,
        ctx: LoadContext,
    ) -> Result<Found, Error> {
        // Re-check both caches. Our caller missed them before joining the
        // singleflight, but a previous flight for this key may have
        // populated the cache and left the map in between (caller A misses,
        // flight F of caller B completes and removes itself, A finds no
        // flight and starts a new one). Without this check A would load the
        // key a second time. (Test: `tests/group_recheck.rs`.)
        if let Some(hit) = self.lookup_hot_then_main(&key) {
            return hit;
        }
        incr(&self.stats.loads_deduped);
        match self.peers.pick(&key) {
            None => {
                // The flight waits for the local load without a deadline of
                // its own: each of its waiters bounds its own wait, and the
                // leader's deadline must not fail the others (the loader is
                // still given it). It stops waiting when nobody waits for it
                // any more, so that the local flight's token fires too
                // (`biased`: the local flight is always started first).
                let local = self.load_owned(&key, None, ctx.get_deadline());
                tokio::select! {
                    biased;
                    found = local => found,
                    () = ctx.cancellation().cancelled() => Err(Error::DeadlineExceeded),
                }
            }
            Some(peer) => self.load_from_peer(peer, key, ctx).await,
        }
    }

    /// Loads a key this node owns through the local flights (shared with
    /// peer fetches), populating the main cache. `wait` bounds this caller's
    /// wait (and, if it starts the flight, the loader's context); `loader`
    /// further bounds the loader's context if this call starts the flight.
    pub(super) async fn load_owned(
        self: &Arc<Self>,
        key: &str,
        wait: Option<Instant>,
        loader: Option<Instant>,
    ) -> Result<Found, Error> {
        let (inner, owned_key) = (Arc::clone(self), key.to_owned());
        self.local_flights
            .run(key, wait, move |ctx| async move {
                let ctx = match loader {
                    Some(deadline) => ctx.tighten(deadline),
                    None => ctx,
                };
                inner.load_locally(owned_key, ctx).await
            })
            .await
    }

    /// The work of a local flight: run the loader and put its value in the
    /// main cache (a `NotFound` too, for `negative_ttl`, when enabled).
    async fn load_locally(self: Arc<Self>, key: String, ctx: LoadContext) -> Result<Found, Error> {
        let generation = self.generations.current(&key);
        // Re-check the main cache: a local flight of a `get` or of a peer
        // fetch may have filled it since this caller looked (same
        // interleaving as in `load`).
        if let Some(hit) = self.lookup(&key, &[CacheKind::Main], false) {
            return hit;
        }
        match self.call_getter(&key, &ctx).await {
            Ok(loaded) => {
                let found = self.found(loaded);
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

    /// Fetches a key from its owner; on a transport failure, timeout or
    /// overload, loads it locally into the hot cache instead.
    async fn load_from_peer(
        &self,
        peer: Arc<dyn PeerClient>,
        key: String,
        ctx: LoadContext,
    ) -> Result<Found, Error> {
        incr(&self.stats.peer_loads);
        let generation = self.generations.current(&key);
        let now = Instant::now();
        // Wait at most `peer_timeout`, and keep `fallback_reserve` of the
        // caller's remaining time for a local load if the owner fails.
        let mut deadline = now + self.opts.peer_timeout;
        if let Some(remaining) = ctx.remaining() {
            deadline = deadline.min(now + remaining.mul_f64(1.0 - self.opts.fallback_reserve));
        }
        let peer_ctx = LoadContext::new()
            .deadline(deadline)
            .cancel_token(ctx.cancellation().clone());
        // Bound the fetch ourselves too: a client that ignores the deadline
        // must not hold the flight.
        let fetched = tokio::time::timeout_at(deadline, peer.fetch(&self.name, &key, &peer_ctx))
            .await
            .unwrap_or(Err(Error::DeadlineExceeded));
        match fetched {
            Ok(fetched) => {
                let found = Found {
                    value: fetched.value,
                    expires_at: fetched.ttl.map(|ttl| Instant::now() + ttl),
                };
                self.maybe_promote(&key, generation, fetched.minute_qps, &found);
                Ok(found)
            }
            Err(err) if err.is_peer_fallback() => {
                incr(&self.stats.peer_errors);
                incr(&self.stats.fallback_loads);
                tracing::debug!(group = %self.name, peer = peer.id(), error = %err, "owner unavailable, loading locally");
                // A key owned elsewhere never enters our main cache: the hot
                // cache bounds how much of the budget such copies can take.
                let found = self.found(self.call_getter(&key, &ctx).await?);
                self.populate(CacheKind::Hot, &key, generation, &found);
                Ok(found)
            }
            Err(err) => {
                // NotFound or SourceFailed: the owner's source answered.
                // Loading here would only ask the source again.
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

    /// A loaded value with its expiry computed from now.
    fn found(&self, loaded: Loaded) -> Found {
        Found {
            value: loaded.value,
            expires_at: loaded.ttl.map(|ttl| Instant::now() + ttl),
        }
    }

    /// Inserts `found` into `kind` unless `key` was removed since
    /// `generation` was read or the value is already expired; true if
    /// inserted.
    fn populate(&self, kind: CacheKind, key: &str, generation: u64, found: &Found) -> bool {
        if found.expires_at.is_some_and(|at| at <= Instant::now()) {
            return false;
        }
        let entry = Entry {
            data: Cached::Value(found.value.clone()),
            expires_at: found.expires_at,
        };
        self.generations
            .insert_if_current(key, generation, || self.store.insert(kind, key, entry))
    }

    /// Calls the loader, counting its outcome; a panic becomes
    /// [`Error::LoaderPanicked`].
    async fn call_getter(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, Error> {
        let outcome = AssertUnwindSafe(self.getter.get(key, ctx))
            .catch_unwind()
            .await;
        match outcome {
            Ok(Ok(loaded)) => {
                incr(&self.stats.local_loads);
                Ok(loaded)
            }
            Ok(Err(err)) => {
                incr(&self.stats.local_load_errs);
                Err(err)
            }
            Err(_) => {
                incr(&self.stats.local_load_errs);
                incr(&self.stats.loader_panics);
                tracing::warn!(group = %self.name, key, "loader panicked");
                Err(Error::LoaderPanicked)
            }
        }
    }
}
