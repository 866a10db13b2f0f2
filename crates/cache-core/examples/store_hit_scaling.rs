//! Whether get hits scale across threads, measured in a way a busy machine
//! does not distort: each thread reads its own on-CPU time (Linux
//! `/proc/thread-self/schedstat`), so time spent descheduled by other jobs
//! is not counted. If CPU nanoseconds per get stay the same with 2 threads
//! as with 1, the threads do not slow each other down, and 2 free cores give
//! 2x the throughput; contention (shared cache lines, lock waits) shows up as
//! more CPU time per get. Wall-clock throughput is printed too.
//!
//! Run: `cargo run --release -p cache-core --example store_hit_scaling`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant as StdInstant;

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, MokaStore, ShardedStore, Store, entry_size};
use tokio::time::Instant;

/// Gets per thread.
const GETS: usize = 5_000_000;

/// This thread's time on a CPU so far, in nanoseconds (None off Linux).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `threads` threads of `GETS` hits each over `keys`; returns (CPU ns
/// per get averaged over threads, wall-clock gets per second in total).
fn run(store: &Arc<dyn Store>, keys: &Arc<Vec<String>>, threads: usize) -> (f64, f64) {
    let barrier = Arc::new(Barrier::new(threads));
    let start = StdInstant::now();
    let cpu: Vec<u64> = (0..threads)
        .map(|t| {
            let (store, keys, barrier) =
                (Arc::clone(store), Arc::clone(keys), Arc::clone(&barrier));
            thread::spawn(move || {
                let now = Instant::now();
                let n = keys.len();
                let mut i = t * n / threads;
                barrier.wait();
                let before = thread_cpu_ns().unwrap_or(0);
                for _ in 0..GETS {
                    black_box(store.get(CacheKind::Main, &keys[i], now));
                    i = if i + 1 == n { 0 } else { i + 1 };
                }
                thread_cpu_ns().unwrap_or(0) - before
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let wall = start.elapsed().as_secs_f64();
    let cpu_per_get = cpu.iter().sum::<u64>() as f64 / (threads * GETS) as f64;
    (cpu_per_get, (threads * GETS) as f64 / wall)
}

fn main() {
    let keys: Arc<Vec<String>> = Arc::new((0..10_000).map(|i| format!("key-{i:06}")).collect());
    let budget = 4 * keys.len() as u64 * entry_size(&keys[0], 100);
    let stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("ShardedStore", Arc::new(ShardedStore::new(budget, 0.125))),
        ("MokaStore", Arc::new(MokaStore::new(budget, 0.125))),
    ];
    println!("10k keys, 100-byte values (one buffer per key), {GETS} gets per thread");
    println!();
    println!("| store | threads | CPU ns per get | wall-clock gets/s (all threads) |");
    println!("|---|---|---|---|");
    for (name, store) in &stores {
        for k in keys.iter() {
            store.insert(
                CacheKind::Main,
                k,
                Entry::value(Bytes::from(vec![1u8; 100])),
            );
        }
        for threads in [1, 2] {
            let (cpu, rate) = run(store, &keys, threads);
            println!("| {name} | {threads} | {cpu:.1} | {:.2} M |", rate / 1e6);
        }
    }
}
