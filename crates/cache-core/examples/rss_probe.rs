//! Temporary probe: RSS of an LruStore filled with 1 KiB values.
use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, LruStore, Store};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let mib: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(128);
    let n: u64 = mib * 1024 * 3 / 2;
    let r0 = rss_kib();
    let store = LruStore::new(mib << 20, 0.125);
    let now = tokio::time::Instant::now();
    for i in 0..n {
        let key = format!("rss-{i}");
        let v = vec![(i & 0xff) as u8; 1024];
        store.insert(CacheKind::Main, &key, Entry::value(Bytes::from(v)));
        let _ = store.get(CacheKind::Main, &key, now);
    }
    let st = store.stats(CacheKind::Main);
    let r1 = rss_kib();
    println!("items={} bytes={} rss_delta_mib={} per_item={}", st.items, st.bytes, (r1 - r0) / 1024, (r1 - r0) * 1024 / st.items);
}
