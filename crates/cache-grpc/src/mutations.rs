//! Remove and Set across the mesh: [`remove`] and [`set`], what the
//! `Remove` and `Set` RPCs run, and what an embedder holding a
//! [`PeerPool`] calls.
//!
//! # Order
//!
//! A change reaches the key's owner first and every other node after:
//!
//! 1. **The owner** (on this node's ring) applies it: for `Remove`, each
//!    owner drops its keys (`Invalidate`, one RPC per owner with all of its
//!    keys); for `Set`, the owner stores the value (`Store`; this node
//!    itself when it owns the key).
//! 2. **Every other node** then drops its copies (`Invalidate`, one RPC per
//!    node with the keys it does not own): hot copies, and the main-cache
//!    copy a node owning the key on another ring may hold.
//!
//! The order is what makes step 2 final. A node that re-fetches the key
//! between the two steps asks an owner that has already changed; had the
//! others gone first, such a fetch could bring the old value back into
//! their hot caches after they had dropped it. Each node's own
//! [`Group::remove`] / [`Group::set`] then keeps the old value out of its
//! caches however its loads and fetches interleave (generations,
//! tombstones, detached flights: see `cache-core`).
//!
//! # What the answer says
//!
//! Every node that applied the change is `reached`; the others are
//! `unreached`, with why (down, its breaker open, no answer within the
//! budget). An unreached node may still serve the old value: a hot copy
//! for at most its hot TTL, a main-cache copy (it owns the key) until it
//! expires or the change is sent again. Both calls are idempotent: retry
//! until nothing is unreached. A `Set` whose owner does not confirm it
//! fails ([`Error::Unavailable`]) and the other nodes are not touched; an
//! owner that got it but answered too late may still have stored it.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use cache_core::{Error, Group};
use futures::future::join_all;
use tokio::time::Instant;

use crate::PeerPool;

/// How long a mutation waits for the other nodes by default, when its
/// request has no deadline.
pub const DEFAULT_MUTATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Which nodes applied a mutation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MutationReport {
    /// Nodes that applied it (this node included), sorted.
    pub reached: Vec<String>,
    /// Nodes that did not, with why, sorted.
    pub unreached: Vec<(String, String)>,
    /// The key's owner on this node's ring (`set` only; empty for
    /// `remove`).
    pub owner: String,
}

impl MutationReport {
    /// Counts `peer`'s answer: reached unless it failed (a failure in any
    /// step makes it unreached).
    fn record(
        &mut self,
        failures: &mut BTreeMap<String, String>,
        peer: String,
        result: Result<(), Error>,
    ) {
        match result {
            Ok(()) => self.reached.push(peer),
            Err(e) => {
                failures.entry(peer).or_insert_with(|| e.to_string());
            }
        }
    }

    /// Sorts, and moves every peer that failed a step to `unreached`.
    fn finish(mut self, failures: BTreeMap<String, String>) -> Self {
        self.reached.sort();
        self.reached.dedup();
        self.reached.retain(|p| !failures.contains_key(p));
        self.unreached = failures.into_iter().collect();
        self
    }
}

/// Removes `keys` of `group` from every node's caches: each key's owner
/// first, then every other node (see the [module docs](self)). Each step is
/// bounded by `budget`. Keys must be valid (the caller checks them).
pub async fn remove(
    group: &Group,
    pool: &PeerPool,
    keys: &[String],
    budget: Duration,
) -> MutationReport {
    let me = pool.self_id().to_owned();
    let mut by_owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        by_owner
            .entry(pool.owner(key))
            .or_default()
            .push(key.clone());
    }
    let mut report = MutationReport::default();
    let mut failures = BTreeMap::new();

    // Step 1: the owners, each with its own keys.
    for key in by_owner.get(&me).into_iter().flatten() {
        group.remove(key);
    }
    let deadline = Instant::now() + budget;
    let owners = by_owner
        .iter()
        .filter(|(owner, _)| **owner != me)
        .map(|(owner, own)| invalidate(pool, group.name(), owner.clone(), own.clone(), deadline));
    for (peer, result) in join_all(owners).await {
        report.record(&mut failures, peer, result);
    }

    // Step 2: every node, the keys it does not own.
    let not_owned_by = |node: &str| -> Vec<String> {
        let none = Vec::new();
        let own = by_owner.get(node).unwrap_or(&none);
        keys.iter().filter(|k| !own.contains(k)).cloned().collect()
    };
    for key in not_owned_by(&me) {
        group.remove(&key);
    }
    report.reached.push(me);
    let deadline = Instant::now() + budget;
    let others = pool
        .peers()
        .into_iter()
        .filter(|peer| *peer != pool.self_id())
        .filter_map(|peer| {
            let rest = not_owned_by(&peer);
            (!rest.is_empty()).then(|| invalidate(pool, group.name(), peer, rest, deadline))
        });
    for (peer, result) in join_all(others).await {
        report.record(&mut failures, peer, result);
    }
    report.finish(failures)
}

/// Stores `value` for `key` of `group` at the key's owner (this node, or
/// the owner on this node's ring through `Store`, which never forwards),
/// then drops every other node's copy. [`Error::Unavailable`] when the
/// owner did not confirm it (unreachable, or no answer within `budget`:
/// then it may still apply it late); no other node was touched. Each step is bounded by `budget`. `key` must be valid.
pub async fn set(
    group: &Group,
    pool: &PeerPool,
    key: &str,
    value: Bytes,
    ttl: Option<Duration>,
    budget: Duration,
) -> Result<MutationReport, Error> {
    let me = pool.self_id().to_owned();
    let owner = pool.owner(key);
    let mut report = MutationReport {
        owner: owner.clone(),
        ..MutationReport::default()
    };
    if owner == me {
        group.set(key, value, ttl)?;
    } else {
        let client = pool
            .client(&owner)
            .ok_or_else(|| Error::unavailable(format!("the key's owner {owner} is not a peer")))?;
        client
            .store(group.name(), key, value, ttl, budget)
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "the key's owner {owner} did not confirm the Set ({e}); the other nodes \
                     were not changed"
                ))
            })?;
        group.remove(key);
        report.reached.push(me.clone());
    }
    report.reached.push(owner.clone());

    let mut failures = BTreeMap::new();
    let deadline = Instant::now() + budget;
    let others = pool
        .peers()
        .into_iter()
        .filter(|peer| *peer != me && *peer != owner)
        .map(|peer| invalidate(pool, group.name(), peer, vec![key.to_owned()], deadline));
    for (peer, result) in join_all(others).await {
        report.record(&mut failures, peer, result);
    }
    Ok(report.finish(failures))
}

/// Sends `keys` to `peer`'s `Invalidate`, within what is left until
/// `deadline`.
async fn invalidate(
    pool: &PeerPool,
    group: &str,
    peer: String,
    keys: Vec<String>,
    deadline: Instant,
) -> (String, Result<(), Error>) {
    let Some(client) = pool.client(&peer) else {
        return (peer, Err(Error::unavailable("not a peer any more")));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let result = client.invalidate(group, keys, left).await.map(|_| ());
    (peer, result)
}
