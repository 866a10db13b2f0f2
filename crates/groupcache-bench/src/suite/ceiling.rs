//! What "2x Go's throughput" would ask of our node, scenario by scenario,
//! on the rig the side-by-side runs on: the Go load generator, the nodes
//! and other work share the machine's cores.
//!
//! Three kinds of scenario, three bounds:
//! - **Many clients** (`local-hit`, `spread-*`): the cores are the limit.
//!   At twice Go's rate every request may cost `cores / (2 x Go's req/s)`
//!   of CPU in total. The load generator's own CPU per request (measured
//!   against our node) comes out of that first; what is left is all our
//!   node may cost. Generous: it assumes the whole machine is the run's
//!   and that the load generator can keep both cores busy; a node at the
//!   budget still falls short of 2x.
//! - **One client** (`*-c1`): throughput is one over the round trip, so 2x
//!   means half Go's round trip. The part of our round trip outside our
//!   node's CPU (the client and the kernel between them) is measured as our
//!   round trip minus our node's CPU per request; what is left of the half
//!   round trip is all our node may cost.
//! - **Stampede**: every client waits for the one load of the slow source,
//!   so a run can never be shorter than the source's delay; 2x means half of
//!   Go's run.

use std::fmt::Write as _;

/// One implementation's medians in one scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side {
    /// Requests per second.
    pub rps: f64,
    /// The nodes' CPU µs per request.
    pub node_cpu_us: f64,
    /// The load generator's CPU µs per request.
    pub loadgen_cpu_us: f64,
    /// Requests in the run.
    pub requests: f64,
}

/// What 2x would leave for our node, in one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// CPU-bound: µs of CPU per request at 2x, of which the load generator
    /// takes `loadgen_us`; our node may cost `node_us`.
    Cores {
        /// All CPU per request at 2x.
        total_us: f64,
        /// The load generator's part (measured against our node).
        loadgen_us: f64,
        /// What is left for our node (may be negative).
        node_us: f64,
    },
    /// Latency-bound: 2x is a round trip of `target_us`; outside our node
    /// our round trip takes `rest_us`; our node may cost `node_us`.
    RoundTrip {
        /// Half of Go's round trip.
        target_us: f64,
        /// Our round trip minus our node's CPU per request.
        rest_us: f64,
        /// What is left for our node (may be negative).
        node_us: f64,
    },
    /// Bounded by the source: 2x is a run of `target_ms`; the source alone
    /// takes `floor_ms`.
    Source {
        /// Half of Go's run.
        target_ms: f64,
        /// The source's delay.
        floor_ms: f64,
    },
}

/// The bound of scenario `label` (`None` when an input is missing).
pub fn budget(
    label: &str,
    ours: &Side,
    go: &Side,
    cores: f64,
    source_delay_ms: Option<f64>,
) -> Option<Budget> {
    if go.rps <= 0.0 {
        return None;
    }
    if label == "stampede" {
        let run_ms = go.requests / go.rps * 1000.0;
        return (go.requests > 0.0).then_some(Budget::Source {
            target_ms: run_ms / 2.0,
            floor_ms: source_delay_ms?,
        });
    }
    if label.ends_with("-c1") {
        if ours.rps <= 0.0 || ours.node_cpu_us <= 0.0 {
            return None;
        }
        let target_us = 1e6 / go.rps / 2.0;
        let rest_us = 1e6 / ours.rps - ours.node_cpu_us;
        return Some(Budget::RoundTrip {
            target_us,
            rest_us,
            node_us: target_us - rest_us,
        });
    }
    if ours.loadgen_cpu_us <= 0.0 || cores <= 0.0 {
        return None;
    }
    let total_us = cores * 1e6 / (2.0 * go.rps);
    Some(Budget::Cores {
        total_us,
        loadgen_us: ours.loadgen_cpu_us,
        node_us: total_us - ours.loadgen_cpu_us,
    })
}

/// The Markdown table: one row per scenario with a bound.
pub fn table(rows: &[(String, Side, Side)], cores: f64, source_delay_ms: Option<f64>) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| scenario | bound by | Go req/s | 2x | what 2x leaves our node (at best) | our node now |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (label, ours, go) in rows {
        let Some(b) = budget(label, ours, go, cores, source_delay_ms) else {
            continue;
        };
        let (bound, left) = match b {
            Budget::Cores {
                total_us,
                loadgen_us,
                node_us,
            } => (
                format!("{cores:.0} cores"),
                format!(
                    "{total_us:.1} µs CPU/req in all, {loadgen_us:.1} of it the load generator's: **{node_us:.1} µs**"
                ),
            ),
            Budget::RoundTrip {
                target_us,
                rest_us,
                node_us,
            } => (
                "round trip".to_string(),
                format!(
                    "a {target_us:.0} µs round trip, {rest_us:.0} µs of ours is outside our node: **{node_us:.0} µs**"
                ),
            ),
            Budget::Source {
                target_ms,
                floor_ms,
            } => (
                "the source".to_string(),
                format!("a {target_ms:.1} ms run; one load takes {floor_ms:.0} ms"),
            ),
        };
        let now = match b {
            Budget::Source { .. } => "-".to_string(),
            _ => format!("{:.1} µs", ours.node_cpu_us),
        };
        let _ = writeln!(
            md,
            "| {label} | {bound} | {:.0} | {:.0} | {left} | {now} |",
            go.rps,
            2.0 * go.rps,
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(rps: f64, node: f64, lg: f64) -> Side {
        Side {
            rps,
            node_cpu_us: node,
            loadgen_cpu_us: lg,
            requests: 0.0,
        }
    }

    /// Many clients: 2 cores at twice 35k req/s leave 28.6 µs a request,
    /// 25.3 of them the load generator's.
    #[test]
    fn cores_bound() {
        let b = budget(
            "local-hit",
            &side(41_000.0, 13.6, 25.3),
            &side(35_000.0, 27.9, 26.7),
            2.0,
            None,
        )
        .unwrap();
        let Budget::Cores {
            total_us, node_us, ..
        } = b
        else {
            panic!("{b:?}")
        };
        assert!((total_us - 28.571).abs() < 0.01, "{total_us}");
        assert!((node_us - 3.271).abs() < 0.01, "{node_us}");
    }

    /// One client: Go at 4,910 req/s is a 204 µs round trip; ours at 5,098
    /// req/s with 81.3 µs of node CPU leaves 114.9 µs outside our node,
    /// more than the 101.8 µs 2x allows.
    #[test]
    fn round_trip_bound() {
        let b = budget(
            "local-hit-c1",
            &side(5_098.0, 81.3, 100.0),
            &side(4_910.0, 126.5, 100.0),
            2.0,
            None,
        )
        .unwrap();
        let Budget::RoundTrip {
            target_us,
            rest_us,
            node_us,
        } = b
        else {
            panic!("{b:?}")
        };
        assert!((target_us - 101.83).abs() < 0.01, "{target_us}");
        assert!((rest_us - 114.86).abs() < 0.01, "{rest_us}");
        assert!(node_us < 0.0, "no node is fast enough");
    }

    /// Stampede: Go's 300 requests in 38 ms; 2x is 19 ms, under the 20 ms
    /// of one load.
    #[test]
    fn source_bound_and_missing_inputs() {
        let go = Side {
            rps: 300.0 / 0.038,
            requests: 300.0,
            ..Default::default()
        };
        let b = budget("stampede", &Side::default(), &go, 2.0, Some(20.0)).unwrap();
        let Budget::Source {
            target_ms,
            floor_ms,
        } = b
        else {
            panic!("{b:?}")
        };
        assert!((target_ms - 19.0).abs() < 1e-9 && floor_ms == 20.0, "{b:?}");
        assert_eq!(budget("stampede", &Side::default(), &go, 2.0, None), None);
        assert_eq!(
            budget("spread-zipf", &Side::default(), &go, 2.0, None),
            None,
            "no load generator CPU: no row"
        );
        let md = table(&[("stampede".into(), Side::default(), go)], 2.0, Some(20.0));
        assert!(
            md.contains(
                "| stampede | the source | 7895 | 15789 | a 19.0 ms run; one load takes 20 ms | - |"
            ),
            "{md}"
        );
    }
}
