//! The node-wide sections of `groupcache stats --json` (issue 10): the
//! health of each peer as this node sees it, and the node's source-load
//! limiter.
//!
//! The JSON is read through the small functions below and nowhere else, so
//! that a renamed field is one edit here. They look for the data by shape,
//! not by a fixed path: a peer's entry is the object that names the peer
//! (in a field `peer`/`addr`/`address`/`id`/`name`, or as its key in a
//! map) and has a `state`; the limiter is the object with a
//! `peak_running` (or `peak_in_flight`, or `in_flight` and `limit`).

use serde_json::Value;

use super::run;

/// `groupcache stats --addr ADDR --json`, parsed.
pub(crate) async fn stats_json(addr: &str) -> Value {
    let out = run(&["stats", "--addr", addr, "--timeout", "2s", "--json"]).await;
    assert_eq!(out.code, Some(0), "stats --json on {addr}: {}", out.stderr);
    serde_json::from_slice(&out.stdout).expect("stats --json prints JSON")
}

/// One peer's health as a node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerHealth {
    /// `healthy` or `open` (the breaker's state).
    pub(crate) state: String,
    /// Times the breaker opened.
    pub(crate) breaker_opens: u64,
    /// Fetches not sent to the peer because its breaker was open.
    pub(crate) skipped_fetches: u64,
}

impl PeerHealth {
    /// Whether the peer is in use (the breaker is closed).
    pub(crate) fn is_healthy(&self) -> bool {
        matches!(self.state.as_str(), "healthy" | "closed")
    }
}

/// The node's source-load limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimiterStats {
    /// `--max-concurrent-loads`.
    pub(crate) limit: u64,
    /// Loads running now.
    pub(crate) in_flight: u64,
    /// Loads waiting for a slot now.
    pub(crate) queued: u64,
    /// Loads refused with RESOURCE_EXHAUSTED (queue full).
    pub(crate) rejected: u64,
    /// The most loads ever running at once.
    pub(crate) peak_in_flight: u64,
}

/// The first number among `names` in `obj` (0 if none).
fn number(obj: &Value, names: &[&str]) -> u64 {
    names
        .iter()
        .find_map(|n| obj.get(*n).and_then(Value::as_u64))
        .unwrap_or(0)
}

/// Depth-first search for the first value matching `pred`.
fn find<'a>(v: &'a Value, pred: &dyn Fn(&Value) -> bool) -> Option<&'a Value> {
    if pred(v) {
        return Some(v);
    }
    match v {
        Value::Array(items) => items.iter().find_map(|i| find(i, pred)),
        Value::Object(map) => map.values().find_map(|i| find(i, pred)),
        _ => None,
    }
}

/// Whether `name` spells `peer` (`host:port`, maybe with `http://`).
fn names_peer(name: &str, peer: &str) -> bool {
    name.strip_prefix("http://").unwrap_or(name) == peer.strip_prefix("http://").unwrap_or(peer)
}

/// `peer`'s health in a node's `stats --json`, if the node reports it.
pub(crate) fn peer_health(json: &Value, peer: &str) -> Option<PeerHealth> {
    const NAME_FIELDS: [&str; 5] = ["peer", "addr", "address", "id", "name"];
    let is_entry = |v: &Value| {
        v.get("state").is_some()
            && NAME_FIELDS.iter().any(|f| {
                v.get(*f)
                    .and_then(Value::as_str)
                    .is_some_and(|n| names_peer(n, peer))
            })
    };
    // Or a map from the peer's name to its entry.
    let is_map = |v: &Value| {
        v.as_object().is_some_and(|m| {
            m.iter()
                .any(|(k, e)| names_peer(k, peer) && e.get("state").is_some())
        })
    };
    let entry = match find(json, &is_entry) {
        Some(e) => e,
        None => {
            let map = find(json, &is_map)?.as_object()?;
            map.iter().find(|(k, _)| names_peer(k, peer))?.1
        }
    };
    Some(PeerHealth {
        state: entry.get("state")?.as_str()?.to_ascii_lowercase(),
        breaker_opens: number(entry, &["breaker_opens", "opens"]),
        skipped_fetches: number(entry, &["skipped_fetches", "skipped"]),
    })
}

/// The load limiter's figures in a node's `stats --json`, if reported (the
/// node-wide limiter, as each group reports it).
pub(crate) fn load_limiter(json: &Value) -> Option<LimiterStats> {
    let is_limiter = |v: &Value| {
        ["peak_running", "peak_in_flight"]
            .iter()
            .any(|k| v.get(*k).is_some())
            || (v.get("in_flight").is_some() && v.get("limit").is_some())
    };
    let l = find(json, &is_limiter)?;
    Some(LimiterStats {
        limit: number(l, &["max_concurrent", "limit", "max_concurrent_loads"]),
        in_flight: number(l, &["running", "in_flight"]),
        queued: number(l, &["queued"]),
        rejected: number(l, &["rejected"]),
        peak_in_flight: number(l, &["peak_running", "peak_in_flight", "peak"]),
    })
}
