//! [`Store::hottest`] on a [`ShardedStore`]: the value order is the reverse
//! of the eviction order (checked against the victims the shard really
//! picks, under random histories), the byte bound, expired entries, both
//! caches apart, the shards interleaved, and that walking changes nothing.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use tokio::time::Instant;

use crate::store::sharded::{Eviction, ShardedStore, hash_key, lane_of};
use crate::store::{CacheKind, Cached, ENTRY_OVERHEAD, Entry, Store, entry_size};

const MAIN: CacheKind = CacheKind::Main;
const HOT: CacheKind = CacheKind::Hot;
const BOTH: [Eviction; 2] = [Eviction::Lru, Eviction::Sieve];

/// An entry whose charge under `key` is exactly `size` bytes.
fn sized(key: &str, size: u64) -> Entry {
    let len = size - key.len() as u64 - ENTRY_OVERHEAD;
    Entry::value(Bytes::from(vec![b'x'; len as usize]))
}

fn one_shard(budget: u64, eviction: Eviction) -> ShardedStore {
    ShardedStore::with_shards(budget, 0.5, 1).with_eviction(eviction)
}

/// The keys of `hottest(kind, max_bytes)`, in order.
fn hottest_keys(s: &ShardedStore, kind: CacheKind, max_bytes: u64) -> Vec<String> {
    s.hottest(kind, max_bytes, Instant::now())
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Evicts every entry of `kind` from shard 0, one victim at a time (as
/// inserts would, with nothing else happening), returning the victims in
/// eviction order.
fn eviction_order(s: &ShardedStore, kind: CacheKind) -> Vec<String> {
    let mut victims = Vec::new();
    loop {
        let before: HashSet<String> = s.keys_mru(0, kind).into_iter().collect();
        if s.shards[0].write().pop_victim(lane_of(kind)).is_none() {
            return victims;
        }
        let after: HashSet<String> = s.keys_mru(0, kind).into_iter().collect();
        let gone: Vec<&String> = before.difference(&after).collect();
        assert_eq!(gone.len(), 1, "one victim per eviction");
        victims.push(gone[0].clone());
    }
}

/// The most recently used entry (LRU) and the visited one (SIEVE) come
/// first; under LRU the rest follow by recency, under SIEVE the unvisited
/// ones newest first.
#[test]
fn the_entry_touched_comes_first() {
    for eviction in BOTH {
        let s = one_shard(1 << 20, eviction);
        for k in ["a", "b", "c", "d"] {
            s.insert(MAIN, k, sized(k, 1000));
        }
        assert!(s.get(MAIN, "b", Instant::now()).is_some());
        assert_eq!(
            hottest_keys(&s, MAIN, u64::MAX),
            ["b", "d", "c", "a"],
            "{eviction:?}"
        );
    }
}

/// SIEVE after the hand has moved: the entries behind the hand (nearer the
/// tail: swept later) outrank those it is about to reach, visited ones
/// first; checked against the evictions that follow.
#[test]
fn sieve_order_follows_the_hand() {
    let s = ShardedStore::with_shards(4000, 0.0, 1);
    for k in ["a", "b", "c", "d"] {
        s.insert(MAIN, k, sized(k, 1000));
    }
    let now = Instant::now();
    for k in ["a", "c"] {
        assert!(s.get(MAIN, k, now).is_some());
    }
    // Full: "e" makes the hand clear "a", evict "b" and stop before "c".
    s.insert(MAIN, "e", sized("e", 1000));
    assert_eq!(s.keys_mru(0, MAIN), ["e", "d", "c", "a"]);
    assert!(s.get(MAIN, "e", now).is_some());
    // Behind the hand: "a" (cleared). Ahead, up to the head: "c" (visited),
    // "d", "e" (visited).
    let order = hottest_keys(&s, MAIN, u64::MAX);
    assert_eq!(order, ["e", "c", "a", "d"]);
    let mut evicted = eviction_order(&s, MAIN);
    evicted.reverse();
    assert_eq!(order, evicted);
}

/// Sizes are summed with `entry_size` and the walk stops before the entry
/// that would pass the bound (an exact fit is kept); a bound below the
/// first entry gives nothing.
#[test]
fn the_byte_bound_stops_the_walk() {
    for eviction in BOTH {
        let s = one_shard(1 << 20, eviction);
        for k in ["a", "b", "c"] {
            s.insert(MAIN, k, sized(k, 1000));
        }
        assert_eq!(hottest_keys(&s, MAIN, 3000), ["c", "b", "a"]);
        assert_eq!(hottest_keys(&s, MAIN, 2999), ["c", "b"]);
        assert_eq!(hottest_keys(&s, MAIN, 1000), ["c"]);
        assert!(hottest_keys(&s, MAIN, 999).is_empty());
        let sizes: u64 = s
            .hottest(MAIN, 2500, Instant::now())
            .iter()
            .map(|(k, e)| entry_size(k, e.data.len()))
            .sum();
        assert_eq!(sizes, 2000, "{eviction:?}");
    }
}

/// Expired entries are left out (and do not use up the bound), with their
/// expiry reported for the live ones; the expired entry stays in the store
/// (a read drops nothing).
#[test]
fn expired_entries_are_skipped() {
    let t0 = Instant::now();
    for eviction in BOTH {
        let s = one_shard(1 << 20, eviction);
        let at = |secs| Some(t0 + Duration::from_secs(secs));
        for (k, expires_at) in [("a", at(60)), ("b", at(10)), ("c", None)] {
            let entry = Entry {
                expires_at,
                ..sized(k, 1000)
            };
            s.insert(MAIN, k, entry);
        }
        let later = t0 + Duration::from_secs(10);
        let got = s.hottest(MAIN, 2000, later);
        let got: Vec<_> = got
            .iter()
            .map(|(k, e)| (k.as_str(), e.expires_at))
            .collect();
        assert_eq!(got, [("c", None), ("a", at(60))], "{eviction:?}");
        assert_eq!(s.stats(MAIN).items, 3);
    }
}

/// The main and hot caches are enumerated apart, negative entries included
/// (the group leaves them out).
#[test]
fn each_cache_apart() {
    for eviction in BOTH {
        let s = one_shard(1 << 20, eviction);
        s.insert(MAIN, "m1", sized("m1", 500));
        s.insert(HOT, "h1", sized("h1", 500));
        let negative = Entry {
            data: Cached::NotFound,
            expires_at: None,
        };
        s.insert(MAIN, "m2", negative);
        s.insert(HOT, "m1", sized("m1", 600));
        assert_eq!(hottest_keys(&s, MAIN, u64::MAX), ["m2", "m1"]);
        assert_eq!(hottest_keys(&s, HOT, u64::MAX), ["m1", "h1"]);
        let hot = s.hottest(HOT, u64::MAX, Instant::now());
        assert_eq!(hot[0].1, sized("m1", 600), "the hot copy, not main's");
    }
}

/// Walking counts no get or hit, and changes neither the LRU order nor
/// SIEVE's marks: the evictions afterwards are the same as without it.
#[test]
fn walking_changes_nothing() {
    for eviction in BOTH {
        let build = || {
            let s = one_shard(1 << 20, eviction);
            for k in ["a", "b", "c", "d"] {
                s.insert(MAIN, k, sized(k, 1000));
            }
            assert!(s.get(MAIN, "b", Instant::now()).is_some());
            s
        };
        let (walked, untouched) = (build(), build());
        let before = (walked.stats(MAIN), walked.stats(HOT));
        for _ in 0..3 {
            walked.hottest(MAIN, u64::MAX, Instant::now());
            walked.hottest(HOT, u64::MAX, Instant::now());
        }
        assert_eq!((walked.stats(MAIN), walked.stats(HOT)), before);
        assert_eq!(walked.keys_mru(0, MAIN), untouched.keys_mru(0, MAIN));
        assert_eq!(
            eviction_order(&walked, MAIN),
            eviction_order(&untouched, MAIN),
            "{eviction:?}"
        );
    }
}

/// With many shards the result takes one entry from each shard in turn (not
/// one shard's keys first), and each shard's entries keep their own order.
#[test]
fn shards_are_interleaved() {
    for eviction in BOTH {
        let s = ShardedStore::with_shards(1 << 30, 0.0, 8).with_eviction(eviction);
        let keys: Vec<String> = (0..400).map(|i| format!("key-{i}")).collect();
        for k in &keys {
            s.insert(MAIN, k, sized(k, 300));
        }
        let shard_of = |k: &str| s.shard_index(hash_key(k));
        let all = hottest_keys(&s, MAIN, u64::MAX);
        assert_eq!(all.len(), keys.len());
        // Every shard holds well over 8 of 400 keys: the first 8 rounds
        // visit the shards in order.
        let shards: Vec<usize> = all[..64].iter().map(|k| shard_of(k)).collect();
        let round_robin: Vec<usize> = (0..64).map(|i| i % 8).collect();
        assert_eq!(shards, round_robin, "{eviction:?}");
        for shard in 0..8 {
            let mine: Vec<&String> = all.iter().filter(|k| shard_of(k) == shard).collect();
            let own: Vec<String> = s.keys_mru(shard, MAIN);
            assert_eq!(mine, own.iter().collect::<Vec<_>>(), "shard {shard}");
        }
    }
}

/// What the store does to one shard's lane, for the histories below.
#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u16),
    Get(u8),
    Remove(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0u8..24, 0u16..800).prop_map(|(k, extra)| Op::Insert(k, extra)),
        3 => (0u8..24).prop_map(Op::Get),
        1 => (0u8..24).prop_map(Op::Remove),
    ];
    proptest::collection::vec(op, 1..120)
}

/// Plays `ops` on `s` (keys `k{n}`, entries of 200 + `extra` bytes).
fn play(s: &ShardedStore, ops: &[Op]) {
    let now = Instant::now();
    for op in ops {
        match *op {
            Op::Insert(k, extra) => {
                let key = format!("k{k}");
                s.insert(MAIN, &key, sized(&key, 200 + u64::from(extra)));
            }
            Op::Get(k) => {
                s.get(MAIN, &format!("k{k}"), now);
            }
            Op::Remove(k) => {
                s.remove(&format!("k{k}"));
            }
        }
    }
}

proptest! {
    /// After any history of inserts (evicting as the budget fills), hits
    /// and removals on one shard, the value order is exactly the reverse
    /// of the order in which the shard then evicts, under LRU and SIEVE.
    #[test]
    fn value_order_is_the_reverse_of_eviction_order(ops in ops()) {
        for eviction in BOTH {
            let s = one_shard(5_000, eviction);
            play(&s, &ops);
            let order = hottest_keys(&s, MAIN, u64::MAX);
            let mut evicted = eviction_order(&s, MAIN);
            evicted.reverse();
            prop_assert_eq!(order, evicted, "{:?}", eviction);
        }
    }

    /// With several shards and any bound, the result is the longest prefix
    /// of the unbounded result whose sizes fit in the bound.
    #[test]
    fn a_bound_keeps_the_longest_fitting_prefix(ops in ops(), max_bytes in 0u64..12_000) {
        for eviction in BOTH {
            let s = ShardedStore::with_shards(20_000, 0.0, 4).with_eviction(eviction);
            play(&s, &ops);
            let now = Instant::now();
            let all = s.hottest(MAIN, u64::MAX, now);
            let mut total = 0;
            let fitting = all
                .iter()
                .take_while(|(k, e)| {
                    total += entry_size(k, e.data.len());
                    total <= max_bytes
                })
                .count();
            prop_assert_eq!(s.hottest(MAIN, max_bytes, now), all[..fitting].to_vec());
        }
    }
}
