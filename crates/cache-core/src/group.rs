//! SKELETON: the public API of `Group` is fixed here; the bodies are being written.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{Error, Fetched, Getter, LoadContext, NoPeers, PeerPicker, StatsSnapshot};

/// Which built-in store a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    /// The exact, sharded, byte-bounded LRU of this crate.
    #[default]
    Lru,
    /// A moka cache (TinyLFU admission, weigher, per-entry expiry).
    Moka,
}

/// Builds a [`Group`].
#[must_use]
pub struct GroupBuilder {
    name: String,
    cache_bytes: u64,
    getter: Arc<dyn Getter>,
    peers: Arc<dyn PeerPicker>,
    hot_fraction: f64,
    store_kind: StoreKind,
    negative_ttl: Option<Duration>,
    peer_timeout: Duration,
    max_key_bytes: usize,
}

impl GroupBuilder {
    /// A builder for a group called `name` with a byte budget and a loader.
    pub fn new(name: impl Into<String>, cache_bytes: u64, getter: impl Getter) -> Self {
        GroupBuilder {
            name: name.into(),
            cache_bytes,
            getter: Arc::new(getter),
            peers: Arc::new(NoPeers),
            hot_fraction: 0.125,
            store_kind: StoreKind::Lru,
            negative_ttl: None,
            peer_timeout: Duration::from_millis(300),
            max_key_bytes: 1024,
        }
    }

    /// The peer picker (default: [`NoPeers`]).
    pub fn peers(mut self, peers: Arc<dyn PeerPicker>) -> Self {
        self.peers = peers;
        self
    }

    /// Builds the group.
    pub fn build(self) -> Result<Group, Error> {
        let _ = (
            self.hot_fraction,
            self.store_kind,
            self.negative_ttl,
            self.peer_timeout,
            self.max_key_bytes,
            self.getter,
            self.peers,
        );
        Ok(Group {
            inner: Arc::new(Inner {
                name: self.name,
                cache_bytes: self.cache_bytes,
            }),
        })
    }
}

/// A named cache namespace with one loader. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Group {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    cache_bytes: u64,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The byte budget of both caches together.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.cache_bytes
    }

    /// Gets `key` with no deadline.
    pub async fn get(&self, key: &str) -> Result<Bytes, Error> {
        self.get_with(key, LoadContext::new()).await
    }

    /// Gets `key`; `ctx`'s deadline bounds the wait and is given to the loader.
    pub async fn get_with(&self, key: &str, ctx: LoadContext) -> Result<Bytes, Error> {
        let _ = (key, ctx);
        todo!("group get path")
    }

    /// Answers a peer's fetch: from this node's caches or its loader, never
    /// forwarded to another peer.
    pub async fn fetch_for_peer(&self, key: &str, ctx: LoadContext) -> Result<Fetched, Error> {
        let _ = (key, ctx);
        todo!("peer fetch path")
    }

    /// Removes `key` from this node's caches.
    pub fn remove(&self, key: &str) -> bool {
        let _ = key;
        todo!("remove")
    }

    /// A snapshot of the group's counters and cache stats.
    pub fn stats(&self) -> StatsSnapshot {
        todo!("stats")
    }
}
