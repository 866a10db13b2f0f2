//! [`TraceLayer`]: every request runs inside a `grpc` span (at debug level)
//! naming its path and the client's address, whichever transport brought
//! it, so that whatever the request logs (a failed load, a shed request)
//! says whose request it was.
//!
//! It also reads the request's W3C trace context
//! ([`trace_context::from_headers`]): a valid one is recorded on the span
//! (`trace_id`, and `parent_id`, the caller's span), becomes the span's
//! OpenTelemetry parent with the `otel` feature, and is put in the
//! request's extensions, where the service takes it into the get's
//! [`LoadContext`](cache_core::LoadContext) (and so to the peer hop). An
//! invalid one is dropped without a word: the request has no context.
//!
//! A disabled span costs one cached check of the callsite's interest; the
//! fields are only formatted when the span is enabled. The header costs a
//! lookup, and a parse when present.

use std::task::{Context, Poll};

use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::trace_context::{self, Hex};

/// Wraps a service in [`Trace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

/// Runs each request's future in its span; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Trace<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let trace = trace_context::from_headers(req.headers());
        let span = tracing::debug_span!(
            "grpc",
            path = %req.uri().path(),
            peer = ?req
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr),
            trace_id = trace.as_ref().map(|t| display(Hex(t.trace_id()))),
            parent_id = trace.as_ref().map(|t| display(Hex(t.parent_id()))),
        );
        if let Some(trace) = trace {
            #[cfg(feature = "otel")]
            trace_context::otel::set_remote_parent(&span, &trace);
            req.extensions_mut().insert(trace);
        }
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        future.instrument(span)
    }
}
