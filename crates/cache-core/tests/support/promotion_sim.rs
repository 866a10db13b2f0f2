//! A deterministic simulation of hot-cache promotion in a small cluster,
//! shared by `tests/promotion_sim.rs` and `examples/promotion_sim.rs`.
//!
//! `nodes` nodes own the keys through a [`HashRing`]. Requests for zipf-
//! distributed keys arrive at random nodes at `cluster_qps`. A node serves
//! the keys it owns itself; for any other key it looks in its hot cache (an
//! LRU of `hot_entries` equal-sized values) and on a miss fetches the value
//! from the owner, which records the request in its [`KeyRates`] and
//! reports the key's rate; the node's promotion policy then decides whether
//! to keep a copy. Time is simulated: request `i` happens `i / cluster_qps`
//! seconds after the start, so runs are exactly reproducible (the caller
//! must pause tokio's clock so that `Instant::now()` does not move).
//!
//! With `scan_share > 0` that share of the requests is a scan instead: keys
//! `scan-0`, `scan-1`, ... in order, each requested once (a batch job or a
//! crawler walking the key space), the classic polluter of a cache.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use cache_core::promotion::{PromotionInput, PromotionPolicy};
use cache_core::{HashRing, KeyRates};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use tokio::time::Instant;

/// The parameters of one simulated run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimConfig {
    /// Nodes in the cluster.
    pub(crate) nodes: usize,
    /// Distinct keys; key of rank 1 is the most requested.
    pub(crate) keys: u64,
    /// Requests to simulate.
    pub(crate) requests: u64,
    /// Zipf exponent of key popularity.
    pub(crate) zipf_s: f64,
    /// Requests per second arriving at the whole cluster.
    pub(crate) cluster_qps: f64,
    /// Hot-cache capacity of each node, in (equal-sized) entries.
    pub(crate) hot_entries: usize,
    /// Seed of the request trace (same seed, same trace for every policy).
    pub(crate) seed: u64,
    /// Share of the requests that are one-time scan keys, in [0, 1]; 0 is
    /// the pure zipf trace (and draws no extra random numbers).
    pub(crate) scan_share: f64,
}

/// What one run counted, summed over the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SimResult {
    /// Requests that arrived at the key's owner (served from its main cache
    /// or its loader, the same under every policy).
    pub(crate) at_owner: u64,
    /// Requests for another node's key answered from the local hot cache.
    pub(crate) hot_hits: u64,
    /// Requests for another node's key that went to the owner.
    pub(crate) peer_fetches: u64,
    /// Fetched values the policy put into the hot cache.
    pub(crate) promotions: u64,
}

impl SimResult {
    /// Hot hits over requests for keys owned elsewhere.
    pub(crate) fn hot_hit_ratio(&self) -> f64 {
        self.hot_hits as f64 / (self.hot_hits + self.peer_fetches) as f64
    }
}

/// An LRU of keys with a fixed number of entries (the values are all the
/// same size, so entries stand for bytes).
struct Lru {
    capacity: usize,
    /// key -> stamp of its last use.
    stamps: HashMap<u32, u64>,
    /// stamp -> key, oldest first.
    order: BTreeMap<u64, u32>,
    clock: u64,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            stamps: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
        }
    }

    /// True (and marks it used) when `key` is cached.
    fn get(&mut self, key: u32) -> bool {
        self.clock += 1;
        match self.stamps.get_mut(&key) {
            Some(stamp) => {
                self.order.remove(stamp);
                *stamp = self.clock;
                self.order.insert(self.clock, key);
                true
            }
            None => false,
        }
    }

    /// True if one more entry fits without evicting.
    fn has_room(&self) -> bool {
        self.stamps.len() < self.capacity
    }

    /// Caches `key` (not yet cached), evicting the least recently used.
    fn insert(&mut self, key: u32) {
        if self.capacity == 0 {
            return;
        }
        if self.stamps.len() == self.capacity
            && let Some((_, old)) = self.order.pop_first()
        {
            self.stamps.remove(&old);
        }
        self.clock += 1;
        self.stamps.insert(key, self.clock);
        self.order.insert(self.clock, key);
    }
}

/// Runs the trace with one policy per node made by `policy(node)`.
pub(crate) fn run<P: PromotionPolicy>(
    config: &SimConfig,
    owner_reports: bool,
    policy: impl Fn(usize) -> P,
) -> SimResult {
    let ids: Vec<String> = (1..=config.nodes)
        .map(|i| format!("10.0.0.{i}:7001"))
        .collect();
    let mut ring = HashRing::default();
    ring.set_peers(&ids);
    let names: Vec<String> = (1..=config.keys).map(|k| format!("key-{k}")).collect();
    let owner_of: Vec<usize> = names
        .iter()
        .map(|k| {
            let owner = ring.owner(k).expect("the ring has peers");
            ids.iter().position(|id| id == owner).expect("a known peer")
        })
        .collect();
    let rates: Vec<KeyRates> = (0..config.nodes).map(|_| KeyRates::new()).collect();
    let policies: Vec<P> = (0..config.nodes).map(&policy).collect();
    let mut hot: Vec<Lru> = (0..config.nodes)
        .map(|_| Lru::new(config.hot_entries))
        .collect();
    let zipf = Zipf::new(config.keys as f64, config.zipf_s).expect("valid zipf parameters");
    let mut rng = StdRng::seed_from_u64(config.seed);
    let start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / config.cluster_qps);
    let mut result = SimResult::default();
    let scan_share = config.scan_share.clamp(0.0, 1.0);
    let mut scans: u32 = 0;
    let mut scan_name = String::new();
    for i in 0..config.requests {
        let now = start + step * u32::try_from(i).expect("fewer than 4 billion requests");
        let is_scan = scan_share > 0.0 && rng.random_bool(scan_share);
        let (key, name, owner) = if is_scan {
            let id = scans;
            scans += 1;
            scan_name.clear();
            write!(scan_name, "scan-{id}").expect("writing to a String");
            let owner = ring.owner(&scan_name).expect("the ring has peers");
            let owner = ids.iter().position(|id| id == owner).expect("a known peer");
            let key = u32::try_from(config.keys).expect("keys fit u32") + id;
            (key, scan_name.as_str(), owner)
        } else {
            let key = zipf.sample(&mut rng) as u32 - 1;
            (key, names[key as usize].as_str(), owner_of[key as usize])
        };
        let node = rng.random_range(0..config.nodes);
        if owner == node {
            rates[owner].record(name, now);
            result.at_owner += 1;
        } else if hot[node].get(key) {
            result.hot_hits += 1;
        } else {
            result.peer_fetches += 1;
            let qps = rates[owner].record(name, now);
            let input = PromotionInput {
                key: name,
                owner_qps: owner_reports.then_some(qps),
                now,
                hot_has_room: hot[node].has_room(),
            };
            if policies[node].should_promote(&input) {
                result.promotions += 1;
                hot[node].insert(key);
            }
        }
    }
    result
}
