//! [`Router`]: the one place a request is routed: to the
//! [`GroupcacheServer`](super::GroupcacheServer) (behind its shedding and
//! deadline layers) or to tonic's router for every other service (health,
//! reflection).
//!
//! A request of `groupcache.v1.Groupcache` skips tonic's router: its path
//! match and its two extra boxed bodies per direction. Health and
//! reflection are not shed: a load balancer must hear from a busy node.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, MapOk, TryFutureExt};
use tonic::body::Body;
use tower::Service;

use crate::transport::ResponseBody;

/// The path prefix of every `groupcache.v1.Groupcache` method.
const GROUPCACHE_PREFIX: &str = "/groupcache.v1.Groupcache/";

/// Routes `groupcache.v1.Groupcache` to `groupcache`, anything else to
/// `other` (tonic's router); see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Router<G, R> {
    groupcache: G,
    other: R,
}

impl<G, R> Router<G, R> {
    /// A router over the two.
    pub fn new(groupcache: G, other: R) -> Self {
        Router { groupcache, other }
    }
}

/// Turns tonic's response into the common response type.
type FromTonic = fn(http::Response<Body>) -> http::Response<ResponseBody>;

impl<G, R> Service<http::Request<Body>> for Router<G, R>
where
    G: Service<http::Request<Body>, Response = http::Response<ResponseBody>, Error = Infallible>,
    R: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = Either<G::Future, MapOk<R::Future, FromTonic>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        std::task::ready!(self.groupcache.poll_ready(cx))?;
        self.other.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path().starts_with(GROUPCACHE_PREFIX) {
            return Either::Left(self.groupcache.call(req));
        }
        let from_tonic: FromTonic = |res| res.map(ResponseBody::tonic);
        Either::Right(self.other.call(req).map_ok(from_tonic))
    }
}
