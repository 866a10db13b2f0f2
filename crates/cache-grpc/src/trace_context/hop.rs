//! [`Hop`]: the trace side of one peer fetch: its `peer_fetch` span and
//! the context sent with it.
//!
//! The span (debug level, like every span of the get path: free when the
//! log filter is `info`) has the fields `peer`, `group`, `trace_id`,
//! `span_id` (the parent id the owner receives) and `outcome` (`ok`,
//! `error` or `skipped` when the peer's breaker is open). A fetch made
//! without a context, in a build without `otel`, sends no header and
//! leaves `trace_id` and `span_id` empty.

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tracing::Span;
use tracing::field::{Empty, display};

use super::{Hex, TRACEPARENT, TRACESTATE, TraceContext, format_traceparent, new_span_id};

/// One outgoing fetch's span and context; see the [module docs](self).
#[derive(Debug)]
pub struct Hop {
    /// The `peer_fetch` span the fetch runs in.
    span: Span,
    /// What the owner receives: this trace, this span as its parent.
    outgoing: Option<TraceContext>,
}

impl Hop {
    /// Opens the span of a fetch from `peer` of a key of `group`, made for
    /// a get of trace `incoming` (if any), and picks the context to send.
    pub fn start(peer: &str, group: &str, incoming: Option<&TraceContext>) -> Hop {
        let span = tracing::debug_span!(
            "peer_fetch",
            peer,
            group,
            trace_id = Empty,
            span_id = Empty,
            outcome = Empty
        );
        let outgoing = outgoing(&span, incoming);
        if let Some(ctx) = &outgoing {
            span.record("trace_id", display(Hex(ctx.trace_id())));
            span.record("span_id", display(Hex(ctx.parent_id())));
        }
        Hop { span, outgoing }
    }

    /// The span to run the fetch in.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The context the owner is sent (`None`: no header).
    pub fn outgoing(&self) -> Option<&TraceContext> {
        self.outgoing.as_ref()
    }

    /// Writes `traceparent` and `tracestate` into a request's metadata.
    pub fn write(&self, metadata: &mut MetadataMap) {
        let Some(ctx) = &self.outgoing else { return };
        let parent = format_traceparent(ctx);
        if let Ok(value) = AsciiMetadataValue::try_from(&parent[..]) {
            metadata.insert(TRACEPARENT, value);
        }
        if let Some(value) = ctx
            .state()
            .and_then(|s| AsciiMetadataValue::try_from(s).ok())
        {
            metadata.insert(TRACESTATE, value);
        }
    }

    /// Records how the fetch ended.
    pub fn finish(&self, outcome: &'static str) {
        self.span.record("outcome", outcome);
    }
}

/// The context to send from `span`: with `otel`, the span's own
/// OpenTelemetry ids when it has valid ones; otherwise the incoming trace
/// under a fresh span id, or nothing without an incoming trace. The
/// `tracestate` is always the incoming one.
fn outgoing(span: &Span, incoming: Option<&TraceContext>) -> Option<TraceContext> {
    #[cfg(feature = "otel")]
    if let Some(ctx) = super::otel::span_context(span) {
        return Some(ctx.with_state(incoming.and_then(|i| i.state()).map(Into::into)));
    }
    let _ = span;
    incoming?.child(new_span_id())
}
