//! The unary codec: `Get` and `Fetch` decoded from, and encoded into, one
//! gRPC message frame, without tonic's generic codec.
//!
//! It only encodes and decodes. Reading stops as soon as the body cannot be
//! exactly one uncompressed message within the limit (a compressed flag, a
//! length over the limit, bytes after the message, trailers, an error); the
//! bytes read so far are then given back in front of the rest of the body,
//! so that the generated server answers that request exactly as it always
//! does. Messages are decoded with [`Decode::decode_message`](super::Decode::decode_message), as the
//! generated server's [`ProtoCodec`](super::ProtoCodec) does, so both give
//! the same answer to a message that does not decode. Answers are written
//! as tonic writes them: one data frame (5-byte header and the message),
//! then `grpc-status: 0`, or a status in the trailers.

use std::pin::Pin;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Body as HttpBody;
use prost::Message;
use tonic::Status;
use tonic::body::Body;

use crate::transport::ResponseBody;

/// The length of a gRPC message frame's header: a compressed flag byte and
/// a big-endian `u32` length.
pub const FRAME_HEADER: usize = 5;

/// What [`read_message`] found in a request body.
pub enum Read {
    /// The body was exactly one uncompressed message frame within the
    /// limit, and ended without trailers. `frame` is the whole frame (header
    /// and message), kept for [`Read::into_replay`] should the message not
    /// decode.
    Message {
        /// The frame as received.
        frame: Bytes,
    },
    /// Anything else. The body, with what was read of it put back in front,
    /// to be handed to the generated server, which answers it exactly as it
    /// always does.
    Other(ResponseBody),
}

/// Reads `body` while it can still be one uncompressed message of at most
/// `limit` bytes; stops reading as soon as it cannot (a compressed flag, a
/// length above `limit`, bytes past the message, trailers, an error).
pub async fn read_message(mut body: Body, limit: usize) -> Read {
    let mut seen = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    loop {
        if body.is_end_stream() {
            break;
        }
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(status)) => {
                let seen = joined.map_or(seen, BytesMut::freeze);
                return Read::Other(ResponseBody::new(seen, None, Some(status), body));
            }
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(frame) => {
                let seen = joined.map_or(seen, BytesMut::freeze);
                return Read::Other(ResponseBody::new(
                    seen,
                    frame.into_trailers().ok(),
                    None,
                    body,
                ));
            }
        };
        // The usual request is one chunk: keep it without copying.
        let len = match &mut joined {
            None if seen.is_empty() => {
                seen = chunk;
                seen.len()
            }
            None => {
                let mut buf = BytesMut::with_capacity(seen.len() + chunk.len());
                buf.extend_from_slice(&seen);
                buf.extend_from_slice(&chunk);
                let len = buf.len();
                joined = Some(buf);
                len
            }
            Some(buf) => {
                buf.extend_from_slice(&chunk);
                buf.len()
            }
        };
        let head = joined.as_deref().unwrap_or(&seen);
        if len >= FRAME_HEADER && !fits(head, limit) {
            let seen = joined.map_or(seen, BytesMut::freeze);
            return Read::Other(ResponseBody::new(seen, None, None, body));
        }
    }
    let frame = joined.map_or(seen, BytesMut::freeze);
    if frame.len() >= FRAME_HEADER && message_len(&frame) + FRAME_HEADER == frame.len() {
        Read::Message { frame }
    } else {
        Read::Other(ResponseBody::new(frame, None, None, body))
    }
}

/// The message length a frame header announces.
fn message_len(head: &[u8]) -> usize {
    let mut len = &head[1..FRAME_HEADER];
    len.get_u32() as usize
}

/// Whether the bytes read so far (at least a header) can still be one
/// uncompressed message of at most `limit` bytes and nothing else.
fn fits(head: &[u8], limit: usize) -> bool {
    let len = message_len(head);
    head[0] == 0 && len <= limit && head.len() <= FRAME_HEADER + len
}

impl Read {
    /// The body as it was, for the generated server.
    pub fn into_replay(self) -> ResponseBody {
        match self {
            // The whole body was read: nothing follows the frame.
            Read::Message { frame } => ResponseBody::new(frame, None, None, Body::empty()),
            Read::Other(replay) => replay,
        }
    }
}

/// The path of `Get`.
pub const GET_PATH: &str = "/groupcache.v1.Groupcache/Get";
/// The path of `Fetch`.
pub const FETCH_PATH: &str = "/groupcache.v1.Groupcache/Fetch";

/// A method this codec answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `Get`.
    Get,
    /// `Fetch`.
    Fetch,
}

/// The method of `req` if this codec can answer it: a `POST` to `Get` or
/// `Fetch` without `grpc-encoding` (compression, even `identity`, is the
/// generated server's business).
pub fn method<B>(req: &http::Request<B>) -> Option<Method> {
    let method = match req.uri().path() {
        GET_PATH => Method::Get,
        FETCH_PATH => Method::Fetch,
        _ => return None,
    };
    let plain = req.method() == http::Method::POST && !req.headers().contains_key("grpc-encoding");
    plain.then_some(method)
}

/// `message` in one gRPC frame: flag 0, big-endian length, the message.
pub fn encode(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(FRAME_HEADER + len);
    buf.put_u8(0);
    // Messages are capped far below 4 GiB by the encode limit.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    message.encode_raw(&mut buf);
    buf.freeze()
}

/// The response carrying `frame` (a framed message from [`encode`]), with
/// the headers and trailers tonic sends; a message over `max_encoding` is
/// answered as tonic answers it.
pub fn response(frame: Bytes, max_encoding: usize) -> http::Response<ResponseBody> {
    let len = frame.len() - FRAME_HEADER;
    let (data, trailers) = if len > max_encoding {
        // Unreachable while values are capped by `max_value_bytes` well
        // below the message limit.
        let status = Status::out_of_range(format!(
            "Error, encoded message length too large: found {len} bytes, the limit is: {max_encoding} bytes"
        ));
        (None, status_trailers(&status))
    } else {
        (Some(frame), ok_trailers())
    };
    let mut res = http::Response::new(ResponseBody::unary(data, trailers));
    *res.version_mut() = http::Version::HTTP_2;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    res
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

#[cfg(test)]
mod tests;
