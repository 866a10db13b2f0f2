//! A hit allocates nothing (it is a reference-count increment of the
//! stored `Bytes`), and neither does a miss (`ShardedStore`; `MokaStore` only in
//! its amortized maintenance). Counts heap
//! allocations with `dhat` in testing mode (its global allocator).
//!
//! Run: `cargo test -p cache-core --test store_alloc`

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, MokaStore, ShardedStore, Store};
use tokio::time::Instant;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Heap blocks allocated while `f` runs (all threads; this binary runs without
/// a test harness, so nothing else allocates meanwhile).
fn allocations(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

/// Inserts a main and a hot value built from `Vec`s (whose first clone
/// would allocate unless the store shared them at insert), then counts the
/// allocations of 200 hits and 100 misses, after one get: a thread's first
/// read lock registers the thread with the shard locks (a one-time
/// allocation per thread, not per get).
fn get_allocations(store: &dyn Store) -> u64 {
    let now = Instant::now();
    store.insert(
        CacheKind::Main,
        "key",
        Entry::value(Bytes::from(vec![7u8; 1000])),
    );
    store.insert(
        CacheKind::Hot,
        "key",
        Entry::value(Bytes::from(vec![8u8; 100])),
    );
    drop(store.get(CacheKind::Main, "key", now));
    let mut held = Vec::with_capacity(300);
    let n = allocations(|| {
        for _ in 0..100 {
            held.push(store.get(CacheKind::Main, "key", now));
            held.push(store.get(CacheKind::Hot, "key", now));
            held.push(store.get(CacheKind::Main, "missing", now));
        }
    });
    assert_eq!(held.iter().filter(|e| e.is_some()).count(), 200);
    n
}

/// ShardedStore: 200 hits and 100 misses make zero heap allocations. MokaStore:
/// the gets themselves do not allocate, but every 64 reads moka runs its
/// maintenance, which allocates a little: far fewer than one allocation per
/// ten gets (8 in 300 gets with moka 0.12.16).
fn hits_and_misses_do_not_allocate() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let lru = ShardedStore::new(1 << 20, 0.125);
    assert_eq!(get_allocations(&lru), 0, "ShardedStore");
    let moka = MokaStore::new(1 << 20, 0.125);
    moka.run_pending_tasks();
    let n = get_allocations(&moka);
    println!("MokaStore: {n} allocations in 300 gets");
    assert!(n < 30, "MokaStore allocated {n} times in 300 gets");
}

/// Runs without libtest's harness (`harness = false` in Cargo.toml): the
/// harness's own thread allocates while it waits for a test, and dhat
/// counts every thread's allocations, so under load it added a few blocks
/// to the count.
fn main() {
    hits_and_misses_do_not_allocate();
    println!("test hits_and_misses_do_not_allocate ... ok");
}
