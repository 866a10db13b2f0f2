//! Which keys a node owns, computed by the same [`PeerPool`] the nodes use
//! (same ring, virtual nodes and canonical peer ids), so owner-hit runs can
//! target one node with only its own keys.

use cache_grpc::{PeerPool, PoolOptions};

use crate::Error;

/// The keys among `keys` that `node` owns in a cluster of `peers` (`node` is
/// on the ring even if missing from `peers`, as a node always counts
/// itself). Must be called inside a tokio runtime (the pool's channels are
/// created lazily there; nothing is connected).
pub fn owned_keys<'a>(
    node: &str,
    peers: &[String],
    keys: &'a [String],
) -> Result<Vec<&'a str>, Error> {
    let pool = PeerPool::new(node, peers, PoolOptions::default())
        .map_err(|e| Error::config(format!("--owned-by/--peers: {e}")))?;
    let me = pool.self_id().to_string();
    Ok(keys
        .iter()
        .filter(|k| pool.owner(k) == me)
        .map(String::as_str)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key has exactly one owner among three nodes, and `http://`
    /// spellings name the same node.
    #[tokio::test]
    async fn keys_are_partitioned() {
        let peers: Vec<String> = (1..=3).map(|i| format!("127.0.0.1:700{i}")).collect();
        let keys: Vec<String> = (0..3000).map(|i| format!("key-{i}")).collect();
        let total: usize = peers
            .iter()
            .map(|p| owned_keys(p, &peers, &keys).unwrap().len())
            .sum();
        assert_eq!(total, 3000);
        let a = owned_keys("127.0.0.1:7001", &peers, &keys).unwrap();
        let b = owned_keys("http://127.0.0.1:7001", &peers, &keys).unwrap();
        assert_eq!(a, b);
        assert!(!a.is_empty() && a.len() < 3000);
    }
}
