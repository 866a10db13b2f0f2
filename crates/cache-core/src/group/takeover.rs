//! Warm takeover: a new owner that misses asks the key's previous owner
//! for its cached copy before it calls the loader.
//!
//! When the ring changes, the keys that move are cold at their new owner
//! and still cached at their previous one. While the picker is in its
//! warm-up period it names that previous owner
//! ([`PeerPicker::previous_owner`](crate::PeerPicker::previous_owner)), and
//! a local flight of an owned key (a `get`'s or a peer fetch's: both run
//! [`load_locally`](Inner::load_locally)) whose re-check of the main cache
//! missed asks it first, with
//! [`PeerClient::fetch_cached`](crate::PeerClient::fetch_cached), which
//! neither loads nor forwards:
//!
//! - **A live value**: it goes into the main cache with the time to live the
//!   previous owner reported as fresh (unless a `remove` of the key came in since the
//!   flight read the key's generation: then it only answers the flight's
//!   waiters, as a load would), and the flight answers it. No loader call.
//!   Counted in `takeover_hits`; the get's span says `takeover`, and its
//!   latency is recorded under [`GetOutcome::Peer`](crate::GetOutcome::Peer)
//!   (a hop to a peer's cache, not a source load).
//! - **Nothing asked** when the key was removed or set on this node within
//!   the tombstone TTL (`tombstones.rs`): the previous owner may not have
//!   heard of that change yet, and its copy could bring the old value back.
//! - **Anything else**: `NotFound` (it holds no value), any error, no
//!   answer within the bound below, a value with no time left, or a stale
//!   one (past its fresh time: the new owner loads it anew). Counted
//!   in `takeover_misses`, and the flight calls the loader exactly as it
//!   would have without the ask.
//!
//! The ask runs inside the local flight, so concurrent gets and peer
//! fetches of a key ask once. It holds no permit of the load limiter: it is
//! not a source load, so a saturated limiter does not hold it up, and it
//! does not hold up loads of other keys while it waits.
//!
//! **Its bound.** The previous owner is asked with the flight's context and
//! the load timeout from now as its deadline, and the ask is cut at that
//! deadline here too (a client that ignores it cannot hold the flight
//! longer). Since the loader waits for the ask, a peer client should bound
//! it much more tightly (`cache-grpc` gives `fetch_cached` its own short
//! timeout). When every caller leaves, the flight is dropped with the ask.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::Instrument;

use super::ttl::TtlPolicy;
use super::{Found, Inner, Via, spans};
use crate::stats::incr;
use crate::store::CacheKind;
use crate::{Error, LoadContext, PeerClient};

impl Inner {
    /// Asks `key`'s previous owner, if the picker names one, for its
    /// cached copy; `Some` when it gave a live value (then in the main cache
    /// unless `key`'s generation moved past `generation`), `None` to go on
    /// to the loader (no previous owner, or a miss).
    pub(super) async fn take_over(
        &self,
        key: &str,
        generation: u64,
        flight: &LoadContext,
    ) -> Option<Found> {
        let previous = self.peers.previous_owner(key)?;
        if self.tombstones.changed_recently(key, Instant::now()) {
            // Removed or set here lately: the previous owner's copy may
            // predate that change (it may not have heard of it yet).
            return None;
        }
        let span = spans::takeover(&self.name, previous.id());
        let answer = self
            .ask(&previous, key, flight)
            .instrument(span.clone())
            .await;
        spans::record_takeover(&span, &answer);
        let now = Instant::now();
        match answer {
            Ok(fetched)
                if !fetched.not_found
                    && !fetched.stale
                    && !fetched.ttl.is_some_and(|ttl| ttl.is_zero()) =>
            {
                incr(&self.stats.takeover_hits);
                let found = Found {
                    value: fetched.value,
                    expires_at: TtlPolicy::after(now, fetched.ttl),
                    via: Via::Takeover,
                };
                self.populate(CacheKind::Main, key, generation, &found);
                Some(found)
            }
            Ok(_expired) => {
                incr(&self.stats.takeover_misses);
                None
            }
            Err(err) => {
                incr(&self.stats.takeover_misses);
                if err != Error::NotFound {
                    tracing::debug!(group = %self.name, previous = previous.id(), error = %err, "previous owner did not answer, loading");
                }
                None
            }
        }
    }

    /// The cache-only fetch from `previous`, under the load timeout.
    async fn ask(
        &self,
        previous: &Arc<dyn PeerClient>,
        key: &str,
        flight: &LoadContext,
    ) -> Result<crate::Fetched, Error> {
        let ctx = self.with_load_timeout(flight);
        let ask = previous.fetch_cached(&self.name, key, &ctx);
        match ctx.get_deadline() {
            Some(deadline) => tokio::time::timeout_at(deadline, ask)
                .await
                .unwrap_or(Err(Error::DeadlineExceeded)),
            None => ask.await,
        }
    }
}
