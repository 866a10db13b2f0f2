//! Consistent hash ring benchmarks: key lookup with 3 peers and with 1000
//! peers x 50 virtual nodes; building the 1000-peer ring (`set_peers`),
//! adding a 1001st peer and removing one (each on a clone); the ring's
//! fingerprint at 1000 peers.
//!
//! Run: `cargo bench -p cache-core --bench ring` (a short run: add
//! `-- --quick`)

use std::hint::black_box;

use cache_core::HashRing;
use cache_core::consistent_hash::DEFAULT_VNODES;
use criterion::{Criterion, criterion_group, criterion_main};

fn peers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}:7001", i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

fn lookup(c: &mut Criterion) {
    let keys: Vec<String> = (0..1024).map(|i| format!("user:{i}:profile")).collect();
    let mut group = c.benchmark_group("ring_lookup");
    for n in [3usize, 1000] {
        let mut ring = HashRing::new(DEFAULT_VNODES);
        ring.set_peers(peers(n));
        let mut i = 0usize;
        group.bench_function(format!("{n}_peers_x_{DEFAULT_VNODES}_vnodes"), |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                black_box(ring.owner(black_box(&keys[i])))
            })
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let ids = peers(1000);
    c.bench_function("ring_build_1000_peers_x_50_vnodes", |b| {
        b.iter(|| {
            let mut ring = HashRing::new(DEFAULT_VNODES);
            ring.set_peers(black_box(&ids));
            ring
        })
    });
    let mut base = HashRing::new(DEFAULT_VNODES);
    base.set_peers(&ids);
    c.bench_function("ring_add_1001st_peer", |b| {
        b.iter_batched(
            || base.clone(),
            |mut ring| {
                ring.add("10.99.0.1:7001");
                ring
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

/// Membership changes and the fingerprint peers compare, at 1000 peers.
fn change(c: &mut Criterion) {
    let ids = peers(1000);
    let mut base = HashRing::new(DEFAULT_VNODES);
    base.set_peers(&ids);
    c.bench_function("ring_clone_1000_peers", |b| {
        b.iter(|| black_box(&base).clone())
    });
    c.bench_function("ring_remove_1_of_1000_peers", |b| {
        b.iter_batched(
            || base.clone(),
            |mut ring| {
                ring.remove(&ids[517]);
                ring
            },
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("ring_fingerprint_1000_peers", |b| {
        b.iter(|| black_box(&base).fingerprint())
    });
}

criterion_group!(benches, lookup, build, change);
criterion_main!(benches);
