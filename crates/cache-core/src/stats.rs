//! Counters and latency histograms of a [`Group`](crate::Group): atomic
//! while live, a plain struct when read.
//!
//! - [`GroupStats`] / [`StatsSnapshot`]: the counters, each defined by what
//!   increments it, the stats of both caches, and the latency histograms;
//! - [`latency`]: the histogram type ([`LatencyHistogram`]) and its
//!   snapshot;
//! - [`GetOutcome`]: how a get was answered, the label of its latency.

pub mod latency;

use std::time::Duration;

pub use self::latency::{LatencyHistogram, LatencySnapshot};
use crate::store::counter::StripedCounter;

macro_rules! group_counters {
    ($( $(#[doc = $doc:literal])* $name:ident, )*) => {
        /// The live counters of a group, read through
        /// [`snapshot`](GroupStats::snapshot). Each is a striped relaxed
        /// atomic (one cache line per thread stripe), so threads counting
        /// hits do not contend; counters are independent, and a snapshot is
        /// not a transaction.
        #[derive(Default)]
        pub struct GroupStats {
            $( $(#[doc = $doc])* pub(crate) $name: StripedCounter, )*
            /// Latencies of timed gets, by outcome (see [`GetLatency`]).
            pub(crate) get_latency: [LatencyHistogram; GetOutcome::ALL.len()],
            /// Latencies of the loader's calls (see
            /// [`StatsSnapshot::load_latency`]).
            pub(crate) load_latency: LatencyHistogram,
        }

        impl std::fmt::Debug for GroupStats {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.snapshot(), f)
            }
        }

        /// A point-in-time copy of [`GroupStats`] plus the stats of the main
        /// and hot caches.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $( $(#[doc = $doc])* pub $name: u64, )*
            /// The main cache: keys this node owns.
            pub main_cache: CacheStats,
            /// The hot cache: popular keys owned by other nodes.
            pub hot_cache: CacheStats,
            /// How long timed gets took, by outcome: the gets whose
            /// [`LoadContext`](crate::LoadContext) says when they started
            /// ([`LoadContext::started_at`](crate::LoadContext::started_at);
            /// the gRPC service sets it for every `Get`), from then to their
            /// answer. Untimed gets (`Group::get`, a context without a start)
            /// are counted only in `gets`.
            pub get_latency: GetLatency,
            /// How long the loader's calls took, from the load-limit permit
            /// to the loader's answer (value, error or panic; calls cut by
            /// the load timeout included, at the timeout), one per call that
            /// is not cancelled.
            pub load_latency: LatencySnapshot,
        }

        impl GroupStats {
            /// Copies every counter and histogram; cache stats are filled in
            /// by the caller.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $( $name: self.$name.get(), )*
                    main_cache: CacheStats::default(),
                    hot_cache: CacheStats::default(),
                    get_latency: GetLatency {
                        by_outcome: self.get_latency.each_ref().map(LatencyHistogram::snapshot),
                    },
                    load_latency: self.load_latency.snapshot(),
                }
            }

            /// Counts a timed get answered with `outcome` after `elapsed`.
            #[inline]
            pub(crate) fn record_get(&self, outcome: GetOutcome, elapsed: Duration) {
                self.get_latency[outcome as usize].record(elapsed);
            }
        }

        impl StatsSnapshot {
            /// The group counters as `(name, value)` pairs, in declaration
            /// order (for tables, JSON and metrics exporters).
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }

            /// Each counter's name and its documentation (what increments
            /// it), in the order of [`counters`](Self::counters): the help
            /// text of metrics exporters.
            pub fn counter_docs() -> Vec<(&'static str, &'static str)> {
                vec![ $( (stringify!($name), concat!($($doc, "\n"),*)), )* ]
            }
        }
    };
}

group_counters! {
    /// Calls to `Group::get`/`get_with`: counted when the key is rejected as
    /// invalid, or once the first cache lookup has answered or missed (a get
    /// waiting on a flight is counted).
    gets,
    /// Calls to `Group::get_many` (the gRPC `GetMany`): batches of keys,
    /// each distinct key of which also counts in `gets` and the counters
    /// its answer increments, as a get of its own would.
    batch_gets,
    /// Lookups of a get that found a live entry (a value or a negative
    /// entry): one per get answered before the singleflight, plus one per
    /// flight whose re-check inside the singleflight found the key (that
    /// flight's waiters are all answered by it). Peer fetches do not count
    /// here (see the main cache's own `hits`).
    cache_hits,
    /// Flights that asked the key's owner: one per remote fetch attempted,
    /// whatever its outcome.
    peer_loads,
    /// Remote fetches that failed, for any reason: transport, timeout,
    /// overload (these also count a `fallback_loads`), or NotFound or
    /// source failure reported by the owner.
    peer_errors,
    /// Gets that missed both caches and entered the singleflight (as in
    /// golang/groupcache: gets - cache_hits, not counting invalid keys, and
    /// where a hit of a flight's re-check is in both counters).
    loads,
    /// Flights of gets whose re-check missed and that went on to a peer fetch
    /// or a local load: the loads left after de-duplication (the waiters that
    /// joined a flight are not counted).
    loads_deduped,
    /// Calls to the local `Getter` that returned a value: loads of keys this
    /// node owns (for gets and for peer fetches) and fallback loads.
    local_loads,
    /// Calls to the local `Getter` that returned an error (NotFound
    /// included) or panicked.
    local_load_errs,
    /// Calls to `Group::fetch_for_peer`: fetch requests served for other
    /// peers (invalid keys included).
    server_requests,
    /// Gets and peer fetches answered NotFound from a negative entry (for
    /// gets, also counted in `cache_hits`).
    negative_hits,
    /// Local loads of a key owned by another node, run because the owner
    /// could not answer (unavailable, too slow or overloaded); counted
    /// before the loader is called.
    fallback_loads,
    /// Warm takeover: asks of a key's previous owner
    /// (`PeerClient::fetch_cached`, made by a local flight of a key this
    /// node owns that missed the main cache, while the picker names one)
    /// that returned a live value. The key was served, and put in the main
    /// cache, without calling the loader.
    takeover_hits,
    /// Warm takeover: asks of a key's previous owner that returned no
    /// value: NotFound (it held none), any error, no answer within the load
    /// timeout, or a value already expired. The flight then called the
    /// loader as it would have without the ask.
    takeover_misses,
    /// Values fetched from a peer that the promotion policy accepted and
    /// that were put into the hot cache.
    promotions,
    /// Loader calls that panicked (also counted in `local_load_errs`).
    loader_panics,
    /// Gets that returned `DeadlineExceeded`: the caller's own deadline
    /// passed while it waited.
    deadline_exceeded,
    /// Loads cut by the load timeout: loader calls (also counted in
    /// `local_load_errs`) and peer fetches (also in `peer_errors`) that had
    /// not answered within it.
    load_timeouts,
    /// Loads refused with `TooManyLoads` because the load limiter's permits
    /// and queue were full (the loader was not called).
    loads_rejected,
    /// Loader calls dropped before they finished because no caller waited
    /// for them any more (every caller's deadline passed, or they went
    /// away).
    loads_cancelled,
    /// Gets (`Group::get`, `get_with`, `get_with_ttl`) that returned an
    /// error, whatever it was: an invalid key, NotFound (a negative hit
    /// too), a source failure, a deadline, too many loads.
    get_errors,
    /// Calls to `Group::remove` (from this node's users, or sent by a peer
    /// as a mesh-wide remove), found or not.
    removes,
    /// Calls to `Group::set` that stored or removed a value.
    sets,
    /// NotFound answers from a key's owner that said how long the owner
    /// remembers them, kept in the hot cache for at most that long
    /// (negative caching across the mesh).
    negative_promotions,
    /// Stale-while-revalidate: stale values served by this node as the
    /// key's owner (to a get, or to a peer's fetch as a stale answer), from
    /// the main cache after the value's fresh time ended and before its
    /// stale window (`stale_ttl`) did. Each one also starts the key's
    /// background refresh unless one is running.
    stale_hits,
    /// Stale-if-error: the stale values of `stale_hits` served after the
    /// key's last background refresh had failed (the source erred or timed
    /// out), while the stale window lasts.
    stale_if_error_hits,
    /// Background refreshes started: at most one per key at a time, on the
    /// key's owner, run through the key's local flight (so it is also the
    /// load of a concurrent miss or peer fetch of that key).
    refreshes,
    /// Background refreshes that got no value: the loader failed (the stale
    /// value stays until its stale window ends), or answered NotFound (the
    /// stale value is dropped).
    refresh_errors,
}

/// How a get was answered: the label of its latency in [`GetLatency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetOutcome {
    /// A value from the hot or the main cache (found by the first lookup, by
    /// the flight's re-check, or filled by another flight meanwhile).
    Hit,
    /// A value fetched from another node: the key's owner, or, in warm
    /// takeover, a copy the key's previous owner held in its cache.
    Peer,
    /// A value from this node's loader: a key this node owns, or a fallback
    /// load of another's.
    Load,
    /// An error of any kind (NotFound included).
    Error,
}

impl GetOutcome {
    /// Every outcome, in the order of [`GetLatency`]'s histograms.
    pub const ALL: [GetOutcome; 4] = [
        GetOutcome::Hit,
        GetOutcome::Peer,
        GetOutcome::Load,
        GetOutcome::Error,
    ];

    /// Its name: `hit`, `peer`, `load` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            GetOutcome::Hit => "hit",
            GetOutcome::Peer => "peer",
            GetOutcome::Load => "load",
            GetOutcome::Error => "error",
        }
    }
}

/// The latency histograms of a group's timed gets, one per
/// [`GetOutcome`]. Their counts add up to the timed gets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GetLatency {
    /// Indexed by `GetOutcome as usize`, in the order of [`GetOutcome::ALL`].
    by_outcome: [LatencySnapshot; GetOutcome::ALL.len()],
}

impl GetLatency {
    /// The histogram of the gets answered with `outcome`.
    pub fn by_outcome(&self, outcome: GetOutcome) -> &LatencySnapshot {
        &self.by_outcome[outcome as usize]
    }

    /// Timed gets, all outcomes together.
    pub fn count(&self) -> u64 {
        self.by_outcome.iter().map(LatencySnapshot::count).sum()
    }
}

/// Counters of one cache (main or hot) of a store.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes in use, counted as key + value + a fixed per-entry overhead.
    pub bytes: u64,
    /// Entries held (negative entries included).
    pub items: u64,
    /// Lookups made.
    pub gets: u64,
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Entries removed to make room (not explicit removals or expiries).
    pub evictions: u64,
}

/// Adds one to `counter`.
#[inline]
pub(crate) fn incr(counter: &StripedCounter) {
    counter.incr();
}
