//! [`MokaStore`]: the two caches of a group on `moka::sync::Cache`
//! (TinyLFU admission, LRU eviction window, weigher, per-entry expiry).
//!
//! # Arrangement
//! moka bounds each cache by its own capacity, so the budget is split: the
//! hot cache gets `floor(hot_fraction * budget)` bytes and the main cache the
//! rest. Unlike [`ShardedStore`](super::ShardedStore), the main cache cannot borrow
//! the hot cache's share while it is empty. Each entry weighs
//! [`entry_size`] bytes (saturated at `u32::MAX`, moka's weight type), and
//! its expiry is taken from [`Entry::expires_at`] through moka's `Expiry`.
//! `get` also checks the expiry itself against the caller's `now`, so an
//! expired entry is never returned even before moka's clock reclaims it
//! (and with paused tokio time, which moka does not see).
//!
//! # The budget is enforced eventually, not exactly
//! moka applies inserts to its eviction policy in batches (its write log is
//! flushed every 64 writes or on maintenance), so an insert may leave a
//! cache over capacity until the next maintenance run. To keep that window
//! short, [`MokaStore`] by default calls `run_pending_tasks` after any
//! insert that leaves a cache over its capacity ("eager maintenance"); the
//! overshoot is then bounded by the inserts that run concurrently on other
//! threads (about one entry per inserting thread). With eager maintenance
//! off, it can reach the write-log batch (~64 entries) or more (peaks in
//! `docs/benchmarks-stores.md`, example `store_overshoot`). Also, moka's
//! own weighted size can drift from the true contents when threads replace
//! one key with values of different sizes at the same moment, so even after
//! maintenance a cache may hold more than its capacity (under one entry's
//! worth). The stress test `moka_overshoot_stays_within_one_entry_per_thread`
//! asserts each cache stays within its capacity plus one largest entry per
//! inserting thread and one more for that drift, during the run and right
//! after each insert, and within the drift's one entry after maintenance.
//! The exact promise "charged bytes never exceed the budget" is
//! [`ShardedStore`]'s, not this store's.
//!
//! # Stats
//! `bytes` and `items` are counted by this store: added on insert,
//! subtracted by moka's eviction listener for every removal (eviction,
//! replacement, expiry, explicit removal). So they include entries moka has
//! accepted but not yet evicted, which is what the budget cares about.
//! `evictions` counts removals for size, which in moka include new entries
//! that TinyLFU refused to admit. `gets` and `hits` are striped counters.
//!
//! # Handoff
//! [`Store::hottest`] walks moka's iterator, which visits entries in the
//! order of its hash table: moka exposes neither its LRU order nor its
//! frequency sketch, so this store hands over *some* live entries up to
//! the byte bound, not the most valuable ones.
//!
//! [`ShardedStore`]: super::ShardedStore

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::Expiry;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use tokio::time::Instant;

use super::counter::StripedCounter;
use super::{CacheKind, Entry, Store, entry_size, share_value};
use crate::CacheStats;

/// Counters of one cache, shared with its eviction listener.
#[derive(Default)]
struct Counters {
    /// Bytes accepted and not yet reported removed by moka.
    bytes: AtomicU64,
    /// Entries accepted and not yet reported removed by moka.
    items: AtomicU64,
    /// Calls to `get` on this cache.
    gets: StripedCounter,
    /// Gets that returned an entry.
    hits: StripedCounter,
    /// Removals with cause `Size` (evictions and admission refusals).
    evictions: AtomicU64,
    /// Highest `bytes` ever observed right after an insert.
    peak_bytes: AtomicU64,
}

/// One of the two caches.
struct Side {
    /// The moka cache; its key is the owned key, looked up by `&str`.
    cache: Cache<Box<str>, Entry>,
    /// Its capacity in bytes (its share of the budget).
    capacity: u64,
    /// Shared with the eviction listener.
    counters: Arc<Counters>,
}

/// Per-entry expiry: the time left until `Entry::expires_at`, on tokio's
/// clock at the moment moka asks.
struct EntryExpiry;

fn time_left(entry: &Entry) -> Option<Duration> {
    entry
        .expires_at
        .map(|t| t.saturating_duration_since(Instant::now()))
}

impl Expiry<Box<str>, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &Box<str>,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        time_left(value)
    }

    fn expire_after_update(
        &self,
        _key: &Box<str>,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        time_left(value)
    }
}

/// moka's weigher: the entry's charge, saturated to moka's `u32` weight.
#[allow(clippy::borrowed_box)] // moka passes `&K`, and `K` is `Box<str>`
fn weigh(key: &Box<str>, value: &Entry) -> u32 {
    u32::try_from(entry_size(key, value.data.len())).unwrap_or(u32::MAX)
}

impl Side {
    fn new(capacity: u64) -> Self {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let cache = Cache::builder()
            .max_capacity(capacity)
            .weigher(weigh)
            .expire_after(EntryExpiry)
            .eviction_listener(move |key: Arc<Box<str>>, value: Entry, cause| {
                let c = &listener_counters;
                c.bytes
                    .fetch_sub(entry_size(&key, value.data.len()), Ordering::AcqRel);
                c.items.fetch_sub(1, Ordering::AcqRel);
                if cause == RemovalCause::Size {
                    c.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Side {
            cache,
            capacity,
            counters,
        }
    }
}

/// Both caches of a group on `moka::sync::Cache`, the budget split between
/// them (see the module documentation for the arrangement and for how far
/// over budget moka's lazy maintenance can go).
///
/// ```
/// use bytes::Bytes;
/// use cache_core::store::{CacheKind, Entry, MokaStore, Store};
///
/// let store = MokaStore::new(1 << 20, 0.125);
/// store.insert(CacheKind::Hot, "k", Entry::value(Bytes::from_static(b"v")));
/// let now = tokio::time::Instant::now();
/// assert!(store.get(CacheKind::Hot, "k", now).is_some());
/// assert!(store.get(CacheKind::Main, "k", now).is_none());
/// ```
pub struct MokaStore {
    /// Keys this node owns; capacity `budget - hot capacity`.
    main: Side,
    /// Keys owned elsewhere; capacity `floor(hot_fraction * budget)`.
    hot: Side,
    /// The whole budget.
    budget: u64,
    /// Run moka's maintenance after an insert that leaves a cache over
    /// capacity (default true).
    eager_maintenance: bool,
}

impl std::fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaStore")
            .field("budget", &self.budget)
            .field("main_capacity", &self.main.capacity)
            .field("hot_capacity", &self.hot.capacity)
            .field("eager_maintenance", &self.eager_maintenance)
            .finish()
    }
}

impl MokaStore {
    /// A store of `budget_bytes`, of which the hot cache gets
    /// `floor(hot_fraction * budget)` (fraction clamped to `[0, 1]`, NaN
    /// counts as 0) and the main cache the rest; eager maintenance on.
    pub fn new(budget_bytes: u64, hot_fraction: f64) -> Self {
        Self::with_eager_maintenance(budget_bytes, hot_fraction, true)
    }

    /// Like [`new`](Self::new), choosing whether to run moka's pending
    /// maintenance right after an insert that leaves a cache over capacity
    /// (`true` keeps the overshoot to about one entry per concurrently
    /// inserting thread; `false` leaves it to moka's batching).
    pub fn with_eager_maintenance(budget_bytes: u64, hot_fraction: f64, eager: bool) -> Self {
        let hot_fraction = if hot_fraction.is_nan() {
            0.0
        } else {
            hot_fraction.clamp(0.0, 1.0)
        };
        let hot_cap = (((budget_bytes as f64) * hot_fraction).floor() as u64).min(budget_bytes);
        MokaStore {
            main: Side::new(budget_bytes - hot_cap),
            hot: Side::new(hot_cap),
            budget: budget_bytes,
            eager_maintenance: eager,
        }
    }

    /// Bytes charged to both caches right now (accepted and not yet
    /// reported removed by moka). Unlike [`ShardedStore`](super::ShardedStore) this
    /// may briefly exceed the budget.
    pub fn charged_bytes(&self) -> u64 {
        self.main.counters.bytes.load(Ordering::Acquire)
            + self.hot.counters.bytes.load(Ordering::Acquire)
    }

    /// The highest byte count each cache reached right after an insert, as
    /// `(main, hot)`: a measure of how far moka's lazy eviction overshoots.
    pub fn peak_bytes(&self) -> (u64, u64) {
        (
            self.main.counters.peak_bytes.load(Ordering::Acquire),
            self.hot.counters.peak_bytes.load(Ordering::Acquire),
        )
    }

    /// The byte capacity of one cache (its share of the budget).
    pub fn capacity(&self, kind: CacheKind) -> u64 {
        self.side(kind).capacity
    }

    /// Runs moka's pending maintenance (evictions, expiries, listener
    /// calls) on both caches now.
    pub fn run_pending_tasks(&self) {
        self.main.cache.run_pending_tasks();
        self.hot.cache.run_pending_tasks();
    }

    fn side(&self, kind: CacheKind) -> &Side {
        match kind {
            CacheKind::Main => &self.main,
            CacheKind::Hot => &self.hot,
        }
    }
}

impl Store for MokaStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let side = self.side(kind);
        side.counters.gets.incr();
        let entry = side.cache.get(key)?;
        if entry.is_expired(now) {
            // Drops a fresh value too if one was inserted since the get: at
            // worst a miss, never a stale hit.
            side.cache.invalidate(key);
            return None;
        }
        side.counters.hits.incr();
        Some(entry)
    }

    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        let side = self.side(kind);
        let size = entry_size(key, entry.data.len());
        if size > side.capacity || size > u64::from(u32::MAX) {
            side.cache.invalidate(key);
            return;
        }
        let entry = share_value(entry);
        let c = &side.counters;
        c.items.fetch_add(1, Ordering::AcqRel);
        let now_bytes = c.bytes.fetch_add(size, Ordering::AcqRel) + size;
        c.peak_bytes.fetch_max(now_bytes, Ordering::AcqRel);
        side.cache.insert(key.into(), entry);
        if self.eager_maintenance && c.bytes.load(Ordering::Acquire) > side.capacity {
            side.cache.run_pending_tasks();
        }
    }

    fn remove(&self, key: &str) -> bool {
        let main = self.main.cache.remove(key).is_some();
        let hot = self.hot.cache.remove(key).is_some();
        main || hot
    }

    fn stats(&self, kind: CacheKind) -> CacheStats {
        let c = &self.side(kind).counters;
        CacheStats {
            bytes: c.bytes.load(Ordering::Acquire),
            items: c.items.load(Ordering::Acquire),
            gets: c.gets.get(),
            hits: c.hits.get(),
            evictions: c.evictions.load(Ordering::Relaxed),
        }
    }

    fn budget(&self) -> u64 {
        self.budget
    }

    /// In the order of moka's iterator: moka keeps its LRU order and its
    /// frequency sketch to itself, and iterates in the order of its hash
    /// table, so the entries come in no order of value (what is returned
    /// is some of the live entries, not the hottest). Up to the first entry
    /// that would take the total past `max_bytes`; expired entries are
    /// skipped. The iterator does not touch moka's popularity estimates,
    /// and this store's gets and hits are not counted.
    fn hottest(&self, kind: CacheKind, max_bytes: u64, now: Instant) -> Vec<(String, Entry)> {
        let mut out = Vec::new();
        let mut total = 0u64;
        for (key, entry) in self.side(kind).cache.iter() {
            if entry.is_expired(now) {
                continue;
            }
            let size = entry_size(&key, entry.data.len());
            if total.saturating_add(size) > max_bytes {
                break;
            }
            total += size;
            out.push((key.to_string(), entry));
        }
        out
    }

    /// Read from the bytes moka has accepted so far (its own weighted size
    /// lags behind until its maintenance runs).
    fn has_room(&self, kind: CacheKind, size: u64) -> bool {
        let side = self.side(kind);
        side.counters
            .bytes
            .load(Ordering::Acquire)
            .checked_add(size)
            .is_some_and(|total| total <= side.capacity)
    }
}

#[cfg(test)]
mod tests;
