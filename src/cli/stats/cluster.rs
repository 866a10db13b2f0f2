//! `groupcache stats --addr A,B,C` or `--cluster`: several nodes in one
//! table, a column per node and a total, and in one JSON document.
//!
//! `--cluster` asks the node at `--addr` for its peer list and then every
//! peer, so one address shows the whole mesh as that node sees it. Nodes
//! are asked at once; one that does not answer is reported (a row of the
//! table, an entry of `errors` in JSON) and left out of the totals, and
//! the command then exits 1 after printing the others.

use cache_grpc::pb::{CacheStats, GroupStats, LoadLimiterStats, StatsResponse};
use serde_json::{Value, json};

use super::{StatsArgs, fetch, info_rows, render_columns, to_json};
use crate::Error;
use crate::cli::client::ClientArgs;

/// The nodes to ask: `--addr`'s, or with `--cluster` the peers of its
/// first node.
async fn nodes(args: &StatsArgs) -> Result<Vec<String>, Error> {
    if !args.cluster {
        return Ok(args.client.addr.clone());
    }
    let first = &args.client.addr[0];
    let seed = fetch(&args.client.with_addr(first), String::new()).await?;
    let https = first.starts_with("https://");
    Ok(seed
        .peers
        .into_iter()
        .map(|p| if https { format!("https://{p}") } else { p })
        .collect())
}

/// Asks every node and prints the view; exit 1 if one did not answer.
pub async fn run(args: &StatsArgs) -> Result<(), Error> {
    let addrs = nodes(args).await?;
    let group = args.group.clone().unwrap_or_default();
    let asks = addrs.iter().map(|a| {
        let client: ClientArgs = args.client.with_addr(a);
        let group = group.clone();
        async move { fetch(&client, group).await }
    });
    let answers: Vec<(String, Result<StatsResponse, Error>)> = addrs
        .iter()
        .cloned()
        .zip(futures::future::join_all(asks).await)
        .collect();
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&to_json_many(&answers)).expect("JSON prints");
        t.push('\n');
        t
    } else {
        render_many(&answers)
    };
    crate::cli::write_stdout(text.as_bytes())?;
    let failed: Vec<&str> = answers
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(a, _)| a.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Status(tonic::Status::unavailable(format!(
            "no stats from {}",
            failed.join(", ")
        ))))
    }
}

fn add_cache(a: &mut CacheStats, b: &CacheStats) {
    a.bytes += b.bytes;
    a.items += b.items;
    a.gets += b.gets;
    a.hits += b.hits;
    a.evictions += b.evictions;
}

/// The sum of the same group over several nodes (the load limiter's
/// figures summed too: each node has its own).
pub(crate) fn total(groups: &[&GroupStats]) -> GroupStats {
    let mut t = GroupStats {
        name: groups.first().map(|g| g.name.clone()).unwrap_or_default(),
        main_cache: Some(CacheStats::default()),
        hot_cache: Some(CacheStats::default()),
        loads: Some(LoadLimiterStats::default()),
        ..GroupStats::default()
    };
    for g in groups {
        for (name, v) in &g.counters {
            *t.counters.entry(name.clone()).or_default() += v;
        }
        t.cache_bytes += g.cache_bytes;
        add_cache(
            t.main_cache.as_mut().unwrap(),
            &g.main_cache.unwrap_or_default(),
        );
        add_cache(
            t.hot_cache.as_mut().unwrap(),
            &g.hot_cache.unwrap_or_default(),
        );
        let (tl, l) = (t.loads.as_mut().unwrap(), g.loads.unwrap_or_default());
        tl.max_concurrent += l.max_concurrent;
        tl.max_queued += l.max_queued;
        tl.running += l.running;
        tl.queued += l.queued;
        tl.peak_running += l.peak_running;
        tl.rejected += l.rejected;
    }
    t
}

/// Group names in first-seen order over the nodes that answered.
fn group_names(answers: &[(String, Result<StatsResponse, Error>)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, r) in answers {
        for g in r.iter().flat_map(|s| &s.groups) {
            if !names.contains(&g.name) {
                names.push(g.name.clone());
            }
        }
    }
    names
}

/// The table: the nodes (their figures, or why they did not answer), then
/// per group a column per node and a total.
pub(crate) fn render_many(answers: &[(String, Result<StatsResponse, Error>)]) -> String {
    let mut out = String::new();
    for (addr, r) in answers {
        match r {
            Ok(s) => {
                out.push_str(&format!("node {addr} ({})\n", s.node));
                for (name, value) in s.info.iter().flat_map(info_rows) {
                    out.push_str(&format!("  {name:<18} {value}\n"));
                }
            }
            Err(e) => out.push_str(&format!("node {addr}: no answer: {e}\n")),
        }
    }
    for name in group_names(answers) {
        let per_node: Vec<(String, &GroupStats)> = answers
            .iter()
            .filter_map(|(addr, r)| {
                let g = r.as_ref().ok()?.groups.iter().find(|g| g.name == name)?;
                Some((addr.clone(), g))
            })
            .collect();
        let sum = total(&per_node.iter().map(|(_, g)| *g).collect::<Vec<_>>());
        let mut columns = per_node.clone();
        columns.push(("total".into(), &sum));
        out.push('\n');
        out.push_str(&render_columns(&format!("group {name}"), &columns));
    }
    out
}

/// The JSON: `{"nodes": [{"addr", ...one node's document}], "errors":
/// [{"addr", "error"}], "total": {"groups": [{"name", "hit_ratio",
/// "counters", ...}]}}`.
pub(crate) fn to_json_many(answers: &[(String, Result<StatsResponse, Error>)]) -> Value {
    let mut nodes = Vec::new();
    let mut errors = Vec::new();
    for (addr, r) in answers {
        match r {
            Ok(s) => {
                let mut v = to_json(s);
                v["addr"] = Value::from(addr.as_str());
                nodes.push(v);
            }
            Err(e) => errors.push(json!({ "addr": addr, "error": e.to_string() })),
        }
    }
    let totals: Vec<GroupStats> = group_names(answers)
        .into_iter()
        .map(|name| {
            let gs: Vec<&GroupStats> = answers
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok()?.groups.iter().find(|g| g.name == name))
                .collect();
            total(&gs)
        })
        .collect();
    let total_doc = to_json(&StatsResponse {
        groups: totals,
        ..StatsResponse::default()
    });
    let groups = total_doc["groups"].clone();
    json!({ "nodes": nodes, "errors": errors, "total": { "groups": groups } })
}
