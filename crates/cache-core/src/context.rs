//! The per-request context handed down the get path to peers and loaders.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::TraceContext;

/// What a get carries with it: an optional deadline, a cancellation signal
/// and the trace it belongs to. Loaders and peer clients receive it so they
/// can bound their work (and name its trace).
///
/// Time is [`tokio::time::Instant`], so tests can pause and advance it
/// (`tokio::time::pause`) and every deadline in the crate follows.
///
/// Cloning is cheap (the token is reference counted).
#[derive(Debug, Clone, Default)]
pub struct LoadContext {
    deadline: Option<Instant>,
    cancel: CancellationToken,
    /// The W3C trace context of the request the get serves, if it had one
    /// (see [`TraceContext`]: handed on, never interpreted, by this crate).
    trace: Option<TraceContext>,
}

impl LoadContext {
    /// A context with no deadline that is never cancelled by the caller.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context whose deadline is `timeout` from now.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self::new().deadline(Instant::now() + timeout)
    }

    /// Sets the deadline.
    #[must_use]
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the deadline to the earlier of the current one and `deadline`.
    #[must_use]
    pub fn tighten(mut self, deadline: Instant) -> Self {
        self.deadline = Some(match self.deadline {
            Some(d) if d < deadline => d,
            _ => deadline,
        });
        self
    }

    /// Uses `token` as the cancellation signal.
    #[must_use]
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Sets the trace context (`None`: the work belongs to no trace).
    #[must_use]
    pub fn with_trace(mut self, trace: Option<TraceContext>) -> Self {
        self.trace = trace;
        self
    }

    /// The trace context of the request that started this work, if any: a
    /// peer client sends it on, a loader may pass it to its source.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// The deadline, if any.
    pub fn get_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline: `None` without a deadline,
    /// `Some(Duration::ZERO)` once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// True once the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The cancellation signal. A loader may `select!` on
    /// [`CancellationToken::cancelled`] to stop early when nobody waits for
    /// its value any more.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }
}
