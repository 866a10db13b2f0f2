//! [`AuthLayer`]: the tower layer that applies an
//! [`AuthPolicy`](super::AuthPolicy) to every request before routing.
//!
//! A refused request is answered at once with a trailers-only status, its
//! body unread; with an open policy the layer only passes requests on.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tonic::body::Body;
use tower::{Layer, Service};

use super::{AuthPolicy, SharedPolicy};
use crate::tls::ClientCertificate;
use crate::transport::ResponseBody;

/// Wraps a service in [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    policy: SharedPolicy,
}

impl AuthLayer {
    /// A layer applying `policy`.
    pub fn new(policy: AuthPolicy) -> Self {
        AuthLayer {
            policy: SharedPolicy::new(policy),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// Checks each request's credentials; see the [`auth`](crate::auth) module.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    policy: SharedPolicy,
}

/// The bearer token of `req`'s `authorization` header, if it has one.
fn bearer<B>(req: &http::Request<B>) -> Option<&[u8]> {
    let value = req.headers().get(http::header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value[7..].trim_ascii())
}

impl<S> Service<http::Request<Body>> for Auth<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResponseBody>, Error = Infallible>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<http::Response<ResponseBody>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if self.policy.is_open() {
            return Either::Left(self.inner.call(req));
        }
        let role = self.policy.role(req.uri().path());
        let certificate = req.extensions().get::<ClientCertificate>();
        match self.policy.check(role, bearer(&req), certificate) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(status) => {
                tracing::debug!(path = %req.uri().path(), code = ?status.code(), "refused: credentials");
                Either::Right(ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::post("/groupcache.v1.Groupcache/Get");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap()
    }

    /// `Bearer` in any case, the token trimmed; anything else is none.
    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(&request(Some("Bearer abc"))), Some(&b"abc"[..]));
        assert_eq!(bearer(&request(Some("bearer  abc "))), Some(&b"abc"[..]));
        assert_eq!(bearer(&request(Some("Basic abc"))), None);
        assert_eq!(bearer(&request(Some("Bear"))), None);
        assert_eq!(bearer(&request(None)), None);
    }
}
