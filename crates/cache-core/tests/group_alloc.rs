//! A `Group::get` hit allocates nothing: the returned `Bytes` is a
//! reference-count increment of the cached value. Checked over 10k distinct
//! keys (the benchmark's working set) with the default store, counting heap
//! blocks with `dhat` in testing mode. (The moka store allocates in its
//! amortized maintenance, about 0.016 blocks per hit here; see
//! `store_alloc.rs`.)
//!
//! Run: `cargo test -p cache-core --test group_alloc`

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use cache_core::{Group, GroupBuilder, Loaded, StoreKind, getter_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const KEYS: usize = 10_000;

/// Polls a hit's future once (a hit is ready at once; no executor, so the
/// count is the group's alone).
fn poll_hit<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(futures::task::noop_waker_ref())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a hit must be ready on its first poll"),
    }
}

/// Loads `KEYS` keys into a group, then counts the heap blocks allocated by
/// one hit of each (holding every returned value until the end, so that a
/// drop cannot hide an allocation).
fn allocations_per_hit(kind: StoreKind, rt: &tokio::runtime::Runtime) -> f64 {
    let group: Group = GroupBuilder::new(
        format!("{kind:?}"),
        64 << 20,
        getter_fn(|key: String, _ctx| async move {
            Ok(Loaded::new(Bytes::from(key.repeat(64).into_bytes())))
        }),
    )
    .store_kind(kind)
    .build()
    .unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i}")).collect();
    rt.block_on(async {
        for k in &keys {
            group.get(k).await.unwrap();
        }
    });
    // One warm round, so that lazily initialised thread-locals (the striped
    // counters' stripe index) are in place.
    for k in &keys {
        poll_hit(group.get(k)).unwrap();
    }
    let mut held = Vec::with_capacity(KEYS);
    let before = dhat::HeapStats::get().total_blocks;
    for k in &keys {
        held.push(poll_hit(group.get(k)).unwrap());
    }
    let allocated = dhat::HeapStats::get().total_blocks - before;
    assert_eq!(held.len(), KEYS);
    assert_eq!(
        group.stats().local_loads,
        KEYS as u64,
        "every get after the load was a hit"
    );
    allocated as f64 / KEYS as f64
}

/// 10k hits allocate 0 heap blocks with the default (SIEVE) store and with
/// LRU eviction.
fn a_hit_allocates_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for kind in [StoreKind::Sieve, StoreKind::Lru] {
        let per_hit = allocations_per_hit(kind, &rt);
        println!("{kind:?}: {per_hit} allocations per hit");
        assert_eq!(per_hit, 0.0);
    }
}

/// Runs without libtest's harness (`harness = false` in Cargo.toml): the
/// harness's own thread allocates while it waits for a test, and dhat
/// counts every thread's allocations, so under load it added a few blocks
/// to the count.
fn main() {
    a_hit_allocates_nothing();
    println!("test a_hit_allocates_nothing ... ok");
}
