//! The [`tower::Layer`] that adds [`DeadlineService`].

use std::time::Duration;

use tower::Layer;

use super::DeadlineService;

/// Wraps a service in a [`DeadlineService`].
///
/// `cap` bounds every request's budget: a request without `grpc-timeout`
/// gets `cap`, one with a longer timeout is cut to `cap`. `None` leaves
/// requests without a header unbounded.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    cap: Option<Duration>,
}

impl DeadlineLayer {
    /// A layer capping every request's budget at `cap` (if any).
    pub const fn new(cap: Option<Duration>) -> Self {
        DeadlineLayer { cap }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService::new(inner, self.cap)
    }
}
