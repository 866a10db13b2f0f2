//! The response future of [`DeadlineService`](super::DeadlineService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

pin_project! {
    /// Resolves to the inner service's response, or to a
    /// `DEADLINE_EXCEEDED` status response once the deadline passes
    /// (whichever comes first; the inner future is polled first, so an
    /// answer ready at the deadline wins).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Option<Sleep>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, sleep: Option<Sleep>) -> Self {
        ResponseFuture { inner, sleep }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.inner.poll(cx) {
            return Poll::Ready(out);
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Ok(tonic::Status::deadline_exceeded(
                "deadline exceeded",
            )
            .into_http())),
            _ => Poll::Pending,
        }
    }
}
