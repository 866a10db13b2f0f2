//! [`LruStore`]: an exact, byte-bounded, sharded LRU holding a group's main
//! and hot caches under one budget.
//!
//! # Layout
//! Keys are spread over a power-of-two number of shards by the 64-bit xxh3
//! hash of the key. Each shard is a `parking_lot` mutex around a slab of
//! nodes plus, per cache, a `hashbrown` table of slab indices and an
//! intrusive doubly linked recency list (`shard.rs`): get, insert, remove
//! and evict are O(1), and a lookup by `&str` allocates nothing.
//!
//! # The budget rule
//! Two atomic counters hold the bytes *reserved* by all entries: `used`
//! (both caches) and `hot_used` (the hot cache). An entry of `size` bytes
//! ([`entry_size`]: key + value +
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

mod shard;

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::time::Instant;

use self::shard::{Lookup, Shard};
use crate::CacheStats;
use crate::store::{CacheKind, Entry, Store, entry_size, share_value};

/// Shards used by [`LruStore::new`].
pub const DEFAULT_SHARDS: usize = 16;

/// Most shards [`LruStore::with_shards`] accepts (larger requests are
/// capped).
pub const MAX_SHARDS: usize = 1024;

/// How many times a reservation that finds no victim at all yields and
/// retries before giving up on storing the entry.
const IDLE_RETRIES: u32 = 16;

/// The 64-bit hash that picks a key's shard and its hash-table bucket.
fn hash_key(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

/// Index of a cache's lane inside a shard.
fn lane_of(kind: CacheKind) -> usize {
    match kind {
        CacheKind::Main => 0,
        CacheKind::Hot => 1,
    }
}

/// A shard and a lock-free mirror of its byte counts, padded to its own
/// cache lines so shards do not false-share.
#[repr(align(128))]
struct ShardCell {
    /// The shard; `parking_lot` because critical sections are a few hundred
    /// nanoseconds, never held across `.await`, and it does not poison.
    lock: Mutex<Shard>,
    /// Bytes per lane, copied from the shard after each change under the
    /// lock; read without the lock only to choose eviction victims.
    bytes: [AtomicU64; 2],
}

impl ShardCell {
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
///   [`budget`](Store::budget), not even transiently;
/// - the hot cache never holds more than `hot_fraction * budget` bytes;
/// - the main cache may use the whole budget while the hot cache is empty;
/// - an expired entry is never returned and is dropped when met;
/// - a hit costs a shard lock and a reference-count increment of the value.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::store::{CacheKind, Entry, LruStore, Store};
///
/// let store = LruStore::new(1 << 20, 0.125);
/// store.insert(CacheKind::Main, "k", Entry::value(Bytes::from_static(b"v")));
/// let now = tokio::time::Instant::now();
/// let hit = store.get(CacheKind::Main, "k", now).unwrap();
/// assert_eq!(hit, Entry::value(Bytes::from_static(b"v")));
/// assert!(store.get(CacheKind::Hot, "k", now).is_none());
/// ```
pub struct LruStore {
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
}

impl std::fmt::Debug for LruStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LruStore")
            .field("shards", &self.shards.len())
            .field("budget", &self.budget)
            .field("hot_fraction", &self.hot_fraction)
            .field("used", &self.used.load(Ordering::Relaxed))
            .field("hot_used", &self.hot_used.load(Ordering::Relaxed))
            .finish()
    }
}

impl LruStore {
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
        LruStore {
            shards: (0..n)
                .map(|_| ShardCell {
                    lock: Mutex::new(Shard::new()),
                    bytes: [AtomicU64::new(0), AtomicU64::new(0)],
                })
                .collect(),
            shard_mask: n as u64 - 1,
            budget: budget_bytes,
            hot_fraction,
            hot_cap: hot_cap.min(budget_bytes),
            used: AtomicU64::new(0),
            hot_used: AtomicU64::new(0),
        }
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
        // High bits: hashbrown uses the low bits for buckets and the top 7
        // for its control bytes.
        ((hash >> 32) & self.shard_mask) as usize
    }

    /// Returns `size` bytes of `kind` to the budget; called only after the
    /// entry has been unlinked.
    fn release(&self, kind: CacheKind, size: u64) {
        if kind == CacheKind::Hot {
            self.hot_used.fetch_sub(size, Ordering::AcqRel);
        }
        self.used.fetch_sub(size, Ordering::AcqRel);
    }

    /// Raises `counter` by `size` if that keeps it `<= limit`, calling
    /// `evict` (which frees at least one entry, or returns false) until it
    /// fits. Returns false if nothing could be evicted for a while.
    fn reserve(
        &self,
        counter: &AtomicU64,
        limit: u64,
        size: u64,
        mut evict: impl FnMut() -> bool,
    ) -> bool {
        let mut idle = 0;
        let mut cur = counter.load(Ordering::Acquire);
        loop {
            if cur.checked_add(size).is_some_and(|total| total <= limit) {
                match counter.compare_exchange_weak(
                    cur,
                    cur + size,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return true,
                    Err(actual) => {
                        cur = actual;
                        continue;
                    }
                }
            }
            if !evict() {
                idle += 1;
                if idle > IDLE_RETRIES {
                    return false;
                }
                std::thread::yield_now();
            }
            cur = counter.load(Ordering::Acquire);
        }
    }

    /// Which cache gives up an entry when the total budget is full: the hot
    /// cache if it holds more than its fair share of the bytes in use.
    fn over_share(&self) -> CacheKind {
        let used = self.used.load(Ordering::Acquire) as f64;
        let hot = self.hot_used.load(Ordering::Acquire) as f64;
        if hot > self.hot_fraction * used {
            CacheKind::Hot
        } else {
            CacheKind::Main
        }
    }

    /// Evicts the least recently used entry of `kind` from `own` if that
    /// shard holds at least its average share of the cache, else from the
    /// fullest shard (then any non-empty one). Returns false if the cache
    /// is empty everywhere.
    fn evict_one(&self, kind: CacheKind, own: usize) -> bool {
        let lane = lane_of(kind);
        let n = self.shards.len();
        let mut total: u128 = 0;
        let mut fullest = (0u64, own);
        for (i, cell) in self.shards.iter().enumerate() {
            let b = cell.bytes[lane].load(Ordering::Relaxed);
            total += u128::from(b);
            if b > fullest.0 {
                fullest = (b, i);
            }
        }
        let own_bytes = u128::from(self.shards[own].bytes[lane].load(Ordering::Relaxed));
        let first = if own_bytes > 0 && own_bytes * n as u128 >= total {
            own
        } else {
            fullest.1
        };
        (0..n)
            .map(|k| (first + k) % n)
            .any(|i| self.evict_from(i, kind))
    }

    /// Pops the least recently used entry of `kind` in shard `i`.
    fn evict_from(&self, i: usize, kind: CacheKind) -> bool {
        let cell = &self.shards[i];
        let popped = {
            let mut shard = cell.lock.lock();
            let popped = shard.pop_lru(lane_of(kind));
            if popped.is_some() {
                cell.publish(&shard);
            }
            popped
        };
        match popped {
            Some(size) => {
                self.release(kind, size);
                true
            }
            None => false,
        }
    }

    /// Reserves `size` bytes for an entry of `kind` (see the module doc).
    fn reserve_for(&self, kind: CacheKind, size: u64, own: usize) -> bool {
        if kind == CacheKind::Hot
            && !self.reserve(&self.hot_used, self.hot_cap, size, || {
                self.evict_one(CacheKind::Hot, own)
            })
        {
            return false;
        }
        let reserved = self.reserve(&self.used, self.budget, size, || {
            let victim = self.over_share();
            let other = match victim {
                CacheKind::Main => CacheKind::Hot,
                CacheKind::Hot => CacheKind::Main,
            };
            self.evict_one(victim, own) || self.evict_one(other, own)
        });
        if !reserved && kind == CacheKind::Hot {
            self.hot_used.fetch_sub(size, Ordering::AcqRel);
        }
        reserved
    }

    /// The keys of `kind` in shard `i`, most recently used first (tests).
    #[cfg(test)]
    fn keys_mru(&self, i: usize, kind: CacheKind) -> Vec<String> {
        self.shards[i].lock.lock().keys_mru(lane_of(kind))
    }
}

impl Store for LruStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let hash = hash_key(key);
        let i = self.shard_index(hash);
        let cell = &self.shards[i];
        let found = {
            let mut shard = cell.lock.lock();
            let found = shard.get(lane_of(kind), hash, key, || now);
            if let Lookup::Expired(_) = found {
                cell.publish(&shard);
            }
            found
        };
        match found {
            Lookup::Hit(entry) => Some(entry),
            Lookup::Miss => None,
            Lookup::Expired(size) => {
                self.release(kind, size);
                None
            }
        }
    }

    /// Both lanes of a key live in the same shard: one hash, one lock, and
    /// the clock is read only for entries that expire.
    fn get_hot_then_main(&self, key: &str, now: &dyn Fn() -> Instant) -> Option<Entry> {
        let hash = hash_key(key);
        let cell = &self.shards[self.shard_index(hash)];
        let (hot, main) = {
            let mut shard = cell.lock.lock();
            let hot = shard.get(lane_of(CacheKind::Hot), hash, key, now);
            let main = match hot {
                Lookup::Hit(_) => Lookup::Miss,
                _ => shard.get(lane_of(CacheKind::Main), hash, key, now),
            };
            if matches!(hot, Lookup::Expired(_)) || matches!(main, Lookup::Expired(_)) {
                cell.publish(&shard);
            }
            (hot, main)
        };
        match hot {
            Lookup::Hit(entry) => return Some(entry),
            Lookup::Expired(size) => self.release(CacheKind::Hot, size),
            Lookup::Miss => {}
        }
        match main {
            Lookup::Hit(entry) => Some(entry),
            Lookup::Miss => None,
            Lookup::Expired(size) => {
                self.release(CacheKind::Main, size);
                None
            }
        }
    }

    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        let lane = lane_of(kind);
        let size = entry_size(key, entry.data.len());
        let hash = hash_key(key);
        let i = self.shard_index(hash);
        let cell = &self.shards[i];
        // 1. Drop the key's old entry in this cache, so a replacement is
        //    charged only its own size (and a too-large new value does not
        //    leave the stale one behind).
        let old = {
            let mut shard = cell.lock.lock();
            let old = shard.remove(lane, hash, key);
            if old.is_some() {
                cell.publish(&shard);
            }
            old
        };
        if let Some(old) = old {
            self.release(kind, old);
        }
        if size > self.cap(kind) {
            return;
        }
        let entry = share_value(entry);
        // 2. Reserve the bytes, evicting as needed (no lock held here).
        if !self.reserve_for(kind, size, i) {
            return;
        }
        // 3. Link. A concurrent insert of the same key may have linked first:
        //    its entry is replaced and its bytes released.
        let replaced = {
            let mut shard = cell.lock.lock();
            let replaced = shard.link(lane, hash, key, entry, size);
            cell.publish(&shard);
            replaced
        };
        if let Some(r) = replaced {
            self.release(kind, r);
        }
    }

    fn remove(&self, key: &str) -> bool {
        let hash = hash_key(key);
        let cell = &self.shards[self.shard_index(hash)];
        let (main, hot) = {
            let mut shard = cell.lock.lock();
            let main = shard.remove(lane_of(CacheKind::Main), hash, key);
            let hot = shard.remove(lane_of(CacheKind::Hot), hash, key);
            cell.publish(&shard);
            (main, hot)
        };
        if let Some(size) = main {
            self.release(CacheKind::Main, size);
        }
        if let Some(size) = hot {
            self.release(CacheKind::Hot, size);
        }
        main.is_some() || hot.is_some()
    }

    fn stats(&self, kind: CacheKind) -> CacheStats {
        let lane = lane_of(kind);
        let mut total = CacheStats::default();
        for cell in self.shards.iter() {
            let s = cell.lock.lock().stats(lane);
            total.bytes += s.bytes;
            total.items += s.items;
            total.gets += s.gets;
            total.hits += s.hits;
            total.evictions += s.evictions;
        }
        total
    }

    fn budget(&self) -> u64 {
        self.budget
    }
}

#[cfg(test)]
mod tests;
