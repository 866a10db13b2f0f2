//! The bodies of the fast path: reading a unary request body into one
//! frame, giving it back unread when the fast path declines it, and the
//! one-message response body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use tonic::Status;
use tonic::body::Body;

/// The length of a gRPC message frame's header: a compressed flag byte and
/// a big-endian `u32` length.
pub(super) const FRAME_HEADER: usize = 5;

/// What [`read_message`] found in a request body.
pub(super) enum Read {
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
    Other(Replay),
}

/// Reads `body` while it can still be one uncompressed message of at most
/// `limit` bytes; stops reading as soon as it cannot (a compressed flag, a
/// length above `limit`, bytes past the message, trailers, an error).
pub(super) async fn read_message(mut body: Body, limit: usize) -> Read {
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
                return Read::Other(Replay::new(seen, None, Some(status), body));
            }
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(frame) => {
                let seen = joined.map_or(seen, BytesMut::freeze);
                return Read::Other(Replay::new(seen, frame.into_trailers().ok(), None, body));
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
            return Read::Other(Replay::new(seen, None, None, body));
        }
    }
    let frame = joined.map_or(seen, BytesMut::freeze);
    if frame.len() >= FRAME_HEADER && message_len(&frame) + FRAME_HEADER == frame.len() {
        Read::Message { frame }
    } else {
        Read::Other(Replay::new(frame, None, None, body))
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

/// A request body given back: the bytes already read, then the trailers or
/// the error already received (if any), then the rest of the original body.
/// Also the fast path's own response body (its frame and trailers, nothing
/// after); its size hint is left unknown, as tonic's is, so no
/// `content-length` is added.
#[derive(Debug)]
pub(super) struct Replay {
    seen: Option<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<Status>,
    rest: Body,
}

impl Replay {
    fn new(seen: Bytes, trailers: Option<HeaderMap>, error: Option<Status>, rest: Body) -> Self {
        Replay {
            seen: (!seen.is_empty()).then_some(seen),
            trailers,
            error,
            rest,
        }
    }
}

impl Read {
    /// The body as it was, for the generated server.
    pub(super) fn into_replay(self) -> Replay {
        match self {
            // The whole body was read: nothing follows the frame.
            Read::Message { frame } => Replay::new(frame, None, None, Body::empty()),
            Read::Other(replay) => replay,
        }
    }
}

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(seen) = self.seen.take() {
            return Poll::Ready(Some(Ok(Frame::data(seen))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.seen.is_none()
            && self.trailers.is_none()
            && self.error.is_none()
            && self.rest.is_end_stream()
    }
}

/// The response body of the fast path: its own one-message body, or a body
/// from tonic (fallbacks, other methods, statuses). Its default is tonic's
/// empty body, as a trailers-only status response has.
#[derive(Debug, Default)]
pub struct FastBody(Kind);

#[derive(Debug)]
enum Kind {
    /// The fast path's answer: its one frame, then its trailers (a
    /// [`Replay`] of them, with nothing after).
    Unary(Replay),
    Tonic(Body),
}

impl Default for Kind {
    fn default() -> Self {
        Kind::Tonic(Body::empty())
    }
}

impl FastBody {
    /// A fast-path body: `data` (if any), then `trailers`.
    pub(super) fn unary(data: Option<Bytes>, trailers: HeaderMap) -> Self {
        let data = data.unwrap_or_default();
        FastBody(Kind::Unary(Replay::new(
            data,
            Some(trailers),
            None,
            Body::empty(),
        )))
    }

    /// A body from tonic, passed on as it is.
    pub fn tonic(body: Body) -> Self {
        FastBody(Kind::Tonic(body))
    }
}

impl HttpBody for FastBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        match &mut self.0 {
            Kind::Unary(body) => Pin::new(body).poll_frame(cx),
            Kind::Tonic(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Unary(body) => body.is_end_stream(),
            Kind::Tonic(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.0 {
            Kind::Unary(body) => body.size_hint(),
            Kind::Tonic(body) => body.size_hint(),
        }
    }
}
