//! Deadline middleware: captures the inbound `grpc-timeout` as a
//! [`Deadline`] in the request's extensions, and answers
//! `DEADLINE_EXCEEDED` when it passes.
//!
//! The generated server neither reads `grpc-timeout` nor tells the
//! handler about it, and tonic's own server (which we do not run) answers
//! a passed deadline `CANCELLED`. This layer fires a little before the
//! caller's deadline ([`enforcement_margin`]), so the client sees a proper
//! `DEADLINE_EXCEEDED` status (never its own timer or an h2 error), and
//! the handler builds its [`LoadContext`](cache_core::LoadContext) from the
//! same instant, so the group's own deadline expires first of all. The
//! clock is read once per request, here; the handler also takes that
//! instant as the start of the request ([`Deadline::received`]), which
//! times a `Get` for the group's latency histograms.
//!
//! Layout in tower's shape: this file holds the [`Service`], `layer.rs` the
//! [`Layer`](tower::Layer), `future.rs` the pin-projected response future.

mod future;
mod layer;
mod timeout;

use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::Service;

pub use future::ResponseFuture;
pub use layer::DeadlineLayer;

/// How much earlier than the caller's own deadline this layer answers:
/// 1/20 of the budget, at least [`MIN_MARGIN`] and at most [`MAX_MARGIN`].
/// The answer then reaches the caller before its own timer fires (gRPC
/// clients enforce the deadline locally too, with their own code).
pub fn enforcement_margin(budget: Duration) -> Duration {
    (budget / 20).clamp(MIN_MARGIN, MAX_MARGIN)
}

/// The smallest [`enforcement_margin`]: 2 ms (tokio's timer resolution is
/// 1 ms, so one tick of headroom over the caller's timer).
pub const MIN_MARGIN: Duration = Duration::from_millis(2);

/// The largest [`enforcement_margin`]: 20 ms.
pub const MAX_MARGIN: Duration = Duration::from_millis(20);

/// The instant by which the request being served must be answered, and
/// when it arrived; stored in the request's extensions by
/// [`DeadlineService`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The request must be answered by then.
    pub at: Instant,
    /// When the deadline layer took the request up (the instant its
    /// deadline was computed from).
    pub received: Instant,
}

impl Deadline {
    /// A deadline of `at` for a request received now.
    pub fn at(at: Instant) -> Self {
        Deadline {
            at,
            received: Instant::now(),
        }
    }
}

/// The deadline middleware; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    cap: Option<Duration>,
}

impl<S> DeadlineService<S> {
    /// Wraps `inner`, capping every request's budget at `cap` (if any).
    pub const fn new(inner: S, cap: Option<Duration>) -> Self {
        DeadlineService { inner, cap }
    }
}

/// The budget of a request: the shorter of its `grpc-timeout` (malformed
/// values are ignored, as tonic does) and the server's cap.
fn budget(headers: &http::HeaderMap, cap: Option<Duration>) -> Option<Duration> {
    let header = headers
        .get(timeout::GRPC_TIMEOUT)
        .and_then(|v| timeout::parse(v.as_bytes()));
    match (header, cap) {
        (Some(h), Some(c)) => Some(h.min(c)),
        (h, c) => h.or(c),
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for DeadlineService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let deadline = budget(req.headers(), self.cap).map(|b| {
            let received = Instant::now();
            Deadline {
                at: received + b.saturating_sub(enforcement_margin(b)),
                received,
            }
        });
        if let Some(d) = deadline {
            req.extensions_mut().insert(d);
        }
        let deadline = deadline.map(|d| d.at);
        let sleep = deadline.map(tokio::time::sleep_until);
        ResponseFuture::new(self.inner.call(req), sleep)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::Layer;

    use super::*;

    fn headers(timeout: Option<&'static str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(t) = timeout {
            h.insert(timeout::GRPC_TIMEOUT, http::HeaderValue::from_static(t));
        }
        h
    }

    /// The budget is the shorter of header and cap; either alone applies.
    #[test]
    fn budget_is_min_of_header_and_cap() {
        let cap = Some(Duration::from_secs(1));
        assert_eq!(
            budget(&headers(Some("200m")), cap),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            budget(&headers(Some("5S")), cap),
            Some(Duration::from_secs(1))
        );
        assert_eq!(budget(&headers(None), cap), Some(Duration::from_secs(1)));
        assert_eq!(
            budget(&headers(Some("7m")), None),
            Some(Duration::from_millis(7))
        );
        assert_eq!(budget(&headers(Some("junk")), None), None);
        assert_eq!(budget(&headers(None), None), None);
    }

    /// The margin is 1/20 of the budget within [2 ms, 20 ms].
    #[test]
    fn margin_is_bounded_fraction() {
        assert_eq!(enforcement_margin(Duration::from_millis(10)), MIN_MARGIN);
        assert_eq!(
            enforcement_margin(Duration::from_millis(200)),
            Duration::from_millis(10)
        );
        assert_eq!(enforcement_margin(Duration::from_secs(30)), MAX_MARGIN);
    }

    /// A slow handler is answered DEADLINE_EXCEEDED at the deadline (minus
    /// the margin), and the handler saw that deadline in its extensions.
    #[tokio::test(start_paused = true)]
    async fn slow_handler_gets_deadline_exceeded_on_time() {
        let seen = std::sync::Arc::new(parking_lot::Mutex::new(None));
        let seen2 = seen.clone();
        let inner = tower::service_fn(move |req: http::Request<()>| {
            *seen2.lock() = req.extensions().get::<Deadline>().copied();
            async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, Infallible>(http::Response::new(String::from("late")))
            }
        });
        let mut svc = DeadlineLayer::new(None).layer(inner);
        let start = Instant::now();
        let mut req = http::Request::new(());
        *req.headers_mut() = headers(Some("100m"));
        let resp = tower::ServiceExt::oneshot(&mut svc, req).await.unwrap();
        let waited = start.elapsed();
        let margin = Duration::from_millis(5);
        assert_eq!(enforcement_margin(Duration::from_millis(100)), margin);
        assert_eq!(waited, Duration::from_millis(100) - margin);
        let status = tonic::Status::from_header_map(resp.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        let d = seen.lock().expect("deadline in extensions");
        assert_eq!(d.at, start + Duration::from_millis(100) - margin);
        assert_eq!(d.received, start);
    }

    /// A fast handler's answer passes through untouched; without any budget
    /// no deadline is stored.
    #[tokio::test(start_paused = true)]
    async fn fast_handler_passes_through() {
        let inner = tower::service_fn(|req: http::Request<()>| async move {
            let had = req.extensions().get::<Deadline>().is_some();
            Ok::<_, Infallible>(http::Response::new(format!("{had}")))
        });
        let mut svc = DeadlineLayer::new(None).layer(inner);
        let resp = tower::ServiceExt::oneshot(&mut svc, http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(resp.into_body(), "false");
    }
}
