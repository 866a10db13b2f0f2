//! [`GroupBuilder`]: a group's options, their defaults and their validation.

use std::sync::Arc;
use std::time::Duration;

use super::store::GroupStore;
use super::ttl::{MAX_TTL, TtlPolicy};
use super::{Group, Inner, Options};
use crate::promotion::PromotionPolicy;
use crate::store::{Eviction, Store};
use crate::{Error, Getter, LoadLimiter, NoPeers, PeerPicker};

/// How long one load may take by default ([`GroupBuilder::load_timeout`]).
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a hot copy lives by default ([`GroupBuilder::hot_ttl`]).
pub const DEFAULT_HOT_TTL: Duration = Duration::from_secs(60);

/// How long a removed or set key is remembered by default
/// ([`GroupBuilder::tombstone_ttl`]).
pub const DEFAULT_TOMBSTONE_TTL: Duration = Duration::from_secs(120);

/// Which built-in store a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// This crate's sharded store with an exact byte budget
    /// ([`ShardedStore`](crate::store::ShardedStore)), evicting by SIEVE: the
    /// default (the best hit ratio of the three on our traces, and the
    /// cheapest hits).
    #[default]
    Sieve,
    /// The same store evicting exactly least-recently-used.
    Lru,
    /// A moka cache (TinyLFU admission, weigher, per-entry expiry).
    Moka,
}

/// Builds a [`Group`]: `new` takes what is required, each setter one option
/// (its default is in its doc), and [`build`](GroupBuilder::build) checks
/// them all.
#[must_use]
pub struct GroupBuilder {
    name: String,
    cache_bytes: u64,
    getter: Arc<dyn Getter>,
    peers: Arc<dyn PeerPicker>,
    hot_fraction: f64,
    store_kind: StoreKind,
    store: Option<Arc<dyn Store>>,
    promotion: Option<Arc<dyn PromotionPolicy>>,
    limiter: Option<LoadLimiter>,
    opts: Options,
}

impl std::fmt::Debug for GroupBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupBuilder")
            .field("name", &self.name)
            .field("cache_bytes", &self.cache_bytes)
            .field("hot_fraction", &self.hot_fraction)
            .field("store_kind", &self.store_kind)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl GroupBuilder {
    /// A builder for a group called `name` whose main and hot caches share
    /// `cache_bytes` bytes, filled on a miss by `getter`.
    pub fn new(name: impl Into<String>, cache_bytes: u64, getter: impl Getter) -> Self {
        GroupBuilder {
            name: name.into(),
            cache_bytes,
            getter: Arc::new(getter),
            peers: Arc::new(NoPeers),
            hot_fraction: 0.125,
            store_kind: StoreKind::Sieve,
            store: None,
            promotion: None,
            limiter: None,
            opts: Options {
                negative_ttl: None,
                load_timeout: Some(DEFAULT_LOAD_TIMEOUT),
                max_key_bytes: 1024,
                hot_ttl: Some(DEFAULT_HOT_TTL),
                tombstone_ttl: DEFAULT_TOMBSTONE_TTL,
                ttl: TtlPolicy::default(),
            },
        }
    }

    /// The peer picker (default: [`NoPeers`], a single node owning every key).
    pub fn peers(mut self, peers: Arc<dyn PeerPicker>) -> Self {
        self.peers = peers;
        self
    }

    /// The share of `cache_bytes` the hot cache may use, in `[0, 1)`
    /// (default: 1/8; 0 disables the hot cache).
    pub fn hot_fraction(mut self, fraction: f64) -> Self {
        self.hot_fraction = fraction;
        self
    }

    /// Which built-in store holds the caches (default: [`StoreKind::Sieve`]).
    pub fn store_kind(mut self, kind: StoreKind) -> Self {
        self.store_kind = kind;
        self
    }

    /// A custom store, replacing the built-in one (default: none). Its own
    /// budget and hot share apply; `cache_bytes` and `hot_fraction` are then
    /// ignored and [`Group::cache_bytes`] reports [`Store::budget`].
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// How long a `NotFound` from this node's loader is remembered in the
    /// main cache (default: `None`, negative caching off). Must not be zero.
    pub fn negative_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.opts.negative_ttl = ttl;
        self
    }

    /// The longest one load may take: a call of the loader, and the wait
    /// for the key's owner (default: [`DEFAULT_LOAD_TIMEOUT`], 30 s; `None`:
    /// no cap). A load serves every caller waiting for the key, so no
    /// caller's deadline bounds it: it runs until it is done, until this
    /// timeout (every waiter then gets [`Error::SourceFailed`]), or until
    /// no caller waits any more (it is then cancelled). Must not be zero.
    pub fn load_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.opts.load_timeout = timeout;
        self
    }

    /// The bound on loads running at once, shared with every group given a
    /// clone of the same limiter (default: a limiter of this group's own,
    /// [`LoadLimiter::default`]: 256 running, 2048 waiting).
    pub fn load_limiter(mut self, limiter: LoadLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The longest a value this node loads stays fresh (default: `None`,
    /// no cap): a loader's longer TTL is cut to it, and a value loaded with
    /// no TTL gets it, so it bounds the age of every value served fresh
    /// (values handed over or taken over keep the TTL their previous owner
    /// gave them). Must not be zero, at most [`MAX_TTL`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{getter_fn, GroupBuilder, LoadContext, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("capped", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     Ok(Loaded::new(key)) // no TTL of its own
    /// }))
    /// .max_ttl(Some(Duration::from_secs(60)))
    /// .build()?;
    /// let got = group.get_with_ttl("k", LoadContext::new()).await?;
    /// assert_eq!(got.ttl, Some(Duration::from_secs(60)));
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn max_ttl(mut self, max: Option<Duration>) -> Self {
        self.opts.ttl.max_ttl = max;
        self
    }

    /// The largest fraction by which a loaded value's fresh time is
    /// shortened at random, in `[0, 1)` (default: 0, none): each value's
    /// TTL (after the [`max_ttl`](GroupBuilder::max_ttl) cap) becomes a
    /// uniform draw from `[ttl * (1 - jitter), ttl]`, so keys loaded
    /// together do not expire, and reload, together.
    pub fn ttl_jitter(mut self, jitter: f64) -> Self {
        self.opts.ttl.jitter = jitter;
        self
    }

    /// How long past its fresh time a value may still be served while it is
    /// refreshed (default: `None`, off): stale-while-revalidate, and
    /// stale-if-error when the refresh fails. Only the key's owner serves a
    /// stale value (to gets, and to peers as a stale answer they do not
    /// copy), and it runs one background refresh per key at a time; values
    /// without a TTL are never stale. Must not be zero, at most
    /// [`MAX_TTL`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::time::Duration;
    /// use cache_core::{getter_fn, GroupBuilder, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let version = Arc::new(AtomicU64::new(0));
    /// let loads = Arc::clone(&version);
    /// let group = GroupBuilder::new("swr", 1 << 20, getter_fn(move |_key: String, _ctx| {
    ///     let v = loads.fetch_add(1, Ordering::SeqCst);
    ///     async move { Ok(Loaded::new(format!("v{v}")).with_ttl(Duration::from_secs(10))) }
    /// }))
    /// .stale_ttl(Some(Duration::from_secs(60)))
    /// .build()?;
    /// assert_eq!(group.get("k").await?, "v0");
    /// tokio::time::advance(Duration::from_secs(11)).await; // stale now
    /// assert_eq!(group.get("k").await?, "v0"); // served at once, refreshing
    /// tokio::time::sleep(Duration::from_millis(1)).await; // the refresh runs
    /// assert_eq!(group.get("k").await?, "v1");
    /// assert_eq!((group.stats().stale_hits, group.stats().refreshes), (1, 1));
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn stale_ttl(mut self, stale: Option<Duration>) -> Self {
        self.opts.ttl.stale_ttl = stale;
        self
    }

    /// The longest key accepted, in bytes (default: 1024). Longer or empty
    /// keys fail with [`Error::InvalidKey`]. Must not be zero.
    pub fn max_key_bytes(mut self, max: usize) -> Self {
        self.opts.max_key_bytes = max;
        self
    }

    /// The longest a copy of another node's key lives in this node's hot
    /// cache (default: [`DEFAULT_HOT_TTL`], 60 s; `None`: as long as the
    /// owner's time to live). A hot copy never outlives its owner's value
    /// either way; this bound is the backstop for a `remove` or `set` this
    /// node did not hear of (it was down or cut off when it was sent): such
    /// a node serves the old value for at most this long. Must not be zero.
    pub fn hot_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.opts.hot_ttl = ttl;
        self
    }

    /// How long a key removed or set on this node is remembered, so that
    /// values of it that were already on their way here lose: a handed-over
    /// entry ([`Group::accept_handoff`]) and a warm takeover's answer from
    /// the key's previous owner are refused for that long (default:
    /// [`DEFAULT_TOMBSTONE_TTL`], 120 s; keep it longer than the takeover
    /// window and the handoff time of the mesh). At most 65,536 keys are
    /// remembered per group, the oldest forgotten first. Must not be zero.
    pub fn tombstone_ttl(mut self, ttl: Duration) -> Self {
        self.opts.tombstone_ttl = ttl;
        self
    }

    /// The hot-cache promotion policy (default:
    /// [`QpsThreshold::default()`](crate::promotion::QpsThreshold)).
    pub fn promotion(mut self, policy: Arc<dyn PromotionPolicy>) -> Self {
        self.promotion = Some(policy);
        self
    }

    /// Checks the options and builds the group; [`Error::Config`] names the
    /// first invalid one.
    pub fn build(self) -> Result<Group, Error> {
        let bad = |what: &str| Err(Error::Config(format!("group {:?}: {what}", self.name)));
        if self.name.is_empty() {
            return bad("the name is empty");
        }
        if self.store.is_none() && self.cache_bytes == 0 {
            return bad("cache_bytes must be greater than 0");
        }
        if !(0.0..1.0).contains(&self.hot_fraction) {
            return bad("hot_fraction must be in [0, 1)");
        }
        if self.opts.load_timeout.is_some_and(|t| t.is_zero()) {
            return bad("load_timeout must be None or greater than 0");
        }
        if self.opts.negative_ttl.is_some_and(|t| t.is_zero()) {
            return bad("negative_ttl must be None or greater than 0");
        }
        if self.opts.hot_ttl.is_some_and(|t| t.is_zero()) {
            return bad("hot_ttl must be None or greater than 0");
        }
        if self.opts.tombstone_ttl.is_zero() {
            return bad("tombstone_ttl must be greater than 0");
        }
        let ttl = self.opts.ttl;
        if ttl.max_ttl.is_some_and(|t| t.is_zero() || t > MAX_TTL) {
            return bad("max_ttl must be None or in (0, 100 years]");
        }
        if !(0.0..1.0).contains(&ttl.jitter) {
            return bad("ttl_jitter must be in [0, 1)");
        }
        if ttl.stale_ttl.is_some_and(|t| t.is_zero() || t > MAX_TTL) {
            return bad("stale_ttl must be None or in (0, 100 years]");
        }
        if self.opts.max_key_bytes == 0 {
            return bad("max_key_bytes must be greater than 0");
        }
        let store = match self.store {
            Some(store) => GroupStore::Other(store),
            None => new_store(self.store_kind, self.cache_bytes, self.hot_fraction),
        };
        let promotion = self
            .promotion
            .unwrap_or_else(|| Arc::new(crate::promotion::QpsThreshold::default()));
        Ok(Group {
            inner: Arc::new(Inner::new(
                self.name,
                self.getter,
                self.peers,
                store,
                promotion,
                self.limiter.unwrap_or_default(),
                self.opts,
            )),
        })
    }
}

/// The built-in store of `kind`.
fn new_store(kind: StoreKind, budget: u64, hot_fraction: f64) -> GroupStore {
    match kind {
        StoreKind::Sieve => GroupStore::Lru(
            crate::store::ShardedStore::new(budget, hot_fraction).with_eviction(Eviction::Sieve),
        ),
        StoreKind::Lru => GroupStore::Lru(
            crate::store::ShardedStore::new(budget, hot_fraction).with_eviction(Eviction::Lru),
        ),
        StoreKind::Moka => {
            GroupStore::Other(Arc::new(crate::store::MokaStore::new(budget, hot_fraction)))
        }
    }
}
