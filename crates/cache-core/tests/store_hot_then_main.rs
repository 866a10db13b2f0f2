//! `Store::get_hot_then_main`, the group's one-lookup hit path: the
//! ShardedStore override agrees with the default (two `get` calls) on every
//! case, including expired entries, and releases their bytes.

use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{CacheKind, Entry, MokaStore, ShardedStore, Store};
use tokio::time::Instant;

fn entry(v: &'static str, expires_at: Option<Instant>) -> Entry {
    Entry {
        data: cache_core::store::Cached::Value(Bytes::from_static(v.as_bytes())),
        expires_at,
    }
}

/// Hot wins over main; an expired hot entry falls through to main and is
/// dropped (its bytes released); nothing live gives `None`. Same answers
/// and same per-cache counters for both stores.
#[tokio::test(start_paused = true)]
async fn hot_then_main_agrees_with_two_gets() {
    let stores: [Box<dyn Store>; 2] = [
        Box::new(ShardedStore::new(1 << 20, 0.25)),
        Box::new(MokaStore::new(1 << 20, 0.25)),
    ];
    for store in stores {
        let soon = Some(Instant::now() + Duration::from_secs(1));
        store.insert(CacheKind::Main, "both", entry("main", None));
        store.insert(CacheKind::Hot, "both", entry("hot", soon));
        store.insert(CacheKind::Main, "main", entry("m", None));
        let now = Instant::now();
        assert_eq!(
            store.get_hot_then_main("both", &|| now),
            Some(entry("hot", soon))
        );
        assert_eq!(
            store.get_hot_then_main("main", &|| now),
            Some(entry("m", None))
        );
        assert_eq!(store.get_hot_then_main("none", &|| now), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        let later = Instant::now();
        assert_eq!(
            store.get_hot_then_main("both", &|| later),
            Some(entry("main", None))
        );
        let (hot, main) = (store.stats(CacheKind::Hot), store.stats(CacheKind::Main));
        assert_eq!((hot.gets, hot.hits, hot.items, hot.bytes), (4, 1, 0, 0));
        assert_eq!((main.gets, main.hits, main.items), (3, 2, 2));
    }
}
