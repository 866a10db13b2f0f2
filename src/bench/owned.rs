//! Which keys a node owns, computed with the same consistent-hash ring the
//! nodes use (default virtual nodes, canonical peer ids), so owner-hit runs
//! can target one node with only its own keys.

use cache_core::canonical_peer_id;
use cache_core::consistent_hash::{DEFAULT_VNODES, HashRing};

/// The keys among `keys` that `node` owns in a cluster of `peers` (`node` is
/// added to the ring if missing, as a node always counts itself). Addresses
/// are canonicalised like the nodes do; one that can't be is used as given.
pub fn owned_keys<'a>(node: &str, peers: &[String], keys: &'a [String]) -> Vec<&'a str> {
    let canon = |a: &str| canonical_peer_id(a).unwrap_or_else(|_| a.trim().to_string());
    let me = canon(node);
    let mut ids: Vec<String> = peers.iter().map(|p| canon(p)).collect();
    if !ids.contains(&me) {
        ids.push(me.clone());
    }
    let mut ring = HashRing::new(DEFAULT_VNODES);
    ring.set_peers(&ids);
    keys.iter()
        .filter(|k| ring.owner(k) == Some(me.as_str()))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key has exactly one owner among three nodes, and `http://`
    /// spellings name the same node.
    #[test]
    fn keys_are_partitioned() {
        let peers: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:700{i}")).collect();
        let keys: Vec<String> = (0..3000).map(|i| format!("key-{i}")).collect();
        let total: usize = peers
            .iter()
            .map(|p| owned_keys(p, &peers, &keys).len())
            .sum();
        assert_eq!(total, 3000);
        let a = owned_keys("127.0.0.1:7001", &peers, &keys);
        let b = owned_keys("http://127.0.0.1:7001", &peers, &keys);
        assert_eq!(a, b);
        assert!(!a.is_empty() && a.len() < 3000);
    }
}
