//! [`FastGroupcache`]: `Get` and `Fetch` answered without tonic's generic
//! codec; every other request, and every request out of the ordinary, is
//! handed to the generated server unchanged.
//!
//! tonic's unary path is general: a `Streaming` decoder over the request
//! body, a `Request`/`Response` with metadata, an `EncodeBody` stream with
//! a yield threshold and compression support, several boxed futures. For
//! the two hot methods of a cache, whose requests are one small message,
//! this module does the same work directly:
//!
//! 1. Read the body while it can still be exactly one uncompressed message
//!    frame within the decode limit (no trailers, no bytes after it).
//! 2. Decode the message with [`Decode::decode_message`], as the
//!    generated server's [codec](crate::codec) does (a message that does
//!    not decode, or a `group` or `key` that is not UTF-8, is
//!    `INVALID_ARGUMENT`), take the [`Deadline`] from the request's
//!    extensions, and answer through the same [`GroupcacheService`] methods
//!    the tonic handlers use (so statuses come from
//!    [`status`](crate::status) as always).
//! 3. Answer as tonic does: `content-type: application/grpc`, one data frame
//!    (5-byte header and the message), trailers `grpc-status: 0`; an error is
//!    a trailers-only response ([`Status::into_http`]).
//!
//! Anything else—a `grpc-encoding` header, a compressed flag, a message
//! above the limit, a truncated frame, more than one message, request
//! trailers, a body error—goes to the generated server (behind its
//! [`RequestLimit`](crate::limits::RequestLimit), as
//! [`GroupcacheService::into_tonic`] builds it) with the bytes already read
//! put back in front of the body, so its answer is exactly that server's.

mod body;
mod layer;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, HeaderName};
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tower::Service;

pub use self::body::FastBody;
pub use self::layer::{FastPath, FastPathLayer};

use self::body::{FRAME_HEADER, Read, read_message};
use crate::codec::Decode;
use crate::deadline::Deadline;
use crate::pb::groupcache_server::GroupcacheServer;
use crate::pb::{FetchRequest, GetRequest};
use crate::server::{GroupcacheService, TonicGroupcache, context};

/// The path of `Get`.
const GET_PATH: &str = "/groupcache.v1.Groupcache/Get";
/// The path of `Fetch`.
const FETCH_PATH: &str = "/groupcache.v1.Groupcache/Fetch";

/// The response future of [`FastGroupcache`] (the same shape as the
/// generated server's).
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<FastBody>, Infallible>> + Send + 'static>>;

/// The `groupcache.v1.Groupcache` service with `Get` and `Fetch` on a
/// direct path; see the [module docs](self). Cheap to clone.
#[derive(Debug, Clone)]
pub struct FastGroupcache {
    service: GroupcacheService,
    generated: TonicGroupcache,
    max_decoding: usize,
    max_encoding: usize,
}

impl FastGroupcache {
    /// Serves `service`, with the same message limits (`max_decoding` for
    /// requests, `max_encoding` for responses, in bytes of the encoded
    /// message) on the fast path and in the generated server behind it.
    pub fn new(service: GroupcacheService, max_decoding: usize, max_encoding: usize) -> Self {
        let generated = service.clone().into_tonic(max_decoding, max_encoding);
        FastGroupcache {
            service,
            generated,
            max_decoding,
            max_encoding,
        }
    }
}

impl NamedService for FastGroupcache {
    const NAME: &'static str = <GroupcacheServer<GroupcacheService> as NamedService>::NAME;
}

/// Which hot method a request calls.
#[derive(Clone, Copy)]
enum Method {
    Get,
    Fetch,
}

impl Service<http::Request<Body>> for FastGroupcache {
    type Response = http::Response<FastBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let method = match req.uri().path() {
            GET_PATH => Method::Get,
            FETCH_PATH => Method::Fetch,
            _ => return Box::pin(tonic_response(self.generated.call(req))),
        };
        // Compression (even `identity`) is the generated server's business.
        if req.headers().contains_key("grpc-encoding") {
            return Box::pin(tonic_response(self.generated.call(req)));
        }
        Box::pin(self.clone().unary(method, req))
    }
}

impl FastGroupcache {
    /// Answers one `Get` or `Fetch`.
    async fn unary(
        mut self,
        method: Method,
        req: http::Request<Body>,
    ) -> Result<http::Response<FastBody>, Infallible> {
        let (parts, body) = req.into_parts();
        let read = read_message(body, self.max_decoding).await;
        let Read::Message { frame } = &read else {
            return self.fall_back(parts, read).await;
        };
        let message = frame.slice(FRAME_HEADER..);
        let ctx = context(parts.extensions.get::<Deadline>());
        let answer = match method {
            Method::Get => match GetRequest::decode_message(message) {
                Ok(request) => self
                    .service
                    .get_message(ctx, request)
                    .await
                    .map(|m| encode(&m)),
                Err(status) => Err(status),
            },
            Method::Fetch => match FetchRequest::decode_message(message) {
                Ok(request) => self
                    .service
                    .fetch_message(ctx, request)
                    .await
                    .map(|m| encode(&m)),
                Err(status) => Err(status),
            },
        };
        Ok(match answer {
            Ok(frame) => self.respond(frame),
            Err(status) => status.into_http(),
        })
    }

    /// Hands the request, with its body as it was, to the generated server.
    async fn fall_back(
        &mut self,
        parts: http::request::Parts,
        read: Read,
    ) -> Result<http::Response<FastBody>, Infallible> {
        let req = http::Request::from_parts(parts, Body::new(read.into_replay()));
        tonic_response(self.generated.call(req)).await
    }

    /// The response carrying `frame` (a framed message), with the headers
    /// and trailers tonic sends.
    fn respond(&self, frame: Bytes) -> http::Response<FastBody> {
        let len = frame.len() - FRAME_HEADER;
        let (data, trailers) = if len > self.max_encoding {
            // Unreachable while values are capped by `max_value_bytes` well
            // below the message limit; answered as tonic answers it.
            let status = Status::out_of_range(format!(
                "Error, encoded message length too large: found {len} bytes, the limit is: {} bytes",
                self.max_encoding
            ));
            (None, status_trailers(&status))
        } else {
            (Some(frame), ok_trailers())
        };
        let mut res = http::Response::new(FastBody::unary(data, trailers));
        *res.version_mut() = http::Version::HTTP_2;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        res
    }
}

/// A response of the generated server, its body passed on as it is.
async fn tonic_response(
    res: impl Future<Output = Result<http::Response<Body>, Infallible>>,
) -> Result<http::Response<FastBody>, Infallible> {
    Ok(res.await?.map(FastBody::tonic))
}

/// The trailers of a successful call: `grpc-status: 0` (what tonic's
/// `Status::ok("")` writes: no message, no metadata).
fn ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
    trailers
}

/// The name of the status trailer.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The trailers announcing `status`, as tonic writes them.
fn status_trailers(status: &Status) -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(3);
    if status.add_header(&mut trailers).is_err() {
        // Only a message that is no valid header value fails; keep the code.
        trailers.clear();
        trailers.insert(GRPC_STATUS, HeaderValue::from(status.code() as i32));
    }
    trailers
}

/// `message` in one gRPC frame: flag 0, big-endian length, the message.
fn encode(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(FRAME_HEADER + len);
    buf.put_u8(0);
    // Messages are capped far below 4 GiB by the encode limit.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    message.encode_raw(&mut buf);
    buf.freeze()
}
