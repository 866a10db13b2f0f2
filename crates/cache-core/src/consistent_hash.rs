//! The consistent hash ring that maps keys to peers, and canonical peer ids.
//!
//! Each peer is placed on a ring of `u64` points at `vnodes` virtual points,
//! the hashes of `"{peer}#{i}"` for `i` in `0..vnodes`. A key belongs to the
//! peer of the first point at or after the key's hash, wrapping around.
//! Adding or removing a peer only moves the keys between its points and
//! their predecessors: about `1/n` of the keys.
//!
//! Every node of a cluster must build its ring with the same hash function,
//! the same number of virtual nodes and the same peer ids, which is why
//! peers are named by their [`canonical_peer_id`].

use std::fmt::{self, Write as _};

mod canonical;
#[cfg(test)]
mod tests;

pub use canonical::canonical_peer_id;

/// A hash function for ring points and keys. It must be the same on every
/// node of a cluster.
pub type HashFn = fn(&[u8]) -> u64;

/// The number of virtual points per peer used by [`HashRing::new`] callers
/// that have no reason to choose: 50, the value golang/groupcache's HTTP
/// pool uses.
pub const DEFAULT_VNODES: usize = 50;

/// The default hash: 64-bit xxh3 (fast, well spread, stable across
/// platforms and releases).
pub fn default_hash(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

/// A consistent hash ring of peers with virtual nodes.
///
/// Peers are stored by the id they are added under; callers pass canonical
/// ids (see [`canonical_peer_id`]) so that all nodes agree.
///
/// The owner of a key depends only on the set of peers, the hash function
/// and `vnodes`: not on the order peers were added, and not on collisions
/// (when two peers' points hash to the same value, the peer with the
/// smaller id comes first and wins). Lookup is a binary search over a
/// sorted `Vec`, `O(log(peers * vnodes))`, with no allocation.
///
/// ```
/// use cache_core::HashRing;
///
/// let mut ring = HashRing::new(50);
/// ring.add("10.0.0.1:7001");
/// ring.add("10.0.0.2:7001");
/// let owner = ring.owner("some-key").unwrap();
/// assert!(owner == "10.0.0.1:7001" || owner == "10.0.0.2:7001");
/// assert_eq!(HashRing::new(50).owner("some-key"), None);
/// ```
#[derive(Clone)]
pub struct HashRing {
    /// Virtual points per peer; at least 1.
    vnodes: usize,
    /// Hashes keys and virtual point names.
    hash: HashFn,
    /// The peer ids, sorted and distinct, so that an index order is the id
    /// order (this is what breaks ties between equal points).
    peers: Vec<String>,
    /// `(point, index into peers)`, sorted by point then index. Holds
    /// exactly `vnodes` entries per peer.
    points: Vec<(u64, u32)>,
}

impl fmt::Debug for HashRing {
    /// Shows the peers and sizes, not the (possibly 50 000) points.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashRing")
            .field("vnodes", &self.vnodes)
            .field("peers", &self.peers)
            .field("points", &self.points.len())
            .finish()
    }
}

impl Default for HashRing {
    /// An empty ring with [`DEFAULT_VNODES`] and the xxh3 hash.
    fn default() -> Self {
        HashRing::new(DEFAULT_VNODES)
    }
}

impl HashRing {
    /// An empty ring with `vnodes` virtual points per peer (0 is taken as 1)
    /// and the default xxh3 hash.
    pub fn new(vnodes: usize) -> Self {
        HashRing::with_hasher(vnodes, default_hash)
    }

    /// An empty ring with `vnodes` virtual points per peer (0 is taken as 1)
    /// and a custom hash function.
    pub fn with_hasher(vnodes: usize, hash: HashFn) -> Self {
        HashRing {
            vnodes: vnodes.max(1),
            hash,
            peers: Vec::new(),
            points: Vec::new(),
        }
    }

    /// Virtual points per peer.
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }

    /// Adds a peer (a canonical id). Returns false, and changes nothing,
    /// when it is already on the ring. Costs `O(peers * vnodes)`.
    pub fn add(&mut self, peer_id: &str) -> bool {
        let at = match self.peers.binary_search_by(|p| p.as_str().cmp(peer_id)) {
            Ok(_) => return false,
            Err(at) => at,
        };
        let Ok(at_index) = u32::try_from(at) else {
            // More than 4 billion peers: not a ring anyone can build.
            return false;
        };
        for (_, index) in &mut self.points {
            if *index >= at_index {
                *index += 1;
            }
        }
        self.peers.insert(at, peer_id.to_owned());
        let mut new_points = self.points_of(peer_id, at_index);
        new_points.sort_unstable();
        // Two sorted runs: the standard stable sort merges them in linear time.
        self.points.extend(new_points);
        self.points.sort();
        true
    }

    /// Removes a peer. Returns false when it was not on the ring. Costs
    /// `O(peers * vnodes)`.
    pub fn remove(&mut self, peer_id: &str) -> bool {
        let Ok(at) = self.peers.binary_search_by(|p| p.as_str().cmp(peer_id)) else {
            return false;
        };
        self.peers.remove(at);
        // `at` fits in u32: `add` never stores more peers than that.
        let at = at as u32;
        self.points.retain(|&(_, index)| index != at);
        for (_, index) in &mut self.points {
            if *index > at {
                *index -= 1;
            }
        }
        true
    }

    /// Replaces the peers with `peers` (canonical ids; duplicates are
    /// ignored), building the ring once. Cheaper than many `add` calls.
    pub fn set_peers<I, S>(&mut self, peers: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ids: Vec<String> = peers.into_iter().map(|p| p.as_ref().to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(u32::MAX as usize);
        let mut points = Vec::with_capacity(ids.len() * self.vnodes);
        for (index, id) in ids.iter().enumerate() {
            points.extend(self.points_of(id, index as u32));
        }
        points.sort_unstable();
        self.peers = ids;
        self.points = points;
    }

    /// The peer that owns `key`, or `None` when the ring is empty.
    pub fn owner(&self, key: &str) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = (self.hash)(key.as_bytes());
        let i = self.points.partition_point(|&(point, _)| point < h);
        let (_, index) = self.points[if i == self.points.len() { 0 } else { i }];
        Some(self.peers[index as usize].as_str())
    }

    /// Each peer's share of the key space (the hash range its points
    /// own), by id; the shares sum to 1 on a non-empty ring.
    pub fn shares(&self) -> Vec<(String, f64)> {
        let mut owned = vec![0u128; self.peers.len()];
        let n = self.points.len();
        for (i, &(point, index)) in self.points.iter().enumerate() {
            let arc = if n == 1 {
                1u128 << 64
            } else {
                let prev = self.points[(i + n - 1) % n].0;
                u128::from(point.wrapping_sub(prev))
            };
            owned[index as usize] += arc;
        }
        let whole = (1u128 << 64) as f64;
        self.peers
            .iter()
            .zip(owned)
            .map(|(id, arc)| (id.clone(), arc as f64 / whole))
            .collect()
    }

    /// A short fingerprint of the ring: a hash of its sorted peer ids and
    /// `vnodes` (0 for an empty ring). Two nodes with equal fingerprints
    /// map every key to the same owner (with the same hash function); peers
    /// exchange it with fetches to notice a mesh that disagrees.
    pub fn fingerprint(&self) -> u64 {
        if self.peers.is_empty() {
            return 0;
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&(self.vnodes as u64).to_le_bytes());
        for peer in &self.peers {
            hasher.update(peer.as_bytes());
            hasher.update(b"\n");
        }
        // 0 means "not sent" on the wire.
        hasher.digest().max(1)
    }

    /// The peers on the ring, sorted by id.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// The number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when the ring has no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// True when `peer_id` is on the ring.
    pub fn contains(&self, peer_id: &str) -> bool {
        self.peers
            .binary_search_by(|p| p.as_str().cmp(peer_id))
            .is_ok()
    }

    /// The `vnodes` points of one peer, tagged with its index.
    fn points_of(&self, peer_id: &str, index: u32) -> Vec<(u64, u32)> {
        let mut name = String::with_capacity(peer_id.len() + 8);
        (0..self.vnodes)
            .map(|i| {
                name.clear();
                // Writing to a String cannot fail.
                let _ = write!(name, "{peer_id}#{i}");
                ((self.hash)(name.as_bytes()), index)
            })
            .collect()
    }
}
