//! The seam between the engine and the network: who owns a key
//! ([`PeerPicker`]) and how to ask it ([`PeerClient`]).
//!
//! `cache-core` never talks to a network itself; `cache-grpc` implements
//! these traits over gRPC, and tests implement them in process.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Error, LoadContext};

/// A value fetched from the key's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The value.
    pub value: Bytes,
    /// The owner's estimate of this key's request rate (requests per second,
    /// averaged over about a minute), if it reports one. Feeds the hot-cache
    /// promotion policy.
    pub minute_qps: Option<f64>,
    /// Time left before the value expires at the owner, if it expires: its
    /// fresh time left, or for a `stale` value the time left in its stale
    /// window (never zero then).
    pub ttl: Option<Duration>,
    /// The owner's source has no such key, and the owner remembers that
    /// for `ttl` (its negative caching): `value` is empty. The requester
    /// answers [`Error::NotFound`] and may remember it for as long in its
    /// hot cache. An owner that does not remember its NotFounds answers
    /// [`Error::NotFound`] instead.
    pub not_found: bool,
    /// True when the owner answered a value past its fresh time, inside its
    /// stale window, while it refreshes it: the requester serves it to its
    /// caller but keeps no copy. Old peers never set it.
    pub stale: bool,
}

impl Fetched {
    /// A fetched value with no QPS report and no expiry.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Fetched {
            value: value.into(),
            minute_qps: None,
            ttl: None,
            not_found: false,
            stale: false,
        }
    }

    /// The owner's NotFound, remembered by it for `ttl`.
    pub fn not_found(ttl: Duration) -> Self {
        Fetched {
            value: Bytes::new(),
            minute_qps: None,
            ttl: Some(ttl),
            not_found: true,
            stale: false,
        }
    }
}

/// A remote peer that can be asked for a key of a group.
///
/// Errors must be classified: [`Error::NotFound`], [`Error::SourceFailed`]
/// and [`Error::TooManyLoads`] when the owner answered that its source has
/// no such key, failed or is saturated (passed on to the caller), and
/// [`Error::Unavailable`], [`Error::DeadlineExceeded`] or
/// [`Error::Overloaded`] when the peer could not answer (the group then loads
/// the key locally).
///
/// **Liveness is the client's job.** The group waits for a fetch as long as
/// any of its callers waits (an owner's load may rightly take seconds), so
/// an implementation must itself notice a peer that is dead, unreachable or
/// hung, and fail with [`Error::Unavailable`] within about its peer timeout,
/// without bounding a live owner's answer by it. (`cache-grpc` does this
/// with HTTP/2 PINGs on the peer connection and a per-peer breaker.)
#[async_trait]
pub trait PeerClient: Send + Sync + Debug + 'static {
    /// The peer's canonical id (for example `127.0.0.1:7001`).
    fn id(&self) -> &str;

    /// Fetches `key` of `group` from this peer. The peer must answer from its
    /// own caches or its own loader and never forward the request.
    /// `ctx`'s deadline is the longest the group will wait (its load
    /// timeout); its token fires when no caller waits any more, and the
    /// future is then dropped.
    async fn fetch(&self, group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, Error>;

    /// Fetches every key of `keys` of `group` from this peer in one
    /// request, as [`fetch`](Self::fetch) would each (the peer answers from
    /// its own caches or loader, never forwarding): one result per key, in
    /// the order of `keys`. The outer `Err` is the failure of the whole
    /// request, classified as for `fetch` (an [`Error::is_peer_fallback`]
    /// error makes the group load every key of the batch locally); a key's
    /// own error is classified the same way. `ctx` is as for `fetch`. The
    /// default calls `fetch` for every key at once (for peers that have no
    /// batch request).
    async fn fetch_many(
        &self,
        group: &str,
        keys: &[String],
        ctx: &LoadContext,
    ) -> Result<Vec<Result<Fetched, Error>>, Error> {
        let fetches = keys.iter().map(|key| self.fetch(group, key, ctx));
        Ok(futures::future::join_all(fetches).await)
    }

    /// Asks this peer for `key` of `group` from its caches only: it must
    /// neither load nor forward, and answers [`Error::NotFound`] when it
    /// holds no value. Used for warm takeover (a new owner asks the key's
    /// previous owner before its source) within `ctx`'s deadline. The
    /// default holds nothing.
    async fn fetch_cached(
        &self,
        group: &str,
        key: &str,
        ctx: &LoadContext,
    ) -> Result<Fetched, Error> {
        let _ = (group, key, ctx);
        Err(Error::NotFound)
    }
}

/// Picks the owner of a key.
pub trait PeerPicker: Send + Sync + 'static {
    /// The owner of `key`, or `None` when this node owns it.
    fn pick(&self, key: &str) -> Option<Arc<dyn PeerClient>>;

    /// During the warm-up period after the ring changed, the peer that
    /// owned `key` on the previous ring, when that is not this node: a new
    /// owner that misses asks it ([`PeerClient::fetch_cached`]) before
    /// calling its source. `None` outside the warm-up period (the default).
    fn previous_owner(&self, key: &str) -> Option<Arc<dyn PeerClient>> {
        let _ = key;
        None
    }
}

/// The [`PeerPicker`] of a single node: it owns every key.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPeers;

impl PeerPicker for NoPeers {
    fn pick(&self, _key: &str) -> Option<Arc<dyn PeerClient>> {
        None
    }
}
