//! `remove` and `set` against loads, fetches and hot copies, with forced
//! interleavings on tokio's paused clock: a loader held at a gate until the
//! test lets it answer, and an owner group answering a requester group
//! through an in-process peer.
//!
//! What each test pins down is one promise of the consistency model
//! (docs/core.md): a load or fetch that began before a change never puts
//! the old value back into a cache, a get after the change never joins it,
//! and a hot copy lives no longer than its owner's value and the hot TTL.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::promotion::Always;
use cache_core::{Error, Group, GroupBuilder, Loaded, getter_fn};
use common::*;
use tokio::sync::Semaphore;

const MB: u64 = 1 << 20;

/// A loader that waits for a permit of `gate` on every call, then answers
/// `"{key} v{n}"` (n counting its calls from 0), or NotFound for keys
/// containing `missing`.
fn gated_group(name: &str, calls: &Arc<AtomicUsize>, gate: &Arc<Semaphore>) -> GroupBuilder {
    let (calls, gate) = (Arc::clone(calls), Arc::clone(gate));
    GroupBuilder::new(
        name,
        MB,
        getter_fn(move |key: String, _ctx| {
            let (calls, gate) = (Arc::clone(&calls), Arc::clone(&gate));
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                gate.acquire().await.expect("gate open").forget();
                if key.contains("missing") {
                    return Err(Error::NotFound);
                }
                Ok(Loaded::new(format!("{key} v{n}")))
            }
        }),
    )
}

fn spawn_get(g: &Group, key: &'static str) -> tokio::task::JoinHandle<Result<bytes::Bytes, Error>> {
    let g = g.clone();
    tokio::spawn(async move { g.get(key).await })
}

/// Lets the spawned gets run until they wait on the gate.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// A requester (`r`) whose keys `o:*` are owned by `owner`, reached through
/// an in-process peer; every fetched value is promoted to `r`'s hot cache.
fn mesh(owner: &Group, requester: GroupBuilder) -> (Group, Arc<FakePeer>) {
    let peer = FakePeer::new("o", Behaviour::Mesh(OnceLock::new()));
    if let Behaviour::Mesh(cell) = &peer.behaviour {
        cell.set(owner.clone()).expect("wired once");
    }
    let r = requester
        .peers(PrefixPicker::new("r", &[&peer]))
        .promotion(Arc::new(Always))
        .build()
        .unwrap();
    (r, peer)
}

/// A remove during a slow load on the owner: the load's caller gets the
/// old value, nothing is cached, and a get that arrives after the remove
/// does not join the old load: it starts its own, whose value is kept.
#[tokio::test(start_paused = true)]
async fn remove_during_a_slow_load_detaches_it() {
    let (calls, gate) = (counter(), Arc::new(Semaphore::new(0)));
    let g = gated_group("g", &calls, &gate).build().unwrap();
    let before = spawn_get(&g, "k");
    settle().await;
    assert_eq!(count(&calls), 1);
    assert!(!g.remove("k"), "nothing cached yet");
    let after = spawn_get(&g, "k");
    settle().await;
    assert_eq!(count(&calls), 2, "the get after the remove loads again");
    gate.add_permits(2);
    assert_eq!(before.await.unwrap().unwrap(), "k v0");
    assert_eq!(after.await.unwrap().unwrap(), "k v1");
    assert_eq!(
        g.get("k").await.unwrap(),
        "k v1",
        "the new load's value is kept"
    );
    assert_eq!((count(&calls), g.in_flight()), (2, 0));
    assert_eq!(g.stats().removes, 1);
}

/// A remove (owner first, then the requester, as the mesh sends it) while
/// the requester's fetch is in flight: the fetch answers its caller, but
/// the requester keeps no hot copy and the owner no main copy; the next get
/// loads afresh and that value is promoted.
#[tokio::test(start_paused = true)]
async fn remove_while_a_peer_fetch_is_in_flight() {
    let (calls, gate) = (counter(), Arc::new(Semaphore::new(0)));
    let owner = gated_group("g", &calls, &gate).build().unwrap();
    let (r, peer) = mesh(
        &owner,
        GroupBuilder::new("g", MB, counting_getter("r", counter())),
    );
    let fetch = spawn_get(&r, "o:k");
    settle().await;
    assert_eq!((peer.active(), count(&calls)), (1, 1));
    owner.remove("o:k");
    r.remove("o:k");
    gate.add_permits(1);
    assert_eq!(fetch.await.unwrap().unwrap(), "o:k v0");
    assert_eq!(r.stats().hot_cache.items, 0, "the requester kept nothing");
    assert_eq!(owner.stats().main_cache.items, 0, "the owner kept nothing");
    gate.add_permits(1);
    assert_eq!(r.get("o:k").await.unwrap(), "o:k v1");
    assert_eq!(r.get("o:k").await.unwrap(), "o:k v1");
    assert_eq!((peer.fetches(), count(&calls)), (2, 2));
    assert_eq!(r.stats().hot_cache.items, 1);
}

/// A set racing a load of the same key: the load answers its caller with
/// what it loaded, but never overwrites the value set; gets after the set
/// see the set value, with no load.
#[tokio::test(start_paused = true)]
async fn a_set_racing_a_load_wins() {
    let (calls, gate) = (counter(), Arc::new(Semaphore::new(0)));
    let g = gated_group("g", &calls, &gate).build().unwrap();
    let load = spawn_get(&g, "k");
    settle().await;
    g.set("k", "set".into(), None).unwrap();
    assert_eq!(g.get("k").await.unwrap(), "set", "a get after the set");
    gate.add_permits(1);
    assert_eq!(load.await.unwrap().unwrap(), "k v0");
    assert_eq!(g.get("k").await.unwrap(), "set");
    assert_eq!(count(&calls), 1);
    assert_eq!(g.stats().sets, 1);
}

/// A set replaces a cached value and a remembered NotFound; its TTL holds;
/// a zero TTL removes; an invalid key is refused.
#[tokio::test(start_paused = true)]
async fn set_replaces_and_expires() {
    let (calls, gate) = (counter(), Arc::new(Semaphore::new(10)));
    let g = gated_group("g", &calls, &gate)
        .negative_ttl(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    assert_eq!(g.get("missing").await, Err(Error::NotFound));
    g.set("missing", "now here".into(), Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(g.get("missing").await.unwrap(), "now here");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        g.get("missing").await,
        Err(Error::NotFound),
        "expired: loaded again"
    );
    assert_eq!(count(&calls), 2);
    g.set("k", "v".into(), None).unwrap();
    g.set("k", "ignored".into(), Some(Duration::ZERO)).unwrap();
    assert_eq!(g.get("k").await.unwrap(), "k v2", "a zero TTL removed it");
    assert!(matches!(
        g.set("", "v".into(), None),
        Err(Error::InvalidKey(_))
    ));
}

/// A hot copy of a value that never expires at its owner leaves the hot
/// cache after the hot TTL; one whose owner's TTL is shorter leaves with it.
#[tokio::test(start_paused = true)]
async fn hot_copies_live_at_most_the_hot_ttl() {
    let owner = GroupBuilder::new("g", MB, counting_getter("owner", counter()))
        .build()
        .unwrap();
    let requester = GroupBuilder::new("g", MB, counting_getter("r", counter()))
        .hot_ttl(Some(Duration::from_secs(10)));
    let (r, peer) = mesh(&owner, requester);
    r.get("o:k").await.unwrap();
    r.get("o:ttl").await.unwrap(); // the owner's TTL: 10 s
    tokio::time::advance(Duration::from_secs(9)).await;
    r.get("o:k").await.unwrap();
    assert_eq!(peer.fetches(), 2, "still a hot hit");
    tokio::time::advance(Duration::from_secs(1)).await;
    r.get("o:k").await.unwrap();
    assert_eq!(peer.fetches(), 3, "the hot copy expired at the hot TTL");

    let r = GroupBuilder::new("g", MB, counting_getter("r", counter()))
        .hot_ttl(None)
        .peers(PrefixPicker::new("r", &[&peer]))
        .promotion(Arc::new(Always))
        .build()
        .unwrap();
    r.get("o:k").await.unwrap();
    tokio::time::advance(Duration::from_secs(3600)).await;
    r.get("o:k").await.unwrap();
    assert_eq!(peer.fetches(), 4, "no hot TTL: the copy is kept");
}

/// The owner's remembered NotFound travels with its remaining TTL: the
/// requester keeps it in its hot cache for that long (no fetch meanwhile),
/// and a remove clears it.
#[tokio::test(start_paused = true)]
async fn negative_answers_are_kept_for_the_owners_ttl() {
    let owner = GroupBuilder::new("g", MB, counting_getter("owner", counter()))
        .negative_ttl(Some(Duration::from_secs(30)))
        .build()
        .unwrap();
    let (r, peer) = mesh(
        &owner,
        GroupBuilder::new("g", MB, counting_getter("r", counter())),
    );
    assert_eq!(r.get("o:missing").await, Err(Error::NotFound));
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(r.get("o:missing").await, Err(Error::NotFound));
    assert_eq!(peer.fetches(), 1, "answered by the hot cache");
    assert_eq!(r.stats().negative_promotions, 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(r.get("o:missing").await, Err(Error::NotFound));
    assert_eq!(peer.fetches(), 2, "expired with the owner's entry");
    assert!(r.remove("o:missing"));
    assert_eq!(r.get("o:missing").await, Err(Error::NotFound));
    assert_eq!(peer.fetches(), 3, "the remove cleared it");
}

/// A handed-over entry for a key set here lately is refused: the set
/// value stays.
#[tokio::test(start_paused = true)]
async fn a_handoff_after_a_set_loses() {
    let g = GroupBuilder::new("g", MB, counting_getter("v", counter()))
        .build()
        .unwrap();
    g.set("k", "set".into(), None).unwrap();
    let old = cache_core::HandoffEntry {
        key: "k".into(),
        value: "handed".into(),
        ttl: None,
    };
    assert!(!g.accept_handoff(old));
    assert_eq!(g.get("k").await.unwrap(), "set");
}
