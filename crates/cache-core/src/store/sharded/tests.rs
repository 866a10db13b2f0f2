use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::{Eviction, ShardedStore};
use crate::store::{CacheKind, Cached, ENTRY_OVERHEAD, Entry, Store, entry_size};

const MAIN: CacheKind = CacheKind::Main;
const HOT: CacheKind = CacheKind::Hot;

/// An entry whose charge under `key` is exactly `size` bytes.
fn sized(key: &str, size: u64) -> Entry {
    let len = size - key.len() as u64 - ENTRY_OVERHEAD;
    Entry::value(Bytes::from(vec![b'x'; len as usize]))
}

fn keys(store: &ShardedStore, kind: CacheKind) -> Vec<String> {
    store.keys_mru(0, kind)
}

/// Under LRU a get moves an entry to the front, and the least recently used
/// entry is the one evicted when the budget is full.
#[test]
fn lru_order_and_eviction() {
    let s = ShardedStore::with_shards(3000, 0.0, 1).with_eviction(Eviction::Lru);
    for k in ["a", "b", "c"] {
        s.insert(MAIN, k, sized(k, 1000));
    }
    assert_eq!(keys(&s, MAIN), ["c", "b", "a"]);
    assert!(s.get(MAIN, "a", Instant::now()).is_some());
    assert_eq!(keys(&s, MAIN), ["a", "c", "b"]);
    s.insert(MAIN, "d", sized("d", 1000));
    assert_eq!(keys(&s, MAIN), ["d", "a", "c"]);
    assert!(s.get(MAIN, "b", Instant::now()).is_none());
    let st = s.stats(MAIN);
    assert_eq!((st.bytes, st.items, st.evictions), (3000, 3, 1));
    assert_eq!(s.charged_bytes(), 3000);
}

/// Under SIEVE (the default) a get only marks an entry: the list stays in
/// insertion order, and the hand spares marked entries (clearing their
/// marks) and evicts the oldest unmarked one, then moves on from there.
#[test]
fn sieve_marks_and_evicts() {
    let s = ShardedStore::with_shards(3000, 0.0, 1);
    for k in ["a", "b", "c"] {
        s.insert(MAIN, k, sized(k, 1000));
    }
    assert!(s.get(MAIN, "a", Instant::now()).is_some());
    assert_eq!(keys(&s, MAIN), ["c", "b", "a"], "a hit does not move");
    // "a" is marked: the hand clears it and evicts "b".
    s.insert(MAIN, "d", sized("d", 1000));
    assert_eq!(keys(&s, MAIN), ["d", "c", "a"]);
    // The hand went on from "b" towards the front: "c" is next, not "a".
    s.insert(MAIN, "e", sized("e", 1000));
    assert_eq!(keys(&s, MAIN), ["e", "d", "a"]);
    // Then "d" (the hand keeps walking forward).
    s.insert(MAIN, "f", sized("f", 1000));
    assert_eq!(keys(&s, MAIN), ["f", "e", "a"]);
    let st = s.stats(MAIN);
    assert_eq!((st.items, st.evictions), (3, 3));
}

/// Replacing a key charges exactly the new size, and at a full budget a
/// same-size replacement evicts nothing.
#[test]
fn replacement_accounting() {
    let s = ShardedStore::with_shards(3500, 0.0, 1);
    s.insert(MAIN, "a", sized("a", 1000));
    s.insert(MAIN, "b", sized("b", 1000));
    s.insert(MAIN, "a", sized("a", 1500));
    assert_eq!(s.stats(MAIN).bytes, 2500);
    assert_eq!(s.stats(MAIN).items, 2);
    s.insert(MAIN, "c", sized("c", 1000));
    assert_eq!(s.charged_bytes(), 3500);
    s.insert(MAIN, "c", sized("c", 1000));
    assert_eq!(keys(&s, MAIN), ["c", "a", "b"]);
    assert_eq!(s.stats(MAIN).evictions, 0);
    s.insert(MAIN, "a", sized("a", 800));
    let st = s.stats(MAIN);
    assert_eq!((st.bytes, st.items), (2800, 3));
    assert_eq!(s.charged_bytes(), 2800);
    let got = s.get(MAIN, "a", Instant::now()).unwrap();
    assert_eq!(got.data.len(), 800 - 1 - ENTRY_OVERHEAD as usize);
}

/// An entry is served before its expiry, never at or after it, and is
/// dropped (bytes released) when met expired.
#[test]
fn expired_entries_are_dropped() {
    let s = ShardedStore::with_shards(10_000, 0.0, 1);
    let t0 = Instant::now();
    let mut e = sized("k", 1000);
    e.expires_at = Some(t0 + Duration::from_secs(10));
    s.insert(MAIN, "k", e.clone());
    assert_eq!(s.get(MAIN, "k", t0 + Duration::from_secs(9)), Some(e));
    assert_eq!(s.get(MAIN, "k", t0 + Duration::from_secs(10)), None);
    let st = s.stats(MAIN);
    assert_eq!((st.bytes, st.items, st.gets, st.hits), (0, 0, 2, 1));
    assert_eq!(st.evictions, 0);
    assert_eq!(s.charged_bytes(), 0);
}

/// The hot cache is capped at `hot_fraction * budget`; its own LRU entry is
/// evicted first, and a hot entry larger than the cap is not stored.
#[test]
fn hot_cache_is_capped() {
    let s = ShardedStore::with_shards(10_000, 0.25, 1);
    assert_eq!(s.hot_cap(), 2500);
    for k in ["h1", "h2", "h3"] {
        s.insert(HOT, k, sized(k, 1000));
    }
    assert_eq!(keys(&s, HOT), ["h3", "h2"]);
    let st = s.stats(HOT);
    assert_eq!((st.bytes, st.items, st.evictions), (2000, 2, 1));
    s.insert(HOT, "big", sized("big", 2510));
    assert!(s.get(HOT, "big", Instant::now()).is_none());
    assert_eq!(s.stats(HOT).bytes, 2000);
    s.insert(HOT, "fit", sized("fit", 1500));
    assert_eq!(keys(&s, HOT), ["fit", "h3"]);
    assert_eq!(s.stats(MAIN).bytes, 0);
}

/// `has_room` is true exactly when an insert would evict nothing: the hot
/// cache against both its cap and the total budget, the main cache against
/// the budget.
#[test]
fn has_room_means_no_eviction() {
    let s = ShardedStore::with_shards(4000, 0.5, 1);
    assert!(s.has_room(HOT, 2000));
    assert!(!s.has_room(HOT, 2001), "over the hot cap");
    assert!(s.has_room(MAIN, 4000));
    assert!(!s.has_room(MAIN, 4001));
    s.insert(HOT, "h1", sized("h1", 1500));
    assert!(s.has_room(HOT, 500));
    assert!(!s.has_room(HOT, 501));
    // Main fills the rest of the budget: no room for hot either.
    s.insert(MAIN, "m1", sized("m1", 2500));
    assert!(!s.has_room(HOT, 1));
    assert!(!s.has_room(MAIN, 1));
    let evictions = s.stats(HOT).evictions + s.stats(MAIN).evictions;
    assert_eq!(evictions, 0);
    // Where it said no, an insert does evict.
    s.insert(MAIN, "m2", sized("m2", 500));
    assert_eq!(s.stats(HOT).evictions + s.stats(MAIN).evictions, 1);
    assert!(!s.has_room(HOT, u64::MAX), "no overflow");
}

/// The main cache may use the whole budget while the hot cache is empty,
/// and a hot insert into a full store then evicts main entries.
#[test]
fn main_uses_whole_budget_when_hot_is_empty() {
    let s = ShardedStore::with_shards(8000, 0.25, 1);
    for i in 0..8 {
        let k = format!("m{i}");
        s.insert(MAIN, &k, sized(&k, 1000));
    }
    assert_eq!(s.stats(MAIN).bytes, 8000);
    s.insert(HOT, "h1", sized("h1", 1000));
    s.insert(HOT, "h2", sized("h2", 1000));
    assert_eq!(s.stats(MAIN).items, 6);
    assert_eq!(s.stats(MAIN).evictions, 2);
    assert!(s.get(MAIN, "m0", Instant::now()).is_none());
    assert!(s.get(MAIN, "m1", Instant::now()).is_none());
    // Hot is at its cap (2000 = 0.25 * 8000): main pressure evicts main.
    s.insert(MAIN, "m8", sized("m8", 1000));
    assert_eq!(s.stats(HOT).items, 2);
    assert_eq!(s.stats(MAIN).evictions, 3);
    assert_eq!(s.charged_bytes(), 8000);
}

/// When the total is full and the hot cache holds more than its share of
/// the bytes in use, the hot cache gives up its LRU entry.
#[test]
fn hot_over_its_share_is_evicted_first() {
    let s = ShardedStore::with_shards(8000, 0.25, 1);
    s.insert(HOT, "h1", sized("h1", 1000));
    s.insert(HOT, "h2", sized("h2", 1000));
    for i in 0..4 {
        let k = format!("m{i}");
        s.insert(MAIN, &k, sized(&k, 1000));
    }
    s.insert(MAIN, "big", sized("big", 1500));
    assert_eq!(s.charged_bytes(), 7500);
    // 7500 + 1000 > 8000 and hot 2000 > 0.25 * 7500: the hot LRU entry goes.
    s.insert(MAIN, "m4", sized("m4", 1000));
    assert_eq!(keys(&s, HOT), ["h2"]);
    assert_eq!(s.stats(HOT).evictions, 1);
    assert_eq!(s.stats(MAIN).evictions, 0);
    assert_eq!(s.charged_bytes(), 7500);
}

/// `remove` drops the key from both caches and reports whether it found it.
#[test]
fn remove_from_both_caches() {
    let s = ShardedStore::new(100_000, 0.5);
    s.insert(MAIN, "k", sized("k", 1000));
    s.insert(HOT, "k", sized("k", 1200));
    s.insert(MAIN, "other", sized("other", 1000));
    assert_eq!(s.charged_bytes(), 3200);
    assert!(s.remove("k"));
    assert!(s.get(MAIN, "k", Instant::now()).is_none());
    assert!(s.get(HOT, "k", Instant::now()).is_none());
    assert!(!s.remove("k"));
    assert_eq!((s.stats(MAIN).bytes, s.stats(HOT).bytes), (1000, 0));
    assert_eq!((s.stats(MAIN).items, s.stats(HOT).items), (1, 0));
    assert_eq!(s.charged_bytes(), 1000);
    assert_eq!(s.stats(MAIN).evictions + s.stats(HOT).evictions, 0);
}

/// Gets, hits, items and bytes are counted exactly per cache.
#[test]
fn stats_are_exact() {
    let s = ShardedStore::new(1 << 20, 0.125);
    let now = Instant::now();
    for i in 0..10 {
        let k = format!("k{i}");
        s.insert(MAIN, &k, Entry::value(Bytes::from(vec![0; i])));
    }
    s.insert(HOT, "h", Entry::value(Bytes::from_static(b"hot")));
    for i in 0..20 {
        let _ = s.get(MAIN, &format!("k{i}"), now);
    }
    let _ = s.get(HOT, "h", now);
    let _ = s.get(HOT, "k1", now);
    let expect_bytes: u64 = (0..10).map(|i| entry_size(&format!("k{i}"), i)).sum();
    let m = s.stats(MAIN);
    assert_eq!(
        (m.gets, m.hits, m.items, m.bytes, m.evictions),
        (20, 10, 10, expect_bytes, 0)
    );
    let h = s.stats(HOT);
    let hot_bytes = entry_size("h", 3);
    assert_eq!(
        (h.gets, h.hits, h.items, h.bytes, h.evictions),
        (2, 1, 1, hot_bytes, 0)
    );
    assert_eq!(s.charged_bytes(), expect_bytes + hot_bytes);
}

/// A value larger than the budget is not stored, and it also removes the
/// key's older value so the stale value is not served.
#[test]
fn oversized_entry_is_not_stored() {
    let s = ShardedStore::with_shards(5000, 0.0, 1);
    s.insert(MAIN, "k", sized("k", 1000));
    s.insert(MAIN, "k", sized("k", 5010));
    assert!(s.get(MAIN, "k", Instant::now()).is_none());
    assert_eq!(s.charged_bytes(), 0);
    s.insert(HOT, "k", sized("k", 1000));
    assert_eq!(s.charged_bytes(), 0, "hot_fraction 0 means no hot cache");
}

/// With many shards one entry may still take the whole budget: victims are
/// taken from every shard until it fits.
#[test]
fn one_entry_may_take_the_whole_sharded_budget() {
    let s = ShardedStore::with_shards(100_000, 0.125, 16);
    for i in 0..100 {
        let k = format!("key-{i:03}");
        s.insert(MAIN, &k, sized(&k, 1000));
    }
    assert_eq!(s.charged_bytes(), 100_000);
    s.insert(MAIN, "whole", sized("whole", 100_000));
    assert_eq!(s.stats(MAIN).items, 1);
    assert_eq!(s.stats(MAIN).evictions, 100);
    assert_eq!(s.charged_bytes(), 100_000);
    assert!(s.get(MAIN, "whole", Instant::now()).is_some());
}

/// Negative entries are charged key + overhead and returned as NotFound.
#[test]
fn negative_entries() {
    let s = ShardedStore::new(1000, 0.125);
    let e = Entry {
        data: Cached::NotFound,
        expires_at: None,
    };
    s.insert(MAIN, "missing", e.clone());
    assert_eq!(s.get(MAIN, "missing", Instant::now()), Some(e));
    assert_eq!(s.charged_bytes(), 7 + ENTRY_OVERHEAD);
}

/// Shard counts are rounded up to a power of two and bounded.
#[test]
fn shard_count_is_a_bounded_power_of_two() {
    assert_eq!(ShardedStore::with_shards(1, 0.1, 0).shard_count(), 1);
    assert_eq!(ShardedStore::with_shards(1, 0.1, 5).shard_count(), 8);
    assert_eq!(
        ShardedStore::with_shards(1, 0.1, 1 << 20).shard_count(),
        1024
    );
    assert_eq!(ShardedStore::new(1000, f64::NAN).hot_cap(), 0);
    assert_eq!(ShardedStore::new(1000, 7.0).hot_cap(), 1000);
}
