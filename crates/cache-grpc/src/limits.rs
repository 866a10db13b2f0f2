//! Message size limits, derived on both ends from one setting.
//!
//! tonic decodes at most 4 MiB by default and encodes without limit, so a
//! large value would fail on one side only. Server and peer clients both call
//! [`message_limit`] with the same `max_value_bytes`, so a value the server
//! may send is a value its peers may receive. [`RequestLimit`] answers a
//! request over the limit with the status gRPC clients expect.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tonic::Status;

use crate::status;

/// The default largest value served or fetched: 8 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 << 20;

/// The default most keys of one `GetMany`, `FetchMany` or `Remove`: 1000.
pub const DEFAULT_MAX_BATCH_KEYS: usize = 1000;

/// Room for everything in a message that is not the value (group, key,
/// field tags, QPS, TTL): 64 KiB, far above the default key limit of 1 KiB.
pub const MESSAGE_OVERHEAD_BYTES: usize = 64 << 10;

/// The gRPC message limit (encode and decode) for values of up to
/// `max_value_bytes`: the value plus [`MESSAGE_OVERHEAD_BYTES`].
pub const fn message_limit(max_value_bytes: usize) -> usize {
    max_value_bytes.saturating_add(MESSAGE_OVERHEAD_BYTES)
}

/// Wraps a gRPC service (the generated `Groupcache` server) so that a
/// request whose first message announces more than `limit` bytes is
/// answered `RESOURCE_EXHAUSTED` ([`status::request_too_large`]), as gRPC
/// clients expect, before tonic reads it (its decoder would answer
/// `OUT_OF_RANGE`). The request body becomes a [`LimitedBody`], which
/// fails with that status as soon as the 5-byte frame header is in;
/// nothing of the message is buffered.
///
/// Only an uncompressed message (flag 0) is checked: tonic answers a
/// compressed flag without `grpc-encoding` with `INTERNAL` first, as the
/// gRPC spec says it must.
#[derive(Debug, Clone)]
pub struct RequestLimit<S> {
    inner: S,
    limit: usize,
}

impl<S> RequestLimit<S> {
    /// `inner`, with requests of more than `limit` bytes refused.
    pub const fn new(inner: S, limit: usize) -> Self {
        RequestLimit { inner, limit }
    }
}

impl<S, B> tower::Service<http::Request<B>> for RequestLimit<S>
where
    S: tower::Service<http::Request<LimitedBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> S::Future {
        let limit = self.limit;
        self.inner
            .call(req.map(|body| LimitedBody::new(body, limit)))
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for RequestLimit<S> {
    const NAME: &'static str = S::NAME;
}

/// A request body that fails with `RESOURCE_EXHAUSTED` once its first
/// frame header announces an uncompressed message over the limit; see
/// [`RequestLimit`].
#[derive(Debug)]
pub struct LimitedBody<B> {
    inner: B,
    limit: usize,
    /// The first frame header, as far as it has arrived.
    header: [u8; FRAME_HEADER],
    /// Bytes of `header` received; `FRAME_HEADER` once checked.
    seen: usize,
}

/// The length of a gRPC frame header: a compressed flag and a big-endian
/// `u32` length.
const FRAME_HEADER: usize = 5;

impl<B> LimitedBody<B> {
    fn new(inner: B, limit: usize) -> Self {
        LimitedBody {
            inner,
            limit,
            header: [0; FRAME_HEADER],
            seen: 0,
        }
    }
}

impl<B> HttpBody for LimitedBody<B>
where
    B: HttpBody<Data = Bytes, Error = Status> + Unpin,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if this.seen < FRAME_HEADER
            && let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let n = (FRAME_HEADER - this.seen).min(data.len());
            this.header[this.seen..this.seen + n].copy_from_slice(&data[..n]);
            this.seen += n;
            if this.seen == FRAME_HEADER && this.header[0] == 0 {
                let [_, a, b, c, d] = this.header;
                let len = u32::from_be_bytes([a, b, c, d]) as usize;
                if len > this.limit {
                    return Poll::Ready(Some(Err(status::request_too_large(len, this.limit))));
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
