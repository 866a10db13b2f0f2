use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::MokaStore;
use crate::store::{CacheKind, ENTRY_OVERHEAD, Entry, Store, entry_size};

const MAIN: CacheKind = CacheKind::Main;
const HOT: CacheKind = CacheKind::Hot;

/// An entry whose charge under `key` is exactly `size` bytes.
fn sized(key: &str, size: u64) -> Entry {
    let len = size - key.len() as u64 - ENTRY_OVERHEAD;
    Entry::value(Bytes::from(vec![b'x'; len as usize]))
}

/// The budget is split: the hot cache gets its fraction, main the rest.
#[test]
fn budget_is_split_between_caches() {
    let s = MokaStore::new(10_000, 0.25);
    assert_eq!(s.capacity(HOT), 2500);
    assert_eq!(s.capacity(MAIN), 7500);
    assert_eq!(s.budget(), 10_000);
    let none = MokaStore::new(10_000, f64::NAN);
    assert_eq!((none.capacity(HOT), none.capacity(MAIN)), (0, 10_000));
}

/// Values are kept per cache; `remove` drops the key from both.
#[test]
fn insert_get_remove() {
    let s = MokaStore::new(1 << 20, 0.5);
    let now = Instant::now();
    s.insert(MAIN, "k", sized("k", 1000));
    s.insert(HOT, "k", sized("k", 1200));
    assert_eq!(s.get(MAIN, "k", now), Some(sized("k", 1000)));
    assert_eq!(s.get(HOT, "k", now), Some(sized("k", 1200)));
    assert!(s.remove("k"));
    assert!(!s.remove("k"));
    assert_eq!(s.get(MAIN, "k", now), None);
    assert_eq!(s.get(HOT, "k", now), None);
    s.run_pending_tasks();
    assert_eq!(s.charged_bytes(), 0);
    assert_eq!((s.stats(MAIN).items, s.stats(HOT).items), (0, 0));
}

/// An entry is not returned at or after its expiry, and its bytes are
/// released once dropped.
#[test]
fn expired_entries_are_not_returned() {
    let s = MokaStore::new(1 << 20, 0.125);
    let t0 = Instant::now();
    let mut e = sized("k", 1000);
    e.expires_at = Some(t0 + Duration::from_secs(60));
    s.insert(MAIN, "k", e.clone());
    assert_eq!(s.get(MAIN, "k", t0 + Duration::from_secs(59)), Some(e));
    assert_eq!(s.get(MAIN, "k", t0 + Duration::from_secs(60)), None);
    s.run_pending_tasks();
    let st = s.stats(MAIN);
    assert_eq!((st.gets, st.hits, st.items, st.bytes), (2, 1, 0, 0));
}

/// Replacing a key charges the new size only.
#[test]
fn replacement_accounting() {
    let s = MokaStore::new(1 << 20, 0.125);
    s.insert(MAIN, "k", sized("k", 1000));
    s.insert(MAIN, "k", sized("k", 1500));
    s.run_pending_tasks();
    let st = s.stats(MAIN);
    assert_eq!((st.bytes, st.items, st.evictions), (1500, 1, 0));
}

/// An entry larger than its cache's share is not stored and removes the
/// key's older value.
#[test]
fn oversized_entry_is_not_stored() {
    let s = MokaStore::new(10_000, 0.25);
    s.insert(HOT, "k", sized("k", 1000));
    s.insert(HOT, "k", sized("k", 2510));
    assert_eq!(s.get(HOT, "k", Instant::now()), None);
    s.insert(MAIN, "m", sized("m", 7510));
    assert_eq!(s.get(MAIN, "m", Instant::now()), None);
    s.run_pending_tasks();
    assert_eq!(s.charged_bytes(), 0);
}

/// Gets and hits are counted exactly.
#[test]
fn stats_are_exact() {
    let s = MokaStore::new(1 << 20, 0.125);
    let now = Instant::now();
    for i in 0..10 {
        s.insert(
            MAIN,
            &format!("k{i}"),
            Entry::value(Bytes::from(vec![0; i])),
        );
    }
    for i in 0..20 {
        let _ = s.get(MAIN, &format!("k{i}"), now);
    }
    s.run_pending_tasks();
    let m = s.stats(MAIN);
    let bytes: u64 = (0..10).map(|i| entry_size(&format!("k{i}"), i)).sum();
    assert_eq!(
        (m.gets, m.hits, m.items, m.bytes, m.evictions),
        (20, 10, 10, bytes, 0)
    );
    assert_eq!(s.stats(HOT), Default::default());
}

/// With eager maintenance a single inserting thread never leaves a cache
/// more than one entry over its capacity, and evictions bring it back.
#[test]
fn eager_maintenance_bounds_the_overshoot() {
    let s = MokaStore::new(100_000, 0.125);
    let cap = s.capacity(MAIN);
    for i in 0..2_000 {
        let k = format!("key-{i}");
        s.insert(MAIN, &k, sized(&k, 1000));
        assert!(s.stats(MAIN).bytes <= cap, "after insert {i}");
    }
    assert!(s.peak_bytes().0 <= cap + 1000);
    assert!(s.stats(MAIN).evictions >= 2_000 - cap / 1000);
}

/// `has_room` compares the bytes each cache has accepted with its share.
#[test]
fn has_room_per_cache() {
    let s = MokaStore::new(10_000, 0.25);
    assert!(s.has_room(HOT, 2500));
    assert!(!s.has_room(HOT, 2501));
    s.insert(HOT, "h", sized("h", 2000));
    assert!(s.has_room(HOT, 500));
    assert!(!s.has_room(HOT, 501));
    assert!(s.has_room(MAIN, 7500), "the main share is separate");
    assert!(!s.has_room(MAIN, u64::MAX));
}

/// `hottest` lists the live entries of one cache (in moka's order), up to
/// the first that would pass the byte bound, skipping expired ones, and
/// counts no get.
#[test]
fn hottest_lists_live_entries_within_the_bound() {
    let s = MokaStore::new(1 << 20, 0.5);
    let t0 = Instant::now();
    for i in 0..10 {
        let k = format!("m{i}");
        let mut e = sized(&k, 1000);
        if i >= 8 {
            e.expires_at = Some(t0 + Duration::from_secs(5));
        }
        s.insert(MAIN, &k, e);
    }
    s.insert(HOT, "h", sized("h", 1000));
    let later = t0 + Duration::from_secs(5);
    let all = s.hottest(MAIN, u64::MAX, later);
    let mut keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    for (k, e) in &all {
        assert_eq!(*e, sized(k, 1000));
    }
    let bounded = s.hottest(MAIN, 3500, later);
    assert_eq!(bounded.len(), 3);
    assert!(s.hottest(MAIN, 999, later).is_empty());
    let hot = s.hottest(HOT, u64::MAX, later);
    assert_eq!(hot, [("h".to_string(), sized("h", 1000))]);
    assert_eq!((s.stats(MAIN).gets, s.stats(HOT).gets), (0, 0));
}
