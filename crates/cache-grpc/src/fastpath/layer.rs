//! [`FastPathLayer`]: sends `Get` and `Fetch` to the fast service before
//! tonic's router sees them.
//!
//! Applied with `Server::layer`, it sits where tonic's own layers end
//! (after its `grpc-timeout` timer) and before the router. A hot request
//! then skips the router's path match and its two extra boxed bodies per
//! direction; every other request goes to the router untouched.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, MapOk, TryFutureExt};
use tonic::body::Body;
use tower::{Layer, Service};

use super::{FETCH_PATH, FastBody, GET_PATH};

/// Wraps the router in a [`FastPath`] that hands `Get` and `Fetch` to
/// `fast` (`None`: hands everything to the router).
#[derive(Debug, Clone)]
pub struct FastPathLayer<F> {
    fast: Option<F>,
}

impl<F> FastPathLayer<F> {
    /// A layer sending `POST` `Get` and `Fetch` requests to `fast` (when
    /// given), typically [`FastGroupcache`](super::FastGroupcache) behind
    /// the same shedding and deadline layers the router's service has.
    pub fn new(fast: Option<F>) -> Self {
        FastPathLayer { fast }
    }
}

impl<F: Clone, S> Layer<S> for FastPathLayer<F> {
    type Service = FastPath<F, S>;

    fn layer(&self, inner: S) -> Self::Service {
        FastPath {
            fast: self.fast.clone(),
            inner,
        }
    }
}

/// The service of [`FastPathLayer`]: `Get` and `Fetch` to the fast
/// service, anything else to `inner` (the router).
#[derive(Debug, Clone)]
pub struct FastPath<F, S> {
    fast: Option<F>,
    inner: S,
}

/// Turns the router's response into the common response type.
type ToFast = fn(http::Response<Body>) -> http::Response<FastBody>;

impl<F, S> Service<http::Request<Body>> for FastPath<F, S>
where
    F: Service<http::Request<Body>, Response = http::Response<FastBody>, Error = Infallible>,
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<FastBody>;
    type Error = Infallible;
    type Future = Either<F::Future, MapOk<S::Future, ToFast>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if let Some(fast) = &mut self.fast {
            std::task::ready!(fast.poll_ready(cx))?;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if let Some(fast) = &mut self.fast {
            let path = req.uri().path();
            if req.method() == http::Method::POST && (path == GET_PATH || path == FETCH_PATH) {
                return Either::Left(fast.call(req));
            }
        }
        let to_fast: ToFast = |res| res.map(FastBody::tonic);
        Either::Right(self.inner.call(req).map_ok(to_fast))
    }
}
