//! Handoff between owners on tokio's paused clock: what a leaving owner
//! lists (`Group::hottest_owned`), what a new owner accepts
//! (`accept_handoff`, `accept_handoff_since` with a `HandoffMark`), and the
//! cache-only answer a previous owner gives (`peek`). None of them loads,
//! and none counts a get.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_core::promotion::Always;
use cache_core::store::{ShardedStore, entry_size};
use cache_core::{Group, GroupBuilder, HandoffEntry, StoreKind};
use common::*;

const MB: u64 = 1 << 20;

/// A group owning every key but `b:*` (owned by `peer`), promoting every
/// value fetched from `peer`, remembering NotFounds for a minute; its
/// loader answers `"local:{key}"`.
/// Its store has one shard, so that the value order is the store's whole
/// eviction order (with more, the shards' orders are interleaved).
fn group(peer: &Arc<FakePeer>, calls: &Arc<std::sync::atomic::AtomicUsize>) -> Group {
    GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(calls)))
        .store(Arc::new(ShardedStore::with_shards(MB, 0.125, 1)))
        .peers(PrefixPicker::new("a", &[peer]))
        .promotion(Arc::new(Always))
        .negative_ttl(Some(Duration::from_secs(60)))
        .build()
        .unwrap()
}

fn entry(key: &str, value: &str, ttl: Option<Duration>) -> HandoffEntry {
    HandoffEntry {
        key: key.into(),
        value: value.to_owned().into(),
        ttl,
    }
}

/// The owned values only (not the hot cache's copies of another owner's
/// keys, not remembered NotFounds), the one hit most recently first, each
/// with its remaining TTL; nothing is loaded or counted.
#[tokio::test(start_paused = true)]
async fn hottest_owned_lists_the_main_cache_by_value() {
    let peer = FakePeer::new("b", Behaviour::Up { qps: 1.0 });
    let calls = counter();
    let g = group(&peer, &calls);
    for key in ["x", "y", "ttl-z", "missing", "b:remote"] {
        let _ = g.get(key).await;
    }
    g.get("x").await.unwrap(); // a hit: "x" is marked visited
    tokio::time::advance(Duration::from_secs(4)).await;
    let before = g.stats();
    let handed = g.hottest_owned(u64::MAX);
    let got: Vec<(&str, Option<Duration>)> =
        handed.iter().map(|e| (e.key.as_str(), e.ttl)).collect();
    assert_eq!(
        got,
        [
            ("x", None),
            ("ttl-z", Some(Duration::from_secs(6))),
            ("y", None)
        ]
    );
    assert_eq!(handed[0].value, "local:x");
    assert_eq!(g.stats(), before, "nothing counted");
    assert_eq!(count(&calls), 4);
}

/// The byte bound: entries are charged `entry_size`, and the list stops
/// before the first that would pass it.
#[tokio::test(start_paused = true)]
async fn hottest_owned_stays_within_the_bound() {
    let calls = counter();
    let g = group(&FakePeer::new("b", Behaviour::Down), &calls);
    for key in ["k1", "k2", "k3"] {
        g.get(key).await.unwrap();
    }
    let one = entry_size("k1", "local:k1".len());
    assert_eq!(g.hottest_owned(3 * one).len(), 3);
    assert_eq!(g.hottest_owned(3 * one - 1).len(), 2);
    assert!(g.hottest_owned(one - 1).is_empty());
}

/// A group on moka lists its live owned values too (in moka's order).
#[tokio::test(start_paused = true)]
async fn hottest_owned_with_moka() {
    let calls = counter();
    let g = GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(&calls)))
        .store_kind(StoreKind::Moka)
        .build()
        .unwrap();
    for key in ["k1", "k2", "k3"] {
        g.get(key).await.unwrap();
    }
    let mut keys: Vec<String> = g
        .hottest_owned(u64::MAX)
        .into_iter()
        .map(|e| e.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["k1", "k2", "k3"]);
}

/// An accepted entry is in the main cache: gets are hits (no load) until
/// its TTL runs out, then the key is loaded.
#[tokio::test(start_paused = true)]
async fn an_accepted_entry_is_served_without_a_load() {
    let calls = counter();
    let g = group(&FakePeer::new("b", Behaviour::Down), &calls);
    assert!(g.accept_handoff(entry("k", "handed", Some(Duration::from_secs(10)))));
    assert!(g.accept_handoff(entry("forever", "handed", None)));
    assert_eq!(g.get("k").await.unwrap(), "handed");
    assert_eq!(g.get("forever").await.unwrap(), "handed");
    assert_counters(&g, &[("gets", 2), ("cache_hits", 2)]);
    assert_eq!(g.stats().main_cache.items, 2);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(g.get("k").await.unwrap(), "local:k");
    assert_eq!(count(&calls), 1);
}

/// Refused, and nothing stored: an empty key, a key over `max_key_bytes`,
/// a value with no time left.
#[tokio::test(start_paused = true)]
async fn bad_entries_are_refused() {
    let g = GroupBuilder::new("g", MB, counting_getter("local", counter()))
        .max_key_bytes(8)
        .build()
        .unwrap();
    assert!(!g.accept_handoff(entry("", "v", None)));
    assert!(!g.accept_handoff(entry("123456789", "v", None)));
    assert!(!g.accept_handoff(entry("k", "v", Some(Duration::ZERO))));
    assert!(g.accept_handoff(entry("12345678", "v", None)));
    assert_eq!(g.stats().main_cache.items, 1);
}

/// A remove made on the receiving node after the handoff began (its mark)
/// wins over entries that arrive later: they are refused and the key is
/// loaded. Without a mark, a remove made before the call wins for the
/// tombstone TTL. A mark of another group is refused.
#[tokio::test(start_paused = true)]
async fn a_remove_during_the_handoff_wins() {
    let calls = counter();
    let g = group(&FakePeer::new("b", Behaviour::Down), &calls);
    let mark = g.handoff_mark();
    assert!(g.accept_handoff_since(&mark, entry("kept", "handed", None)));
    g.remove("gone");
    assert!(!g.accept_handoff_since(&mark, entry("gone", "stale", None)));
    assert_eq!(g.get("gone").await.unwrap(), "local:gone");
    assert_eq!(g.get("kept").await.unwrap(), "handed");
    assert_eq!(count(&calls), 1);

    // Without a mark, a remove made before the entry arrived wins for the
    // tombstone TTL, and no longer.
    g.remove("later");
    assert!(!g.accept_handoff(entry("later", "handed", None)));
    tokio::time::advance(cache_core::DEFAULT_TOMBSTONE_TTL).await;
    assert!(g.accept_handoff(entry("later", "handed", None)));
    let fresh = g.handoff_mark();
    assert!(g.accept_handoff_since(&fresh, entry("after", "handed", None)));

    let other = group(&FakePeer::new("b", Behaviour::Down), &counter());
    assert!(!other.accept_handoff_since(&mark, entry("k", "v", None)));
    assert_eq!(other.stats().main_cache.items, 0);
}

/// A handoff round trip: the leaving owner's list, accepted by the next
/// owner, serves its gets with no load there.
#[tokio::test(start_paused = true)]
async fn a_leaving_owners_values_serve_the_next_owner() {
    let (old_calls, new_calls) = (counter(), counter());
    let down = FakePeer::new("b", Behaviour::Down);
    let (old, new) = (group(&down, &old_calls), group(&down, &new_calls));
    for i in 0..20 {
        old.get(&format!("k{i}")).await.unwrap();
    }
    let mark = new.handoff_mark();
    for handed in old.hottest_owned(u64::MAX) {
        assert!(new.accept_handoff_since(&mark, handed));
    }
    for i in 0..20 {
        assert_eq!(
            new.get(&format!("k{i}")).await.unwrap(),
            format!("local:k{i}")
        );
    }
    assert_eq!((count(&old_calls), count(&new_calls)), (20, 0));
}

/// `peek` answers from the main cache and the hot cache without loading,
/// forwarding or counting a get; an absent key, a remembered NotFound and
/// an expired value are `None`.
#[tokio::test(start_paused = true)]
async fn peek_reads_both_caches_and_nothing_else() {
    let peer = FakePeer::new("b", Behaviour::Expiring(Duration::from_secs(30)));
    let calls = counter();
    let g = group(&peer, &calls);
    g.get("own").await.unwrap();
    g.get("b:remote").await.unwrap(); // promoted into the hot cache
    let _ = g.get("missing").await; // a remembered NotFound
    g.get("ttl-own").await.unwrap();
    let before = g.stats();
    let own = g.peek("own").unwrap();
    assert_eq!((own.value.as_ref(), own.ttl), (&b"local:own"[..], None));
    assert_eq!(own.minute_qps, None);
    let hot = g.peek("b:remote").unwrap();
    assert_eq!(
        (hot.value.as_ref(), hot.ttl),
        (&b"remote:b:remote"[..], Some(Duration::from_secs(30)))
    );
    assert_eq!(g.peek("absent"), None);
    assert_eq!(g.peek("missing"), None);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(g.peek("ttl-own"), None, "expired");
    assert_eq!(g.peek("b:absent"), None, "never forwarded");
    let after = g.stats();
    assert_eq!(
        after.counters(),
        before.counters(),
        "no group counter moved"
    );
    assert_eq!((count(&calls), peer.fetches()), (3, 1));
}
