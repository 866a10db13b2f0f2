//! The suite's report: `docs/benchmarks.md` and its SVG plots, from the raw
//! results of `scripts/bench-suite` (`groupcache-bench report`).
//!
//! 1. [`SuiteInputs`] gathers what one suite run left: our runs (JSON lines
//!    of [`Report`]), the Go harness's runs ([`HarnessRun`], its loadgen's
//!    JSON lines), machine information, notes and commands.
//! 2. [`render`] derives once what several sections read (the harness's
//!    medians, the scenarios both implementations ran), then writes the
//!    sections in order.
//!
//! # Layout
//! - `harness`: the Go harness's runs, their medians, Rust/Go pairs
//! - `headline`: provenance, machine, the headline bullets
//! - `resilience`: the headline's lines on the slow-source stampede and the
//!   SIGSTOPped owner
//! - `scenarios`: the table of our runs, and their timelines
//! - `plots` (drawn by `svg`): throughput per scenario, against Go, latency CDFs
//! - `side_by_side` (with [`ceiling`]): the harness's medians, Rust against Go

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Report;

pub mod ceiling;
mod harness;
mod headline;
mod plots;
mod resilience;
mod scenarios;
mod side_by_side;
mod svg;

pub use harness::{HarnessLatency, HarnessRun};

/// Everything the report is made of.
#[derive(Debug, Clone, Default)]
pub struct SuiteInputs {
    /// Our runs, in order.
    pub ours: Vec<Report>,
    /// The Go harness's runs (both implementations).
    pub harness: Vec<HarnessRun>,
    /// `key=value` lines about the machine and the run.
    pub env: String,
    /// Markdown bullet lines (stampede and memory verdicts, ...).
    pub notes: String,
    /// Markdown bullet lines with the exact commands.
    pub commands: String,
    /// The harness's own `summarize` table.
    pub harness_summary: String,
    /// Hand-written Markdown appended at the end (profiling, before/after).
    pub extra: String,
    /// Where the raw results are.
    pub results_dir: String,
}

/// What the sections read: the inputs, and what is derived from them once.
struct Ctx<'a> {
    /// The inputs.
    inp: &'a SuiteInputs,
    /// `inp.env` as a map.
    env: BTreeMap<&'a str, &'a str>,
    /// Our runs by label (a repeated label: the last run).
    by_label: BTreeMap<&'a str, &'a Report>,
    /// The harness's medians per `(implementation, scenario)`.
    agg: BTreeMap<(String, String), harness::Agg>,
    /// The scenarios both implementations ran, in the report's order.
    both: Vec<harness::Pair>,
}

/// Renders the Markdown document and the SVG files (`(file name, content)`);
/// the document links the plots as `bench/<file name>`.
pub fn render(inp: &SuiteInputs) -> (String, Vec<(String, String)>) {
    let agg = harness::aggregate(&inp.harness);
    let cx = Ctx {
        inp,
        env: inp.env.lines().filter_map(|l| l.split_once('=')).collect(),
        by_label: inp.ours.iter().map(|r| (r.label.as_str(), r)).collect(),
        both: harness::pairs(&agg),
        agg,
    };
    let mut md = String::new();
    let mut svgs = Vec::new();
    headline::header(&mut md, &cx);
    headline::headline(&mut md, &cx);
    scenarios::scenarios(&mut md, &inp.ours);
    plots::plots(&mut md, &mut svgs, &cx);
    side_by_side::side_by_side(&mut md, &cx);
    let _ = writeln!(
        md,
        "## Machine and run\n\n```\n{}\n```\n",
        inp.env.trim_end()
    );
    if !inp.commands.trim().is_empty() {
        let _ = writeln!(md, "## Exact commands\n\n{}\n", inp.commands.trim_end());
    }
    if !inp.extra.trim().is_empty() {
        let _ = writeln!(md, "{}", inp.extra.trim_end());
    }
    (md, svgs)
}

#[cfg(test)]
mod tests {
    use super::harness::{GO, RUST};
    use super::*;

    /// The report computes the echo ratio and the Go ratios from the inputs
    /// and emits both plots.
    #[test]
    fn renders_ratios_and_plots() {
        let mk = |label: &str, rps: f64| Report {
            label: label.into(),
            throughput_rps: rps,
            ..Default::default()
        };
        let run = |imp: &str, label: &str, rps: f64, cpu: f64| HarnessRun {
            label: label.into(),
            implementation: imp.into(),
            rps,
            server_cpu_us_per_req: cpu,
            ..Default::default()
        };
        let mut ours_run = run(RUST, "local-hit", 300.0, 10.0);
        ours_run.loadgen_cpu_us_per_req = 20.0;
        let inp = SuiteInputs {
            ours: vec![mk("owner-hit", 900.0), mk("echo-limit", 1000.0)],
            harness: vec![ours_run, run(GO, "local-hit", 100.0, 40.0)],
            env: "nproc=2\nmode=quick duration=3s".into(),
            ..Default::default()
        };
        let (md, svgs) = render(&inp);
        assert!(md.contains("**90% of the bare tonic echo server**"), "{md}");
        assert!(md.contains("local-hit 3.00x"), "{md}");
        assert!(md.contains("local-hit 0.25x"), "{md}");
        assert!(md.contains("(quick mode)"));
        assert!(
            md.contains("| local-hit | 2 cores | 100 | 200 | 10000.0 µs CPU/req in all, 20.0 of it the load generator's: **9980.0 µs** | 10.0 µs |"),
            "{md}"
        );
        let names: Vec<&str> = svgs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["throughput-scenarios.svg", "throughput-vs-go.svg"]);
    }
}
