//! Criterion benches of `Group`: hits (1 key and 10k keys, on 1 and 2
//! threads), hits on a value with a TTL, with and without a stale window
//! (`hit_expiring`: the clock read and the stale check), a miss with its
//! load, and a 1000-waiter stampede on one cold key. The workloads mirror golang/groupcache's in-process benchmark
//! (`/work/shared/anchors/go-groupcache/inproc_bench_test.go`): 1 KiB values,
//! a 64 MiB group, keys `key-0..key-N`.
//!
//! ```text
//! cargo bench -p cache-core --bench group
//! cargo bench -p cache-core --bench group -- 'hit/10k'   # one family
//! ```
//!
//! The bench runs on mimalloc, the allocator of the `groupcache` binary (a
//! library user picks their own). It matters for cold-key hits: mimalloc
//! packs the values' small reference-count headers densely, so fewer of
//! them miss the CPU cache than with glibc's malloc, which puts each next
//! to its 1 KiB value (Go's allocator packs them too). To see the glibc
//! figures, comment out the `#[global_allocator]` line.
//!
//! Hits are driven by polling the `get` future once on the calling thread
//! (a hit is ready on its first poll), so they measure the group and not an
//! executor; the 2-thread variant runs two OS threads over disjoint key
//! ranges and reports the wall time per get of both together (so
//! throughput = 1 / time).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_core::{Group, GroupBuilder, Loaded, getter_fn};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VALUE_BYTES: usize = 1024;
const BUDGET: u64 = 64 << 20;

/// A group whose loader answers a distinct 1 KiB value per key (as Go's
/// bench does: values sharing one buffer would share one reference count,
/// which threads would then contend on).
fn group(name: &str) -> Group {
    GroupBuilder::new(
        name,
        BUDGET,
        getter_fn(move |key: String, _ctx| async move {
            let value: Vec<u8> = key.bytes().cycle().take(VALUE_BYTES).collect();
            Ok(Loaded::new(Bytes::from(value)))
        }),
    )
    .build()
    .expect("valid group")
}

/// A group with `n` keys loaded.
fn warm(n: usize) -> (Group, Vec<String>) {
    let g = group("hits");
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for k in &keys {
            g.get(k).await.expect("load");
        }
    });
    assert_eq!(g.stats().main_cache.items, n as u64, "all keys fit");
    (g, keys)
}

/// One hit: polls the get once (a hit is ready on its first poll), checks
/// that the value came, and drops it (its reference-count decrement is part
/// of the cost, as returning the `Bytes` to a caller would be). Only the
/// length passes through `black_box`: boxing the whole `Result` made every
/// iteration spill it to the stack and reload it with wider loads than were
/// stored (a store-forwarding stall of the harness, not of the get).
#[inline(always)]
fn hit_once(g: &Group, key: &str) -> usize {
    let value = ready(g.get(key)).expect("hit");
    value.len()
}

/// Polls `fut` once; a cache hit is always ready.
#[inline(always)]
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut
        .as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => futures::executor::block_on(fut),
    }
}

fn hits(c: &mut Criterion) {
    let mut group = c.benchmark_group("hit");
    group.throughput(Throughput::Elements(1));
    for n in [1usize, 10_000] {
        let label = if n == 1 { "1key" } else { "10k" };
        let (g, keys) = warm(n);
        let mut i = 0usize;
        group.bench_function(format!("{label}/1thread"), |b| {
            b.iter(|| {
                i += 1;
                if i == keys.len() {
                    i = 0;
                }
                black_box(hit_once(&g, &keys[i]))
            })
        });
        let keys = Arc::new(keys);
        group.bench_function(format!("{label}/2threads"), |b| {
            b.iter_custom(|iters| two_threads(&g, &keys, iters))
        });
        assert_eq!(g.stats().local_loads, n as u64, "hits only");
    }
    group.finish();
}

/// Runs `iters` hits on each of two threads (disjoint halves of the keys)
/// and returns the wall time divided by 2: the time per hit of the pair.
fn two_threads(g: &Group, keys: &Arc<Vec<String>>, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (g, keys, barrier) = (g.clone(), Arc::clone(keys), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let half = keys.len().div_ceil(2);
                let mine = &keys[(t * half).min(keys.len() - 1)..];
                let mine = &mine[..half.min(mine.len())];
                barrier.wait();
                let mut i = 0;
                for _ in 0..iters {
                    i += 1;
                    if i == mine.len() {
                        i = 0;
                    }
                    black_box(hit_once(&g, &mine[i]));
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for t in threads {
        t.join().expect("bench thread");
    }
    start.elapsed() / 2
}

fn miss(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let g = group("miss");
    let next = AtomicU64::new(0);
    c.bench_function("miss_and_load", |b| {
        b.to_async(&rt).iter_batched(
            || format!("cold-{}", next.fetch_add(1, Ordering::Relaxed)),
            |key| {
                let g = g.clone();
                async move { black_box(g.get(&key).await.expect("load")) }
            },
            BatchSize::SmallInput,
        )
    });
}

fn stampede(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("stampede");
    group.sample_size(20);
    group.bench_function("1000_waiters", |b| {
        b.to_async(&rt).iter_batched(
            group_fresh,
            |g| async move {
                let gets: Vec<_> = (0..1000)
                    .map(|_| {
                        let g = g.clone();
                        tokio::spawn(async move { g.get("cold-key").await })
                    })
                    .collect();
                for get in gets {
                    get.await.expect("task").expect("value");
                }
                assert_eq!(g.stats().local_loads, 1, "one load per stampede");
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A fresh group (the stampede needs a cold key every time).
fn group_fresh() -> Group {
    group("stampede")
}

/// Hits on one key whose value has a TTL (an hour: it stays fresh), in a
/// group without and with a stale window: what a hit pays for its expiry
/// check, and for the stale check on top.
fn hits_expiring(c: &mut Criterion) {
    let mut group = c.benchmark_group("hit_expiring");
    group.throughput(Throughput::Elements(1));
    let hour = Duration::from_secs(3600);
    for (label, stale) in [("ttl", None), ("ttl+stale", Some(hour))] {
        let g = GroupBuilder::new(
            label,
            BUDGET,
            getter_fn(move |key: String, _ctx| async move {
                let value: Vec<u8> = key.bytes().cycle().take(VALUE_BYTES).collect();
                Ok(Loaded::new(Bytes::from(value)).with_ttl(hour))
            }),
        )
        .stale_ttl(stale)
        .build()
        .expect("valid group");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async { g.get("key-0").await.expect("load") });
        group.bench_function(format!("{label}/1thread"), |b| {
            b.iter(|| black_box(hit_once(&g, "key-0")))
        });
        assert_eq!(g.stats().local_loads, 1, "hits only");
    }
    group.finish();
}

criterion_group!(benches, hits, hits_expiring, miss, stampede);
criterion_main!(benches);
