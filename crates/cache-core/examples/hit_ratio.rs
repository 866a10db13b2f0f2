//! Hit ratio of `ShardedStore` and `MokaStore` on synthetic traces, printed as
//! a table: zipf (s = 0.9 and 1.1) over 100k keys, and zipf mixed with long
//! sequential scans of keys never seen again. The cache holds 10% of the
//! keyspace. Each request is a get; a miss inserts the key (as a group's
//! load would). Seeds are fixed, so runs are repeatable.
//!
//! Run: `cargo run --release -p cache-core --example hit_ratio`

use std::fmt::Write;

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, Eviction, MokaStore, ShardedStore, Store, entry_size};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use tokio::time::Instant;

/// Distinct keys of the zipf part.
const KEYSPACE: usize = 100_000;
/// Requests per trace.
const REQUESTS: usize = 1_000_000;
/// Value length of every entry (all entries weigh the same).
const VALUE_LEN: usize = 100;

/// One request: a key of the zipf keyspace (by rank) or a cold scan key.
#[derive(Clone, Copy)]
enum Req {
    Zipf(usize),
    Cold(usize),
}

fn zipf_trace(s: f64, seed: u64) -> Vec<Req> {
    let mut rng = StdRng::seed_from_u64(seed);
    let zipf = Zipf::new(KEYSPACE as f64, s).expect("valid zipf parameters");
    (0..REQUESTS)
        .map(|_| Req::Zipf(zipf.sample(&mut rng) as usize - 1))
        .collect()
}

/// Zipf(0.9) requests with, every `period` requests, a scan of `scan_len`
/// cold keys read once each, in order.
fn scan_mixed_trace(period: usize, scan_len: usize, seed: u64) -> Vec<Req> {
    let mut rng = StdRng::seed_from_u64(seed);
    let zipf = Zipf::new(KEYSPACE as f64, 0.9).expect("valid zipf parameters");
    let mut out = Vec::with_capacity(REQUESTS);
    let mut cold = 0;
    while out.len() < REQUESTS {
        for _ in 0..period {
            out.push(Req::Zipf(zipf.sample(&mut rng) as usize - 1));
        }
        for _ in 0..scan_len {
            out.push(Req::Cold(cold));
            cold += 1;
        }
    }
    out.truncate(REQUESTS);
    out
}

/// Replays `trace` (get, insert on miss) and returns the hit ratio of all
/// requests and of the zipf requests alone.
fn replay(store: &dyn Store, trace: &[Req], zipf_keys: &[String], perm: &[usize]) -> (f64, f64) {
    let now = Instant::now();
    let value = Bytes::from(vec![0u8; VALUE_LEN]);
    let (mut hits, mut zipf_reqs, mut zipf_hits) = (0u64, 0u64, 0u64);
    let mut cold_key = String::new();
    for req in trace {
        let key: &str = match *req {
            Req::Zipf(rank) => {
                zipf_reqs += 1;
                &zipf_keys[perm[rank]]
            }
            Req::Cold(i) => {
                cold_key.clear();
                let _ = write!(cold_key, "cld-{i:07}");
                &cold_key
            }
        };
        if store.get(CacheKind::Main, key, now).is_some() {
            hits += 1;
            if let Req::Zipf(_) = req {
                zipf_hits += 1;
            }
        } else {
            store.insert(CacheKind::Main, key, Entry::value(value.clone()));
        }
    }
    (
        hits as f64 / trace.len() as f64,
        zipf_hits as f64 / zipf_reqs.max(1) as f64,
    )
}

fn main() {
    // Keys are named so that both kinds weigh the same (11 bytes).
    let zipf_keys: Vec<String> = (0..KEYSPACE).map(|i| format!("key-{i:07}")).collect();
    // Popularity rank -> key, shuffled so popular keys are not neighbours.
    let mut perm: Vec<usize> = (0..KEYSPACE).collect();
    let mut rng = StdRng::seed_from_u64(7);
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let entry = entry_size(&zipf_keys[0], VALUE_LEN);
    let budget = (KEYSPACE as u64 / 10) * entry;

    let traces = [
        ("zipf s=0.9", zipf_trace(0.9, 1)),
        ("zipf s=1.1", zipf_trace(1.1, 2)),
        ("zipf 0.9 + scans", scan_mixed_trace(20_000, 20_000, 3)),
    ];
    println!(
        "budget {budget} bytes = {} entries of {entry} bytes ({}% of {KEYSPACE} keys); {REQUESTS} requests per trace",
        budget / entry,
        100 * (budget / entry) as usize / KEYSPACE
    );
    println!("scans: every 20000 zipf requests, 20000 cold keys read once (50% of requests)");
    println!();
    println!(
        "| trace | hot_fraction | ShardedStore LRU all | LRU zipf part | ShardedStore SIEVE all | SIEVE zipf part | MokaStore all | MokaStore zipf part |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, trace) in &traces {
        for frac in [0.0, 0.125] {
            let lru = ShardedStore::new(budget, frac).with_eviction(Eviction::Lru);
            let sieve = ShardedStore::new(budget, frac).with_eviction(Eviction::Sieve);
            let moka = MokaStore::new(budget, frac);
            let (la, lz) = replay(&lru, trace, &zipf_keys, &perm);
            let (sa, sz) = replay(&sieve, trace, &zipf_keys, &perm);
            let (ma, mz) = replay(&moka, trace, &zipf_keys, &perm);
            println!(
                "| {name} | {frac} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
                la * 100.0,
                lz * 100.0,
                sa * 100.0,
                sz * 100.0,
                ma * 100.0,
                mz * 100.0
            );
        }
    }
}
