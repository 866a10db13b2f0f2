//! `groupcache stats --addr ADDR [--json]`: every counter of every group;
//! `--watch`: their rates, live ([`watch`]).

pub mod cluster;
pub mod watch;

use std::time::{Duration, SystemTime};

use cache_core::StatsSnapshot;
use cache_grpc::pb::groupcache_client::GroupcacheClient;
use cache_grpc::pb::{
    CacheStats, GroupStats, Membership, NodeInfo, PeerHealth, StatsRequest, StatsResponse,
};
use clap::Args;
use serde_json::{Map, Value, json};
use tonic::transport::Channel;

use crate::Error;
use crate::cli::client::{ClientArgs, bounded};
use crate::cli::parse::clap_parsers;

/// Flags of `groupcache stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Node address and timeout.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Only this group (default: all groups).
    #[arg(long, env = "GROUPCACHE_STATS_GROUP")]
    pub group: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, env = "GROUPCACHE_JSON", value_parser = clap_parsers::switch, conflicts_with = "watch")]
    pub json: bool,
    /// A live view instead: a line per interval with the rates of gets,
    /// hits, peer fetches, source loads and errors, and the caches' fill,
    /// until Ctrl-C (or --count lines).
    #[arg(long, env = "GROUPCACHE_STATS_WATCH", value_parser = clap_parsers::switch)]
    pub watch: bool,
    /// Time between the lines of --watch.
    #[arg(long, env = "GROUPCACHE_STATS_INTERVAL", default_value = "1s", value_name = "DURATION", value_parser = clap_parsers::duration, requires = "watch")]
    pub interval: Duration,
    /// Show every node of the mesh: ask the node at --addr for its peers,
    /// then all of them (a column per node and a total).
    #[arg(long, env = "GROUPCACHE_STATS_CLUSTER", value_parser = clap_parsers::switch, conflicts_with = "watch")]
    pub cluster: bool,
    /// Stop --watch after this many lines. Default: run until stopped.
    #[arg(
        long,
        env = "GROUPCACHE_STATS_COUNT",
        value_name = "N",
        requires = "watch"
    )]
    pub count: Option<u64>,
}

/// Fetches the node's stats and prints them (or watches them, with
/// `--watch`).
pub async fn run(args: StatsArgs) -> Result<(), Error> {
    if args.watch {
        let group = args.group.unwrap_or_default();
        return watch::run(&args.client, group, args.interval, args.count).await;
    }
    if args.cluster || args.client.addr.len() > 1 {
        return cluster::run(&args).await;
    }
    let stats = fetch(&args.client, args.group.unwrap_or_default()).await?;
    if args.json {
        let mut text = serde_json::to_string_pretty(&to_json(&stats)).expect("a JSON value prints");
        text.push('\n');
        crate::cli::write_stdout(text.as_bytes())
    } else {
        crate::cli::write_stdout(render_table(&stats).as_bytes())
    }
}

/// Calls `Stats` on the node (`group` empty for all groups).
pub async fn fetch(client: &ClientArgs, group: String) -> Result<StatsResponse, Error> {
    let mut conn = client.connect().await?;
    call(client, &mut conn, group).await
}

/// Calls `Stats` on an open connection, under the client's timeout and
/// token.
pub async fn call(
    client: &ClientArgs,
    conn: &mut GroupcacheClient<Channel>,
    group: String,
) -> Result<StatsResponse, Error> {
    let mut request = tonic::Request::new(StatsRequest { group });
    request.set_timeout(client.timeout);
    client.authorize(&mut request)?;
    bounded(client.timeout, conn.stats(request)).await
}

/// A group's counters in a stable order: the engine's declaration order,
/// then any counter the node reports that this build does not know, by
/// name.
pub fn ordered_counters(group: &GroupStats) -> Vec<(String, u64)> {
    let known: Vec<&str> = StatsSnapshot::default()
        .counters()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut out: Vec<(String, u64)> = known
        .iter()
        .filter_map(|name| group.counters.get(*name).map(|v| (name.to_string(), *v)))
        .collect();
    let mut extra: Vec<(String, u64)> = group
        .counters
        .iter()
        .filter(|(name, _)| !known.contains(&name.as_str()))
        .map(|(name, v)| (name.clone(), *v))
        .collect();
    extra.sort();
    out.extend(extra);
    out
}

/// The cache stats rows: `(name, main, hot)` per field.
fn cache_rows(group: &GroupStats) -> Vec<(&'static str, u64, u64)> {
    let m = group.main_cache.unwrap_or_default();
    let h = group.hot_cache.unwrap_or_default();
    vec![
        ("bytes", m.bytes, h.bytes),
        ("items", m.items, h.items),
        ("gets", m.gets, h.gets),
        ("hits", m.hits, h.hits),
        ("evictions", m.evictions, h.evictions),
    ]
}

/// The stats as a plain-text table: the node and its peers, then one
/// column per group and one row per counter, then the main and hot cache
/// rows.
pub fn render_table(stats: &StatsResponse) -> String {
    let mut out = String::new();
    out.push_str(&format!("node   {}\n", stats.node));
    out.push_str(&format!("peers  {}\n", stats.peers.join(", ")));
    if let Some(info) = &stats.info {
        for (name, value) in info_rows(info) {
            out.push_str(&format!("{name:<18} {value}\n"));
        }
    }
    if let Some(m) = &stats.membership {
        for (name, value) in membership_rows(m, SystemTime::now()) {
            out.push_str(&format!("{name:<18} {value}\n"));
        }
    }
    if stats.groups.is_empty() {
        out.push_str("(no groups)\n");
        return out;
    }
    out.push('\n');
    let columns: Vec<(String, &GroupStats)> =
        stats.groups.iter().map(|g| (g.name.clone(), g)).collect();
    out.push_str(&render_columns("group", &columns));
    if !stats.peer_health.is_empty() {
        out.push('\n');
        out.push_str(&render_peer_health(&stats.peer_health));
    }
    out
}

/// One row per other peer: its breaker state and counters.
fn render_peer_health(peers: &[PeerHealth]) -> String {
    let width = peers
        .iter()
        .map(|p| p.peer.len())
        .chain([4])
        .max()
        .unwrap_or(4);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>13}  {:>15}  {:>8}\n",
        "peer", "state", "breaker_opens", "skipped_fetches", "failures"
    );
    out.push_str(&"-".repeat(width + 53));
    out.push('\n');
    for p in peers {
        out.push_str(&format!(
            "{:<width$}  {:>7}  {:>13}  {:>15}  {:>8}\n",
            p.peer, p.state, p.breaker_opens, p.skipped_fetches, p.failures
        ));
    }
    out
}

/// The load limiter's figures as `(row name, value)`.
fn load_rows(group: &GroupStats) -> Vec<(&'static str, u64)> {
    let l = group.loads.unwrap_or_default();
    vec![
        ("max_concurrent", l.max_concurrent),
        ("max_queued", l.max_queued),
        ("running", l.running),
        ("queued", l.queued),
        ("peak_running", l.peak_running),
        ("rejected", l.rejected),
    ]
}

/// A table with one column per `(title, group stats)` and one row per
/// counter (engine order), then the main and hot cache rows. `corner` heads
/// the label column.
pub fn render_columns(corner: &str, columns: &[(String, &GroupStats)]) -> String {
    let mut rows: Vec<(String, Vec<u64>)> = Vec::new();
    let mut push =
        |name: String, col: usize, value: u64| match rows.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values[col] = value,
            None => {
                let mut values = vec![0; columns.len()];
                values[col] = value;
                rows.push((name, values));
            }
        };
    for (col, (_, group)) in columns.iter().enumerate() {
        push("cache_bytes (budget)".into(), col, group.cache_bytes);
        for (name, value) in ordered_counters(group) {
            push(name, col, value);
        }
        for (name, main, hot) in cache_rows(group) {
            push(format!("main_cache.{name}"), col, main);
            push(format!("hot_cache.{name}"), col, hot);
        }
        for (name, value) in load_rows(group) {
            push(format!("loads.{name}"), col, value);
        }
    }
    // Group counters first, then the main cache rows, the hot ones, and
    // the load limiter's.
    rows.sort_by_key(|(name, _)| {
        if name.starts_with("main_cache.") {
            1
        } else if name.starts_with("hot_cache.") {
            2
        } else if name.starts_with("loads.") {
            3
        } else {
            0
        }
    });
    let mut rows: Vec<(String, Vec<String>)> = rows
        .into_iter()
        .map(|(name, values)| (name, values.iter().map(u64::to_string).collect()))
        .collect();
    rows.insert(
        0,
        (
            "hit_ratio".into(),
            columns.iter().map(|(_, g)| hit_ratio_text(g)).collect(),
        ),
    );
    let label_width = rows
        .iter()
        .map(|(n, _)| n.len())
        .chain([corner.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(col, (title, _))| {
            rows.iter()
                .map(|(_, v)| v[col].len())
                .chain([title.len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut out = format!("{corner:<label_width$}");
    for ((title, _), w) in columns.iter().zip(&widths) {
        out.push_str(&format!("  {title:>w$}"));
    }
    out.push('\n');
    out.push_str(&"-".repeat(label_width + widths.iter().map(|w| w + 2).sum::<usize>()));
    out.push('\n');
    for (name, values) in &rows {
        out.push_str(&format!("{name:<label_width$}"));
        for (v, w) in values.iter().zip(&widths) {
            out.push_str(&format!("  {v:>w$}"));
        }
        out.push('\n');
    }
    out
}

/// Gets answered by a cache, of all gets (`None` before the first get).
pub fn hit_ratio(group: &GroupStats) -> Option<f64> {
    let gets = *group.counters.get("gets")?;
    let hits = group.counters.get("cache_hits").copied().unwrap_or(0);
    (gets > 0).then(|| hits as f64 / gets as f64)
}

fn hit_ratio_text(group: &GroupStats) -> String {
    hit_ratio(group).map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The node's own figures as `(row name, value)`: what it runs, for how
/// long, its memory, connections and requests in flight.
fn info_rows(info: &NodeInfo) -> Vec<(&'static str, String)> {
    vec![
        ("version", info.version.clone()),
        (
            "uptime",
            humantime::format_duration(Duration::from_secs(info.uptime_ms / 1000)).to_string(),
        ),
        ("rss", bytesize::ByteSize::b(info.rss_bytes).to_string()),
        ("connections", info.connections.to_string()),
        ("requests_in_flight", info.requests_in_flight.to_string()),
    ]
}

/// The membership rows: the source, the ring and how long ago it last
/// changed, and the counters that say whether the mesh agrees.
fn membership_rows(m: &Membership, now: SystemTime) -> Vec<(&'static str, String)> {
    let changed = SystemTime::UNIX_EPOCH + Duration::from_millis(m.changed_unix_ms);
    let ago = now.duration_since(changed).unwrap_or_default();
    let mut rows = vec![
        ("membership", m.source.clone()),
        (
            "ring",
            format!(
                "{} ({} changes, last {} ago)",
                m.ring,
                m.changes,
                humantime::format_duration(Duration::from_secs(ago.as_secs()))
            ),
        ),
        ("ready", m.ready.to_string()),
        ("ring_mismatches", m.ring_mismatches.to_string()),
    ];
    if m.discovery_errors > 0 || m.rejected_answers > 0 {
        rows.push(("discovery_errors", m.discovery_errors.to_string()));
        rows.push(("rejected_answers", m.rejected_answers.to_string()));
    }
    if !m.last_error.is_empty() {
        rows.push(("last_error", m.last_error.clone()));
    }
    rows
}

fn membership_json(m: &Membership) -> Value {
    json!({
        "source": m.source,
        "ring": m.ring,
        "changed_unix_ms": m.changed_unix_ms,
        "changes": m.changes,
        "ready": m.ready,
        "ring_mismatches": m.ring_mismatches,
        "discovery_errors": m.discovery_errors,
        "rejected_answers": m.rejected_answers,
        "last_error": m.last_error,
    })
}

fn info_json(info: &NodeInfo) -> Value {
    json!({
        "version": info.version,
        "uptime_ms": info.uptime_ms,
        "rss_bytes": info.rss_bytes,
        "connections": info.connections,
        "requests_in_flight": info.requests_in_flight,
    })
}

fn cache_json(c: Option<CacheStats>) -> Value {
    let c = c.unwrap_or_default();
    json!({
        "bytes": c.bytes,
        "items": c.items,
        "gets": c.gets,
        "hits": c.hits,
        "evictions": c.evictions,
    })
}

/// The stats as JSON: `{"node", "peers", "groups": [{"name", "cache_bytes",
/// "counters": {..}, "main_cache": {..}, "hot_cache": {..}, "loads": {..}}],
/// "peer_health": [{"peer", "state", "breaker_opens", "skipped_fetches",
/// "failures", "consecutive_failures"}], "info": {..}, "membership":
/// {"source", "ring", "changed_unix_ms", "changes", "ready",
/// "ring_mismatches", "discovery_errors", "rejected_answers",
/// "last_error"}}`.
pub fn to_json(stats: &StatsResponse) -> Value {
    let groups: Vec<Value> = stats
        .groups
        .iter()
        .map(|g| {
            let counters: Map<String, Value> = ordered_counters(g)
                .into_iter()
                .map(|(name, v)| (name, Value::from(v)))
                .collect();
            json!({
                "name": g.name,
                "hit_ratio": hit_ratio(g),
                "cache_bytes": g.cache_bytes,
                "counters": counters,
                "main_cache": cache_json(g.main_cache),
                "hot_cache": cache_json(g.hot_cache),
                "loads": Value::Object(load_rows(g).into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect()),
            })
        })
        .collect();
    let peer_health: Vec<Value> = stats
        .peer_health
        .iter()
        .map(|p| {
            json!({
                "peer": p.peer,
                "state": p.state,
                "breaker_opens": p.breaker_opens,
                "skipped_fetches": p.skipped_fetches,
                "failures": p.failures,
                "consecutive_failures": p.consecutive_failures,
            })
        })
        .collect();
    json!({
        "node": stats.node,
        "peers": stats.peers,
        "info": stats.info.as_ref().map(info_json),
        "membership": stats.membership.as_ref().map(membership_json),
        "groups": groups,
        "peer_health": peer_health,
    })
}

#[cfg(test)]
mod tests;
