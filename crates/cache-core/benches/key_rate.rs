//! `KeyRates` benchmarks: the cost of recording a request (what an owner
//! pays per served get) and of reading an estimate.
//!
//! Run: `cargo bench -p cache-core --bench key_rate`

use std::hint::black_box;

use cache_core::KeyRates;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::time::Instant;

fn key_rate(c: &mut Criterion) {
    let keys: Vec<String> = (0..10_000).map(|i| format!("user:{i}:profile")).collect();
    let rates = KeyRates::new();
    let now = Instant::now();
    let mut i = 0usize;
    c.bench_function("key_rates_record_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(rates.record(black_box(&keys[i]), now))
        })
    });
    c.bench_function("key_rates_qps_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(rates.qps(black_box(&keys[i]), now))
        })
    });
}

criterion_group!(benches, key_rate);
criterion_main!(benches);
