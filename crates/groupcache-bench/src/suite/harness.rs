//! The Go harness's runs: its loadgen's JSON lines, and their medians per
//! implementation and scenario, paired Rust against Go.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ceiling;

/// The harness's name for golang/groupcache.
pub(super) const GO: &str = "go-groupcache";
/// The harness's name for this implementation.
pub(super) const RUST: &str = "rust-groupcache";

/// Latency percentiles as the Go harness's loadgen writes them (µs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HarnessLatency {
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// One run of the Go harness's loadgen (the fields the report uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HarnessRun {
    /// Scenario (`local-hit`, `spread-uniform`, ...).
    pub label: String,
    /// Implementation (`go-groupcache`, `rust-groupcache`).
    #[serde(rename = "impl")]
    pub implementation: String,
    /// Requests per second.
    pub rps: f64,
    /// Failed requests.
    pub errors: u64,
    /// Latency percentiles.
    pub latency_us: HarnessLatency,
    /// Server CPU µs per request.
    pub server_cpu_us_per_req: f64,
    /// The load generator's own CPU µs per request.
    pub loadgen_cpu_us_per_req: f64,
    /// Requests in the run.
    pub requests: f64,
}

/// Median of the values (0 for none).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median of each metric per (implementation, scenario).
#[derive(Debug, Clone, Default)]
pub(super) struct Agg {
    /// Runs in the group.
    pub(super) runs: usize,
    /// Requests per second.
    pub(super) rps: f64,
    /// p99 latency, µs.
    pub(super) p99: f64,
    /// The nodes' CPU µs per request.
    pub(super) cpu: f64,
    /// The load generator's CPU µs per request.
    pub(super) loadgen_cpu: f64,
    /// Requests per run.
    pub(super) requests: f64,
    /// Failed requests, summed over the runs.
    pub(super) errors: u64,
    /// `(percentile, µs)` points for the CDF plot.
    pub(super) cdf: Vec<(f64, f64)>,
}

impl Agg {
    /// The figures the 2x budget is computed from.
    pub(super) fn side(&self) -> ceiling::Side {
        ceiling::Side {
            rps: self.rps,
            node_cpu_us: self.cpu,
            loadgen_cpu_us: self.loadgen_cpu,
            requests: self.requests,
        }
    }
}

/// The medians per `(implementation, scenario)`.
pub(super) fn aggregate(runs: &[HarnessRun]) -> BTreeMap<(String, String), Agg> {
    let mut groups: BTreeMap<(String, String), Vec<&HarnessRun>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.implementation.clone(), r.label.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let m = |f: fn(&HarnessRun) -> f64| median(rs.iter().map(|r| f(r)).collect());
            let lat = |f: fn(&HarnessLatency) -> f64| {
                median(rs.iter().map(|r| f(&r.latency_us)).collect())
            };
            let agg = Agg {
                runs: rs.len(),
                rps: m(|r| r.rps),
                p99: lat(|l| l.p99),
                cpu: m(|r| r.server_cpu_us_per_req),
                loadgen_cpu: m(|r| r.loadgen_cpu_us_per_req),
                requests: m(|r| r.requests),
                errors: rs.iter().map(|r| r.errors).sum(),
                cdf: vec![
                    (0.0, lat(|l| l.min)),
                    (50.0, lat(|l| l.p50)),
                    (90.0, lat(|l| l.p90)),
                    (99.0, lat(|l| l.p99)),
                    (99.9, lat(|l| l.p999)),
                    (100.0, lat(|l| l.max)),
                ],
            };
            (k, agg)
        })
        .collect()
}

/// One scenario run by both implementations.
#[derive(Debug, Clone)]
pub(super) struct Pair {
    /// The scenario.
    pub(super) label: String,
    /// Our medians.
    pub(super) rust: Agg,
    /// golang/groupcache's medians.
    pub(super) go: Agg,
}

/// The scenarios both implementations ran, in the report's order (the
/// harness's scenarios first, in their usual order; others after).
pub(super) fn pairs(agg: &BTreeMap<(String, String), Agg>) -> Vec<Pair> {
    let mut labels: Vec<String> = agg.keys().map(|(_, l)| l.clone()).collect();
    labels.dedup();
    let order = [
        "local-hit",
        "spread-uniform",
        "spread-zipf",
        "local-hit-c1",
        "spread-uniform-c1",
        "stampede",
    ];
    labels.sort_by_key(|l| order.iter().position(|o| o == l).unwrap_or(99));
    labels.dedup();
    labels
        .into_iter()
        .filter_map(|l| {
            let rust = agg.get(&(RUST.into(), l.clone()))?.clone();
            let go = agg.get(&(GO.into(), l.clone()))?.clone();
            Some(Pair { label: l, rust, go })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Medians per implementation and scenario; only scenarios both ran are
    /// paired, in the harness's order.
    #[test]
    fn aggregates_and_pairs() {
        let run = |imp: &str, label: &str, rps: f64| HarnessRun {
            label: label.into(),
            implementation: imp.into(),
            rps,
            ..Default::default()
        };
        let agg = aggregate(&[
            run(GO, "spread-uniform", 10.0),
            run(GO, "spread-uniform", 30.0),
            run(RUST, "spread-uniform", 50.0),
            run(GO, "local-hit", 1.0),
            run(RUST, "local-hit", 2.0),
            run(RUST, "only-ours", 2.0),
        ]);
        let go = &agg[&(GO.to_string(), "spread-uniform".to_string())];
        assert_eq!((go.runs, go.rps), (2, 20.0));
        let p = pairs(&agg);
        let labels: Vec<&str> = p.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["local-hit", "spread-uniform"]);
        assert_eq!((p[1].rust.rps, p[1].go.rps), (50.0, 20.0));
    }
}
