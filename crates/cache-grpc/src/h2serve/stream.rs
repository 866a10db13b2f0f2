//! One request: call the service, pipe the response to h2.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tower::ServiceExt;

use super::GrpcService;
use crate::fastpath::FastBody;

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The answer's head was sent (the body may have been cut short).
    Answered,
    /// The client reset the stream before the answer was ready.
    Reset,
}

/// Answers one request; ends early when the client resets the stream.
pub(super) async fn serve<S>(
    svc: S,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Outcome
where
    S: GrpcService,
{
    let req = req.map(|b| Body::new(RecvBody::new(b)));
    let call = svc.oneshot(req);
    let res = tokio::select! {
        // The reset first: a stream reset before it was taken up (HEADERS
        // and RST_STREAM in one read) never calls the service.
        biased;
        // The client gave up: dropping the call cancels its work (and
        // gives its shed permit back).
        _ = poll_fn(|cx| respond.poll_reset(cx)) => return Outcome::Reset,
        res = call => match res {
            Ok(res) => res,
            Err(never) => match never {},
        },
    };
    let (parts, body) = res.into_parts();
    let end = body.is_end_stream();
    let Ok(send) = respond.send_response(http::Response::from_parts(parts, ()), end) else {
        return Outcome::Answered;
    };
    if !end {
        pipe(body, send).await;
    }
    Outcome::Answered
}

/// Sends `body` on `send`: data as the peer's window allows (one frame at
/// most beyond it, as hyper does), then the trailers or an empty end.
async fn pipe(mut body: FastBody, mut send: SendStream<Bytes>) {
    let result = poll_fn(|cx| poll_pipe(cx, &mut body, &mut send)).await;
    if let Err(reason) = result {
        send.send_reset(reason);
    }
}

fn poll_pipe(
    cx: &mut Context<'_>,
    body: &mut FastBody,
    send: &mut SendStream<Bytes>,
) -> Poll<Result<(), h2::Reason>> {
    loop {
        send.reserve_capacity(1);
        if send.capacity() == 0 {
            loop {
                match ready!(send.poll_capacity(cx)) {
                    Some(Ok(0)) => {}
                    Some(Ok(_)) => break,
                    // The stream is gone (reset or closed): nothing to send.
                    Some(Err(_)) | None => return Poll::Ready(Ok(())),
                }
            }
        } else if send.poll_reset(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return Poll::Ready(Ok(()));
            }
            Some(Err(status)) => {
                tracing::debug!(%status, "response body failed");
                return Poll::Ready(Err(h2::Reason::INTERNAL_ERROR));
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let end = body.is_end_stream();
                    if send.send_data(data, end).is_err() || end {
                        return Poll::Ready(Ok(()));
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = send.send_trailers(trailers);
                    }
                    return Poll::Ready(Ok(()));
                }
            },
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
