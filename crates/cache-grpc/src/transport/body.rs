//! [`ResponseBody`]: the one response body type of every transport.
//!
//! A body made of frames already in hand followed by the rest of another
//! body, so that one type carries the unary codec's answers, tonic's
//! responses, and a request body given back unread; the connection loops
//! ([`h2`](super::h2), [`hyper`](super::hyper)) send nothing else.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use tonic::Status;
use tonic::body::Body;

/// A body made of frames already in hand (data, then trailers or an error)
/// followed by the rest of another body. One type serves three uses:
/// - a request body given back to the generated server: the bytes the
///   unary codec read, then what it had received, then the unread rest;
/// - the unary codec's own answer: its one frame and its trailers, nothing
///   after (size hint unknown, as tonic's is, so no `content-length`);
/// - a tonic response body passed on as it is (nothing in front; size hint
///   and end of stream are then the tonic body's own).
///
/// Its default is tonic's empty body, as a trailers-only status response
/// has.
#[derive(Debug, Default)]
pub struct ResponseBody {
    seen: Option<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<Status>,
    rest: Body,
}

impl ResponseBody {
    pub(crate) fn new(
        seen: Bytes,
        trailers: Option<HeaderMap>,
        error: Option<Status>,
        rest: Body,
    ) -> Self {
        ResponseBody {
            seen: (!seen.is_empty()).then_some(seen),
            trailers,
            error,
            rest,
        }
    }

    /// A unary codec answer: `data` (if any), then `trailers`.
    pub(crate) fn unary(data: Option<Bytes>, trailers: HeaderMap) -> Self {
        ResponseBody::new(
            data.unwrap_or_default(),
            Some(trailers),
            None,
            Body::empty(),
        )
    }

    /// A body from tonic, passed on as it is.
    pub fn tonic(body: Body) -> Self {
        ResponseBody::new(Bytes::new(), None, None, body)
    }

    /// Nothing is left in front of the rest.
    fn only_rest(&self) -> bool {
        self.seen.is_none() && self.trailers.is_none() && self.error.is_none()
    }
}

impl HttpBody for ResponseBody {
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
