//! The fast path's body work: reading a unary request body into one frame,
//! and [`FastBody`], which gives a declined request body back unread, carries
//! the one-message answer, and passes tonic's responses on.

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
    Other(FastBody),
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
                return Read::Other(FastBody::new(seen, None, Some(status), body));
            }
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(frame) => {
                let seen = joined.map_or(seen, BytesMut::freeze);
                return Read::Other(FastBody::new(seen, frame.into_trailers().ok(), None, body));
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
            return Read::Other(FastBody::new(seen, None, None, body));
        }
    }
    let frame = joined.map_or(seen, BytesMut::freeze);
    if frame.len() >= FRAME_HEADER && message_len(&frame) + FRAME_HEADER == frame.len() {
        Read::Message { frame }
    } else {
        Read::Other(FastBody::new(frame, None, None, body))
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

/// A body made of frames already in hand (data, then trailers or an error)
/// followed by the rest of another body. One type serves three uses:
/// - a request body given back to the generated server: the bytes the fast
///   path read, then what it had received, then the unread rest;
/// - the fast path's own answer: its one frame and its trailers, nothing
///   after (size hint unknown, as tonic's is, so no `content-length`);
/// - a tonic response body passed on as it is (nothing in front; size hint
///   and end of stream are then the tonic body's own).
///
/// Its default is tonic's empty body, as a trailers-only status response
/// has.
#[derive(Debug, Default)]
pub struct FastBody {
    seen: Option<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<Status>,
    rest: Body,
}

impl FastBody {
    fn new(seen: Bytes, trailers: Option<HeaderMap>, error: Option<Status>, rest: Body) -> Self {
        FastBody {
            seen: (!seen.is_empty()).then_some(seen),
            trailers,
            error,
            rest,
        }
    }

    /// A fast-path answer: `data` (if any), then `trailers`.
    pub(super) fn unary(data: Option<Bytes>, trailers: HeaderMap) -> Self {
        FastBody::new(
            data.unwrap_or_default(),
            Some(trailers),
            None,
            Body::empty(),
        )
    }

    /// A body from tonic, passed on as it is.
    pub fn tonic(body: Body) -> Self {
        FastBody::new(Bytes::new(), None, None, body)
    }

    /// Nothing is left in front of the rest.
    fn only_rest(&self) -> bool {
        self.seen.is_none() && self.trailers.is_none() && self.error.is_none()
    }
}

impl Read {
    /// The body as it was, for the generated server.
    pub(super) fn into_replay(self) -> FastBody {
        match self {
            // The whole body was read: nothing follows the frame.
            Read::Message { frame } => FastBody::new(frame, None, None, Body::empty()),
            Read::Other(replay) => replay,
        }
    }
}

impl HttpBody for FastBody {
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
        self.only_rest() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.only_rest() {
            self.rest.size_hint()
        } else {
            http_body::SizeHint::default()
        }
    }
}
