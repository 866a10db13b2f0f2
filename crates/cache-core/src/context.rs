//! The per-request context handed down the get path to peers and loaders.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::TraceContext;

/// What a get carries with it: an optional deadline, a cancellation signal,
/// the trace it belongs to, and optionally when the request started (to
/// time it). Loaders and peer clients receive it so they can bound their
/// work (and name its trace).
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
    /// When the request behind this get started; a get given one records
    /// its latency (see [`started_at`](Self::started_at)).
    started: Option<Instant>,
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

    /// Says when the request behind this get started: the group then records
    /// how long the get took, from `at` to its answer, in its latency
    /// histograms ([`StatsSnapshot::get_latency`](crate::StatsSnapshot)).
    /// A server passes the instant it read when the request arrived, so
    /// timing a get costs one more clock read, at its end; a get without a
    /// start is not timed.
    ///
    /// ```
    /// use tokio::time::Instant;
    /// use cache_core::{getter_fn, GetOutcome, GroupBuilder, LoadContext, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("timed", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     Ok(Loaded::new(key))
    /// }))
    /// .build()?;
    /// group.get_with("k", LoadContext::new().started_at(Instant::now())).await?;
    /// group.get_with("k", LoadContext::new().started_at(Instant::now())).await?;
    /// group.get("k").await?; // not timed
    /// let latency = group.stats().get_latency;
    /// assert_eq!(latency.by_outcome(GetOutcome::Load).count(), 1);
    /// assert_eq!(latency.by_outcome(GetOutcome::Hit).count(), 1);
    /// assert_eq!(group.stats().gets, 3);
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use]
    pub fn started_at(mut self, at: Instant) -> Self {
        self.started = Some(at);
        self
    }

    /// When the request started, if the caller said
    /// ([`started_at`](Self::started_at)).
    pub fn get_started_at(&self) -> Option<Instant> {
        self.started
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
