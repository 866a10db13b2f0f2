//! Concurrency models of the LRU store's insert / evict / budget path,
//! explored by shuttle. Run them with `scripts/models` (or `cargo test -p
//! cache-core --features shuttle --lib models::`; `./scripts/check` runs a
//! bounded number of schedules).
//!
//! **What is modelled.** The real [`ShardedStore`]: `insert` (remove the old
//! entry, reserve with the compare-and-swap loop, evict victims, link),
//! `remove`, SIEVE and LRU gets, the hot cap. Its budget counters and the
//! shards' byte mirrors are shuttle atomics and its shard locks shuttle
//! reader-writer locks (through `crate::sync`), so every atomic operation
//! and every lock is a point where shuttle may switch threads, including
//! each step of the reservation loop. A few threads run a few operations
//! each on a budget that holds about two entries, so nearly every insert
//! evicts or finds bytes that other inserts hold. Under the models a
//! reservation that finds no victim gives up at once instead of after 16
//! yields (`IDLE_RETRIES`), so that the give-up path is explored too.
//!
//! **What is not.** Shuttle runs one thread at a time with sequentially
//! consistent memory, so the `Acquire`/`Release` orderings are not checked;
//! the budget rests only on the atomicity of the read-modify-writes of one
//! counter, which holds under any ordering. Shuttle's reader-writer lock
//! stands in for `crossbeam_utils::sync::ShardedLock` (same exclusion, not
//! its per-thread slots). The SIEVE `visited` bits stay plain atomics (they
//! only choose victims). Expiry is not modelled.
//!
//! **What every execution must satisfy.** At random points while the
//! threads run, with every shard read-locked at once (the store never holds
//! two shard locks, so this cannot deadlock with it): the bytes of linked
//! entries are at most the bytes reserved (`used`), which are at most the
//! budget; likewise for the hot cache against `hot_used` and the hot cap.
//! Once every thread has finished: `used` and `hot_used` equal the bytes of
//! the linked entries, each shard's lock-free byte mirror equals its
//! shard's count, and the entries that gets find are ones that were
//! inserted under their keys and add up to those counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use shuttle::thread;
use tokio::time::Instant;

use super::{Eviction, ShardedStore, hash_key, lane_of};
use crate::store::{CacheKind, ENTRY_OVERHEAD, Entry, Store, entry_size};
use crate::sync::explore;

const MAIN: CacheKind = CacheKind::Main;
const HOT: CacheKind = CacheKind::Hot;

/// One operation of a modelled thread.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Insert an entry charged exactly this many bytes (the value's length
    /// tells later which insert a found entry came from).
    Insert(CacheKind, &'static str, u64),
    Remove(&'static str),
    Get(CacheKind, &'static str),
}

/// The bytes held and reserved, read at one instant.
#[derive(Debug)]
struct Audit {
    /// Bytes of linked entries per lane (`lane_of`).
    linked: [u64; 2],
    used: u64,
    hot_used: u64,
}

/// Read-locks every shard (in order), then reads the counters: while all
/// locks are held no entry is linked or unlinked, so `linked` is exact and
/// each counter read is one instant of that interval.
fn audit(store: &ShardedStore) -> Audit {
    let shards: Vec<_> = store.shards.iter().map(|cell| cell.read()).collect();
    let linked = [0, 1].map(|lane| shards.iter().map(|shard| shard.bytes(lane)).sum());
    let used = store.used.load(Ordering::Acquire);
    let hot_used = store.hot_used.load(Ordering::Acquire);
    drop(shards);
    Audit {
        linked,
        used,
        hot_used,
    }
}

/// The invariant that holds at every instant.
fn assert_within_budget(store: &ShardedStore, a: &Audit) {
    let [main, hot] = a.linked;
    assert!(
        main + hot <= a.used,
        "linked bytes exceed the reserved bytes: {a:?}"
    );
    assert!(
        a.used <= store.budget,
        "reserved bytes exceed the budget {}: {a:?}",
        store.budget
    );
    assert!(
        hot <= a.hot_used,
        "linked hot bytes exceed the reserved hot bytes: {a:?}"
    );
    assert!(
        a.hot_used <= store.hot_cap,
        "hot bytes exceed the hot cap {}: {a:?}",
        store.hot_cap
    );
}

/// The invariants once every operation has returned.
fn assert_quiescent(store: &ShardedStore, threads: &[Vec<Op>]) {
    let a = audit(store);
    assert_within_budget(store, &a);
    let [main, hot] = a.linked;
    assert_eq!(
        a.used,
        main + hot,
        "reserved bytes are not those linked: {a:?}"
    );
    assert_eq!(
        a.hot_used, hot,
        "reserved hot bytes are not those linked: {a:?}"
    );
    for (i, cell) in store.shards.iter().enumerate() {
        let shard = cell.read();
        for lane in 0..2 {
            assert_eq!(
                cell.bytes[lane].load(Ordering::Relaxed),
                shard.bytes(lane),
                "shard {i} lane {lane}: the byte mirror is stale"
            );
        }
    }
    let now = Instant::now();
    for kind in [MAIN, HOT] {
        let mut keys: Vec<_> = threads
            .iter()
            .flatten()
            .filter_map(|op| match *op {
                Op::Insert(k, key, _) if k == kind => Some(key),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found = 0;
        for key in keys {
            let Some(entry) = store.get(kind, key, now) else {
                continue;
            };
            let size = entry_size(key, entry.data.len());
            assert!(
                threads.iter().flatten().any(
                    |op| matches!(*op, Op::Insert(k, n, s) if k == kind && n == key && s == size)
                ),
                "{kind:?} {key}: found an entry of {size} bytes that was never inserted"
            );
            found += size;
        }
        assert_eq!(
            found,
            a.linked[lane_of(kind)],
            "{kind:?}: the entries found are not the bytes counted"
        );
    }
}

/// An entry whose charge under `key` is exactly `size` bytes.
fn sized(key: &str, size: u64) -> Entry {
    let len = size - key.len() as u64 - ENTRY_OVERHEAD;
    Entry::value(Bytes::from(vec![b'x'; len as usize]))
}

/// One execution: `threads` run their operations on `store` while the main
/// thread audits it three times, then the quiescent checks.
fn run_ops(store: ShardedStore, threads: &[Vec<Op>]) {
    let store = Arc::new(store);
    let handles: Vec<_> = threads
        .iter()
        .cloned()
        .map(|ops| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for op in ops {
                    match op {
                        Op::Insert(kind, key, size) => store.insert(kind, key, sized(key, size)),
                        Op::Remove(key) => {
                            store.remove(key);
                        }
                        Op::Get(kind, key) => {
                            store.get(kind, key, Instant::now());
                        }
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        assert_within_budget(&store, &audit(&store));
        thread::yield_now();
    }
    for handle in handles {
        handle.join().expect("a store thread panicked");
    }
    assert_quiescent(&store, threads);
}

/// Entry sizes: three sizes of one-byte keys.
const S: u64 = 171;
const M: u64 = 181;
const L: u64 = 191;

/// Room for two large entries and a little more; the hot cap (half) holds
/// one entry.
const BUDGET: u64 = 2 * L + 50;

/// Distinct keys over two shards, main and hot inserts racing for a budget
/// of about two entries, a remove and SIEVE hits: every insert evicts or
/// waits for bytes other inserts have reserved.
#[test]
fn inserts_and_evictions_keep_the_budget() {
    let shards = |keys: &[&str]| {
        let store = ShardedStore::with_shards(BUDGET, 0.5, 2);
        let mut seen: Vec<_> = keys
            .iter()
            .map(|k| store.shard_index(hash_key(k)))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    assert_eq!(
        shards(&["a", "b", "c", "d", "e"]),
        2,
        "the keys must span both shards"
    );
    explore(|| {
        run_ops(
            ShardedStore::with_shards(BUDGET, 0.5, 2),
            &[
                vec![
                    Op::Insert(MAIN, "a", S),
                    Op::Insert(MAIN, "b", L),
                    Op::Get(MAIN, "a"),
                ],
                vec![
                    Op::Insert(MAIN, "c", M),
                    Op::Insert(HOT, "d", S),
                    Op::Get(HOT, "d"),
                ],
                vec![
                    Op::Insert(HOT, "e", L),
                    Op::Remove("a"),
                    Op::Insert(MAIN, "e", M),
                ],
            ],
        )
    });
}

/// One key inserted at once by several threads with different sizes (the
/// link step replaces a concurrent insert's entry and releases its bytes),
/// removed meanwhile, and inserted in the hot cache too; exact LRU.
#[test]
fn same_key_races_keep_the_accounting() {
    explore(|| {
        run_ops(
            ShardedStore::with_shards(BUDGET, 0.5, 1).with_eviction(Eviction::Lru),
            &[
                vec![Op::Insert(MAIN, "k", S), Op::Insert(MAIN, "j", M)],
                vec![Op::Insert(MAIN, "k", L), Op::Get(MAIN, "k")],
                vec![
                    Op::Remove("k"),
                    Op::Insert(HOT, "k", M),
                    Op::Insert(MAIN, "k", M),
                ],
            ],
        )
    });
}

/// Three inserts at once into an empty store whose budget holds two: the
/// one that finds every byte reserved by the others and nothing linked to
/// evict gives up (the entry is not stored) and returns what it reserved,
/// including its hot reservation, instead of overrunning the budget.
#[test]
fn reservations_with_no_victim_give_up() {
    explore(|| {
        run_ops(
            ShardedStore::with_shards(2 * L, 0.5, 1),
            &[
                vec![Op::Insert(MAIN, "a", M)],
                vec![Op::Insert(MAIN, "b", S)],
                vec![Op::Insert(HOT, "c", S)],
            ],
        )
    });
}
