//! [`PeerPool`]: the set of peers, their consistent hash ring and one gRPC
//! client per peer; the [`PeerPicker`] a [`Group`](cache_core::Group) asks
//! "who owns this key?".

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use cache_core::consistent_hash::{HashRing, canonical_peer_id};
use cache_core::{PeerClient, PeerPicker};
use parking_lot::{Mutex, RwLock};
use tokio::time::Instant;

mod membership;
mod options;

pub use self::membership::{MembershipSnapshot, MembershipStatus, format_ring};
pub use self::options::{
    DEFAULT_TAKEOVER_TIMEOUT, DEFAULT_TAKEOVER_WINDOW, PoolOptions, PoolOptionsBuilder,
};
use crate::Error;
use crate::breaker::PeerHealth;
use crate::client::GrpcPeer;

/// The peers of this node: a consistent hash ring over their canonical ids
/// (this node included) and one [`GrpcPeer`] per other peer.
///
/// A cheap `Clone` (an `Arc`): the server, the groups and an operator's
/// admin code share one pool. Lookups take a read lock for a ring search;
/// changes build the new ring aside and swap it in, keeping the channels of
/// peers that stay, so healthy connections are not dropped.
///
/// ```
/// use cache_grpc::{PeerPool, PoolOptions};
///
/// let pool = PeerPool::new(
///     "127.0.0.1:7001",
///     ["http://127.0.0.1:7001/", "127.0.0.1:7002"],
///     PoolOptions::default(),
/// )
/// .unwrap();
/// assert_eq!(pool.self_id(), "127.0.0.1:7001");
/// assert_eq!(pool.peers(), ["127.0.0.1:7001", "127.0.0.1:7002"]);
/// ```
#[derive(Debug, Clone)]
pub struct PeerPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// This node's canonical id; always on the ring.
    self_id: String,
    opts: PoolOptions,
    /// The current ring and clients. Readers clone nothing: they search the
    /// ring under the read lock (no `.await` inside) and clone one `Arc`.
    state: RwLock<Arc<State>>,
    /// Serialises writers so that two concurrent changes cannot lose one
    /// another (each reads the current state, then swaps in a new one).
    writer: Mutex<()>,
    /// The last [`MEMBERSHIP_LOG`] changes of the peer set, oldest first.
    changes: Mutex<VecDeque<MembershipChange>>,
    /// Every change of the peer set so far (the first set counts).
    change_count: AtomicU64,
    /// The discovery source and its counters.
    membership: MembershipStatus,
    /// The current ring's fingerprint, shared with every client (which
    /// sends it with each fetch).
    ring: Arc<AtomicU64>,
}

/// How many earlier rings warm takeover consults: a key this node owned
/// on none of them is loaded.
const PREVIOUS_RINGS: usize = 4;

/// How many membership changes a pool remembers.
const MEMBERSHIP_LOG: usize = 20;

/// One change of a pool's peer set (the first: the set it started with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    /// When it was applied.
    pub at: SystemTime,
    /// Peer ids that joined the ring.
    pub added: Vec<String>,
    /// Peer ids that left it.
    pub removed: Vec<String>,
}

#[derive(Debug)]
struct State {
    ring: HashRing,
    /// [`HashRing::fingerprint`] of `ring`, sent with every fetch.
    fingerprint: u64,
    /// Clients of every peer on the ring except this node.
    clients: HashMap<String, Arc<GrpcPeer>>,
    /// The rings before the last changes still in their takeover window,
    /// newest first (at most [`PREVIOUS_RINGS`]).
    previous: Vec<Arc<Previous>>,
}

/// The ring before the last change and the clients of its peers (a peer
/// that left may still answer from its caches while it drains).
#[derive(Debug)]
struct Previous {
    ring: HashRing,
    clients: HashMap<String, Arc<GrpcPeer>>,
    /// The end of the takeover window.
    until: Instant,
}

impl PeerPool {
    /// A pool for the node at `self_addr` with the given peers.
    ///
    /// Addresses may be written `host:port` or `http://host:port[/]`; they
    /// are canonicalised, and duplicates collapse. When `self_addr` is not
    /// among `peers` a warning is logged and it is added anyway: a node
    /// always owns its share of keys. Connections are made on first use.
    pub fn new<I, S>(self_addr: &str, peers: I, opts: PoolOptions) -> Result<PeerPool, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let self_id = canonical(self_addr)?;
        let ids = canonical_all(peers)?;
        if !ids.contains(&self_id) {
            tracing::warn!(
                self_id = %self_id,
                peers = ?ids,
                "this node's own address is not in its peer list; adding it \
                 (every node should list the same peers, itself included)"
            );
        }
        let inner = Inner {
            self_id,
            opts,
            state: RwLock::new(Arc::new(State {
                ring: HashRing::new(0),
                fingerprint: 0,
                clients: HashMap::new(),
                previous: Vec::new(),
            })),
            writer: Mutex::new(()),
            changes: Mutex::new(VecDeque::new()),
            change_count: AtomicU64::new(0),
            membership: MembershipStatus::default(),
            ring: Arc::new(AtomicU64::new(0)),
        };
        let pool = PeerPool {
            inner: Arc::new(inner),
        };
        pool.replace(ids)?;
        Ok(pool)
    }

    /// This node's canonical id.
    pub fn self_id(&self) -> &str {
        &self.inner.self_id
    }

    /// The options the pool was built with.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.opts
    }

    /// Every peer on the ring (this node included), sorted.
    pub fn peers(&self) -> Vec<String> {
        self.state().ring.peers().to_vec()
    }

    /// The canonical id of the owner of `key` (possibly this node).
    pub fn owner(&self, key: &str) -> String {
        let state = self.state();
        state
            .ring
            .owner(key)
            .unwrap_or(&self.inner.self_id)
            .to_owned()
    }

    /// The client of peer `addr` (any accepted spelling), if it is a peer
    /// other than this node.
    pub fn client(&self, addr: &str) -> Option<Arc<GrpcPeer>> {
        let id = canonical_peer_id(addr).ok()?;
        self.state().clients.get(&id).cloned()
    }

    /// Each peer's share of the key space on this node's ring (this node
    /// included), by id.
    pub fn ring_shares(&self) -> Vec<(String, f64)> {
        self.state().ring.shares()
    }

    /// The last changes of the peer set (at most 20), oldest first; the
    /// first is the set the pool started with.
    pub fn membership_changes(&self) -> Vec<MembershipChange> {
        self.inner.changes.lock().iter().cloned().collect()
    }

    /// The ring's fingerprint ([`HashRing::fingerprint`]): equal on nodes
    /// that agree on the peer set.
    pub fn ring_fingerprint(&self) -> u64 {
        // The atomic the clients read, not the state: no lock per fetch.
        self.inner.ring.load(Ordering::Relaxed)
    }

    /// The membership side of the pool: the discovery loop reports its
    /// source, errors and readiness here.
    pub fn membership(&self) -> &MembershipStatus {
        &self.inner.membership
    }

    /// The membership status, ring and last change, as `Stats` shows them.
    pub fn membership_snapshot(&self) -> MembershipSnapshot {
        let status = &self.inner.membership;
        let (ring_mismatches, discovery_errors, rejected_answers, last_error) = status.counters();
        let changed_at = self
            .inner
            .changes
            .lock()
            .back()
            .map_or(SystemTime::UNIX_EPOCH, |c| c.at);
        MembershipSnapshot {
            source: status.source(),
            ring: self.ring_fingerprint(),
            changed_at,
            changes: self.inner.change_count.load(Ordering::Relaxed),
            ring_mismatches,
            discovery_errors,
            rejected_answers,
            last_error,
            ready: status.is_ready(),
        }
    }

    /// The ring this node would have without itself: where its keys go
    /// when it leaves (their clients: [`Self::client`]).
    pub fn ring_without_self(&self) -> HashRing {
        let mut ring = self.state().ring.clone();
        ring.remove(&self.inner.self_id);
        ring
    }

    /// The health of every peer other than this node, sorted by id.
    pub fn health(&self) -> Vec<(String, PeerHealth)> {
        let mut all: Vec<_> = self
            .state()
            .clients
            .iter()
            .map(|(id, client)| (id.clone(), client.health()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Replaces the peer list. This node stays on the ring whether listed or
    /// not; peers in both lists keep their channels.
    pub fn set_peers<I, S>(&self, peers: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ids = canonical_all(peers)?;
        self.replace(ids)
    }

    /// Adds one peer. Returns false when it was already there.
    pub fn add_peer(&self, addr: &str) -> Result<bool, Error> {
        let id = canonical(addr)?;
        let _writer = self.inner.writer.lock();
        let mut ids = self.peers();
        if ids.contains(&id) {
            return Ok(false);
        }
        ids.push(id);
        self.replace_locked(ids)?;
        Ok(true)
    }

    /// Removes one peer. Returns false when it was not there. This node
    /// cannot be removed from its own ring (returns false).
    pub fn remove_peer(&self, addr: &str) -> Result<bool, Error> {
        let id = canonical(addr)?;
        let _writer = self.inner.writer.lock();
        let mut ids = self.peers();
        let before = ids.len();
        ids.retain(|p| *p != id || *p == self.inner.self_id);
        if ids.len() == before {
            return Ok(false);
        }
        self.replace_locked(ids)?;
        Ok(true)
    }

    fn state(&self) -> Arc<State> {
        self.inner.state.read().clone()
    }

    fn replace(&self, ids: Vec<String>) -> Result<(), Error> {
        let _writer = self.inner.writer.lock();
        self.replace_locked(ids)
    }

    /// Builds the new ring and client map aside, then swaps it in. The
    /// caller holds `writer`.
    fn replace_locked(&self, mut ids: Vec<String>) -> Result<(), Error> {
        if !ids.contains(&self.inner.self_id) {
            ids.push(self.inner.self_id.clone());
        }
        let old = self.state();
        let mut clients = HashMap::with_capacity(ids.len());
        for id in &ids {
            if *id == self.inner.self_id || clients.contains_key(id) {
                continue;
            }
            let client = match old.clients.get(id) {
                Some(kept) => kept.clone(),
                None => Arc::new(GrpcPeer::new(
                    id.clone(),
                    &self.inner.opts,
                    self.inner.ring.clone(),
                )?),
            };
            clients.insert(id.clone(), client);
        }
        let mut ring = HashRing::new(self.inner.opts.vnodes);
        ring.set_peers(&ids);
        let fingerprint = ring.fingerprint();
        if fingerprint == old.fingerprint {
            // The same set (in another order, or respelled): nothing moves.
            return Ok(());
        }
        let window = self.inner.opts.takeover_window;
        let until = Instant::now() + window;
        let alone = old.ring.peers() == std::slice::from_ref(&self.inner.self_id);
        let newest = if window.is_zero() || old.ring.is_empty() {
            None
        } else if !alone {
            Some(Previous {
                ring: old.ring.clone(),
                clients: old.clients.clone(),
                until,
            })
        } else {
            // Joining (the first set of a node that started alone, as a
            // discovering node does): the mesh as it was without this node
            // held its keys.
            let mut without = ring.clone();
            without.remove(&self.inner.self_id);
            (!without.is_empty()).then(|| Previous {
                ring: without,
                clients: clients.clone(),
                until,
            })
        };
        // Older rings stay until their own window ends: a key this node
        // took over after one change but nobody asked for yet is still
        // found after the next.
        let now = Instant::now();
        let previous: Vec<Arc<Previous>> = newest
            .map(Arc::new)
            .into_iter()
            .chain(old.previous.iter().filter(|p| p.until > now).cloned())
            .take(PREVIOUS_RINGS)
            .collect();
        let before = old.ring.peers();
        let change = MembershipChange {
            at: SystemTime::now(),
            added: ring
                .peers()
                .iter()
                .filter(|p| !before.contains(p))
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|p| !ring.peers().contains(p))
                .cloned()
                .collect(),
        };
        tracing::info!(
            self_id = %self.inner.self_id,
            added = ?change.added,
            removed = ?change.removed,
            peers = ring.len(),
            ring = %format_ring(fingerprint),
            "peer set changed"
        );
        {
            let mut log = self.inner.changes.lock();
            if log.len() == MEMBERSHIP_LOG {
                log.pop_front();
            }
            log.push_back(change);
        }
        self.inner.change_count.fetch_add(1, Ordering::Relaxed);
        self.inner.ring.store(fingerprint, Ordering::Relaxed);
        *self.inner.state.write() = Arc::new(State {
            ring,
            fingerprint,
            clients,
            previous,
        });
        Ok(())
    }
}

impl PeerPicker for PeerPool {
    fn pick(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let state = self.inner.state.read();
        let owner = state.ring.owner(key)?;
        if owner == self.inner.self_id {
            return None;
        }
        let client: Arc<dyn PeerClient> = state.clients.get(owner)?.clone();
        Some(client)
    }

    /// The peer that may hold `key` when this node, asked to load it, is
    /// not the only candidate: during the takeover window, its owner on the
    /// previous ring; at any time, its owner on this node's ring when that
    /// is another peer (a peer whose ring differs sent us its fetch, as
    /// happens while a change propagates). Either is asked from its caches
    /// only, so a request still never bounces.
    fn previous_owner(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let state = self.inner.state.read();
        if let Some(owner) = state.ring.owner(key)
            && owner != self.inner.self_id
        {
            let client = state.clients.get(owner)?.clone();
            return Some(client as Arc<dyn PeerClient>);
        }
        let now = Instant::now();
        let (owner, previous) = state
            .previous
            .iter()
            .filter(|p| p.until > now)
            .find_map(|p| {
                let owner = p.ring.owner(key)?;
                (owner != self.inner.self_id).then_some((owner, p))
            })?;
        let client = state
            .clients
            .get(owner)
            .or_else(|| previous.clients.get(owner))?
            .clone();
        Some(client as Arc<dyn PeerClient>)
    }
}

/// Canonicalises one address into a peer id.
fn canonical(addr: &str) -> Result<String, Error> {
    canonical_peer_id(addr).map_err(|e| Error::InvalidPeer {
        addr: addr.to_owned(),
        reason: match e {
            cache_core::Error::Config(why) => why,
            other => other.to_string(),
        },
    })
}

/// Canonicalises a list, dropping duplicates while keeping order.
fn canonical_all<I, S>(peers: I) -> Result<Vec<String>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut ids: Vec<String> = Vec::new();
    for p in peers {
        let id = canonical(p.as_ref())?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests;
