//! Where values live: the main cache and the hot cache, sharing one byte
//! budget.
//!
//! A [`Store`] holds both caches of a group. Every entry is charged
//! [`entry_size`] bytes (key + value + [`ENTRY_OVERHEAD`]); the total charged
//! to both caches never exceeds the configured budget, and the hot cache never
//! holds more than its share of it.

pub(crate) mod counter;
pub mod moka_store;
pub mod sharded;

pub use moka_store::MokaStore;
pub use sharded::{Eviction, ShardedStore};

/// The old name of [`ShardedStore`] (its default eviction is SIEVE, not LRU).
#[deprecated(note = "renamed to ShardedStore")]
#[doc(hidden)]
pub type LruStore = ShardedStore;

use bytes::Bytes;
use tokio::time::Instant;

use crate::CacheStats;

/// A fixed per-entry charge that stands for what an entry costs in memory
/// beside its key and value bytes, so the budget tracks real memory even for
/// small values. 160 bytes is the measured cost of an [`ShardedStore`] entry
/// (`cargo run --release -p cache-core --example store_rss`: 1,210 bytes of
/// RSS per 1 KiB entry charged 1,193): its 88-byte slab slot (plus the
/// slab's growth slack), ~5-11 bytes of hash table, the value's shared
/// `Bytes` header and the allocator's rounding of the key, header and value.
/// The same constant applies to every store (see `docs/benchmarks-memory.md`).
pub const ENTRY_OVERHEAD: u64 = 160;

/// The bytes charged to the budget for an entry.
pub fn entry_size(key: &str, value_len: usize) -> u64 {
    key.len() as u64 + value_len as u64 + ENTRY_OVERHEAD
}

/// Which of a group's two caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// Keys this node owns, filled by its loader.
    Main,
    /// Keys owned by other nodes, kept because they are popular here.
    Hot,
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// A value.
    Value(Bytes),
    /// The source said the key does not exist (negative caching).
    NotFound,
}

impl Cached {
    /// Length charged for the payload.
    pub fn len(&self) -> usize {
        match self {
            Cached::Value(v) => v.len(),
            Cached::NotFound => 0,
        }
    }

    /// True for an empty value or a negative entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The payload.
    pub data: Cached,
    /// When the entry stops being served; `None` for never.
    pub expires_at: Option<Instant>,
}

impl Entry {
    /// An entry holding `value` that never expires.
    pub fn value(value: Bytes) -> Self {
        Entry {
            data: Cached::Value(value),
            expires_at: None,
        }
    }

    /// True when the entry has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// The storage of a group's two caches, under one byte budget.
///
/// Implementations are internally synchronised (`&self` everywhere) and must
/// keep these promises under any interleaving of calls:
/// - the bytes charged to both caches together never exceed
///   [`Store::budget`];
/// - the hot cache never holds more than its share of the budget;
/// - an expired entry is never returned;
/// - a `get` that finds nothing allocates nothing, and a hit costs at most a
///   reference-count increment of the value.
pub trait Store: Send + Sync + 'static {
    /// Looks `key` up in `kind`, counting a get (and a hit when found).
    /// Entries expired at `now` are treated as absent (and may be dropped).
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry>;

    /// Looks `key` up in the hot cache, then (if absent there) in the main
    /// cache, counting gets and hits as two [`get`](Store::get) calls would:
    /// the group's hit path. `now` is the clock, which a store may read only
    /// when it finds an entry that expires. The default reads it and makes
    /// the two calls; a store that keeps both caches of a key together can
    /// answer with one lookup.
    fn get_hot_then_main(&self, key: &str, now: &dyn Fn() -> Instant) -> Option<Entry> {
        let now = now();
        self.get(CacheKind::Hot, key, now)
            .or_else(|| self.get(CacheKind::Main, key, now))
    }

    /// Inserts or replaces `key` in `kind`, evicting least valuable entries
    /// as needed to stay within budget. An entry larger than the cache's
    /// share of the budget is not stored.
    fn insert(&self, kind: CacheKind, key: &str, entry: Entry);

    /// Removes `key` from both caches; true if anything was removed.
    fn remove(&self, key: &str) -> bool;

    /// The stats of one cache.
    fn stats(&self, kind: CacheKind) -> CacheStats;

    /// The byte budget shared by both caches.
    fn budget(&self) -> u64;

    /// True if an entry of `size` bytes (as [`entry_size`] charges it) would
    /// fit in `kind` right now without evicting anything: free room, which
    /// a promotion policy may fill at no cost to what is cached. A hint,
    /// read without locks: a concurrent insert may take the room first.
    /// The default says false (never a reason to insert).
    fn has_room(&self, kind: CacheKind, size: u64) -> bool {
        let _ = (kind, size);
        false
    }

    /// The most valuable live entries of `kind` (the ones the store would
    /// evict last), most valuable first, up to the first entry whose
    /// [`entry_size`] would take their total past `max_bytes`: what a
    /// leaving node hands to the keys' new owners. Negative entries are
    /// included (and count towards the bound); expired ones are not. A
    /// read: it counts no gets and changes no recency. The default returns
    /// none (a store that cannot enumerate hands nothing over).
    /// [`ShardedStore`] walks each shard in the reverse of its eviction
    /// order and interleaves the shards; [`MokaStore`] can only follow
    /// moka's iterator, in no order of value.
    fn hottest(&self, kind: CacheKind, max_bytes: u64, now: Instant) -> Vec<(String, Entry)> {
        let _ = (kind, max_bytes, now);
        Vec::new()
    }
}

/// Makes a value's `Bytes` use the shared (reference-counted) representation
/// now, so every later hit is a plain reference-count increment: a `Bytes`
/// made from a `Vec` is promoted lazily, and its first clone allocates.
pub(crate) fn share_value(entry: Entry) -> Entry {
    if let Cached::Value(v) = &entry.data {
        drop(v.clone());
    }
    entry
}
