//! The `otel` feature: OpenTelemetry's ids instead of drawn ones, through
//! the `tracing-opentelemetry` layer the application installed.
//!
//! - A request's `grpc` span gets the received context as its remote
//!   parent ([`set_remote_parent`]), so the node's spans join the caller's
//!   trace.
//! - A hop sends its `peer_fetch` span's own trace and span ids
//!   ([`span_context`]), so the owner's spans are that span's children.
//!
//! Both do nothing for a span the layer does not see (no layer installed,
//! or the span filtered out for it): the caller then falls back to the
//! behaviour of the default build.

use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceContext;

/// Makes `ctx` (a received `traceparent`) the OpenTelemetry parent of
/// `span`, which must not have been entered yet.
pub fn set_remote_parent(span: &Span, ctx: &TraceContext) {
    if span.is_disabled() {
        return;
    }
    let state = ctx
        .state()
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let remote = SpanContext::new(
        TraceId::from_bytes(ctx.trace_id()),
        SpanId::from_bytes(ctx.parent_id()),
        TraceFlags::new(ctx.flags()),
        true,
        state,
    );
    // Fails only without the layer, or for a span it filtered out: the
    // request then has no OpenTelemetry span to parent.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The trace and span ids OpenTelemetry gave `span`, as the context a
/// request sent from it carries; `None` when it has none.
pub fn span_context(span: &Span) -> Option<TraceContext> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    TraceContext::new(
        sc.trace_id().to_bytes(),
        sc.span_id().to_bytes(),
        sc.trace_flags().to_u8(),
    )
}
