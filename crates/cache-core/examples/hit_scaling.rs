//! How `Group::get` hits scale from 1 to 2 threads: wall-clock throughput,
//! and the on-CPU time per hit of each thread (from
//! `/proc/thread-self/schedstat`), which does not count time spent waiting
//! for a core. On a shared or busy machine the wall-clock ratio measures
//! the machine; the CPU time per hit shows whether the threads slow each
//! other down (contention), which is what limits scaling on idle cores.
//!
//! ```text
//! cargo run --release -p cache-core --example hit_scaling [KEYS] [HITS_PER_THREAD] [sieve|lru|moka]
//! ```
//! (defaults: 10000 keys, 20000000 hits per thread, the SIEVE store; 1 KiB
//! values.)

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_core::{Group, GroupBuilder, Loaded, StoreKind, getter_fn};

/// Nanoseconds this thread has run on a CPU, if the kernel reports it.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

// The allocator of the `groupcache` binary and of the group bench.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Polls a hit's future once: a hit is ready at once.
#[inline(always)]
fn hit<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(futures::task::noop_waker_ref())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("not a hit"),
    }
}

/// Runs `hits` gets on each of `threads` threads (disjoint key ranges);
/// returns the wall time and each thread's on-CPU time.
fn run(
    group: &Group,
    keys: &Arc<Vec<String>>,
    threads: usize,
    hits: usize,
) -> (Duration, Vec<u64>) {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (group, keys, barrier) = (group.clone(), Arc::clone(keys), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let per = keys.len() / threads;
                let mine = &keys[t * per..(t + 1) * per];
                barrier.wait();
                let cpu0 = thread_cpu_ns().unwrap_or(0);
                // As the group bench: the value is dropped, its length
                // black-boxed, and the key index wraps without a division.
                let mut i = 0;
                for _ in 0..hits {
                    i += 1;
                    if i == mine.len() {
                        i = 0;
                    }
                    black_box(hit(group.get(&mine[i])).expect("hit").len());
                }
                thread_cpu_ns().unwrap_or(0) - cpu0
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let cpu = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    (start.elapsed(), cpu)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000)
        .max(2);
    let hits: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let kind = match args.next().as_deref() {
        Some("moka") => StoreKind::Moka,
        Some("lru") => StoreKind::Lru,
        _ => StoreKind::Sieve,
    };
    let group = GroupBuilder::new(
        "scaling",
        64 << 20,
        getter_fn(|key: String, _ctx| async move {
            let value: Vec<u8> = key.bytes().cycle().take(1024).collect();
            Ok(Loaded::new(Bytes::from(value)))
        }),
    )
    .store_kind(kind)
    .build()
    .expect("group");
    let keys: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("key-{i}")).collect());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for k in keys.iter() {
            group.get(k).await.expect("load");
        }
    });
    run(&group, &keys, 1, hits / 10); // warm-up
    let (wall1, cpu1) = run(&group, &keys, 1, hits);
    let (wall2, cpu2) = run(&group, &keys, 2, hits);
    let per = |d: Duration, ops: usize| d.as_nanos() as f64 / ops as f64;
    let wall1_op = per(wall1, hits);
    let wall2_op = per(wall2, 2 * hits);
    let cpu1_op = cpu1[0] as f64 / hits as f64;
    let cpu2_op = cpu2.iter().sum::<u64>() as f64 / (2 * hits) as f64;
    println!("store={kind:?} keys={n} hits/thread={hits}");
    println!("1 thread : {wall1_op:.1} ns/hit wall, {cpu1_op:.1} ns/hit on-CPU");
    println!(
        "2 threads: {wall2_op:.1} ns/hit wall (both together), {cpu2_op:.1} ns/hit on-CPU per thread"
    );
    println!(
        "wall-clock throughput ratio 2T/1T: {:.2}x",
        wall1_op / wall2_op
    );
    println!(
        "ratio on idle cores (2 x on-CPU cost 1T / on-CPU cost 2T): {:.2}x",
        2.0 * cpu1_op / cpu2_op
    );
    println!("stats: {:?}", group.stats().main_cache);
}
