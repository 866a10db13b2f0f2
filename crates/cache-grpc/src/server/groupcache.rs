//! [`GroupcacheServer`]: the `groupcache.v1.Groupcache` service as the
//! transports run it.
//!
//! `Get` and `Fetch` are decoded and encoded by the [unary
//! codec](crate::codec::unary) and answered by [`GroupcacheService`]; every
//! other request of the service (`Stats`, an unknown method, a compressed
//! or malformed body) goes to the generated tonic server, which answers it
//! as tonic always does:
//!
//! 1. The request is a plain `POST` to `Get` or `Fetch`
//!    ([`unary::method`]); otherwise the generated server takes it.
//! 2. The body is read while it can still be exactly one uncompressed
//!    message within the limit; if it cannot, the bytes read are put back
//!    in front of the rest and the generated server takes it.
//! 3. The message is decoded (`INVALID_ARGUMENT` if it does not decode),
//!    the [`Deadline`] and the trace context are taken from the extensions, and
//!    [`GroupcacheService`] answers; its statuses come from
//!    [`status`](crate::status).
//! 4. The answer leaves as tonic would send it: one data frame, then
//!    `grpc-status: 0`; an error is a trailers-only response.
//!
//! So both ways answer byte for byte alike (tests/wire.rs); the unary way
//! skips tonic's `Streaming` decoder, its `EncodeBody`, and several boxed
//! futures per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower::Service;

use crate::codec::Decode;
use crate::codec::unary::{self, FRAME_HEADER, Method, Read, read_message};
use crate::limits::{self, RequestLimit};
use crate::middleware::deadline::Deadline;
use crate::pb::groupcache_server::GroupcacheServer as Generated;
use crate::pb::{FetchRequest, GetRequest};
use crate::service::{GroupcacheService, context};
use crate::trace_context::TraceContext;
use crate::transport::ResponseBody;

/// The response future of [`GroupcacheServer`].
pub type ResponseFuture = Pin<
    Box<dyn Future<Output = Result<http::Response<ResponseBody>, Infallible>> + Send + 'static>,
>;

/// The `groupcache.v1.Groupcache` service; see the [module docs](self).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupcacheServer {
    service: GroupcacheService,
    generated: RequestLimit<Generated<GroupcacheService>>,
    /// The message limit, in bytes of the encoded message, both ways.
    limit: usize,
    /// Answer `Get` and `Fetch` with the unary codec (else: all through
    /// the generated server).
    unary: bool,
}

impl GroupcacheServer {
    /// Serves `service`, with message limits that follow from its
    /// `max_value_bytes` ([`limits::message_limit`]); a request over the
    /// limit is `RESOURCE_EXHAUSTED` either way.
    pub fn new(service: GroupcacheService) -> Self {
        let limit = limits::message_limit(service.max_value_bytes());
        let generated = Generated::new(service.clone())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        GroupcacheServer {
            service,
            generated: RequestLimit::new(generated, limit),
            limit,
            unary: true,
        }
    }

    /// With `false`, every request goes through the generated server
    /// (tonic's codec); the answers are the same. For comparisons.
    pub fn unary_codec(mut self, on: bool) -> Self {
        self.unary = on;
        self
    }
}

impl Service<http::Request<Body>> for GroupcacheServer {
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match unary::method(&req) {
            Some(method) if self.unary => Box::pin(self.clone().unary(method, req)),
            _ => Box::pin(generated(self.generated.call(req))),
        }
    }
}

impl GroupcacheServer {
    /// Answers one `Get` or `Fetch`.
    async fn unary(
        mut self,
        method: Method,
        req: http::Request<Body>,
    ) -> Result<http::Response<ResponseBody>, Infallible> {
        let (parts, body) = req.into_parts();
        let read = read_message(body, self.limit).await;
        let Read::Message { frame } = &read else {
            // Declined: the generated server answers, from the same bytes.
            let req = http::Request::from_parts(parts, Body::new(read.into_replay()));
            return generated(self.generated.call(req)).await;
        };
        let message = frame.slice(FRAME_HEADER..);
        let ctx = context(
            parts.extensions.get::<Deadline>(),
            parts.extensions.get::<TraceContext>(),
        );
        let peer = parts
            .extensions
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|i| i.remote_addr);
        let answer = match method {
            Method::Get => match GetRequest::decode_message(message) {
                Ok(request) => self
                    .service
                    .get_message(ctx, request, peer)
                    .await
                    .map(|m| unary::encode(&m)),
                Err(status) => Err(status),
            },
            Method::Fetch => match FetchRequest::decode_message(message) {
                Ok(request) => self
                    .service
                    .fetch_message(ctx, request, peer)
                    .await
                    .map(|m| unary::encode(&m)),
                Err(status) => Err(status),
            },
        };
        Ok(match answer {
            Ok(frame) => unary::response(frame, self.limit),
            Err(status) => status.into_http(),
        })
    }
}

/// A response of the generated server, its body passed on as it is.
async fn generated(
    res: impl Future<Output = Result<http::Response<Body>, Infallible>>,
) -> Result<http::Response<ResponseBody>, Infallible> {
    Ok(res.await?.map(ResponseBody::tonic))
}
