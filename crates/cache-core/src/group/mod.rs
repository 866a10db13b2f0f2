//! [`Group`]: a named cache namespace with one loader, and its get path.
//!
//! `mod.rs` holds the handle and the cache lookups, `builder.rs` the
//! options, `load.rs` what happens on a miss, `takeover.rs` how a new owner
//! asks a key's previous owner before its loader, `handoff.rs` what moves
//! between owners when the ring changes, `generation.rs` how `remove`
//! beats a racing load, `tombstones.rs` how it beats values already on
//! their way from other nodes, `mutate.rs` `remove` and `set` themselves,
//! `get_many.rs` batches of keys (one request per owner), `ttl.rs` how
//! long a value stays fresh (the TTL cap, jitter, the stale window's
//! encoding), `refresh.rs` how an owner serves a stale value and refreshes
//! it in the background (stale-while-revalidate, stale-if-error),
//! `spans.rs` the tracing spans of the path.

mod builder;
mod generation;
mod get;
mod get_many;
mod handoff;
mod load;
mod mutate;
mod refresh;
mod spans;
mod store;
mod takeover;
mod tombstones;
mod ttl;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::Instrument;

pub use builder::{
    DEFAULT_HOT_TTL, DEFAULT_LOAD_TIMEOUT, DEFAULT_TOMBSTONE_TTL, GroupBuilder, StoreKind,
};
use generation::Generations;
pub use get::Get;
pub use handoff::{HandoffEntry, HandoffMark};
use refresh::Refreshes;
use store::GroupStore;
use tombstones::Tombstones;
pub use ttl::MAX_TTL;
use ttl::TtlPolicy;

use crate::key_rate::{BusiestKeys, KeyRates};

/// How many of the keys peers fetch most a group lists.
const BUSIEST_KEYS: usize = 10;
use crate::promotion::PromotionPolicy;
use crate::singleflight::Singleflight;
use crate::stats::{GetOutcome, GroupStats, incr};
use crate::store::counter::StripedCounter;
use crate::store::{CacheKind, Cached, Entry};
use crate::{
    Error, Fetched, Getter, LoadContext, LoadLimiter, Loaded, PeerPicker, StatsSnapshot,
    TraceContext,
};

/// A named cache namespace with one loader: the main and hot caches of one
/// byte budget, a singleflight, a peer picker and counters.
///
/// A `Group` is a cheap handle (an `Arc`): clone it freely, every clone
/// shares the same caches. Misses must be awaited inside a Tokio runtime
/// with timers enabled (the load runs in a spawned task, bounded by the load
/// timeout); hits need no runtime.
#[derive(Clone)]
pub struct Group {
    inner: Arc<Inner>,
}

/// Options copied from the builder (see its setters for meaning and
/// defaults).
#[derive(Debug, Clone, Copy)]
struct Options {
    negative_ttl: Option<Duration>,
    load_timeout: Option<Duration>,
    max_key_bytes: usize,
    /// The cap on a hot copy's life.
    hot_ttl: Option<Duration>,
    /// How long a removed or set key is remembered.
    tombstone_ttl: Duration,
    /// The TTL cap, its jitter and the stale window.
    ttl: TtlPolicy,
}

/// A value found in a cache or loaded, with its expiry and how it was
/// found (a flight's waiters all get the flight's: the outcome their
/// latency is recorded under).
#[derive(Debug, Clone)]
struct Found {
    value: Bytes,
    expires_at: Option<Instant>,
    /// Where the value came from, for the span of the get and the latency
    /// histogram it is recorded in.
    via: Via,
}

/// Where a get's value came from: the outcome its span records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// This node's hot or main cache.
    Hit,
    /// This node's main cache, as the key's owner, past the value's fresh
    /// time and inside its stale window (`refresh.rs`).
    Stale,
    /// The key's owner, over the network.
    Peer,
    /// This node's loader, because the owner could not answer.
    Fallback,
    /// This node's loader, as the key's owner.
    Load,
    /// The cache of the key's previous owner (warm takeover, `takeover.rs`),
    /// as the key's new owner: no loader call.
    Takeover,
}

impl Via {
    /// The latency histogram a get served this way is recorded in (a
    /// fallback is a load on this node; a takeover, like a fetch, is one
    /// hop to a peer's cache).
    fn outcome(self) -> GetOutcome {
        match self {
            Via::Hit | Via::Stale => GetOutcome::Hit,
            Via::Peer | Via::Takeover => GetOutcome::Peer,
            Via::Fallback | Via::Load => GetOutcome::Load,
        }
    }
}

/// The shared state behind every clone of a [`Group`].
struct Inner {
    /// Unique within a [`Registry`](crate::Registry).
    name: String,
    /// The source of truth for keys this node owns (and for fallbacks).
    getter: Arc<dyn Getter>,
    /// Who owns a key.
    peers: Arc<dyn PeerPicker>,
    /// Main and hot caches; internally synchronised.
    store: GroupStore,
    /// Decides which values fetched from peers enter the hot cache.
    promotion: Arc<dyn PromotionPolicy>,
    /// Bounds the loader calls running at once (shared by the node's
    /// groups when the builder was given one).
    limiter: LoadLimiter,
    /// Request rates of the keys peers fetch from us (reported back to them
    /// as `minute_qps`).
    key_rates: KeyRates,
    /// The keys peers fetch most, by those rates (for a status page).
    busiest: BusiestKeys,
    /// Counters; see [`StatsSnapshot`] for what increments each. `gets` and
    /// `cache_hits` there leave out the gets answered by the first lookup,
    /// which are counted once, in `hits_on_entry`, and added to both in
    /// [`Group::stats`].
    stats: GroupStats,
    /// Gets answered by their first cache lookup (the hit path).
    hits_on_entry: StripedCounter,
    /// Flights of `get`: re-check, pick the owner, fetch or load.
    flights: Singleflight<Found>,
    /// Flights of the local loader for keys this node owns, shared by `get`
    /// and `fetch_for_peer` so that both never load a key twice at once.
    /// Never asks a peer.
    local_flights: Singleflight<Found>,
    /// Orders cache inserts against `remove`.
    generations: Generations,
    /// Keys removed or set lately: refuses values already on their way.
    tombstones: Tombstones,
    /// The background refreshes of stale values running, and the keys
    /// whose last one failed.
    refreshes: Refreshes,
    opts: Options,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.inner.name)
            .field("budget", &self.inner.store.budget())
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The bound on this group's loads (shared with the other groups given
    /// the same limiter).
    pub fn load_limiter(&self) -> &LoadLimiter {
        &self.inner.limiter
    }

    /// Checks `key` as every get does: [`Error::InvalidKey`] when it is
    /// empty or longer than the group's
    /// [`max_key_bytes`](GroupBuilder::max_key_bytes).
    pub fn check_key(&self, key: &str) -> Result<(), Error> {
        self.inner.check_key(key)
    }

    /// The byte budget of both caches together.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.store.budget()
    }

    /// Gets `key` with no deadline; see [`get_with`](Group::get_with).
    ///
    /// ```
    /// use cache_core::{getter_fn, GroupBuilder, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("squares", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     let n: u64 = key.parse().map_err(cache_core::Error::source_failed)?;
    ///     Ok(Loaded::new((n * n).to_string()))
    /// }))
    /// .build()?;
    ///
    /// assert_eq!(group.get("12").await?, "144");
    /// assert_eq!(group.get("12").await?, "144"); // from the main cache
    /// let stats = group.stats();
    /// assert_eq!((stats.gets, stats.cache_hits, stats.local_loads), (2, 1, 1));
    /// assert!(group.get("twelve").await.is_err()); // the loader's error
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn get<'a>(&'a self, key: &'a str) -> Get<'a> {
        Get::new(self, key)
    }

    /// Gets `key`. `ctx`'s deadline bounds this caller's wait only
    /// ([`Error::DeadlineExceeded`] when it passes): the load it joins or
    /// starts serves every caller of the key, and runs until it is done, the
    /// group's [load timeout](GroupBuilder::load_timeout) passes, or no
    /// caller waits any more. Cancel by dropping the future: the load goes
    /// on for the other waiters.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{getter_fn, Error, GroupBuilder, LoadContext, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let slow = GroupBuilder::new("slow", 1 << 20, getter_fn(|_key: String, _ctx| async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok(Loaded::new("late"))
    /// }))
    /// .build()?;
    /// let ctx = LoadContext::with_timeout(Duration::from_millis(50));
    /// assert_eq!(slow.get_with("k", ctx).await, Err(Error::DeadlineExceeded));
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_with(&self, key: &str, ctx: LoadContext) -> Result<Bytes, Error> {
        self.get_until(key, &ctx).await.map(|found| found.value)
    }

    /// Like [`get_with`](Group::get_with), and also tells how long the value
    /// may still be served (`ttl`: `None` when it does not expire). The gRPC
    /// `Get` answer carries it to clients.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{getter_fn, GroupBuilder, LoadContext, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("ttl", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     Ok(Loaded::new(key).with_ttl(Duration::from_secs(60)))
    /// }))
    /// .build()?;
    /// let first = group.get_with_ttl("k", LoadContext::new()).await?;
    /// assert_eq!(first.ttl, Some(Duration::from_secs(60)));
    /// tokio::time::advance(Duration::from_secs(15)).await;
    /// let cached = group.get_with_ttl("k", LoadContext::new()).await?;
    /// assert_eq!((cached.value, cached.ttl), (first.value, Some(Duration::from_secs(45))));
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_with_ttl(&self, key: &str, ctx: LoadContext) -> Result<Loaded, Error> {
        let found = self.get_until(key, &ctx).await?;
        Ok(Loaded {
            value: found.value,
            ttl: found
                .expires_at
                .map(|at| at.saturating_duration_since(Instant::now())),
        })
    }

    /// The get path under `ctx`'s deadline, in its `get` span: the first
    /// lookup, then the boxed miss path (so the future of a hit stays
    /// small), which hands `ctx`'s trace context to the flight; timed when
    /// `ctx` says when the request started.
    async fn get_until(&self, key: &str, ctx: &LoadContext) -> Result<Found, Error> {
        let span = spans::get(&self.inner.name);
        let found = match self.inner.first_lookup(key) {
            Some(found) => found,
            None => {
                let miss = self
                    .inner
                    .miss(key, ctx.get_deadline(), ctx.trace().cloned());
                Box::pin(miss.instrument(span.clone())).await
            }
        };
        spans::record_found(&span, &found);
        self.inner.finish_get(&found, ctx.get_started_at());
        found
    }

    /// Answers a peer's fetch (the server side of a peer `Fetch`): from the
    /// main cache or this node's loader (through the same local flights as
    /// [`get`](Group::get)), never forwarded to another peer, even when this
    /// node's picker names another owner (peer lists may disagree for a
    /// while). Reports this node's request rate for the key as
    /// `minute_qps` and the value's remaining time to live as `ttl`. A key
    /// the source does not have is `Ok` with [`Fetched::not_found`] and the
    /// time this node still remembers that when negative caching is on, and
    /// [`Error::NotFound`] when it is off.
    pub async fn fetch_for_peer(&self, key: &str, ctx: LoadContext) -> Result<Fetched, Error> {
        let inner = &self.inner;
        incr(&inner.stats.server_requests);
        inner.check_key(key)?;
        let qps = inner.key_rates.record(key, Instant::now());
        inner.busiest.offer(key, qps);
        let span = spans::fetch(&inner.name);
        let found = match inner.lookup_for_peer(key) {
            Some(hit) => hit,
            None => {
                inner
                    .load_owned(key, ctx.get_deadline(), ctx.trace())
                    .instrument(span.clone())
                    .await
            }
        };
        spans::record_found(&span, &found);
        let found = match found {
            Err(Error::NotFound) => {
                return match inner.negative_ttl_left(key) {
                    Some(ttl) => Ok(Fetched::not_found(ttl)),
                    None => Err(Error::NotFound),
                };
            }
            found => found?,
        };
        Ok(Inner::fetched(found, qps))
    }

    /// The keys peers fetched most from this node (at most 10), with their
    /// current request rates per second, busiest first: what this owner
    /// reports to its peers as `minute_qps`.
    pub fn busiest_keys(&self) -> Vec<(String, f64)> {
        let now = Instant::now();
        self.inner
            .busiest
            .read(|k| self.inner.key_rates.qps(k, now))
    }

    /// A snapshot of the group's counters and of both caches' stats.
    pub fn stats(&self) -> StatsSnapshot {
        let inner = &self.inner;
        let mut snapshot = inner.stats.snapshot();
        let hits_on_entry = inner.hits_on_entry.get();
        snapshot.gets += hits_on_entry;
        snapshot.cache_hits += hits_on_entry;
        snapshot.main_cache = inner.store.stats(CacheKind::Main);
        snapshot.hot_cache = inner.store.stats(CacheKind::Hot);
        snapshot
    }

    /// Flights of `get` and of the local loader in progress (0 when idle;
    /// for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        self.inner.flights.in_flight() + self.inner.local_flights.in_flight()
    }
}

impl Inner {
    fn new(
        name: String,
        getter: Arc<dyn Getter>,
        peers: Arc<dyn PeerPicker>,
        store: GroupStore,
        promotion: Arc<dyn PromotionPolicy>,
        limiter: LoadLimiter,
        opts: Options,
    ) -> Self {
        Inner {
            name,
            getter,
            peers,
            store,
            promotion,
            limiter,
            key_rates: KeyRates::default(),
            busiest: BusiestKeys::new(BUSIEST_KEYS),
            stats: GroupStats::default(),
            hits_on_entry: StripedCounter::default(),
            flights: Singleflight::new(),
            local_flights: Singleflight::new(),
            generations: Generations::new(),
            tombstones: Tombstones::new(opts.tombstone_ttl),
            refreshes: Refreshes::default(),
            opts,
        }
    }

    /// Steps 1 to 3 of the get path: validate the key, then look it up in
    /// the hot cache and the main cache (one store lookup). `None` is a
    /// miss (counted as a get; the caller goes on to [`miss`](Inner::miss)).
    /// A hit allocates nothing. A group with a stale window looks up in
    /// [`first_lookup_swr`](Inner::first_lookup_swr) instead.
    #[inline]
    fn first_lookup(self: &Arc<Self>, key: &str) -> Option<Result<Found, Error>> {
        if let Err(err) = self.check_key(key) {
            incr(&self.stats.gets);
            return Some(Err(err));
        }
        if self.opts.ttl.stale_ttl.is_some() {
            return self.first_lookup_swr(key);
        }
        if let Some(entry) = self.store.get_hot_then_main(key, &Instant::now) {
            // One increment on the hit path, standing for a get and a cache
            // hit (added to both in `stats`).
            incr(&self.hits_on_entry);
            return Some(self.hit(entry, false));
        }
        incr(&self.stats.gets);
        None
    }

    /// Counts a get's answer: an error in `get_errors`, and, when the get
    /// is timed (`started`), its latency under its outcome. One clock read,
    /// for timed gets only.
    #[inline]
    fn finish_get(&self, result: &Result<Found, Error>, started: Option<Instant>) {
        let outcome = match result {
            Ok(found) => found.via.outcome(),
            Err(_) => {
                incr(&self.stats.get_errors);
                GetOutcome::Error
            }
        };
        if let Some(started) = started {
            self.stats
                .record_get(outcome, Instant::now().saturating_duration_since(started));
        }
    }

    /// Steps 4 to 8 of the get path: the singleflight and what runs in it.
    /// A flight this call starts carries `trace` (a flight it joins keeps
    /// its leader's).
    async fn miss(
        self: &Arc<Self>,
        key: &str,
        deadline: Option<Instant>,
        trace: Option<TraceContext>,
    ) -> Result<Found, Error> {
        incr(&self.stats.loads);
        let (flight, owned_key) = (Arc::clone(self), key.to_owned());
        let result = self
            .flights
            .run(key, deadline, move |ctx| async move {
                flight.load(owned_key, ctx.with_trace(trace)).await
            })
            .await;
        if matches!(result, Err(Error::DeadlineExceeded)) {
            incr(&self.stats.deadline_exceeded);
        }
        result
    }

    /// Rejects empty keys and keys longer than `max_key_bytes`.
    #[inline]
    fn check_key(&self, key: &str) -> Result<(), Error> {
        if key.is_empty() {
            Err(Error::InvalidKey("the key is empty"))
        } else if key.len() > self.opts.max_key_bytes {
            Err(Error::InvalidKey("the key is longer than max_key_bytes"))
        } else {
            Ok(())
        }
    }

    /// The time left of `key`'s remembered NotFound in the main cache, if
    /// it has one (counted as a store read).
    fn negative_ttl_left(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let entry = self.store.get(CacheKind::Main, key, now)?;
        match entry.data {
            // Negative entries always expire (`negative_ttl` is not zero).
            Cached::NotFound => entry.expires_at.map(|at| at.saturating_duration_since(now)),
            Cached::Value(_) => None,
        }
    }

    /// Looks `key` up in the hot cache, then in the main cache (in one store
    /// lookup); counts like [`lookup`](Inner::lookup) with `count_hit` (the
    /// re-check inside a flight). A stale entry is a miss.
    fn lookup_hot_then_main(&self, key: &str) -> Option<Result<Found, Error>> {
        let now = Instant::now();
        let entry = self.store.get_hot_then_main(key, &|| now)?;
        self.fresh_hit(entry, now, true)
    }

    /// Counts a hit on `entry` and turns it into the get's answer.
    #[inline]
    fn hit(&self, entry: Entry, count_hit: bool) -> Result<Found, Error> {
        if count_hit {
            incr(&self.stats.cache_hits);
        }
        match entry.data {
            Cached::Value(value) => Ok(Found {
                value,
                expires_at: entry.expires_at,
                via: Via::Hit,
            }),
            Cached::NotFound => {
                incr(&self.stats.negative_hits);
                Err(Error::NotFound)
            }
        }
    }

    /// Looks `key` up in `kinds`, in order. A live entry counts a cache hit
    /// when `count_hit` (the lookups of a get), and a negative entry a
    /// negative hit. Expired entries are never returned (the store's
    /// promise), nor stale ones (a miss: the caller loads).
    fn lookup(
        &self,
        key: &str,
        kinds: &[CacheKind],
        count_hit: bool,
    ) -> Option<Result<Found, Error>> {
        let now = Instant::now();
        kinds.iter().find_map(|&kind| {
            let entry = self.store.get(kind, key, now)?;
            self.fresh_hit(entry, now, count_hit)
        })
    }

    /// [`hit`](Inner::hit) on `entry` unless it is stale at `now`, with its
    /// fresh expiry.
    fn fresh_hit(
        &self,
        entry: Entry,
        now: Instant,
        count_hit: bool,
    ) -> Option<Result<Found, Error>> {
        if self.is_stale(&entry, now) {
            return None;
        }
        Some(self.hit(self.with_fresh_expiry(entry), count_hit))
    }
}
