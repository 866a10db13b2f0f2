//! [`Group::get_many`]: many keys in one call, each answered as its own get
//! would be, with one request per owner for the keys that owner must
//! answer.
//!
//! The steps, for a batch:
//!
//! 1. **Duplicates** are folded: each distinct key is looked up once and
//!    its answer copied to every position that asked for it (one get).
//! 2. **First lookup** of each distinct key, exactly as a get's (steps 1
//!    to 3 of the get path: validate, hot cache, main cache), counted as a
//!    get. Hits and invalid keys are answered at once.
//! 3. **Keys this node owns** that missed go down a single get's miss path
//!    (its flight, the re-check, the local flight shared with peers'
//!    fetches), all at once.
//! 4. **Keys owned by peers** that missed are grouped by owner (by
//!    [`PeerClient::id`]). Every key still enters the group's singleflight
//!    (`flights`), so it is loaded once however many gets, batches and
//!    fetches want it at the time:
//!    - a key whose flight is already running joins it;
//!    - the others form the owner's *batch*: their generations are read
//!      (before anything is sent, so a `remove` racing the batch keeps its
//!      answer out of the caches, as for a single fetch), then each starts
//!      a flight whose work re-checks the caches and waits for one shared
//!      future ([`Shared`]) that sends one [`PeerClient::fetch_many`] for
//!      the whole batch, bounded by the load timeout. Each key's answer
//!      (or the error of the whole request, for every key) is then applied
//!      by `apply_fetched` (`load.rs`), the code a single fetch uses:
//!      promotion to the hot cache, and, when the owner could not answer
//!      ([`Error::is_peer_fallback`]: dead, unreachable, shedding), a local
//!      fallback load into the hot cache.
//!
//!    The batch runs while any of its flights waits for it, and is dropped
//!    with the last (each flight is dropped when its own callers leave).
//! 5. **Answers** come back in the order of the keys, one per key.
//!
//! **Races, and why they are harmless.** Which keys have a flight is read
//! before the flights are joined. A flight that ends in between lets its
//! key start a new flight outside the batch: that flight fetches the key
//! alone, as a get would. A flight that starts in between is joined: the
//! batch then asks for that key in vain. Either costs one fetch, never a
//! wrong answer or a second load.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared, join_all};
use tokio::time::Instant;
use tracing::Instrument;

use super::load::{bounded, until_cancelled};
use super::{Found, Group, Inner, spans};
use crate::stats::incr;
use crate::{Error, Fetched, LoadContext, Loaded, PeerClient, TraceContext};

/// An owner's answers to one batch, in the batch's order, or the error of
/// the whole request; shared by the flights of the batch's keys.
type BatchAnswer = Result<Arc<[Result<Fetched, Error>]>, Error>;

/// The one `fetch_many` of a batch, run by whichever of its flights polls
/// it first.
type Batch = Shared<BoxFuture<'static, BatchAnswer>>;

/// One key's part of a batch: where its answer is, and its generation
/// before the batch was sent.
#[derive(Clone)]
struct Part {
    batch: Batch,
    index: usize,
    generation: u64,
}

/// The answer of one distinct key, with its position among them.
type Answer<'a> = Pin<Box<dyn Future<Output = (usize, Result<Found, Error>)> + Send + 'a>>;

impl Group {
    /// Gets every key of `keys`, answering each as [`get_with_ttl`] would
    /// (value and time to live, or that key's error), in the order of
    /// `keys`. A key repeated in the batch is looked up once (one get).
    /// Hits are answered from the caches; keys this node owns are loaded
    /// here; the keys each peer owns are asked of it in **one**
    /// [`PeerClient::fetch_many`]. Every key goes through the singleflight
    /// like a get: a key another get, batch or peer is loading is not
    /// loaded twice. An owner that cannot answer costs its keys a local
    /// fallback load each, as for a get. `ctx`'s deadline bounds each key's
    /// wait, as for [`get_with`](Group::get_with).
    ///
    /// Counts one `batch_gets`, and each distinct key as a get.
    ///
    /// ```
    /// use cache_core::{getter_fn, Error, GroupBuilder, LoadContext, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("squares", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     let n: u64 = key.parse().map_err(|_| Error::NotFound)?;
    ///     Ok(Loaded::new((n * n).to_string()))
    /// }))
    /// .build()?;
    /// let answers = group.get_many(["3", "x", "4", "3"], LoadContext::new()).await;
    /// let values: Vec<_> = answers.into_iter().map(|a| a.map(|l| l.value)).collect();
    /// assert_eq!(values, [Ok("9".into()), Err(Error::NotFound), Ok("16".into()), Ok("9".into())]);
    /// let stats = group.stats();
    /// assert_eq!((stats.batch_gets, stats.gets, stats.local_loads), (1, 3, 2));
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// [`get_with_ttl`]: Group::get_with_ttl
    pub async fn get_many<I>(&self, keys: I, ctx: LoadContext) -> Vec<Result<Loaded, Error>>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        incr(&self.inner.stats.batch_gets);
        let mut distinct: Vec<String> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let slots: Vec<usize> = keys
            .into_iter()
            .map(|key| {
                let key = key.as_ref();
                if let Some(&i) = seen.get(key) {
                    return i;
                }
                seen.insert(key.to_owned(), distinct.len());
                distinct.push(key.to_owned());
                distinct.len() - 1
            })
            .collect();
        let answers = self.inner.get_distinct(&distinct, &ctx).await;
        let now = Instant::now();
        slots
            .into_iter()
            .map(|i| {
                answers[i].clone().map(|found| Loaded {
                    value: found.value,
                    ttl: found.expires_at.map(|at| at.saturating_duration_since(now)),
                })
            })
            .collect()
    }
}

impl Inner {
    /// Steps 2 to 4 of a batch (see the module docs) for distinct `keys`:
    /// one answer per key, in their order.
    async fn get_distinct(
        self: &Arc<Self>,
        keys: &[String],
        ctx: &LoadContext,
    ) -> Vec<Result<Found, Error>> {
        let started = ctx.get_started_at();
        let mut answers: Vec<Option<Result<Found, Error>>> = vec![None; keys.len()];
        let mut owned: Vec<usize> = Vec::new();
        // Per owner, in order of first appearance: the peer and its keys.
        let mut owners: Vec<(Arc<dyn PeerClient>, Vec<usize>)> = Vec::new();
        let mut owner_of: HashMap<String, usize> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            let span = spans::get(&self.name);
            if let Some(found) = self.first_lookup(key) {
                spans::record_found(&span, &found);
                self.finish_get(&found, started);
                answers[i] = Some(found);
                continue;
            }
            match self.peers.pick(key) {
                None => owned.push(i),
                Some(peer) => {
                    let at = *owner_of.entry(peer.id().to_owned()).or_insert_with(|| {
                        owners.push((Arc::clone(&peer), Vec::new()));
                        owners.len() - 1
                    });
                    owners[at].1.push(i);
                }
            }
        }

        let (deadline, trace) = (ctx.get_deadline(), ctx.trace().cloned());
        let mut misses: Vec<Answer<'_>> = Vec::new();
        for i in owned {
            let miss = self.miss(&keys[i], deadline, trace.clone());
            misses.push(self.answer(i, miss, started));
        }
        for (peer, indexes) in owners {
            let parts = self.batch(&peer, keys, &indexes, trace.clone());
            for (i, part) in indexes.into_iter().zip(parts) {
                let peer = Arc::clone(&peer);
                let miss = self.miss_batched(&keys[i], deadline, trace.clone(), peer, part);
                misses.push(self.answer(i, miss, started));
            }
        }
        for (i, found) in join_all(misses).await {
            answers[i] = Some(found);
        }
        answers
            .into_iter()
            .map(|answer| answer.unwrap_or(Err(Error::LoaderPanicked)))
            .collect()
    }

    /// The answer of the key at `i`: `miss` in the key's `get` span,
    /// counted as a get's answer.
    fn answer<'a>(
        &'a self,
        i: usize,
        miss: impl Future<Output = Result<Found, Error>> + Send + 'a,
        started: Option<Instant>,
    ) -> Answer<'a> {
        let span = spans::get(&self.name);
        Box::pin(async move {
            let found = miss.instrument(span.clone()).await;
            spans::record_found(&span, &found);
            self.finish_get(&found, started);
            (i, found)
        })
    }

    /// The batch of `peer`'s keys at `indexes`: those with no flight in
    /// progress share one `fetch_many`, sent when a flight first waits for
    /// it; a part per key (`None`: the key's flight is running, join it).
    fn batch(
        &self,
        peer: &Arc<dyn PeerClient>,
        keys: &[String],
        indexes: &[usize],
        trace: Option<TraceContext>,
    ) -> Vec<Option<Part>> {
        let free: Vec<bool> = indexes
            .iter()
            .map(|&i| self.flights.waiters(&keys[i]) == 0)
            .collect();
        let batched: Vec<String> = indexes
            .iter()
            .zip(&free)
            .filter(|(_, free)| **free)
            .map(|(&i, _)| keys[i].clone())
            .collect();
        if batched.is_empty() {
            return vec![None; indexes.len()];
        }
        // Read before the request can be sent: a remove from here on keeps
        // the batch's answers out of the caches.
        let generations: Vec<u64> = batched
            .iter()
            .map(|key| self.generations.current(key))
            .collect();
        let batch = self.fetch_many(Arc::clone(peer), batched, trace);
        let mut next = 0;
        free.into_iter()
            .map(|free| {
                free.then(|| {
                    let index = next;
                    next += 1;
                    Part {
                        batch: batch.clone(),
                        index,
                        generation: generations[index],
                    }
                })
            })
            .collect()
    }

    /// The shared future of one `fetch_many` of `keys` from `peer`, within
    /// the load timeout from now. An answer with a result per key of
    /// another count is the peer's failure (`Unavailable`: its keys are
    /// loaded here).
    fn fetch_many(
        &self,
        peer: Arc<dyn PeerClient>,
        keys: Vec<String>,
        trace: Option<TraceContext>,
    ) -> Batch {
        let ctx = self.with_load_timeout(&LoadContext::new().with_trace(trace));
        let group = self.name.clone();
        async move {
            let answers = bounded(&ctx, peer.fetch_many(&group, &keys, &ctx)).await?;
            if answers.len() != keys.len() {
                return Err(Error::unavailable(format!(
                    "the owner answered {} keys of a batch of {}",
                    answers.len(),
                    keys.len()
                )));
            }
            Ok(Arc::from(answers))
        }
        .boxed()
        .shared()
    }

    /// Like [`miss`](Inner::miss), for a key owned by `peer`: the flight
    /// this call starts takes the key's answer from its `part` of a batch,
    /// or, without one, fetches it alone as a get's flight does.
    async fn miss_batched(
        self: &Arc<Self>,
        key: &str,
        deadline: Option<Instant>,
        trace: Option<TraceContext>,
        peer: Arc<dyn PeerClient>,
        part: Option<Part>,
    ) -> Result<Found, Error> {
        incr(&self.stats.loads);
        let (flight, owned_key) = (Arc::clone(self), key.to_owned());
        let result = self
            .flights
            .run(key, deadline, move |ctx| async move {
                let ctx = ctx.with_trace(trace);
                match part {
                    Some(part) => {
                        let work = flight.load_batched(&owned_key, &ctx, &peer, part);
                        until_cancelled(&ctx, work).await
                    }
                    None => flight.load(owned_key, ctx).await,
                }
            })
            .await;
        if matches!(result, Err(Error::DeadlineExceeded)) {
            incr(&self.stats.deadline_exceeded);
        }
        result
    }

    /// The work of a batched key's flight: re-check the caches (as a get's
    /// flight does, see `load.rs`), then wait for the batch and apply the
    /// owner's answer for the key.
    async fn load_batched(
        &self,
        key: &str,
        ctx: &LoadContext,
        peer: &Arc<dyn PeerClient>,
        part: Part,
    ) -> Result<Found, Error> {
        if let Some(hit) = self.lookup_hot_then_main(key) {
            return hit;
        }
        incr(&self.stats.loads_deduped);
        let fetched = match part.batch.await {
            Ok(answers) => answers[part.index].clone(),
            Err(err) => Err(err),
        };
        self.apply_fetched(peer.id(), key, part.generation, ctx, fetched)
            .await
    }
}
