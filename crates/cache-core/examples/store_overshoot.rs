//! How far over its byte budget each store goes while threads insert
//! entries of random sizes: a watcher thread samples the charged bytes as
//! fast as it can and keeps the maximum. `ShardedStore` must never exceed the
//! budget; `MokaStore` enforces it eventually (with and without eager
//! maintenance).
//!
//! Run: `cargo run --release -p cache-core --example store_overshoot`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, MokaStore, ShardedStore, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The byte budget of every store.
const BUDGET: u64 = 1 << 20;
/// Inserts per thread.
const INSERTS: usize = 200_000;
/// Largest value inserted (values are 100..MAX_VALUE bytes).
const MAX_VALUE: usize = 4_000;

/// Runs `threads` inserting threads (30% into the hot cache) and returns
/// the highest charged byte count the watcher saw.
fn peak<S: Store>(store: &S, threads: usize, charged: impl Fn(&S) -> u64 + Sync) -> u64 {
    let stop = AtomicBool::new(false);
    let max = AtomicU64::new(0);
    let value = Bytes::from(vec![0u8; MAX_VALUE]);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Acquire) {
                max.fetch_max(charged(store), Ordering::Relaxed);
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let value = value.clone();
                scope.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t as u64);
                    for i in 0..INSERTS {
                        let key = format!("t{t}-{i}");
                        let kind = if rng.random_bool(0.3) {
                            CacheKind::Hot
                        } else {
                            CacheKind::Main
                        };
                        let len = rng.random_range(100..MAX_VALUE);
                        store.insert(kind, &key, Entry::value(value.slice(..len)));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("insert thread");
        }
        stop.store(true, Ordering::Release);
    });
    max.load(Ordering::Relaxed).max(charged(store))
}

fn main() {
    println!("budget {BUDGET} bytes, {INSERTS} inserts per thread, values 100..{MAX_VALUE} bytes");
    println!();
    println!(
        "| store | threads | peak charged (watcher) | over budget | peak after insert (main, hot) | main/hot capacity |"
    );
    println!("|---|---|---|---|---|---|");
    for threads in [1, 2, 4] {
        let lru = ShardedStore::new(BUDGET, 0.125);
        let p = peak(&lru, threads, |s| s.charged_bytes());
        println!(
            "| ShardedStore | {threads} | {p} | {} | - | {} / {} |",
            p.saturating_sub(BUDGET),
            BUDGET,
            lru.hot_cap()
        );
        for eager in [true, false] {
            let moka = MokaStore::with_eager_maintenance(BUDGET, 0.125, eager);
            let p = peak(&moka, threads, |s| s.charged_bytes());
            let name = if eager {
                "MokaStore (eager)"
            } else {
                "MokaStore (lazy)"
            };
            println!(
                "| {name} | {threads} | {p} | {} | {:?} | {} / {} |",
                p.saturating_sub(BUDGET),
                moka.peak_bytes(),
                moka.capacity(CacheKind::Main),
                moka.capacity(CacheKind::Hot)
            );
        }
    }
}
