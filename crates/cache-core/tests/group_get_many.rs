//! `Group::get_many` with in-process peers: one `fetch_many` per owner,
//! hits answered without a peer, the singleflight shared with single gets,
//! per-key errors, and the local fallback when an owner's batch fails.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::promotion::Always;
use cache_core::{
    Error, Fetched, Group, GroupBuilder, LoadContext, NoPeers, PeerClient, PeerPicker, async_trait,
};
use common::*;
use parking_lot::Mutex;

const MB: u64 = 1 << 20;

/// A peer that records each batch it is asked for, and answers single
/// fetches and each key of a batch through `inner` (a [`FakePeer`], which
/// counts every key it answers in `fetches`). With `fail_batches`, every
/// batch fails as a whole as a dead owner's would (`Unavailable`).
#[derive(Debug)]
struct BatchPeer {
    inner: Arc<FakePeer>,
    fail_batches: bool,
    /// The keys of each `fetch_many`, in call order.
    batches: Mutex<Vec<Vec<String>>>,
    /// Calls of `fetch` (single-key requests).
    singles: AtomicUsize,
}

impl BatchPeer {
    fn new(inner: Arc<FakePeer>) -> Arc<Self> {
        Self::with(inner, false)
    }

    fn with(inner: Arc<FakePeer>, fail_batches: bool) -> Arc<Self> {
        Arc::new(BatchPeer {
            inner,
            fail_batches,
            batches: Mutex::new(Vec::new()),
            singles: AtomicUsize::new(0),
        })
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().clone()
    }

    fn singles(&self) -> usize {
        self.singles.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PeerClient for BatchPeer {
    fn id(&self) -> &str {
        self.inner.id()
    }

    async fn fetch(&self, group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, Error> {
        self.singles.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(group, key, ctx).await
    }

    async fn fetch_many(
        &self,
        group: &str,
        keys: &[String],
        ctx: &LoadContext,
    ) -> Result<Vec<Result<Fetched, Error>>, Error> {
        self.batches.lock().push(keys.to_vec());
        if self.fail_batches {
            return Err(Error::unavailable("connection refused"));
        }
        let fetches = keys.iter().map(|key| self.inner.fetch(group, key, ctx));
        Ok(futures::future::join_all(fetches).await)
    }
}

/// Routes `"{peer}:{rest}"` to the peer of that id; every other key is
/// this node's.
struct Owners(HashMap<String, Arc<BatchPeer>>);

impl Owners {
    fn new(peers: &[&Arc<BatchPeer>]) -> Arc<Self> {
        Arc::new(Owners(
            peers
                .iter()
                .map(|p| (p.id().to_owned(), Arc::clone(p)))
                .collect(),
        ))
    }
}

impl PeerPicker for Owners {
    fn pick(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let (owner, _) = key.split_once(':')?;
        self.0
            .get(owner)
            .map(|p| Arc::clone(p) as Arc<dyn PeerClient>)
    }
}

/// Group "g" on node "a", the keys `b:*` and `c:*` owned by those peers,
/// promoting every fetched value.
fn group(peers: &[&Arc<BatchPeer>], calls: &Arc<AtomicUsize>) -> Group {
    GroupBuilder::new("g", MB, counting_getter("local", Arc::clone(calls)))
        .peers(Owners::new(peers))
        .promotion(Arc::new(Always))
        .build()
        .unwrap()
}

/// The values of a batch's answers (errors as they are).
fn values(answers: Vec<Result<cache_core::Loaded, Error>>) -> Vec<Result<String, Error>> {
    answers
        .into_iter()
        .map(|a| a.map(|l| String::from_utf8(l.value.to_vec()).unwrap()))
        .collect()
}

fn ok(value: &str) -> Result<String, Error> {
    Ok(value.to_owned())
}

/// Keys of two owners and of this node: each owner is asked once, for all
/// its keys, in one `fetch_many`; this node's key is loaded here; the
/// answers come back in the order asked, a repeated key answered twice
/// from one get.
#[tokio::test(start_paused = true)]
async fn one_fetch_many_per_owner() {
    let b = BatchPeer::new(FakePeer::new("b", Behaviour::Up { qps: 5.0 }));
    let c = BatchPeer::new(FakePeer::new("c", Behaviour::Up { qps: 5.0 }));
    let calls = counter();
    let g = group(&[&b, &c], &calls);
    let keys = ["b:1", "c:1", "own", "b:2", "b:1", "c:2", "b:3"];
    let answers = values(g.get_many(keys, LoadContext::new()).await);
    assert_eq!(
        answers,
        [
            ok("remote:b:1"),
            ok("remote:c:1"),
            ok("local:own"),
            ok("remote:b:2"),
            ok("remote:b:1"),
            ok("remote:c:2"),
            ok("remote:b:3"),
        ]
    );
    assert_eq!(b.batches(), [["b:1", "b:2", "b:3"]]);
    assert_eq!(c.batches(), [["c:1", "c:2"]]);
    assert_eq!((b.singles(), c.singles(), count(&calls)), (0, 0, 1));
    assert_eq!(g.in_flight(), 0);
    assert_counters(
        &g,
        &[
            ("batch_gets", 1),
            ("gets", 6),
            ("loads", 6),
            ("loads_deduped", 6),
            ("peer_loads", 5),
            ("local_loads", 1),
            ("promotions", 5),
        ],
    );
}

/// A second batch of the same keys is answered from the hot and main
/// caches: no peer is asked, no loader called.
#[tokio::test(start_paused = true)]
async fn hits_are_answered_without_a_peer() {
    let b = BatchPeer::new(FakePeer::new("b", Behaviour::Up { qps: 5.0 }));
    let calls = counter();
    let g = group(&[&b], &calls);
    let keys = ["b:1", "own", "b:2"];
    let first = values(g.get_many(keys, LoadContext::new()).await);
    let second = values(g.get_many(keys, LoadContext::new()).await);
    assert_eq!(first, second);
    assert_eq!(b.batches().len(), 1);
    assert_eq!((b.inner.fetches(), count(&calls)), (2, 1));
    let stats = g.stats();
    assert_eq!((stats.batch_gets, stats.gets, stats.cache_hits), (2, 6, 3));
    assert_eq!((stats.hot_cache.hits, stats.main_cache.hits), (2, 1));
}

/// A single get of a key already loading joins the batch's flight, and a
/// batch of a key a single get is loading joins that get's flight: either
/// way the owner is asked for the key once.
#[tokio::test(start_paused = true)]
async fn the_singleflight_is_shared_with_single_gets() {
    let b = BatchPeer::new(FakePeer::new("b", Behaviour::Slow(Duration::from_secs(1))));
    let calls = counter();
    let g = group(&[&b], &calls);

    // A get first: the batch asks only for the other key.
    let single = tokio::spawn({
        let g = g.clone();
        async move { g.get("b:1").await }
    });
    while g.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    let answers = values(g.get_many(["b:1", "b:2"], LoadContext::new()).await);
    assert_eq!(answers, [ok("remote:b:1"), ok("remote:b:2")]);
    assert_eq!(single.await.unwrap().unwrap(), "remote:b:1");
    assert_eq!(b.batches(), [["b:2"]]);
    assert_eq!((b.singles(), b.inner.fetches()), (1, 2));

    // The batch first: the get joins the batch's flight.
    let batch = tokio::spawn({
        let g = g.clone();
        async move { g.get_many(["b:3", "b:4"], LoadContext::new()).await }
    });
    while g.in_flight() < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(g.get("b:3").await.unwrap(), "remote:b:3");
    let answers = values(batch.await.unwrap());
    assert_eq!(answers, [ok("remote:b:3"), ok("remote:b:4")]);
    assert_eq!(b.batches(), [vec!["b:2"], vec!["b:3", "b:4"]]);
    assert_eq!((b.singles(), b.inner.fetches()), (1, 4));
    assert_eq!(g.stats().loads_deduped, 4);
    assert_eq!(count(&calls), 0);
}

/// Each key of a batch gets its own answer: the owner's value, its
/// NotFound, its source failure; an invalid key is refused before any
/// peer is asked; the failures are not loaded here.
#[tokio::test(start_paused = true)]
async fn errors_are_reported_per_key() {
    let owner_calls = counter();
    let owner = GroupBuilder::new("g", MB, counting_getter("owner", Arc::clone(&owner_calls)))
        .peers(Arc::new(NoPeers))
        .build()
        .unwrap();
    let mesh = FakePeer::new("b", Behaviour::Mesh(OnceLock::new()));
    let Behaviour::Mesh(slot) = &mesh.behaviour else {
        unreachable!()
    };
    slot.set(owner.clone()).unwrap();
    let b = BatchPeer::new(mesh);
    let calls = counter();
    let g = group(&[&b], &calls);
    let keys = ["b:1", "b:missing", "", "b:fail", "b:2"];
    let answers = values(g.get_many(keys, LoadContext::new()).await);
    assert_eq!(answers[0], ok("owner:b:1"));
    assert_eq!(answers[1], Err(Error::NotFound));
    assert!(
        matches!(answers[2], Err(Error::InvalidKey(_))),
        "{answers:?}"
    );
    assert!(
        matches!(answers[3], Err(Error::SourceFailed(_))),
        "{answers:?}"
    );
    assert_eq!(answers[4], ok("owner:b:2"));
    assert_eq!(b.batches(), [["b:1", "b:missing", "b:fail", "b:2"]]);
    assert_eq!((count(&owner_calls), count(&calls)), (4, 0));
    let stats = g.stats();
    assert_eq!((stats.peer_loads, stats.peer_errors), (4, 2));
    assert_eq!((stats.get_errors, stats.fallback_loads), (3, 0));
}

/// An owner whose whole batch fails as unreachable: every one of its keys
/// is loaded here, once, into the hot cache only (counted as fallbacks),
/// and the next batch is answered from there.
#[tokio::test(start_paused = true)]
async fn a_failed_batch_falls_back_per_key() {
    let b = BatchPeer::with(FakePeer::new("b", Behaviour::Down), true);
    let calls = counter();
    let g = group(&[&b], &calls);
    let keys = ["b:1", "b:2", "own", "b:3"];
    let answers = values(g.get_many(keys, LoadContext::new()).await);
    assert_eq!(
        answers,
        [
            ok("local:b:1"),
            ok("local:b:2"),
            ok("local:own"),
            ok("local:b:3")
        ]
    );
    assert_eq!(b.batches().len(), 1);
    assert_eq!(count(&calls), 4);
    assert_counters(
        &g,
        &[
            ("batch_gets", 1),
            ("gets", 4),
            ("loads", 4),
            ("loads_deduped", 4),
            ("peer_loads", 3),
            ("peer_errors", 3),
            ("fallback_loads", 3),
            ("local_loads", 4),
        ],
    );
    let stats = g.stats();
    assert_eq!((stats.main_cache.items, stats.hot_cache.items), (1, 3));
    let again = values(g.get_many(keys, LoadContext::new()).await);
    assert_eq!(again, answers);
    assert_eq!((b.batches().len(), count(&calls)), (1, 4));
}

/// A remove that comes in while a batch is on its way keeps the batch's
/// (now stale) answer out of the hot cache, as it does for a single
/// fetch: the caller still gets the value.
#[tokio::test(start_paused = true)]
async fn a_remove_during_the_batch_wins() {
    let b = BatchPeer::new(FakePeer::new("b", Behaviour::Slow(Duration::from_secs(1))));
    let calls = counter();
    let g = group(&[&b], &calls);
    let batch = tokio::spawn({
        let g = g.clone();
        async move { g.get_many(["b:1"], LoadContext::new()).await }
    });
    while b.inner.active() == 0 {
        tokio::task::yield_now().await;
    }
    g.remove("b:1");
    let answers = values(batch.await.unwrap());
    assert_eq!(answers, [ok("remote:b:1")]);
    let stats = g.stats();
    assert_eq!((stats.hot_cache.items, stats.promotions), (0, 0));
}

/// Each key's wait is bounded by the batch's deadline; the flights go on
/// being dropped with their last caller, leaving none behind.
#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_every_key() {
    let b = BatchPeer::new(FakePeer::new("b", Behaviour::Hang));
    let calls = counter();
    let g = group(&[&b], &calls);
    let ctx = LoadContext::with_timeout(Duration::from_millis(100));
    let answers = values(g.get_many(["b:1", "own", "b:2"], ctx).await);
    assert_eq!(answers[0], Err(Error::DeadlineExceeded));
    assert_eq!(answers[1], ok("local:own"));
    assert_eq!(answers[2], Err(Error::DeadlineExceeded));
    tokio::task::yield_now().await;
    assert_eq!(g.in_flight(), 0);
    assert_eq!(g.stats().deadline_exceeded, 2);
}
