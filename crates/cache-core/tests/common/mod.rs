//! Shared helpers of the group tests: a counting loader, in-process fake
//! peers (fixed behaviours, or another `Group` answering through
//! `fetch_for_peer` and `peek`), a picker routing keys by prefix, and one
//! naming a previous owner for moved keys (warm takeover).
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::{
    Error, Fetched, Getter, Group, LoadContext, Loaded, PeerClient, PeerPicker, async_trait,
    getter_fn,
};

/// A loader that counts its calls and answers by the key's part after its
/// last `:`: `missing*` -> NotFound, `fail*` -> SourceFailed, `ttl*` -> value with a
/// 10 s TTL, anything else -> `"{tag}:{key}"`.
pub(crate) fn counting_getter(tag: &'static str, calls: Arc<AtomicUsize>) -> impl Getter {
    getter_fn(move |key: String, _ctx| {
        let calls = Arc::clone(&calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let name = key.rsplit(':').next().unwrap_or_default();
            if name.starts_with("missing") {
                Err(Error::NotFound)
            } else if name.starts_with("fail") {
                Err(Error::source_failed("database down"))
            } else if name.starts_with("ttl") {
                Ok(Loaded::new(format!("{tag}:{key}")).with_ttl(Duration::from_secs(10)))
            } else {
                Ok(Loaded::new(format!("{tag}:{key}")))
            }
        }
    })
}

/// What a fake peer does when asked.
#[derive(Debug)]
pub(crate) enum Behaviour {
    /// Answers `"remote:{key}"` reporting `qps` and no TTL.
    Up { qps: f64 },
    /// Answers like `Up` (50 QPS), with this much of the value's TTL left.
    Expiring(Duration),
    /// Transport failure.
    Down,
    /// Sheds load.
    Overloaded,
    /// The owner's load limit and queue are full.
    Saturated,
    /// Never answers (ignores the deadline).
    Hang,
    /// A live owner whose load is slow: answers like `Up` after the delay.
    Slow(Duration),
    /// The owner's source failed.
    Failing,
    /// The owner's source has no such key.
    Missing,
    /// Answers through another group's `fetch_for_peer`, and cache-only
    /// fetches through its `peek` (set after build).
    Mesh(OnceLock<Group>),
}

/// An in-process peer with a fixed behaviour that counts its fetches.
#[derive(Debug)]
pub(crate) struct FakePeer {
    pub(crate) id: String,
    pub(crate) behaviour: Behaviour,
    pub(crate) fetches: AtomicUsize,
    /// Cache-only fetches (`fetch_cached`: warm takeover) made of it.
    pub(crate) cached_fetches: AtomicUsize,
    /// Fetches (of either kind) started and not yet finished or dropped.
    pub(crate) active: Arc<AtomicUsize>,
}

impl FakePeer {
    pub(crate) fn new(id: &str, behaviour: Behaviour) -> Arc<Self> {
        Arc::new(FakePeer {
            id: id.to_owned(),
            behaviour,
            fetches: AtomicUsize::new(0),
            cached_fetches: AtomicUsize::new(0),
            active: counter(),
        })
    }

    /// Fetches in progress (started, neither finished nor dropped).
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn cached_fetches(&self) -> usize {
        self.cached_fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PeerClient for FakePeer {
    fn id(&self) -> &str {
        &self.id
    }

    async fn fetch(&self, _group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, Error> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let _active = Active::enter(&self.active);
        let qps = match &self.behaviour {
            Behaviour::Up { qps } => *qps,
            _ => 50.0,
        };
        let value = Fetched {
            minute_qps: Some(qps),
            ..Fetched::new(format!("remote:{key}"))
        };
        self.answer(value, async {
            let group = self.mesh_group();
            group.fetch_for_peer(key, ctx.clone()).await
        })
        .await
    }

    /// As a previous owner asked during warm takeover: the same behaviours,
    /// answering `"prev:{key}"` (no QPS report); a mesh peer answers from
    /// its group's `peek`.
    async fn fetch_cached(
        &self,
        _group: &str,
        key: &str,
        _ctx: &LoadContext,
    ) -> Result<Fetched, Error> {
        self.cached_fetches.fetch_add(1, Ordering::SeqCst);
        let _active = Active::enter(&self.active);
        let value = Fetched::new(format!("prev:{key}"));
        self.answer(value, async {
            self.mesh_group().peek(key).ok_or(Error::NotFound)
        })
        .await
    }
}

impl FakePeer {
    /// What the peer's behaviour answers: `value` when it is up (with the
    /// behaviour's TTL when it expires), `mesh` for a mesh peer.
    async fn answer(
        &self,
        value: Fetched,
        mesh: impl std::future::Future<Output = Result<Fetched, Error>>,
    ) -> Result<Fetched, Error> {
        match &self.behaviour {
            Behaviour::Up { .. } => Ok(value),
            Behaviour::Expiring(ttl) => Ok(Fetched {
                ttl: Some(*ttl),
                ..value
            }),
            Behaviour::Down => Err(Error::unavailable("connection refused")),
            Behaviour::Overloaded => Err(Error::Overloaded),
            Behaviour::Saturated => Err(Error::TooManyLoads),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(Error::unavailable("hung"))
            }
            Behaviour::Slow(delay) => {
                tokio::time::sleep(*delay).await;
                Ok(Fetched {
                    minute_qps: None,
                    ..value
                })
            }
            Behaviour::Failing => Err(Error::source_failed("owner's database down")),
            Behaviour::Missing => Err(Error::NotFound),
            Behaviour::Mesh(_) => mesh.await,
        }
    }

    /// The group a mesh peer answers from.
    fn mesh_group(&self) -> &cache_core::Group {
        match &self.behaviour {
            Behaviour::Mesh(group) => group.get().expect("mesh peer wired"),
            _ => unreachable!("only a mesh peer has a group"),
        }
    }
}

/// Counts one fetch in progress until dropped.
struct Active(Arc<AtomicUsize>);

impl Active {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Active(Arc::clone(counter))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Routes `"{peer}:{rest}"` to the peer named `{peer}`; every other key
/// (and an unknown or `self_id` prefix) is owned by this node.
pub(crate) struct PrefixPicker {
    pub(crate) self_id: String,
    pub(crate) peers: HashMap<String, Arc<FakePeer>>,
}

impl PrefixPicker {
    pub(crate) fn new(self_id: &str, peers: &[&Arc<FakePeer>]) -> Arc<Self> {
        Arc::new(PrefixPicker {
            self_id: self_id.to_owned(),
            peers: peers
                .iter()
                .map(|p| (p.id.clone(), Arc::clone(p)))
                .collect(),
        })
    }
}

impl PeerPicker for PrefixPicker {
    fn pick(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let (owner, _) = key.split_once(':')?;
        if owner == self.self_id {
            return None;
        }
        self.peers
            .get(owner)
            .map(|p| Arc::clone(p) as Arc<dyn PeerClient>)
    }
}

/// A picker in a warm-up period: this node owns every key, and the keys
/// starting with `moved` were owned by `previous` on the ring before.
pub(crate) struct WarmUpPicker {
    pub(crate) previous: Arc<FakePeer>,
}

impl WarmUpPicker {
    pub(crate) fn new(previous: &Arc<FakePeer>) -> Arc<Self> {
        Arc::new(WarmUpPicker {
            previous: Arc::clone(previous),
        })
    }
}

impl PeerPicker for WarmUpPicker {
    fn pick(&self, _key: &str) -> Option<Arc<dyn PeerClient>> {
        None
    }

    fn previous_owner(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        key.starts_with("moved")
            .then(|| Arc::clone(&self.previous) as Arc<dyn PeerClient>)
    }
}

/// A fresh call counter.
pub(crate) fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// Reads a call counter.
pub(crate) fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// Asserts the group counters exactly: those listed have the given values,
/// every other counter is zero.
#[track_caller]
pub(crate) fn assert_counters(group: &Group, expected: &[(&str, u64)]) {
    let stats = group.stats();
    let actual: Vec<(&str, u64)> = stats.counters().into_iter().filter(|c| c.1 != 0).collect();
    let mut want: Vec<(&str, u64)> = expected.iter().copied().filter(|c| c.1 != 0).collect();
    let order = |name: &str| stats.counters().iter().position(|c| c.0 == name);
    for (name, _) in &want {
        assert!(order(name).is_some(), "no counter named {name}");
    }
    want.sort_by_key(|c| order(c.0));
    assert_eq!(actual, want, "counters of group {}", group.name());
}
