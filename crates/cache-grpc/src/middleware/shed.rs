//! Load shedding: at most N requests in flight; the next one is answered
//! `RESOURCE_EXHAUSTED` at once instead of queueing.
//!
//! A cache node under a burst should say "no" fast so clients can back off
//! and peers fall back to loading locally (a peer treats an unmarked
//! `RESOURCE_EXHAUSTED` as overload), rather than queue work whose callers
//! have given up. A `tokio` semaphore counts permits; a permit lives in the
//! response future until the response is ready. A [`RequestStats`] reads
//! the permits taken (requests in flight) and counts the requests shed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::server::RequestStats;

/// Adds [`ShedService`]; clones share one budget of permits.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    budget: Arc<Budget>,
}

/// What every clone of a layer and of its services shares (one `Arc`, so
/// that cloning the service for a request costs one reference count).
#[derive(Debug)]
struct Budget {
    /// The limit is per server, not per connection.
    permits: Arc<Semaphore>,
    max: usize,
    /// Where shed requests are counted and the permits' use is read.
    stats: Option<RequestStats>,
}

impl ShedLayer {
    /// A layer admitting at most `max` requests at once.
    pub fn new(max: usize) -> Self {
        Self::with_stats(max, None)
    }

    /// Has `stats` read this layer's requests in flight and count the ones
    /// it sheds.
    #[must_use]
    pub fn counting(self, stats: &RequestStats) -> Self {
        Self::with_stats(self.budget.max, Some(stats.clone()))
    }

    fn with_stats(max: usize, stats: Option<RequestStats>) -> Self {
        let permits = Arc::new(Semaphore::new(max));
        if let Some(stats) = &stats {
            stats.attach(&permits, max);
        }
        ShedLayer {
            budget: Arc::new(Budget {
                permits,
                max,
                stats,
            }),
        }
    }
}

impl ShedLayer {
    /// Requests holding a permit now.
    pub fn in_flight(&self) -> usize {
        let budget = &self.budget;
        budget
            .max
            .saturating_sub(budget.permits.available_permits())
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = ShedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShedService {
            inner,
            budget: Arc::clone(&self.budget),
        }
    }
}

/// Sheds requests beyond the in-flight limit; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ShedService<S> {
    inner: S,
    /// Shared by every clone.
    budget: Arc<Budget>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ShedService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ShedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let budget = &*self.budget;
        match budget.permits.clone().try_acquire_owned() {
            Ok(permit) => ShedFuture {
                inner: Some(self.inner.call(req)),
                permit: Some(permit),
                max: budget.max,
            },
            Err(_) => {
                tracing::debug!(max = budget.max, "shedding a request");
                if let Some(stats) = &budget.stats {
                    stats.count_shed();
                }
                ShedFuture {
                    inner: None,
                    permit: None,
                    max: budget.max,
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`ShedService`]: the inner future (holding a
    /// permit until it is done), or, when shed, `RESOURCE_EXHAUSTED` on the
    /// first poll.
    #[derive(Debug)]
    pub struct ShedFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedSemaphorePermit>,
        max: usize,
    }
}

impl<F, B, E> Future for ShedFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Default,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => {
                let out = std::task::ready!(inner.poll(cx));
                // Give the permit back as soon as the answer is ready.
                this.permit.take();
                Poll::Ready(out)
            }
            None => Poll::Ready(Ok(tonic::Status::resource_exhausted(format!(
                "overloaded: {} requests already in flight",
                this.max
            ))
            .into_http())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use tower::ServiceExt;

    use super::*;

    /// With a limit of 2, a third concurrent request is shed with
    /// RESOURCE_EXHAUSTED, and a permit comes back once a request finishes.
    #[tokio::test(start_paused = true)]
    async fn sheds_beyond_the_limit() {
        let inner = tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(http::Response::new(String::from("ok")))
        });
        let svc = ShedLayer::new(2).layer(inner);
        let a = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
        let b = tokio::spawn(svc.clone().oneshot(http::Request::new(())));
        tokio::task::yield_now().await;
        let shed = svc.clone().oneshot(http::Request::new(())).await.unwrap();
        let status = tonic::Status::from_header_map(shed.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(a.await.unwrap().unwrap().into_body(), "ok");
        assert_eq!(b.await.unwrap().unwrap().into_body(), "ok");
        let again = svc.oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(again.into_body(), "ok");
    }

    /// The stats read the requests holding permits and count the shed
    /// ones; two layers counting in one handle add up.
    #[tokio::test(start_paused = true)]
    async fn stats_count_in_flight_and_shed() {
        let inner = tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(http::Response::new(String::from("ok")))
        });
        let stats = RequestStats::default();
        let one = ShedLayer::new(1).counting(&stats).layer(inner);
        let two = ShedLayer::new(5).counting(&stats).layer(inner);
        let a = tokio::spawn(one.clone().oneshot(http::Request::new(())));
        let b = tokio::spawn(two.clone().oneshot(http::Request::new(())));
        tokio::task::yield_now().await;
        assert_eq!((stats.in_flight(), stats.shed()), (2, 0));
        let shed = one.clone().oneshot(http::Request::new(())).await.unwrap();
        assert!(tonic::Status::from_header_map(shed.headers()).is_some());
        assert_eq!((stats.in_flight(), stats.shed()), (2, 1));
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        assert_eq!((stats.in_flight(), stats.shed()), (0, 1));
        drop((one, two));
        assert_eq!(stats.in_flight(), 0, "a dropped layer counts nothing");
    }
}
