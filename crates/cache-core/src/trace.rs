//! [`TraceContext`]: the W3C trace context a get carries from the request
//! that started it to its peer fetch and its loader.
//!
//! This crate neither reads nor writes a header: `cache-grpc` parses a
//! request's `traceparent` and `tracestate` into a `TraceContext`, puts it in
//! the [`LoadContext`](crate::LoadContext) of the get, and writes it on the
//! peer hop. The group only hands it on, so that a load and its fetch belong
//! to the trace of the request that started them:
//!
//! - a get passes its context into the flight it starts (a caller that joins
//!   a running flight does not: the flight keeps the trace of its leader);
//! - the flight's [`PeerClient::fetch`](crate::PeerClient::fetch) and
//!   [`Getter::get`](crate::Getter::get) see it through
//!   [`LoadContext::trace`](crate::LoadContext::trace).
//!
//! Invariants: the trace id and the parent id are never all zero (the W3C
//! spec's invalid values); [`TraceContext::new`] refuses them. Ids are bytes
//! in wire order, not integers: `[u8; 16]` has the alignment of a byte, so
//! the context adds no padding to a `LoadContext`.

use std::sync::Arc;

/// The trace a request belongs to and the span that sent it (W3C
/// `traceparent`), plus the vendors' `tracestate`, passed on untouched.
///
/// Cheap to clone: the ids are inline, the state is reference counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The whole trace's id; never all zero.
    trace_id: [u8; 16],
    /// The id of the span that sent the request (the caller's span); never
    /// all zero.
    parent_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    flags: u8,
    /// The `tracestate` header as received (entries of other vendors), if
    /// any: never parsed, handed on as it is.
    state: Option<Arc<str>>,
}

impl TraceContext {
    /// The sampled bit of the trace flags.
    pub const SAMPLED: u8 = 0x01;

    /// A context of trace `trace_id` whose parent span is `parent_id`, or
    /// `None` if either id is all zero (an invalid context).
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], flags: u8) -> Option<Self> {
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceContext {
            trace_id,
            parent_id,
            flags,
            state: None,
        })
    }

    /// With `state` as the `tracestate` to hand on.
    #[must_use]
    pub fn with_state(mut self, state: Option<Arc<str>>) -> Self {
        self.state = state;
        self
    }

    /// The same trace, flags and state under another parent span: the
    /// context of a request this node sends from its span `span_id`. `None`
    /// if `span_id` is all zero.
    pub fn child(&self, span_id: [u8; 8]) -> Option<Self> {
        (span_id != [0; 8]).then(|| TraceContext {
            parent_id: span_id,
            ..self.clone()
        })
    }

    /// The trace id (16 bytes, never all zero).
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The parent span's id (8 bytes, never all zero).
    pub fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// True when the caller recorded this trace (the sampled flag).
    pub fn sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }

    /// The `tracestate` received with the context, if any.
    pub fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All-zero ids are invalid; a child keeps the trace, flags and state.
    #[test]
    fn zero_ids_are_refused_and_children_keep_the_trace() {
        assert!(TraceContext::new([0; 16], [1; 8], 1).is_none());
        assert!(TraceContext::new([1; 16], [0; 8], 1).is_none());
        let ctx = TraceContext::new([7; 16], [1; 8], 1)
            .unwrap()
            .with_state(Some("k=v".into()));
        let child = ctx.child([2; 8]).unwrap();
        assert_eq!(child.trace_id(), [7; 16]);
        assert_eq!(child.parent_id(), [2; 8]);
        assert!(child.sampled());
        assert_eq!(child.state(), Some("k=v"));
        assert!(ctx.child([0; 8]).is_none());
    }
}
