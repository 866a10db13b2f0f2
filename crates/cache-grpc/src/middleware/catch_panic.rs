//! [`CatchPanicLayer`]: a panic while answering one request (in the
//! service, a `Store`, the hit path) answers that request `INTERNAL` and is
//! logged, instead of ending the task that runs it. Used by hyper's driver,
//! where each request runs in its own task (a panic there would reset the
//! stream with no status); our own driver catches panics around each
//! request's future itself.
//!
//! Costs nothing until a panic: `catch_unwind` is a landing pad, not a
//! check, and the future is not boxed.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service};

/// Wraps a service in [`CatchPanic`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// See the [module](self).
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

/// The answer to a request that panicked: `INTERNAL`, trailers-only.
pub(crate) fn internal_error<B>(body: B) -> http::Response<B> {
    let mut res = http::Response::new(body);
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", http::HeaderValue::from_static("13"));
    headers.insert(
        "grpc-message",
        http::HeaderValue::from_static("internal%20error"),
    );
    res
}

/// A panic's message, if it has one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

fn log(panic: &(dyn std::any::Any + Send)) {
    tracing::error!(
        panic = panic_message(panic),
        "a request panicked: answered INTERNAL"
    );
}

impl<S, Req, B> Service<Req> for CatchPanic<S>
where
    S: Service<Req, Response = http::Response<B>>,
    B: Default,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = CatchPanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(inner) => CatchPanicFuture { inner: Some(inner) },
            Err(panic) => {
                log(&*panic);
                CatchPanicFuture { inner: None }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CatchPanic`]: the inner one's answer, or
    /// `INTERNAL` if it (or the call that made it) panicked.
    #[derive(Debug)]
    pub struct CatchPanicFuture<F> {
        #[pin]
        inner: Option<F>,
    }
}

impl<F, B, E> Future for CatchPanicFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(Ok(internal_error(B::default())));
        };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                log(&*panic);
                // Drop what is left of the request's work now.
                this.inner.set(None);
                Poll::Ready(Ok(internal_error(B::default())))
            }
        }
    }
}
