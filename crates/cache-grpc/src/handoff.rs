//! [`hand_off`]: a leaving node gives its hottest owned values to the
//! keys' next owners, so that leaving costs the mesh almost no source
//! loads.
//!
//! The next owner of a key is its owner on this node's ring without this
//! node: the ring every other node has once the leave is seen. Values go
//! in `Put` batches of at most [`BATCH_BYTES`] (or one larger value), one
//! peer's batches in sequence and the peers in parallel. The whole is
//! bounded by a byte budget (shared by the groups, the hottest values of
//! each first) and a time budget; whatever is not handed over in time is
//! simply loaded again by its new owner on its first miss.

use std::collections::HashMap;
use std::time::Duration;

use cache_core::{HandoffEntry, Registry};
use futures::future::join_all;
use tokio::time::Instant;

use crate::PeerPool;
use crate::pb::PutEntry;

/// The most bytes of values one `Put` carries (a larger value goes alone).
pub const BATCH_BYTES: usize = 1 << 20;

/// How much a leaving node hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffBudget {
    /// The most bytes of values (keys and values as the stores charge them)
    /// handed over, all groups together.
    pub max_bytes: u64,
    /// The longest the whole handoff may take.
    pub timeout: Duration,
}

/// What a handoff did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffReport {
    /// Values sent.
    pub sent: u64,
    /// Values the new owners stored.
    pub stored: u64,
    /// Bytes of the values sent.
    pub bytes: u64,
    /// Peers a batch could not be given to, with why.
    pub failures: Vec<(String, String)>,
    /// True when the time budget ran out first.
    pub timed_out: bool,
    /// How long it took.
    pub elapsed: Duration,
}

/// Hands the hottest values of every group's main cache to their next
/// owners, within `budget`. Nothing is handed over when this node is the
/// only one on its ring.
pub async fn hand_off(
    registry: &Registry,
    pool: &PeerPool,
    budget: HandoffBudget,
) -> HandoffReport {
    let started = Instant::now();
    let ring = pool.ring_without_self();
    let mut report = HandoffReport::default();
    if ring.is_empty() || budget.max_bytes == 0 || budget.timeout.is_zero() {
        return report;
    }
    // Batches per (peer, group), the hottest values first.
    let groups = registry.groups();
    let mut by_peer: HashMap<String, Vec<(String, Vec<PutEntry>)>> = HashMap::new();
    let mut left = budget.max_bytes;
    for (i, group) in groups.iter().enumerate() {
        // An even share of what is left, so that one group cannot take it
        // all; what a group does not use passes to the next.
        let share = left / (groups.len() - i) as u64;
        let entries = group.hottest_owned(share);
        let mut batches: HashMap<&str, (usize, Vec<PutEntry>)> = HashMap::new();
        for HandoffEntry { key, value, ttl } in entries {
            let Some(owner) = ring.owner(&key) else {
                continue;
            };
            let size = cache_core::store::entry_size(&key, value.len());
            left = left.saturating_sub(size);
            report.bytes += value.len() as u64;
            report.sent += 1;
            let entry = PutEntry {
                key,
                value,
                ttl_ms: ttl.map_or(0, |t| {
                    u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
                }),
            };
            let (bytes, batch) = batches.entry(owner).or_default();
            if *bytes + entry.value.len() > BATCH_BYTES && !batch.is_empty() {
                by_peer
                    .entry(owner.to_owned())
                    .or_default()
                    .push((group.name().to_owned(), std::mem::take(batch)));
                *bytes = 0;
            }
            *bytes += entry.value.len();
            batch.push(entry);
        }
        for (owner, (_, batch)) in batches {
            if !batch.is_empty() {
                by_peer
                    .entry(owner.to_owned())
                    .or_default()
                    .push((group.name().to_owned(), batch));
            }
        }
    }
    let deadline = started + budget.timeout;
    let sends = by_peer.into_iter().map(|(peer, batches)| async move {
        let Some(client) = pool.client(&peer) else {
            return (peer, 0, Some("not a peer any more".to_owned()));
        };
        let mut stored = 0u64;
        for (group, entries) in batches {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (
                    peer,
                    stored,
                    Some("the handoff's time budget ran out".to_owned()),
                );
            }
            match client.put(&group, entries, left).await {
                Ok(n) => stored += u64::from(n),
                Err(e) => return (peer, stored, Some(e.to_string())),
            }
        }
        (peer, stored, None)
    });
    // Each `Put` is bounded by the time left, so this ends by the deadline.
    for (peer, stored, failure) in join_all(sends).await {
        report.stored += stored;
        if let Some(why) = failure {
            report.failures.push((peer, why));
        }
    }
    // A peer left out once the deadline passed ran out of time (a `Put`
    // cut short by it fails with DEADLINE_EXCEEDED, or was never sent).
    report.timed_out = !report.failures.is_empty() && Instant::now() >= deadline;
    report.elapsed = started.elapsed();
    report
}
