//! [`ShardedStore`]: groupcache's own store: an exact byte budget over
//! sharded maps, holding a group's main and hot caches, evicting by SIEVE
//! (the default) or LRU ([`Eviction`]).
//!
//! # Layout
//! Keys are spread over a power-of-two number of shards by the 64-bit
//! foldhash of the key. Each shard is a `ShardedLock` (one reader-writer
//! lock per thread slot, from `crossbeam-utils`) around a slab of
//! nodes (keys of up to 24 bytes stored inline) plus, per cache, an
//! open-addressing index from hash to slab index (`index.rs`) and an
//! intrusive doubly linked recency list (`shard.rs`): get, insert, remove
//! and evict are O(1), and a lookup by `&str` allocates nothing.
//!
//! # The budget rule
//! Two atomic counters hold the bytes *reserved* by all entries: `used`
//! (both caches) and `hot_used` (the hot cache). An entry of `size` bytes
//! ([`entry_size`](crate::store::entry_size): key + value +
//! [`ENTRY_OVERHEAD`](crate::store::ENTRY_OVERHEAD)) is stored in three steps:
//!
//! 1. the key's old entry in that cache, if any, is removed and its bytes
//!    released (so replacing a value is charged exactly the new size);
//! 2. the bytes are reserved with a compare-and-swap loop that only succeeds
//!    when `counter + size <= limit`; while it does not fit, one victim is
//!    evicted and the loop retries. For a hot entry this is done first on
//!    `hot_used` against the hot cap (`hot_fraction * budget`, evicting hot
//!    entries), then on `used` against the budget. When the total is full the
//!    victim is the least recently used entry of whichever cache is over its
//!    fair share: the hot cache if `hot_used > hot_fraction * used`, else the
//!    main cache (falling back to the other cache when that one is empty);
//! 3. the entry is linked into its shard.
//!
//! Since the hot cache never reserves more than `hot_fraction * budget`,
//! pressure from the main cache does not shrink the hot cache below its
//! share of the bytes in use: the hot cache gives up entries to main
//! inserts only while it holds more than that share (after main entries were
//! removed or expired, say), and otherwise only to its own inserts.
//!
//! Bytes are released only *after* the entry has been unlinked (eviction,
//! removal, replacement, expiry). So at every instant the bytes of linked
//! entries are at most `used`, and `used` never exceeds the budget because
//! the only operation that increases it is a compare-and-swap that checked
//! the limit against the counter's current value. This holds under any
//! interleaving, with no global lock, and an entry may be as large as its
//! cache's share of the *whole* budget (the budget is not split per shard).
//! An entry larger than that is not stored.
//!
//! A victim is taken from the inserting key's own shard while that shard
//! holds at least the average bytes of the cache per shard, otherwise from
//! the fullest shard; so each shard's list is exact LRU, and the store as a
//! whole is LRU up to that per-shard approximation (with one shard it is
//! exact). No operation holds two shard locks at once, so there is no
//! lock-order deadlock.
//!
//! If the reservation cannot find any victim (every byte is reserved by
//! inserts still in flight on other threads) it yields and retries a few
//! times, then gives up: the entry is not stored. That is a cache miss later,
//! never a budget overrun.
//!
//! # Handing over the most valuable entries
//! [`Store::hottest`](crate::store::Store::hottest) (what a leaving node
//! hands over) walks each shard's lane of the cache in *value order*, the
//! reverse of the order the shard would evict its entries in if nothing
//! else happened (`order.rs`: exact for LRU, and for SIEVE derived from
//! the hand's position and the visited marks), and interleaves the shards
//! one entry at a time, so the result is not one shard's keys first. It
//! stops at the first entry that would take the total past the byte bound
//! and skips expired entries. It is a read: no get or hit is counted, no
//! recency changes, no SIEVE mark is set, nothing expired is dropped.
//!
//! Each shard is walked under its read lock, one shard at a time, so the
//! result is not a snapshot of the whole store, and inserts into a shard
//! wait while it is walked. A walk costs the entries it copies (a key
//! string and a value reference each, at most the byte bound's worth per
//! shard) and, under SIEVE, one pass over the whole lane (4 bytes of
//! order per entry) to read the marks; under LRU it stops with the bound.

mod budget;
mod index;
mod lane;
mod order;
mod shard;
mod store;

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use self::shard::{Lookup, Shard};
use crate::store::counter::StripedCounter;
use crate::store::{CacheKind, Entry};
use crate::sync::{AtomicU64, ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};

/// How an [`ShardedStore`] records hits and picks victims, in each shard and
/// lane. Both keep the same byte budget rule; only the order of eviction
/// differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Exact least-recently-used: a hit moves the entry to the front of the
    /// list, the victim is the back. Every hit writes the list (four links
    /// and the list head), which other threads then re-read.
    Lru,
    /// SIEVE (Zhang et al., NSDI 2024): a hit only marks the entry visited
    /// (a write the first time only); new entries enter at the front; a
    /// "hand" walks from the back towards the front, clearing marks, and
    /// evicts the first unmarked entry. Scan-resistant like CLOCK, and a
    /// hit writes no shared cache line but the shard lock. The default:
    /// more hits than LRU (and than moka's TinyLFU) on every trace of
    /// `examples/hit_ratio.rs`, and cheaper hits.
    #[default]
    Sieve,
}

/// Shards used by [`ShardedStore::new`].
pub const DEFAULT_SHARDS: usize = 16;

/// Most shards [`ShardedStore::with_shards`] accepts (larger requests are
/// capped).
pub const MAX_SHARDS: usize = 1024;

/// The 64-bit hash that picks a key's shard and its hash-table bucket:
/// foldhash with a fixed seed, about half the instructions of xxh3 on short
/// keys (it is on every hit). Its seed is per process, not secret, like the
/// rest of the store: a key's shard only decides which lock it takes.
fn hash_key(key: &str) -> u64 {
    use std::hash::BuildHasher;
    const SEED: foldhash::fast::FixedState =
        foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);
    SEED.hash_one(key)
}

/// Index of a cache's lane inside a shard.
pub(super) fn lane_of(kind: CacheKind) -> usize {
    match kind {
        CacheKind::Main => 0,
        CacheKind::Hot => 1,
    }
}

/// A shard and a lock-free mirror of its byte counts, padded to its own
/// cache lines so shards do not false-share.
#[repr(align(128))]
struct ShardCell {
    /// The shard, behind a reader-writer lock made of one lock per thread
    /// slot (`crossbeam_utils::sync::ShardedLock`, named through
    /// `crate::sync` so the models can swap it): a read lock touches only
    /// the current thread's cache line, so SIEVE hits on different threads
    /// share no written line at all; a write locks every slot. Critical
    /// sections are short and never span an `.await`; a panic inside one
    /// cannot leave the shard inconsistent, so poisoning is ignored.
    lock: ShardedLock<Shard>,
    /// Bytes per lane, copied from the shard after each change under the
    /// lock; read without the lock only to choose eviction victims.
    bytes: [AtomicU64; 2],
}

impl ShardCell {
    /// Shared access: SIEVE hits.
    #[inline(always)]
    fn read(&self) -> ShardedLockReadGuard<'_, Shard> {
        self.lock.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive access: inserts, removals, evictions, LRU hits, expiries.
    fn write(&self) -> ShardedLockWriteGuard<'_, Shard> {
        self.lock.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the shard's byte counts into the mirror (caller holds `shard`).
    fn publish(&self, shard: &Shard) {
        for lane in 0..2 {
            self.bytes[lane].store(shard.bytes(lane), Ordering::Relaxed);
        }
    }
}

/// An exact byte-bounded LRU holding both caches (main and hot) of a group
/// under one budget, sharded for concurrency.
///
/// Invariants (see the module documentation for why they hold):
/// - the bytes charged to both caches together never exceed
///   [`budget`](crate::store::Store::budget), not even transiently;
/// - the hot cache never holds more than `hot_fraction * budget` bytes;
/// - the main cache may use the whole budget while the hot cache is empty;
/// - an expired entry is never returned and is dropped when met;
/// - a hit costs a shard lock, a reference-count increment of the value and
///   two increments of per-thread striped counters (`gets`, `hits`); it
///   allocates nothing.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::store::{CacheKind, Entry, ShardedStore, Store};
///
/// let store = ShardedStore::new(1 << 20, 0.125);
/// store.insert(CacheKind::Main, "k", Entry::value(Bytes::from_static(b"v")));
/// let now = tokio::time::Instant::now();
/// let hit = store.get(CacheKind::Main, "k", now).unwrap();
/// assert_eq!(hit, Entry::value(Bytes::from_static(b"v")));
/// assert!(store.get(CacheKind::Hot, "k", now).is_none());
/// ```
pub struct ShardedStore {
    /// The shards; the length is a power of two.
    shards: Box<[ShardCell]>,
    /// `shards.len() - 1`, to pick a shard from a hash.
    shard_mask: u64,
    /// Most bytes charged to both caches together.
    budget: u64,
    /// The hot cache's share of the budget, in `[0, 1]`.
    hot_fraction: f64,
    /// `floor(hot_fraction * budget)`: most bytes of the hot cache.
    hot_cap: u64,
    /// Bytes reserved by both caches; `<= budget` at all times (only raised
    /// by a checked compare-and-swap, lowered after unlinking).
    used: AtomicU64,
    /// Bytes reserved by the hot cache; `<= hot_cap` at all times.
    hot_used: AtomicU64,
    /// Gets per cache (index `lane_of(kind)`), striped per thread so hits
    /// on different shards share no written cache line.
    gets: [StripedCounter; 2],
    /// Gets that found a live entry, per cache, striped likewise.
    hits: [StripedCounter; 2],
    /// How every shard evicts (and so whether hits need the write lock).
    eviction: Eviction,
    /// Outcomes of [`get_hot_then_main`](Store::get_hot_then_main), one
    /// increment per lookup: found in hot (a hot get and hit), found in main
    /// (a hot get, a main get and hit), found in neither (a get of each).
    hot_then_main: [StripedCounter; 3],
}

/// Indices of the outcomes in `ShardedStore::hot_then_main`.
const FOUND_HOT: usize = 0;
const FOUND_MAIN: usize = 1;
const FOUND_NEITHER: usize = 2;

impl std::fmt::Debug for ShardedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedStore")
            .field("shards", &self.shards.len())
            .field("budget", &self.budget)
            .field("hot_fraction", &self.hot_fraction)
            .field("used", &self.used.load(Ordering::Relaxed))
            .field("hot_used", &self.hot_used.load(Ordering::Relaxed))
            .finish()
    }
}

impl ShardedStore {
    /// A store of `budget_bytes` with [`DEFAULT_SHARDS`] shards, whose hot
    /// cache may take `hot_fraction` of the budget (clamped to `[0, 1]`; NaN
    /// counts as 0). The group passes its configured fraction (1/8 by
    /// default).
    pub fn new(budget_bytes: u64, hot_fraction: f64) -> Self {
        Self::with_shards(budget_bytes, hot_fraction, DEFAULT_SHARDS)
    }

    /// Like [`new`](Self::new) with `shards` shards, rounded up to a power of
    /// two and kept within `1..=`[`MAX_SHARDS`]. One shard makes the store an
    /// exact global LRU; more shards let threads work in parallel.
    pub fn with_shards(budget_bytes: u64, hot_fraction: f64, shards: usize) -> Self {
        let hot_fraction = if hot_fraction.is_nan() {
            0.0
        } else {
            hot_fraction.clamp(0.0, 1.0)
        };
        let n = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let hot_cap = ((budget_bytes as f64) * hot_fraction).floor() as u64;
        ShardedStore {
            shards: (0..n)
                .map(|_| ShardCell {
                    lock: ShardedLock::new(Shard::new(Eviction::default())),
                    bytes: [AtomicU64::new(0), AtomicU64::new(0)],
                })
                .collect(),
            shard_mask: n as u64 - 1,
            budget: budget_bytes,
            hot_fraction,
            hot_cap: hot_cap.min(budget_bytes),
            used: AtomicU64::new(0),
            hot_used: AtomicU64::new(0),
            gets: Default::default(),
            hits: Default::default(),
            hot_then_main: Default::default(),
            eviction: Eviction::default(),
        }
    }

    /// The same store evicting by `eviction` (default [`Eviction::Sieve`]).
    /// Meant for a new store; on a store already holding entries the list
    /// order carries over and SIEVE's marks start cleared.
    pub fn with_eviction(mut self, eviction: Eviction) -> Self {
        for cell in self.shards.iter_mut() {
            cell.lock
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .set_eviction(eviction);
        }
        self.eviction = eviction;
        self
    }

    /// Number of shards (a power of two).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Most bytes the hot cache may hold: `floor(hot_fraction * budget)`.
    pub fn hot_cap(&self) -> u64 {
        self.hot_cap
    }

    /// Bytes charged to both caches right now, read from the single counter
    /// the budget is enforced on (always `<= budget`). It counts entries
    /// being linked by concurrent inserts too, so it is never less than the
    /// bytes actually held.
    pub fn charged_bytes(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Most bytes one entry may be charged in `kind`.
    fn cap(&self, kind: CacheKind) -> u64 {
        match kind {
            CacheKind::Main => self.budget,
            CacheKind::Hot => self.hot_cap,
        }
    }

    fn shard_index(&self, hash: u64) -> usize {
        // High bits: the lane index uses the low 32 bits for its slots and
        // fingerprints.
        ((hash >> 32) & self.shard_mask) as usize
    }

    /// The end of a hot-then-main lookup that met an expired entry (off
    /// the hit path): releases the expired bytes and counts the outcome.
    #[cold]
    fn after_expiry(&self, hot: Lookup, main: Lookup) -> Option<Entry> {
        for (kind, lookup) in [(CacheKind::Hot, &hot), (CacheKind::Main, &main)] {
            if let Lookup::Expired(size) = lookup {
                self.release(kind, *size);
            }
        }
        let (outcome, entry) = match (hot, main) {
            (Lookup::Hit(entry), _) => (FOUND_HOT, Some(entry)),
            (_, Lookup::Hit(entry)) => (FOUND_MAIN, Some(entry)),
            _ => (FOUND_NEITHER, None),
        };
        self.hot_then_main[outcome].incr();
        entry
    }

    /// The keys of `kind` in shard `i`, most recently used first (tests).
    #[cfg(test)]
    fn keys_mru(&self, i: usize, kind: CacheKind) -> Vec<String> {
        self.shards[i].read().keys_mru(lane_of(kind))
    }
}

#[cfg(all(test, feature = "shuttle"))]
mod models;
#[cfg(test)]
mod tests;
