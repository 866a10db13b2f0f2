//! `ShardedStore` with one shard checked against a plain reference (two
//! `VecDeque`s, linear scans) of each eviction policy, LRU and SIEVE, over
//! random operation sequences: every get result and every counter must
//! match exactly.
//!
//! Run: `cargo test -p cache-core --test store_model`

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use cache_core::CacheStats;
use cache_core::store::{CacheKind, Entry, Eviction, ShardedStore, Store, entry_size};
use proptest::prelude::*;
use tokio::time::Instant;

/// One entry of the model: key, charged size, payload, SIEVE's visited mark.
type Item = (String, u64, Entry, bool);

/// The reference: the documented budget rule written as directly as
/// possible. Index 0 is the main cache, 1 the hot cache; front = most recent.
struct Model {
    eviction: Eviction,
    /// SIEVE's hand per lane: the key where the next victim search starts
    /// (`None`: at the back).
    hand: [Option<String>; 2],
    budget: u64,
    frac: f64,
    hot_cap: u64,
    lanes: [VecDeque<Item>; 2],
    stats: [CacheStats; 2],
    /// Bytes reserved by both caches (an entry is reserved before it is
    /// linked, as in the store).
    used: u64,
    /// Bytes reserved by the hot cache.
    hot_used: u64,
}

fn lane(kind: CacheKind) -> usize {
    match kind {
        CacheKind::Main => 0,
        CacheKind::Hot => 1,
    }
}

impl Model {
    fn new(budget: u64, frac: f64, eviction: Eviction) -> Self {
        Model {
            eviction,
            hand: [None, None],
            budget,
            frac,
            hot_cap: ((budget as f64) * frac).floor() as u64,
            lanes: [VecDeque::new(), VecDeque::new()],
            stats: [CacheStats::default(); 2],
            used: 0,
            hot_used: 0,
        }
    }

    fn take(&mut self, l: usize, pos: usize) -> Item {
        if self.hand[l].as_deref() == Some(self.lanes[l][pos].0.as_str()) {
            // The hand moves on towards the front.
            self.hand[l] = pos.checked_sub(1).map(|p| self.lanes[l][p].0.clone());
        }
        let item = self.lanes[l].remove(pos).unwrap();
        self.used -= item.1;
        if l == 1 {
            self.hot_used -= item.1;
        }
        self.stats[l].bytes -= item.1;
        self.stats[l].items -= 1;
        item
    }

    fn remove_key(&mut self, l: usize, key: &str) -> bool {
        match self.lanes[l].iter().position(|(k, ..)| k == key) {
            Some(pos) => {
                self.take(l, pos);
                true
            }
            None => false,
        }
    }

    fn evict(&mut self, l: usize) -> bool {
        if self.lanes[l].is_empty() {
            return false;
        }
        let last = self.lanes[l].len() - 1;
        let victim = match self.eviction {
            Eviction::Lru => last,
            Eviction::Sieve => {
                let lane = &mut self.lanes[l];
                let mut pos = match &self.hand[l] {
                    Some(key) => lane.iter().position(|(k, ..)| k == key).unwrap(),
                    None => last,
                };
                while lane[pos].3 {
                    lane[pos].3 = false;
                    pos = pos.checked_sub(1).unwrap_or(last);
                }
                self.hand[l] = Some(lane[pos].0.clone());
                pos
            }
        };
        self.take(l, victim);
        self.stats[l].evictions += 1;
        true
    }

    fn insert(&mut self, kind: CacheKind, key: &str, entry: Entry) {
        let l = lane(kind);
        let size = entry_size(key, entry.data.len());
        self.remove_key(l, key);
        let cap = if l == 1 { self.hot_cap } else { self.budget };
        if size > cap {
            return;
        }
        if l == 1 {
            while self.hot_used + size > self.hot_cap {
                assert!(self.evict(1));
            }
            self.hot_used += size;
        }
        while self.used + size > self.budget {
            let victim = if self.hot_used as f64 > self.frac * self.used as f64 {
                1
            } else {
                0
            };
            assert!(self.evict(victim) || self.evict(1 - victim));
        }
        self.used += size;
        self.lanes[l].push_front((key.to_string(), size, entry, false));
        self.stats[l].bytes += size;
        self.stats[l].items += 1;
    }

    fn get(&mut self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let l = lane(kind);
        self.stats[l].gets += 1;
        let pos = self.lanes[l].iter().position(|(k, ..)| k == key)?;
        if self.lanes[l][pos].2.is_expired(now) {
            self.take(l, pos);
            return None;
        }
        let entry = self.lanes[l][pos].2.clone();
        match self.eviction {
            Eviction::Lru => {
                let item = self.lanes[l].remove(pos).unwrap();
                self.lanes[l].push_front(item);
            }
            Eviction::Sieve => self.lanes[l][pos].3 = true,
        }
        self.stats[l].hits += 1;
        Some(entry)
    }

    fn remove(&mut self, key: &str) -> bool {
        let main = self.remove_key(0, key);
        let hot = self.remove_key(1, key);
        main || hot
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        hot: bool,
        key: u8,
        len: usize,
        ttl: Option<u64>,
    },
    Get {
        hot: bool,
        key: u8,
    },
    Remove {
        key: u8,
    },
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0..12u8, 0..300usize, proptest::option::of(1..20u64))
            .prop_map(|(hot, key, len, ttl)| Op::Insert { hot, key, len, ttl }),
        4 => (any::<bool>(), 0..12u8).prop_map(|(hot, key)| Op::Get { hot, key }),
        1 => (0..12u8).prop_map(|key| Op::Remove { key }),
        1 => (0..5u64).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn kind(hot: bool) -> CacheKind {
    if hot { CacheKind::Hot } else { CacheKind::Main }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A one-shard ShardedStore behaves exactly like the reference of its
    /// eviction policy: same get results, same bytes/items/gets/hits/
    /// evictions after every step.
    #[test]
    fn lru_store_matches_model(
        sieve in any::<bool>(),
        budget in 150..2_000u64,
        frac in prop_oneof![Just(0.0), Just(0.125), Just(0.25), Just(0.5), Just(1.0)],
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let eviction = if sieve { Eviction::Sieve } else { Eviction::Lru };
        let store = ShardedStore::with_shards(budget, frac, 1).with_eviction(eviction);
        let mut model = Model::new(budget, frac, eviction);
        prop_assert_eq!(store.hot_cap(), model.hot_cap);
        let t0 = Instant::now();
        let mut now = t0;
        for op in ops {
            match op {
                Op::Insert { hot, key, len, ttl } => {
                    let key = format!("key-{key}");
                    let entry = Entry {
                        data: cache_core::store::Cached::Value(Bytes::from(vec![len as u8; len])),
                        expires_at: ttl.map(|s| now + Duration::from_secs(s)),
                    };
                    store.insert(kind(hot), &key, entry.clone());
                    model.insert(kind(hot), &key, entry);
                }
                Op::Get { hot, key } => {
                    let key = format!("key-{key}");
                    prop_assert_eq!(store.get(kind(hot), &key, now), model.get(kind(hot), &key, now));
                }
                Op::Remove { key } => {
                    let key = format!("key-{key}");
                    prop_assert_eq!(store.remove(&key), model.remove(&key));
                }
                Op::Advance { secs } => now += Duration::from_secs(secs),
            }
            prop_assert_eq!(store.stats(CacheKind::Main), model.stats[0]);
            prop_assert_eq!(store.stats(CacheKind::Hot), model.stats[1]);
            prop_assert_eq!(store.charged_bytes(), model.used);
            prop_assert!(store.charged_bytes() <= budget);
        }
    }
}
