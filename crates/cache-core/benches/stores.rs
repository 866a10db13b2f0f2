//! Throughput of the two stores: get hits (one key, 10k keys; 1 and 2
//! threads) and inserts that evict.
//!
//! Run: `cargo bench -p cache-core --bench stores -- --warm-up-time 1 --measurement-time 3`
//! (numbers and machine in `docs/benchmarks-stores.md`).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, Eviction, MokaStore, ShardedStore, Store, entry_size};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::time::Instant;

/// Keys preloaded for the hit benchmarks.
const KEYS: usize = 10_000;
/// Value length of every entry.
const VALUE_LEN: usize = 100;

fn key(i: usize) -> String {
    format!("key-{i:06}")
}

/// Each store under test, by name.
type Stores = Vec<(&'static str, Arc<dyn Store>)>;

fn stores(budget: u64) -> Stores {
    vec![
        (
            "sieve",
            Arc::new(ShardedStore::new(budget, 0.125).with_eviction(Eviction::Sieve))
                as Arc<dyn Store>,
        ),
        (
            "lru",
            Arc::new(ShardedStore::new(budget, 0.125).with_eviction(Eviction::Lru))
                as Arc<dyn Store>,
        ),
        (
            "moka",
            Arc::new(MokaStore::new(budget, 0.125)) as Arc<dyn Store>,
        ),
    ]
}

/// A store holding `n` keys (budget with ample room).
fn loaded(n: usize) -> (Stores, Vec<String>) {
    let keys: Vec<String> = (0..n).map(key).collect();
    let budget = 4 * n as u64 * entry_size(&keys[0], VALUE_LEN);
    let all = stores(budget);
    for (_, s) in &all {
        for k in &keys {
            // Each key its own buffer, as loaded values would be: a shared
            // buffer would make every hit bump one reference count.
            s.insert(
                CacheKind::Main,
                k,
                Entry::value(Bytes::from(vec![1u8; VALUE_LEN])),
            );
        }
    }
    (all, keys)
}

/// `threads` threads each doing `iters` hits over `keys` (each thread starts
/// at a different offset); returns the wall time of the slowest.
fn run_hits(
    store: &Arc<dyn Store>,
    keys: &Arc<Vec<String>>,
    threads: usize,
    iters: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let now = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(store);
            let keys = Arc::clone(keys);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let n = keys.len();
                let mut i = (t * n / threads.max(1)) % n;
                barrier.wait();
                let start = StdInstant::now();
                for _ in 0..iters {
                    let hit = store.get(CacheKind::Main, &keys[i], now);
                    black_box(hit.expect("preloaded key"));
                    i += 1;
                    if i == n {
                        i = 0;
                    }
                }
                start.elapsed()
            })
        })
        .collect();
    barrier.wait();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .max()
        .unwrap_or_default()
}

/// Get hits: one key and 10k keys, 1 and 2 threads. Throughput is in gets
/// per second summed over threads.
fn get_hits(c: &mut Criterion) {
    for (label, n) in [("1key", 1usize), ("10k_keys", KEYS)] {
        let (all, keys) = loaded(n);
        let keys = Arc::new(keys);
        for threads in [1usize, 2] {
            let mut group = c.benchmark_group(format!("get_hit_{label}_{threads}t"));
            group.throughput(Throughput::Elements(threads as u64));
            for (name, store) in &all {
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter_custom(|iters| run_hits(store, &keys, threads, iters));
                });
            }
            group.finish();
        }
    }
}

/// Inserts of new keys into a full store (each insert evicts about one
/// entry), 1 thread; `moka_lazy` is MokaStore without eager maintenance.
fn insert_evicting(c: &mut Criterion) {
    let keys: Vec<String> = (0..100_000).map(key).collect();
    let budget = 1_000 * entry_size(&keys[0], VALUE_LEN);
    let value = Bytes::from(vec![1u8; VALUE_LEN]);
    let mut group = c.benchmark_group("insert_evicting_1t");
    group.throughput(Throughput::Elements(1));
    let mut all = stores(budget);
    all.push((
        "moka_lazy",
        Arc::new(MokaStore::with_eager_maintenance(budget, 0.125, false)),
    ));
    for (name, store) in all {
        for k in &keys[..2_000] {
            store.insert(CacheKind::Main, k, Entry::value(value.clone()));
        }
        let mut i = 0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                store.insert(CacheKind::Main, &keys[i], Entry::value(value.clone()));
                i = (i + 1) % keys.len();
            });
        });
    }
    group.finish();
}

criterion_group!(benches, get_hits, insert_evicting);
criterion_main!(benches);
