//! The report's three SVG plots, and the Markdown lines that show them:
//! throughput per scenario (ours and the echo limit), throughput against
//! golang/groupcache, and latency CDFs.

use std::fmt::Write as _;

use super::harness::{GO, RUST};
use super::{Ctx, svg};
use crate::Report;

/// Appends the plots' image lines to `md` and their files to `svgs`
/// (`(file name, content)`).
pub(super) fn plots(md: &mut String, svgs: &mut Vec<(String, String)>, cx: &Ctx<'_>) {
    throughput_per_scenario(md, svgs, &cx.inp.ours);
    versus_go(md, svgs, cx);
    latency_cdf(md, svgs, cx);
}

/// Bars per run of ours; the echo runs are their own series.
fn throughput_per_scenario(md: &mut String, svgs: &mut Vec<(String, String)>, ours: &[Report]) {
    let tput_labels: Vec<String> = ours.iter().map(|r| r.label.clone()).collect();
    let is_echo = |r: &Report| r.label.starts_with("echo");
    let ours_bars: Vec<Option<f64>> = ours
        .iter()
        .map(|r| (!is_echo(r)).then_some(r.throughput_rps))
        .collect();
    let echo_bars: Vec<Option<f64>> = ours
        .iter()
        .map(|r| is_echo(r).then_some(r.throughput_rps))
        .collect();
    let mut series = vec![("groupcache".to_string(), ours_bars)];
    if echo_bars.iter().any(Option::is_some) {
        series.push(("bare tonic echo (the limit)".to_string(), echo_bars));
    }
    svgs.push((
        "throughput-scenarios.svg".to_string(),
        svg::bar_chart(
            "Throughput per scenario (groupcache-bench)",
            "requests/s",
            &tput_labels,
            &series,
        ),
    ));
    let _ = writeln!(
        md,
        "![throughput per scenario](bench/throughput-scenarios.svg)\n"
    );
}

/// Bars per scenario both implementations ran, with the echo limit beside
/// `local-hit`.
fn versus_go(md: &mut String, svgs: &mut Vec<(String, String)>, cx: &Ctx<'_>) {
    let both = &cx.both;
    if both.is_empty() {
        return;
    }
    let echo = cx.by_label.get("echo-limit").map(|r| r.throughput_rps);
    let cats: Vec<String> = both.iter().map(|p| p.label.clone()).collect();
    let mut series = vec![
        (
            "groupcache (Rust)".to_string(),
            both.iter().map(|p| Some(p.rust.rps)).collect::<Vec<_>>(),
        ),
        (
            "golang/groupcache".to_string(),
            both.iter().map(|p| Some(p.go.rps)).collect(),
        ),
    ];
    if let Some(e) = echo {
        series.push((
            "echo limit (own tool)".to_string(),
            cats.iter()
                .map(|c| (c == "local-hit").then_some(e))
                .collect(),
        ));
    }
    svgs.push((
        "throughput-vs-go.svg".to_string(),
        svg::bar_chart(
            "Throughput: Rust vs Go (same Go load generator, same run)",
            "requests/s",
            &cats,
            &series,
        ),
    ));
    let _ = writeln!(md, "![throughput vs Go](bench/throughput-vs-go.svg)\n");
}

/// CDFs of `spread-uniform` under the Go load generator (both
/// implementations) and of `uniform-3` and the echo limit under ours.
fn latency_cdf(md: &mut String, svgs: &mut Vec<(String, String)>, cx: &Ctx<'_>) {
    let mut cdfs: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (name, imp) in [
        ("Rust, spread-uniform (Go loadgen)", RUST),
        ("Go, spread-uniform (Go loadgen)", GO),
    ] {
        if let Some(a) = cx.agg.get(&(imp.to_string(), "spread-uniform".to_string())) {
            cdfs.push((name.to_string(), a.cdf.clone()));
        }
    }
    for (name, label) in [
        ("Rust, uniform-3 (own tool)", "uniform-3"),
        ("echo limit (own tool)", "echo-limit"),
    ] {
        if let Some(r) = cx.by_label.get(label).filter(|r| !r.cdf.is_empty()) {
            cdfs.push((name.to_string(), r.cdf.clone()));
        }
    }
    if !cdfs.is_empty() {
        svgs.push((
            "latency-cdf.svg".to_string(),
            svg::cdf_chart("Latency CDF per implementation (c=32)", &cdfs),
        ));
        let _ = writeln!(md, "![latency CDF](bench/latency-cdf.svg)\n");
    }
}
