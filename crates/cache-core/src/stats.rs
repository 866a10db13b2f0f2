//! Counters of a [`Group`](crate::Group): atomic while live, a plain struct
//! when read.

use crate::store::counter::StripedCounter;

macro_rules! group_counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// The live counters of a group, read through
        /// [`snapshot`](GroupStats::snapshot). Each is a striped relaxed
        /// atomic (one cache line per thread stripe), so threads counting
        /// hits do not contend; counters are independent, and a snapshot is
        /// not a transaction.
        #[derive(Default)]
        pub struct GroupStats {
            $( $(#[$doc])* pub(crate) $name: StripedCounter, )*
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
            $( $(#[$doc])* pub $name: u64, )*
            /// The main cache: keys this node owns.
            pub main_cache: CacheStats,
            /// The hot cache: popular keys owned by other nodes.
            pub hot_cache: CacheStats,
        }

        impl GroupStats {
            /// Copies every counter; cache stats are filled in by the caller.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $( $name: self.$name.get(), )*
                    main_cache: CacheStats::default(),
                    hot_cache: CacheStats::default(),
                }
            }
        }

        impl StatsSnapshot {
            /// The group counters as `(name, value)` pairs, in declaration
            /// order (for tables, JSON and metrics exporters).
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }
        }
    };
}

group_counters! {
    /// Calls to `Group::get`/`get_with`: counted when the key is rejected as
    /// invalid, or once the first cache lookup has answered or missed (a get
    /// waiting on a flight is counted).
    gets,
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
