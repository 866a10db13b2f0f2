//! [`GrpcPeer`]: a [`PeerClient`] that fetches from one peer over a tonic
//! [`Channel`].
//!
//! One channel per peer, created on first use and kept for the life of the
//! peer: HTTP/2 multiplexes every concurrent fetch over one connection, and
//! the channel reconnects by itself after the peer restarts.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Error as CoreError, Fetched, LoadContext, PeerClient};
use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::coalesce::CoalescingIo;

use crate::pb::FetchRequest;
use crate::pb::groupcache_client::GroupcacheClient;
use crate::{Error, PoolOptions, limits, status};

/// The client side of one peer.
#[derive(Debug)]
pub struct GrpcPeer {
    /// Canonical id (`host:port`), also the ring's name for the peer.
    id: String,
    /// Where and how to connect; turned into [`Self::channel`] on first use.
    endpoint: Endpoint,
    /// Created lazily, inside a runtime (a tonic channel spawns a worker
    /// task), then cloned for every fetch (a clone shares the connection).
    channel: OnceLock<Channel>,
    /// Encode and decode limit, from the pool's `max_value_bytes`.
    max_message_bytes: usize,
    /// Budget of a fetch whose context carries no deadline.
    default_timeout: Duration,
    /// Connect through [`CoalescingIo`] (see [`PoolOptions::write_coalescing`]).
    write_coalescing: bool,
}

impl GrpcPeer {
    /// A client for the peer with canonical id `id`. Connects on first use.
    pub(crate) fn new(id: String, opts: &PoolOptions) -> Result<Self, Error> {
        let endpoint = Endpoint::from_shared(format!("http://{id}"))
            .map_err(|e| Error::InvalidPeer {
                addr: id.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(opts.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(opts.keepalive_interval);
        Ok(GrpcPeer {
            id,
            endpoint,
            channel: OnceLock::new(),
            max_message_bytes: limits::message_limit(opts.max_value_bytes),
            default_timeout: opts.peer_timeout,
            write_coalescing: opts.write_coalescing,
        })
    }

    /// A gRPC client on this peer's channel, with the message limits set.
    /// The first call must be made inside a tokio runtime (it creates the
    /// channel, which spawns its connection task there).
    pub fn client(&self) -> GroupcacheClient<Channel> {
        let channel = self
            .channel
            .get_or_init(|| {
                if self.write_coalescing {
                    self.endpoint
                        .connect_with_connector_lazy(tower::service_fn(connect_coalescing))
                } else {
                    self.endpoint.connect_lazy()
                }
            })
            .clone();
        GroupcacheClient::new(channel)
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }
}

/// Bytes a peer connection may queue before its writes wait for the writer
/// task (fetch requests are small: this is never reached in practice).
const CLIENT_WRITE_BUFFER: usize = 64 * 1024;

/// Opens a TCP connection to `uri`'s `host:port` with `TCP_NODELAY` and
/// wraps it in a [`CoalescingIo`]. The channel applies the connect timeout.
async fn connect_coalescing(uri: Uri) -> std::io::Result<TokioIo<CoalescingIo>> {
    let authority = uri.authority().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no host:port in {uri}"),
        )
    })?;
    let stream = TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    Ok(TokioIo::new(CoalescingIo::new(stream, CLIENT_WRITE_BUFFER)))
}

#[async_trait]
impl PeerClient for GrpcPeer {
    fn id(&self) -> &str {
        &self.id
    }

    /// Sends `Fetch` with `grpc-timeout` set to the time left on `ctx` (the
    /// group already took its fallback reserve off and capped it by the peer
    /// timeout), or the pool's peer timeout when `ctx` has no deadline.
    async fn fetch(&self, group: &str, key: &str, ctx: &LoadContext) -> Result<Fetched, CoreError> {
        let budget = ctx.remaining().unwrap_or(self.default_timeout);
        if budget.is_zero() {
            return Err(CoreError::DeadlineExceeded);
        }
        let mut request = tonic::Request::new(FetchRequest {
            group: group.to_owned(),
            key: key.to_owned(),
        });
        request.set_timeout(budget);
        let mut client = self.client();
        let answer = tokio::time::timeout(budget, client.fetch(request)).await;
        match answer {
            Ok(Ok(response)) => {
                let r = response.into_inner();
                // prost decodes a `bytes` field as a slice of tonic's
                // per-call decode buffer (8 KiB or more), and that whole
                // buffer would live as long as the value does in the hot
                // cache. An exact-size copy is cheap next to the network hop.
                Ok(Fetched {
                    value: Bytes::copy_from_slice(&r.value),
                    minute_qps: Some(r.minute_qps),
                    ttl: (r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms)),
                })
            }
            Ok(Err(status)) => {
                let err = status::from_status(&status);
                tracing::debug!(peer = %self.id, %key, code = ?status.code(), error = %err, "peer fetch failed");
                Err(err)
            }
            Err(_elapsed) => {
                tracing::debug!(peer = %self.id, %key, ?budget, "peer fetch timed out");
                Err(CoreError::DeadlineExceeded)
            }
        }
    }
}
