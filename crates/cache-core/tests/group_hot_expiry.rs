//! In-process tier (`cache-core` alone, tokio's paused clock): a hot-cache
//! copy of a key owned elsewhere expires with its TTL, whether it came
//! from the owner (the TTL the owner reported) or from a local fallback
//! load (the loader's TTL), on every built-in store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::promotion::Always;
use cache_core::{GroupBuilder, StoreKind};
use common::*;

const STORES: [StoreKind; 3] = [StoreKind::Sieve, StoreKind::Lru, StoreKind::Moka];

/// The owner reports 10 s left on the value: the hot copy is served for
/// those 10 s, never at or after them; the next get fetches from the owner
/// again, and that fresh copy is served in its turn.
#[tokio::test(start_paused = true)]
async fn hot_copy_expires_with_the_ttl_the_owner_reported() {
    for kind in STORES {
        let peer = FakePeer::new("b", Behaviour::Expiring(Duration::from_secs(10)));
        let calls = counter();
        let g = GroupBuilder::new("g", 1 << 20, counting_getter("local", Arc::clone(&calls)))
            .peers(PrefixPicker::new("a", &[&peer]))
            .promotion(Arc::new(Always))
            .store_kind(kind)
            .build()
            .unwrap();
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(g.stats().hot_cache.items, 1, "{kind:?}: promoted");
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(peer.fetches(), 1, "{kind:?}: the fresh copy is served");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(peer.fetches(), 2, "{kind:?}: the expired copy is not");
        assert_eq!(g.get("b:1").await.unwrap(), "remote:b:1");
        assert_eq!(peer.fetches(), 2, "{kind:?}: the new copy is served");
        assert_eq!(count(&calls), 0, "{kind:?}: never loaded locally");
        let s = g.stats();
        assert_eq!(
            (s.hot_cache.hits, s.main_cache.items, s.promotions),
            (2, 0, 2),
            "{kind:?}"
        );
    }
}

/// With the owner down, the key is loaded here into the hot cache with the
/// loader's 10 s TTL: served from there for 10 s, then loaded again.
#[tokio::test(start_paused = true)]
async fn fallback_copy_expires_with_the_loaders_ttl() {
    for kind in STORES {
        let peer = FakePeer::new("b", Behaviour::Down);
        let calls = counter();
        let g = GroupBuilder::new("g", 1 << 20, counting_getter("local", Arc::clone(&calls)))
            .peers(PrefixPicker::new("a", &[&peer]))
            .store_kind(kind)
            .build()
            .unwrap();
        assert_eq!(g.get("b:ttl").await.unwrap(), "local:b:ttl");
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert_eq!(g.get("b:ttl").await.unwrap(), "local:b:ttl");
        assert_eq!((peer.fetches(), count(&calls)), (1, 1), "{kind:?}");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(g.get("b:ttl").await.unwrap(), "local:b:ttl");
        assert_eq!((peer.fetches(), count(&calls)), (2, 2), "{kind:?}");
        let s = g.stats();
        assert_eq!(
            (s.hot_cache.hits, s.main_cache.items, s.fallback_loads),
            (1, 0, 2),
            "{kind:?}"
        );
    }
}
