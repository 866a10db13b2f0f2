//! `Breaker`: per-peer health, so that a dead or hung peer costs a few
//! requests a peer timeout each rather than every request.
//!
//! States and transitions:
//!
//! - **Closed** (healthy): fetches are sent. Each transport failure (the
//!   peer refused the connection, or its connection was judged dead
//!   because a PING went unanswered for the peer timeout) adds one to a
//!   run of consecutive failures; any answer from the peer (a value, or an
//!   error of its source) ends the run. When the run reaches
//!   [`BreakerOptions::failures`], the breaker opens.
//! - **Open**: fetches are not sent: the breaker says no at once and
//!   the group loads the key locally, into its hot cache only. A probe task
//!   asks the peer's health service off the request path after
//!   [`BreakerOptions::backoff`], doubling the wait after each failed probe
//!   up to [`BreakerOptions::max_backoff`]. The first probe answered
//!   SERVING closes the breaker.
//!
//! Each change of state is logged once (warn on open, info on close), never
//! per request; failures before the breaker opens are logged at warn at
//! most once per 10 s per peer, with the number held back since the last
//! line. Counters say how often and how much was skipped.

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::Error;
use crate::auth::Tokens;
use crate::log_limit::RateLimited;

/// When a peer's breaker opens and how it is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerOptions {
    /// Consecutive transport failures that open the breaker. Default 5.
    pub failures: u32,
    /// Wait before the first probe of an open breaker. Default 500 ms.
    pub backoff: Duration,
    /// The longest wait between probes (the wait doubles after each failed
    /// probe up to this). Default 5 s.
    pub max_backoff: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            failures: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl BreakerOptions {
    /// Checks the options; [`Error::Config`] names the first bad one.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.failures == 0 {
            return Err(Error::Config("breaker failures must be at least 1".into()));
        }
        if self.backoff.is_zero() {
            return Err(Error::Config("breaker backoff must be above zero".into()));
        }
        if self.max_backoff < self.backoff {
            return Err(Error::Config(
                "the breaker's max backoff must be at least its backoff".into(),
            ));
        }
        Ok(())
    }
}

/// A peer's health as this node sees it (for stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerHealth {
    /// True while the breaker is open (the peer is skipped).
    pub open: bool,
    /// Times the breaker opened.
    pub opens: u64,
    /// Fetches not sent because the breaker was open.
    pub skipped: u64,
    /// Fetches that failed because the peer could not be reached or its
    /// connection was judged dead.
    pub failures: u64,
    /// The current run of consecutive failures.
    pub consecutive_failures: u32,
}

/// The breaker of one peer; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Breaker {
    /// The peer's id, for log lines.
    peer: String,
    opts: BreakerOptions,
    /// How long a probe may wait for its answer (the pool's peer timeout).
    probe_timeout: Duration,
    /// The state; held only to read or flip a few fields (no `.await`).
    state: Mutex<State>,
    /// Times the breaker opened.
    opens: AtomicU64,
    /// Fetches refused while open.
    skipped: AtomicU64,
    /// Transport failures seen.
    failures: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Consecutive transport failures while closed.
    consecutive: u32,
    /// Since when the breaker is open; `None` while closed.
    open_since: Option<Instant>,
    /// Failures that do not open the breaker, logged at most once per
    /// [`FAILURE_LOG_EVERY`].
    failure_log: RateLimited,
}

impl Default for State {
    fn default() -> Self {
        State {
            consecutive: 0,
            open_since: None,
            failure_log: RateLimited::new(FAILURE_LOG_EVERY),
        }
    }
}

/// How often a peer's transport failures are logged at most, besides the
/// breaker opening and closing (each logged once).
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

impl Breaker {
    pub(crate) fn new(peer: String, opts: BreakerOptions, probe_timeout: Duration) -> Self {
        Breaker {
            peer,
            opts,
            probe_timeout,
            state: Mutex::new(State::default()),
            opens: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// True when a fetch may be sent; false (counted as skipped) while the
    /// breaker is open.
    pub(crate) fn allow(&self) -> bool {
        if self.state.lock().open_since.is_none() {
            return true;
        }
        self.skipped.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// The peer answered: the run of failures ends.
    pub(crate) fn record_success(&self) {
        let mut state = self.state.lock();
        if state.open_since.is_none() {
            state.consecutive = 0;
        }
    }

    /// A transport failure. Returns true when this failure opened the
    /// breaker: the caller then starts the probe task.
    pub(crate) fn record_failure(&self, error: &dyn std::fmt::Display) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let (opened, consecutive, log) = {
            let mut state = self.state.lock();
            if state.open_since.is_some() {
                return false;
            }
            state.consecutive += 1;
            let now = Instant::now();
            let opened = state.consecutive >= self.opts.failures;
            if opened {
                state.open_since = Some(now);
            }
            let log = if opened {
                None
            } else {
                state.failure_log.due(now)
            };
            (opened, state.consecutive, log)
        };
        if let Some(suppressed) = log {
            tracing::warn!(
                peer = %self.peer,
                %error,
                consecutive,
                breaker_opens_at = self.opts.failures,
                suppressed,
                "peer fetch failed: the key is loaded locally"
            );
        }
        if opened {
            self.opens.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer = %self.peer,
                failures = self.opts.failures,
                %error,
                retry_in = ?self.opts.backoff,
                "peer unreachable: breaker open, its keys are loaded locally until it answers a probe"
            );
        }
        opened
    }

    /// Closes the breaker after a successful probe.
    fn close(&self) {
        let since = {
            let mut state = self.state.lock();
            state.consecutive = 0;
            state.open_since.take()
        };
        if let Some(since) = since {
            tracing::info!(peer = %self.peer, after = ?since.elapsed(), "peer answers again: breaker closed");
        }
    }

    /// The counters and state.
    pub(crate) fn health(&self) -> PeerHealth {
        let state = self.state.lock();
        PeerHealth {
            open: state.open_since.is_some(),
            opens: self.opens.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            consecutive_failures: state.consecutive,
        }
    }
}

/// Probes the peer behind `channel` until it answers SERVING, then closes
/// `breaker`. Ends early when the breaker is dropped (the peer left the
/// pool). Spawned when the breaker opens. Probes carry the peer token, if
/// any, for nodes whose health check needs one.
pub(crate) async fn probe_until_healthy(
    breaker: Weak<Breaker>,
    channel: Channel,
    tokens: Option<Tokens>,
) {
    let (mut wait, max_wait, timeout) = match breaker.upgrade() {
        Some(b) => (b.opts.backoff, b.opts.max_backoff, b.probe_timeout),
        None => return,
    };
    loop {
        tokio::time::sleep(wait).await;
        let Some(b) = breaker.upgrade() else { return };
        let mut client = HealthClient::new(channel.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(tokens) = &tokens {
            request
                .metadata_mut()
                .insert("authorization", tokens.header());
        }
        let check = client.check(request);
        match tokio::time::timeout(timeout, check).await {
            Ok(Ok(answer)) if answer.get_ref().status() == ServingStatus::Serving => {
                b.close();
                return;
            }
            outcome => {
                tracing::debug!(peer = %b.peer, ?outcome, "probe failed; breaker stays open");
            }
        }
        wait = (wait * 2).min(max_wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines logged at warn or above while `f` runs.
    fn warnings(f: impl FnOnce()) -> Vec<String> {
        use std::sync::{Arc, Mutex as StdMutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<StdMutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// Failures before the breaker opens are logged once per interval per
    /// peer, then with the count held back; the opening once.
    #[tokio::test(start_paused = true)]
    async fn failures_are_logged_rate_limited() {
        let b = breaker(100);
        let lines = warnings(|| {
            for _ in 0..5 {
                b.record_failure(&"connection refused");
            }
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("peer fetch failed"), "{lines:?}");
        assert!(lines[0].contains("peer=p:1"), "{lines:?}");
        assert!(lines[0].contains("connection refused"), "{lines:?}");
        tokio::time::advance(FAILURE_LOG_EVERY).await;
        let lines = warnings(|| {
            b.record_failure(&"connection refused");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("suppressed=4"), "{lines:?}");

        let b = breaker(3);
        let lines = warnings(|| {
            for _ in 0..6 {
                b.record_failure(&"reset");
            }
        });
        assert_eq!(lines.len(), 2, "one failure line, one opening: {lines:?}");
        assert!(lines[1].contains("breaker open"), "{lines:?}");
    }

    fn breaker(failures: u32) -> Breaker {
        let opts = BreakerOptions {
            failures,
            ..BreakerOptions::default()
        };
        Breaker::new("p:1".into(), opts, Duration::from_millis(300))
    }

    /// The breaker opens on the Nth consecutive failure (once), skips while
    /// open, and an answer in between resets the run.
    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let b = breaker(3);
        assert!(!b.record_failure(&"refused"));
        assert!(!b.record_failure(&"refused"));
        b.record_success();
        assert!(!b.record_failure(&"refused"));
        assert!(!b.record_failure(&"refused"));
        assert!(b.allow());
        assert!(b.record_failure(&"refused"), "the third in a row opens it");
        assert!(!b.record_failure(&"refused"), "already open");
        assert!(!b.allow());
        assert!(!b.allow());
        let h = b.health();
        assert_eq!((h.open, h.opens, h.skipped, h.failures), (true, 1, 2, 6));
        b.close();
        assert!(b.allow());
        assert_eq!(b.health().consecutive_failures, 0);
    }

    /// Zero failures, zero backoff and a max below the backoff are refused.
    #[test]
    fn bad_options_are_refused() {
        let ok = BreakerOptions::default();
        assert!(ok.validate().is_ok());
        for bad in [
            BreakerOptions { failures: 0, ..ok },
            BreakerOptions {
                backoff: Duration::ZERO,
                ..ok
            },
            BreakerOptions {
                max_backoff: Duration::from_millis(1),
                ..ok
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        }
    }
}
