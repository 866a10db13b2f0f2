//! The cluster's counters before and after a run, through the `Stats` RPC.

use std::collections::BTreeMap;

use cache_grpc::pb;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

type Client = pb::groupcache_client::GroupcacheClient<Channel>;

/// The counters of one group summed over the nodes that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClusterCounters {
    /// How many nodes answered `Stats` with this group.
    pub(crate) nodes: usize,
    /// Every counter by name: the group's core counters as the server names
    /// them, plus `main_cache.*` and `hot_cache.*` cache counters.
    pub(crate) counters: BTreeMap<String, u64>,
}

/// What changed over the measured phase, summed over the nodes that
/// answered both times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsDelta {
    /// Nodes that answered `Stats` before and after.
    pub nodes: usize,
    /// Loads from the source (`local_loads`): values computed by a `Getter`.
    pub source_loads: u64,
    /// Gets that asked the key's owner (`peer_loads`).
    pub peer_fetches: u64,
    /// Lookups that hit the hot cache (`hot_cache.hits`).
    pub hot_cache_hits: u64,
    /// Lookups that hit the main cache (`main_cache.hits`).
    pub main_cache_hits: u64,
    /// Every counter's change by name.
    pub counters: BTreeMap<String, u64>,
}

/// Asks each client for the stats of `group`; nodes that fail or don't know
/// the group are left out.
pub(crate) async fn snapshot(
    clients: &[Client],
    group: &str,
    authorization: Option<&tonic::metadata::AsciiMetadataValue>,
) -> ClusterCounters {
    let mut out = ClusterCounters::default();
    for c in clients {
        let mut c = c.clone();
        let mut req = tonic::Request::new(pb::StatsRequest {
            group: group.to_string(),
        });
        req.set_timeout(std::time::Duration::from_secs(3));
        if let Some(a) = authorization {
            req.metadata_mut().insert("authorization", a.clone());
        }
        let Ok(resp) = c.stats(req).await else {
            continue;
        };
        let Some(g) = resp
            .into_inner()
            .groups
            .into_iter()
            .find(|g| g.name == group)
        else {
            continue;
        };
        out.nodes += 1;
        let mut add = |k: String, v: u64| *out.counters.entry(k).or_default() += v;
        for (k, v) in g.counters {
            add(k, v);
        }
        for (prefix, cache) in [("main_cache", g.main_cache), ("hot_cache", g.hot_cache)] {
            if let Some(cs) = cache {
                add(format!("{prefix}.hits"), cs.hits);
                add(format!("{prefix}.gets"), cs.gets);
                add(format!("{prefix}.evictions"), cs.evictions);
            }
        }
    }
    out
}

/// `after - before` (a counter that went down, e.g. after a restart, gives 0).
pub(crate) fn delta(before: &ClusterCounters, after: &ClusterCounters) -> StatsDelta {
    let counters: BTreeMap<String, u64> = after
        .counters
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(before.counters.get(k).copied().unwrap_or(0)),
            )
        })
        .collect();
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    StatsDelta {
        nodes: before.nodes.min(after.nodes),
        source_loads: get("local_loads"),
        peer_fetches: get("peer_loads"),
        hot_cache_hits: get("hot_cache.hits"),
        main_cache_hits: get("main_cache.hits"),
        counters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deltas subtract per counter, fill the headline fields, and never go
    /// below zero.
    #[test]
    fn delta_subtracts_per_counter() {
        let mk = |pairs: &[(&str, u64)]| ClusterCounters {
            nodes: 3,
            counters: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        let before = mk(&[
            ("local_loads", 10),
            ("peer_loads", 5),
            ("hot_cache.hits", 7),
            ("gets", 100),
        ]);
        let after = mk(&[
            ("local_loads", 110),
            ("peer_loads", 4),
            ("hot_cache.hits", 9),
            ("gets", 1100),
        ]);
        let d = delta(&before, &after);
        assert_eq!(d.source_loads, 100);
        assert_eq!(d.peer_fetches, 0);
        assert_eq!(d.hot_cache_hits, 2);
        assert_eq!(d.counters["gets"], 1000);
        assert_eq!(d.nodes, 3);
    }
}
