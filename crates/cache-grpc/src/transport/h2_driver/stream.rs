//! One request: call the service (a panic fails only this request), pipe
//! the response to h2 within the connection's budget of queued bytes and
//! the response send timeout.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tower::ServiceExt;

use crate::middleware::catch_panic::{internal_error, panic_message};
use crate::transport::{ConnInfo, GrpcService, ResponseBody, with_info};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The answer's head was sent (the body may have been cut short).
    Answered,
    /// The client reset the stream before the answer was ready.
    Reset,
}

/// Response bytes a connection holds that the client's flow-control
/// window has not let out yet, and the most it may hold. One per
/// connection, shared by its streams (all polled by the connection's own
/// task: the atomic is never contended).
#[derive(Debug)]
pub(super) struct Budget {
    queued: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(super) fn new(max: usize) -> Self {
        Budget {
            queued: AtomicUsize::new(0),
            max,
        }
    }

    /// The budget is spent: new streams are refused.
    pub(super) fn is_spent(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= self.max
    }

    /// Counts `n` more bytes, unless that would go over the budget while
    /// something is already queued (so one response always fits, however
    /// large).
    fn take(&self, n: usize) -> bool {
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued.saturating_add(n) > self.max {
            return false;
        }
        self.queued.store(queued + n, Ordering::Relaxed);
        true
    }

    fn give(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }
}

/// What the connection gives each of its streams.
#[derive(Debug)]
pub(super) struct StreamLimits {
    /// Bytes queued by all the connection's streams.
    pub(super) budget: Budget,
    /// How long a response body may wait for the client's window.
    pub(super) send_timeout: Duration,
    /// The connection's addresses, put in every request's extensions.
    pub(super) info: ConnInfo,
}

/// Answers one request; ends early when the client resets the stream.
pub(super) async fn serve<S>(
    svc: S,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    limits: &StreamLimits,
) -> Outcome
where
    S: GrpcService,
{
    let req = with_info(req.map(|b| Body::new(RecvBody::new(b))), &limits.info);
    // No cost unless it panics; the service's state is per request (the
    // shared parts are caches and counters that stay consistent), so
    // going on after a panic is safe.
    let call = AssertUnwindSafe(svc.oneshot(req)).catch_unwind();
    let res = tokio::select! {
        // The reset first: a stream reset before it was taken up (HEADERS
        // and RST_STREAM in one read) never calls the service.
        biased;
        // The client gave up: dropping the call cancels its work (and
        // gives its shed permit back).
        _ = poll_fn(|cx| respond.poll_reset(cx)) => return Outcome::Reset,
        res = call => match res {
            Ok(Ok(res)) => res,
            Ok(Err(never)) => match never {},
            Err(panic) => {
                tracing::error!(
                    stream = ?respond.stream_id(),
                    panic = panic_message(&*panic),
                    "a request panicked: answered INTERNAL"
                );
                let _ = respond.send_response(internal_error(()), true);
                return Outcome::Answered;
            }
        },
    };
    let (parts, body) = res.into_parts();
    let end = body.is_end_stream();
    let Ok(send) = respond.send_response(http::Response::from_parts(parts, ()), end) else {
        return Outcome::Answered;
    };
    if !end {
        let mut pipe = Pipe {
            body,
            send,
            pending: Bytes::new(),
            budget: &limits.budget,
        };
        // The usual answer leaves in the first poll; only one that has
        // to wait for the client's window arms a timer.
        let first = poll_fn(|cx| Poll::Ready(pipe.poll(cx))).await;
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => {
                match tokio::time::timeout(limits.send_timeout, poll_fn(|cx| pipe.poll(cx))).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::debug!(
                            send_timeout = ?limits.send_timeout,
                            "the client did not take the response in time: resetting the stream"
                        );
                        Err(h2::Reason::CANCEL)
                    }
                }
            }
        };
        if let Err(reason) = result {
            pipe.send.send_reset(reason);
        }
    }
    Outcome::Answered
}

/// A response body on its way to h2: data as the peer's window allows,
/// then the trailers or an empty end. Bytes the window does not let out
/// yet wait in `pending`, counted against the connection's [`Budget`]
/// (h2 itself is never given more than the window allows).
struct Pipe<'a> {
    body: ResponseBody,
    send: SendStream<Bytes>,
    /// Data taken from the body that the window has not let out yet.
    pending: Bytes,
    /// Counts `pending`'s length, for the whole connection.
    budget: &'a Budget,
}

impl Drop for Pipe<'_> {
    fn drop(&mut self) {
        self.budget.give(self.pending.len());
    }
}

impl Pipe<'_> {
    /// Waits until h2 lets out at least one byte; `None` if the stream is
    /// gone (reset or closed).
    fn poll_room(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<Option<usize>> {
        self.send.reserve_capacity(want);
        match self.send.capacity() {
            0 => loop {
                match ready!(self.send.poll_capacity(cx)) {
                    Some(Ok(0)) => {}
                    Some(Ok(n)) => return Poll::Ready(Some(n)),
                    Some(Err(_)) | None => return Poll::Ready(None),
                }
            },
            _ if self.send.poll_reset(cx).is_ready() => Poll::Ready(None),
            n => Poll::Ready(Some(n)),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Reason>> {
        loop {
            if !self.pending.is_empty() {
                let Some(room) = ready!(self.poll_room(cx, self.pending.len())) else {
                    return Poll::Ready(Ok(()));
                };
                let n = room.min(self.pending.len());
                let chunk = self.pending.split_to(n);
                self.budget.give(n);
                let end = self.pending.is_empty() && self.body.is_end_stream();
                if self.send.send_data(chunk, end).is_err() || end {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // The body is read without waiting for the window: what the
            // window does not let out is counted in `pending`, one frame
            // at most (the body is not read again until it is sent).
            if self.send.poll_reset(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    let _ = self.send.send_data(Bytes::new(), true);
                    return Poll::Ready(Ok(()));
                }
                Some(Err(status)) => {
                    tracing::debug!(%status, "response body failed");
                    return Poll::Ready(Err(h2::Reason::INTERNAL_ERROR));
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        // As much as the window lets out now goes at once;
                        // the rest is counted, or refused over the budget.
                        self.send.reserve_capacity(data.len());
                        let n = self.send.capacity().min(data.len());
                        if n < data.len() && !self.budget.take(data.len() - n) {
                            tracing::debug!(
                                max_queued_response_bytes = self.budget.max,
                                "the connection's queued response bytes are over the limit: \
                                 refusing the stream"
                            );
                            return Poll::Ready(Err(h2::Reason::REFUSED_STREAM));
                        }
                        self.pending = data.split_off(n);
                        let end = self.pending.is_empty() && self.body.is_end_stream();
                        if self.send.send_data(data, end).is_err() || end {
                            return Poll::Ready(Ok(()));
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = self.send.send_trailers(trailers);
                        }
                        return Poll::Ready(Ok(()));
                    }
                },
            }
        }
    }
}

/// A request body from h2, as an `http_body::Body`; received bytes are
/// released to the flow-control window as they are read.
struct RecvBody {
    stream: RecvStream,
    /// The data and the trailers have been read.
    done: bool,
}

impl RecvBody {
    fn new(stream: RecvStream) -> Self {
        RecvBody {
            done: stream.is_end_stream(),
            stream,
        }
    }
}

impl HttpBody for RecvBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(self.stream.poll_data(cx)) {
            Some(Ok(data)) => {
                let _ = self.stream.flow_control().release_capacity(data.len());
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            None => {}
        }
        let trailers = ready!(self.stream.poll_trailers(cx));
        self.done = true;
        Poll::Ready(match trailers {
            Ok(Some(t)) => Some(Ok(Frame::trailers(t))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
