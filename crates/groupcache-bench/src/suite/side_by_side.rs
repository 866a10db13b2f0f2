//! `## Side by side with golang/groupcache`: the medians of both
//! implementations under the Go harness, what 2x Go's throughput would
//! leave our node ([`ceiling`]), and the harness's own summary.

use std::fmt::Write as _;

use super::{Ctx, ceiling};

/// The section, when both implementations ran at least one scenario.
pub(super) fn side_by_side(md: &mut String, cx: &Ctx<'_>) {
    let both = &cx.both;
    if both.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Side by side with golang/groupcache\n");
    let _ = writeln!(
        md,
        "Both clusters run under the Go harness (`shared/anchors/go-groupcache/run.sh`, gRPC mode), driven by its Go load generator; medians over the repeats.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | runs | Rust req/s | Go req/s | ratio | Rust p99 µs | Go p99 µs | Rust CPU µs/req | Go CPU µs/req | CPU ratio | errors (Rust/Go) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in both {
        let (l, r, g) = (&p.label, &p.rust, &p.go);
        let _ = writeln!(
            md,
            "| {l} | {} | {:.0} | {:.0} | {:.2}x | {:.0} | {:.0} | {:.1} | {:.1} | {} | {}/{} |",
            r.runs.min(g.runs),
            r.rps,
            g.rps,
            r.rps / g.rps.max(1e-9),
            r.p99,
            g.p99,
            r.cpu,
            g.cpu,
            if g.cpu > 0.0 && r.cpu > 0.0 {
                format!("{:.2}x", r.cpu / g.cpu)
            } else {
                "-".into()
            },
            r.errors,
            g.errors
        );
    }
    let _ = writeln!(md);
    let cores: f64 = cx
        .env
        .get("nproc")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let delay: Option<f64> = cx.env.get("source_delay_ms").and_then(|v| v.parse().ok());
    let rows: Vec<(String, ceiling::Side, ceiling::Side)> = both
        .iter()
        .map(|p| (p.label.clone(), p.rust.side(), p.go.side()))
        .collect();
    let bounds = ceiling::table(&rows, cores, delay);
    if bounds.lines().count() > 2 {
        let _ = writeln!(
            md,
            "### What 2x Go's throughput would take on this rig

The load generator shares the cores with the nodes, a single client waits for each answer, and a stampede waits for its one load; so each scenario's 2x leaves our node a budget that can be computed from the same run (see `crates/groupcache-bench/src/suite/ceiling.rs` for the arithmetic):

{bounds}"
        );
    }
    if !cx.inp.harness_summary.trim().is_empty() {
        let _ = writeln!(
            md,
            "The harness's own summary:\n\n{}\n",
            cx.inp.harness_summary.trim_end()
        );
    }
}
