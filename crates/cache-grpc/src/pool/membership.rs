//! [`MembershipStatus`]: what a node knows of how settled its peer set is,
//! for `Stats`, metrics and the logs.
//!
//! The pool owns one; a discovery loop outside the crate reports into it
//! (its source, errors, answers held back, readiness), and the server
//! counts fetches whose ring fingerprint differs from this node's.
//! Mismatches are expected for a moment while a change propagates; a
//! steady stream of them means the nodes disagree on the peer set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::log_limit::RateLimited;

/// How often a ring mismatch may be logged.
const MISMATCH_LOG_EVERY: Duration = Duration::from_secs(10);

/// The membership side of a pool: its source and counters.
#[derive(Debug)]
pub struct MembershipStatus {
    source: Mutex<String>,
    last_error: Mutex<String>,
    ready: watch::Sender<bool>,
    discovery_errors: AtomicU64,
    rejected_answers: AtomicU64,
    ring_mismatches: AtomicU64,
    mismatch_log: Mutex<RateLimited>,
}

impl Default for MembershipStatus {
    fn default() -> Self {
        MembershipStatus {
            source: Mutex::new("static".to_owned()),
            last_error: Mutex::new(String::new()),
            ready: watch::Sender::new(true),
            discovery_errors: AtomicU64::new(0),
            rejected_answers: AtomicU64::new(0),
            ring_mismatches: AtomicU64::new(0),
            mismatch_log: Mutex::new(RateLimited::new(MISMATCH_LOG_EVERY)),
        }
    }
}

/// A copy of a pool's membership status and ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipSnapshot {
    /// The discovery source (`static` for a fixed list).
    pub source: String,
    /// The ring fingerprint ([`HashRing::fingerprint`](cache_core::HashRing::fingerprint)).
    pub ring: u64,
    /// When the peer set last changed.
    pub changed_at: std::time::SystemTime,
    /// Changes since the pool was made (its first set counts).
    pub changes: u64,
    /// Fetches received with another ring fingerprint.
    pub ring_mismatches: u64,
    /// Discovery answers that were errors.
    pub discovery_errors: u64,
    /// Discovery answers held back as implausible.
    pub rejected_answers: u64,
    /// The last discovery error (empty: none).
    pub last_error: String,
    /// True once the first peer set is applied.
    pub ready: bool,
}

impl MembershipStatus {
    /// Names the discovery source (shown by `Stats` and metrics).
    pub fn set_source(&self, source: impl Into<String>) {
        *self.source.lock() = source.into();
    }

    /// The discovery source's name.
    pub fn source(&self) -> String {
        self.source.lock().clone()
    }

    /// Marks the node ready (its first peer set applied) or not: the
    /// server's health follows (SERVING only while ready). A pool starts
    /// ready; a node that discovers its peers sets it false before it
    /// serves, and true once the first set is applied.
    pub fn set_ready(&self, ready: bool) {
        self.ready.send_replace(ready);
    }

    /// True while the node is ready.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Follows readiness (the server's health does).
    pub fn subscribe_ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// Counts a discovery answer that was an error, and keeps its text.
    pub fn record_error(&self, error: impl Into<String>) {
        self.discovery_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = error.into();
    }

    /// Counts a discovery answer held back as implausible.
    pub fn record_rejected(&self) {
        self.rejected_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a fetch from `peer` whose ring fingerprint `theirs` is not
    /// `ours`, logging it at most once every 10 s.
    pub(crate) fn record_mismatch(
        &self,
        peer: Option<std::net::SocketAddr>,
        theirs: u64,
        ours: u64,
    ) {
        let total = self.ring_mismatches.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(held_back) = self.mismatch_log.lock().due(Instant::now()) {
            tracing::warn!(
                peer = ?peer,
                theirs = %format_ring(theirs),
                ours = %format_ring(ours),
                total,
                held_back,
                "a peer's ring differs from ours (normal for a moment after a membership \
                 change; if it lasts, the nodes disagree on the peer set)"
            );
        }
    }

    pub(crate) fn counters(&self) -> (u64, u64, u64, String) {
        (
            self.ring_mismatches.load(Ordering::Relaxed),
            self.discovery_errors.load(Ordering::Relaxed),
            self.rejected_answers.load(Ordering::Relaxed),
            self.last_error.lock().clone(),
        )
    }
}

/// A ring fingerprint as shown to people: 16 hex digits.
pub fn format_ring(ring: u64) -> String {
    format!("{ring:016x}")
}
