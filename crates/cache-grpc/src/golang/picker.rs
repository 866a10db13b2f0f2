//! [`GoPool`]: the [`PeerPicker`] of a node in a golang/groupcache
//! `HTTPPool`: the Go ring over the pool's URLs and one [`GoPeer`] per
//! other peer.

use std::collections::HashMap;
use std::sync::Arc;

use cache_core::{PeerClient, PeerPicker};

use super::client::{GoPeer, GoPeerOptions};
use super::ring::GoRing;
use crate::Error;

/// The peers of a node in a Go pool. A cheap `Clone` (an `Arc`); fixed
/// for the life of the node (a Go `HTTPPool` is given its list once, by
/// the program; so is this one).
///
/// ```
/// use std::time::Duration;
/// use cache_grpc::golang::{GoPeerOptions, GoPool, DEFAULT_REPLICAS};
///
/// let opts = GoPeerOptions {
///     connect_timeout: Duration::from_millis(300),
///     fetch_timeout: Duration::from_secs(5),
///     max_value_bytes: 1 << 20,
///     base_path: "/_groupcache/".into(),
/// };
/// let peers = ["http://10.0.0.1:8000", "http://10.0.0.2:8000"];
/// let pool = GoPool::new("http://10.0.0.1:8000", peers, DEFAULT_REPLICAS, &opts).unwrap();
/// let owner = pool.owner("some-key").to_owned();
/// assert!(peers.contains(&owner.as_str()));
/// ```
#[derive(Debug, Clone)]
pub struct GoPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// This node's URL; on the ring.
    self_url: String,
    ring: GoRing,
    /// A client per peer but this node.
    clients: HashMap<String, Arc<GoPeer>>,
}

impl GoPool {
    /// The pool of the node at `self_url` among `peers` (the whole list,
    /// as every Go node of the pool is given it, in the same order).
    /// `self_url` must be one of them; URLs are used exactly as written.
    pub fn new<I, S>(
        self_url: &str,
        peers: I,
        replicas: usize,
        opts: &GoPeerOptions,
    ) -> Result<GoPool, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let peers: Vec<String> = peers.into_iter().map(Into::into).collect();
        if !peers.iter().any(|p| p == self_url) {
            return Err(Error::Config(format!(
                "this node's URL {self_url:?} is not in the Go pool's list {peers:?}"
            )));
        }
        if replicas == 0 || replicas > super::ring::MAX_REPLICAS {
            return Err(Error::Config(format!(
                "replicas must be between 1 and {}",
                super::ring::MAX_REPLICAS
            )));
        }
        let clients = peers
            .iter()
            .filter(|p| *p != self_url)
            .map(|p| (p.clone(), Arc::new(GoPeer::new(p, opts))))
            .collect();
        Ok(GoPool {
            inner: Arc::new(Inner {
                self_url: self_url.to_owned(),
                ring: GoRing::new(replicas, peers),
                clients,
            }),
        })
    }

    /// This node's URL.
    pub fn self_url(&self) -> &str {
        &self.inner.self_url
    }

    /// The ring.
    pub fn ring(&self) -> &GoRing {
        &self.inner.ring
    }

    /// The URL of the owner of `key` (possibly this node's).
    pub fn owner(&self, key: &str) -> &str {
        self.inner.ring.owner(key).unwrap_or(&self.inner.self_url)
    }
}

impl PeerPicker for GoPool {
    fn pick(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let owner = self.owner(key);
        let client = self.inner.clients.get(owner)?;
        Some(Arc::clone(client) as Arc<dyn PeerClient>)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn opts() -> GoPeerOptions {
        GoPeerOptions {
            connect_timeout: Duration::from_millis(100),
            fetch_timeout: Duration::from_secs(1),
            max_value_bytes: 1024,
            base_path: "/_groupcache/".into(),
        }
    }

    /// Keys this node owns pick nobody; the others pick their owner's
    /// client, and the owner is the ring's.
    #[test]
    fn picks_the_ring_owner() {
        let peers = [
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        ];
        let pool = GoPool::new(peers[1], peers, 50, &opts()).unwrap();
        let (mut mine, mut theirs) = (0, 0);
        for key in (0..300).map(|n| format!("key-{n}")) {
            let owner = pool.ring().owner(&key).unwrap();
            match pool.pick(&key) {
                None => {
                    assert_eq!(owner, peers[1]);
                    mine += 1;
                }
                Some(peer) => {
                    assert_eq!(peer.id(), owner);
                    theirs += 1;
                }
            }
        }
        assert!(mine > 0 && theirs > 0, "{mine} {theirs}");
    }

    /// A self URL outside the list, or a replica count out of range, is
    /// refused.
    #[test]
    fn refuses_bad_setups() {
        let peers = ["http://127.0.0.1:1", "http://127.0.0.1:2"];
        let err = GoPool::new("http://127.0.0.1:1/", peers, 50, &opts()).unwrap_err();
        assert!(err.to_string().contains("not in the Go pool"), "{err}");
        assert!(GoPool::new(peers[0], peers, 0, &opts()).is_err());
    }

    /// The client builds the URL Go's server expects.
    #[test]
    fn urls() {
        let peer = GoPeer::new("http://127.0.0.1:1", &opts());
        assert_eq!(
            peer.url_of("g", "a b/c"),
            "http://127.0.0.1:1/_groupcache/g/a%20b%2Fc"
        );
    }
}
