//! Real memory per entry of a store full of 1 KiB values, with no server
//! around it: fills an [`ShardedStore`] (or, with `moka`, a [`MokaStore`]) of
//! `BUDGET_MIB` (default 128) with 1.5x
//! as many distinct values as fit and prints items, charged bytes and the
//! RSS growth per item, to compare with `entry_size` (key + value +
//! `ENTRY_OVERHEAD`).
//!
//! `cargo run --release -p cache-core --example store_rss -- 128 [lru|moka]`

use bytes::Bytes;
use cache_core::store::{CacheKind, ENTRY_OVERHEAD, Entry, MokaStore, ShardedStore, Store};

/// The process's resident set in KiB, from `/proc/self/status` (0 when it
/// cannot be read, e.g. off Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let budget_mib: u64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 128,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: store_rss [BUDGET_MIB > 0] [lru|moka]");
            std::process::exit(2);
        }
    };
    let kind = std::env::args().nth(2).unwrap_or_else(|| "lru".to_owned());
    let requested = budget_mib * 1024 * 3 / 2;
    let before = rss_kib();
    let store: Box<dyn Store> = match kind.as_str() {
        "lru" => Box::new(ShardedStore::new(budget_mib << 20, 0.125)),
        "moka" => Box::new(MokaStore::new(budget_mib << 20, 0.125)),
        other => {
            eprintln!("unknown store {other:?}: lru or moka");
            std::process::exit(2);
        }
    };
    for i in 0..requested {
        let key = format!("rss-{i}");
        let value = Bytes::from(vec![(i & 0xff) as u8; 1024]);
        store.insert(CacheKind::Main, &key, Entry::value(value));
    }
    let st = store.stats(CacheKind::Main);
    let grown = rss_kib().saturating_sub(before);
    println!(
        "store={kind} budget_mib={budget_mib} requested={requested} items={} charged_bytes={} \
         charged_per_item={} rss_growth_mib={} rss_per_item={} entry_overhead={ENTRY_OVERHEAD}",
        st.items,
        st.bytes,
        st.bytes / st.items.max(1),
        grown / 1024,
        grown * 1024 / st.items.max(1),
    );
}
