//! `docs/benchmarks.md` from the suite's raw results: our runs (JSON lines
//! of [`Report`]), the Go harness's runs (its loadgen's JSON lines), machine
//! information, notes and commands. Also the SVG plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::report::Report;
use super::{ceiling, svg};

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

/// The per-slice table of a run made with `--timeline`.
fn timeline_table(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "Timeline of `{}` (by send time; latency in µs):\n",
        r.label
    );
    let _ = writeln!(md, "| t (s) | requests | errors | p50 | p99 | max |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for p in &r.timeline {
        let _ = writeln!(
            md,
            "| {:.1} | {} | {} | {:.0} | {:.0} | {:.0} |",
            p.t_s, p.requests, p.errors, p.p50_us, p.p99_us, p.max_us
        );
    }
    let _ = writeln!(md);
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
struct Agg {
    runs: usize,
    rps: f64,
    p99: f64,
    cpu: f64,
    loadgen_cpu: f64,
    requests: f64,
    errors: u64,
    cdf: Vec<(f64, f64)>,
}

impl Agg {
    fn side(&self) -> ceiling::Side {
        ceiling::Side {
            rps: self.rps,
            node_cpu_us: self.cpu,
            loadgen_cpu_us: self.loadgen_cpu,
            requests: self.requests,
        }
    }
}

fn aggregate(runs: &[HarnessRun]) -> BTreeMap<(String, String), Agg> {
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

const GO: &str = "go-groupcache";
const RUST: &str = "rust-groupcache";

/// Renders the Markdown document and the SVG files (`(file name, content)`);
/// the document links the plots as `bench/<file name>`.
pub fn render(inp: &SuiteInputs) -> (String, Vec<(String, String)>) {
    let mut md = String::new();
    let mut svgs = Vec::new();
    let env: BTreeMap<&str, &str> = inp.env.lines().filter_map(|l| l.split_once('=')).collect();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `scripts/bench-suite` ({} mode) on {} at commit `{}`. Raw inputs of this report: `{}`.\n",
        env.get("mode")
            .map_or("?", |m| m.split(' ').next().unwrap_or("?")),
        env.get("date_utc").unwrap_or(&"?"),
        env.get("commit").unwrap_or(&"?"),
        inp.results_dir
    );
    let _ = writeln!(
        md,
        "The machine has {} cores shared by the load generator, every node and other workloads (load average {} at the start, {} at the end): absolute numbers are noisy; the same-run ratios and the CPU-µs per request are what to compare.\n",
        env.get("nproc").unwrap_or(&"?"),
        env.get("loadavg_start").unwrap_or(&"?"),
        env.get("loadavg_end").unwrap_or(&"?")
    );

    // ---- headline
    let _ = writeln!(md, "## Headline\n");
    let by_label: BTreeMap<&str, &Report> =
        inp.ours.iter().map(|r| (r.label.as_str(), r)).collect();
    let pair = |a: &str, b: &str| match (by_label.get(a), by_label.get(b)) {
        (Some(x), Some(y)) if y.throughput_rps > 0.0 => Some(x.throughput_rps / y.throughput_rps),
        _ => None,
    };
    let ratios: Vec<f64> = [("owner-hit", "echo-limit"), ("owner-hit-2", "echo-limit-2")]
        .iter()
        .filter_map(|(a, b)| pair(a, b))
        .collect();
    if !ratios.is_empty() {
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let each: Vec<String> = ratios
            .iter()
            .map(|r| format!("{:.0}%", r * 100.0))
            .collect();
        let _ = writeln!(
            md,
            "- Owner-hit `Get` throughput is **{:.0}% of the bare tonic echo server** (interleaved pairs: {}; goal >= 80%: {}).",
            mean * 100.0,
            each.join(", "),
            if mean >= 0.8 { "met" } else { "not met" }
        );
    }
    let cpu_of = |l: &str| by_label.get(l).and_then(|r| r.server_cpu_us_per_req);
    let cpu_pairs: Vec<(f64, f64)> = [("owner-hit", "echo-limit"), ("owner-hit-2", "echo-limit-2")]
        .iter()
        .filter_map(|(a, b)| Some((cpu_of(a)?, cpu_of(b)?)))
        .collect();
    if !cpu_pairs.is_empty() {
        let n = cpu_pairs.len() as f64;
        let (ours, echo) = cpu_pairs
            .iter()
            .fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
        let _ = writeln!(
            md,
            "- Server CPU per request, less noisy than throughput on a shared machine: owner hit {ours:.1} µs vs echo {echo:.1} µs, so the cache path runs at **{:.0}% of the echo server's efficiency** ({:.1} µs of the cost is groupcache's own).",
            echo / ours * 100.0,
            ours - echo
        );
    }
    let agg = aggregate(&inp.harness);
    let labels: Vec<String> = {
        let mut v: Vec<String> = agg.keys().map(|(_, l)| l.clone()).collect();
        v.dedup();
        let order = [
            "local-hit",
            "spread-uniform",
            "spread-zipf",
            "local-hit-c1",
            "spread-uniform-c1",
            "stampede",
        ];
        v.sort_by_key(|l| order.iter().position(|o| o == l).unwrap_or(99));
        v.dedup();
        v
    };
    let both: Vec<(&String, &Agg, &Agg)> = labels
        .iter()
        .filter_map(|l| {
            Some((
                l,
                agg.get(&(RUST.into(), l.clone()))?,
                agg.get(&(GO.into(), l.clone()))?,
            ))
        })
        .collect();
    if !both.is_empty() {
        let tput: Vec<String> = both
            .iter()
            .filter(|(l, ..)| l.as_str() != "stampede")
            .map(|(l, r, g)| format!("{l} {:.2}x", r.rps / g.rps.max(1e-9)))
            .collect();
        let _ = writeln!(
            md,
            "- Against golang/groupcache through the same Go load generator in the same run, throughput ratio (ours / Go): {}.",
            tput.join(", ")
        );
        let cpu: Vec<String> = both
            .iter()
            .filter(|(_, r, g)| r.cpu > 0.0 && g.cpu > 0.0)
            .map(|(l, r, g)| format!("{l} {:.2}x", r.cpu / g.cpu))
            .collect();
        if !cpu.is_empty() {
            let _ = writeln!(
                md,
                "- Server CPU per request (ours / Go; goal <= 0.5x): {}.",
                cpu.join(", ")
            );
        }
    }
    if !both.is_empty() {
        let p99: Vec<String> = both
            .iter()
            .map(|(l, r, g)| format!("{l} {:.0} vs {:.0}", r.p99, g.p99))
            .collect();
        let lower = both.iter().filter(|(_, r, g)| r.p99 < g.p99).count();
        let _ = writeln!(
            md,
            "- p99 in µs (ours vs Go): {}; lower in {lower} of {} scenarios.",
            p99.join(", "),
            both.len()
        );
    }
    let kill: Vec<&Report> = ["kill-before", "kill-during", "kill-after"]
        .iter()
        .filter_map(|l| by_label.get(l).copied())
        .collect();
    if kill.len() == 3 {
        let _ = writeln!(
            md,
            "- One of 3 nodes killed mid-run (load on the other two): errors {} / {} / {} and p99 {:.1} / {:.1} / {:.1} ms before / during / after.",
            kill[0].errors,
            kill[1].errors,
            kill[2].errors,
            kill[0].latency.p99_us / 1000.0,
            kill[1].latency.p99_us / 1000.0,
            kill[2].latency.p99_us / 1000.0
        );
    }
    super::resilience::headline(&mut md, &inp.ours, &env);
    let growth: Vec<String> = inp
        .ours
        .iter()
        .filter(|r| r.label.starts_with("keys-"))
        .map(|r| format!("{} keys {:.0}", r.keys, r.throughput_rps))
        .collect();
    if !growth.is_empty() {
        let _ = writeln!(
            md,
            "- Keyspace growth, uniform over 3 nodes (req/s): {}.",
            growth.join(", ")
        );
    }
    let _ = writeln!(md);
    if !inp.notes.trim().is_empty() {
        let _ = writeln!(md, "{}\n", inp.notes.trim_end());
    }

    // ---- our scenarios
    let _ = writeln!(md, "## Scenarios (`groupcache bench`)\n");
    let _ = writeln!(
        md,
        "Closed loop unless a rate is shown; latency in µs; CPU is the nodes' user+system time per request (`/proc/PID/stat`); counters are the cluster's `Stats` deltas over the measured window.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | targets | c | req/s | p50 | p90 | p99 | p99.9 | max | errors | server CPU µs/req | source loads | peer fetches | hot hits |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &inp.ours {
        let st = r.stats.as_ref();
        let errs = if r.error_codes.is_empty() {
            "0".to_string()
        } else {
            r.error_codes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let c = match r.rate {
            Some(rate) => format!("{} @{rate:.0}/s", r.concurrency),
            None => r.concurrency.to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            r.label,
            r.targets.len(),
            c,
            r.throughput_rps,
            r.latency.p50_us,
            r.latency.p90_us,
            r.latency.p99_us,
            r.latency.p999_us,
            r.latency.max_us,
            errs,
            r.server_cpu_us_per_req
                .map_or("-".into(), |v| format!("{v:.1}")),
            st.map_or("-".into(), |s| s.source_loads.to_string()),
            st.map_or("-".into(), |s| s.peer_fetches.to_string()),
            st.map_or("-".into(), |s| s.hot_cache_hits.to_string()),
        );
    }
    let _ = writeln!(md);
    for r in inp.ours.iter().filter(|r| !r.timeline.is_empty()) {
        timeline_table(&mut md, r);
    }

    // ---- plots
    let tput_labels: Vec<String> = inp.ours.iter().map(|r| r.label.clone()).collect();
    let is_echo = |r: &Report| r.label.starts_with("echo");
    let ours_bars: Vec<Option<f64>> = inp
        .ours
        .iter()
        .map(|r| (!is_echo(r)).then_some(r.throughput_rps))
        .collect();
    let echo_bars: Vec<Option<f64>> = inp
        .ours
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
            "Throughput per scenario (groupcache bench)",
            "requests/s",
            &tput_labels,
            &series,
        ),
    ));
    let _ = writeln!(
        md,
        "![throughput per scenario](bench/throughput-scenarios.svg)\n"
    );
    if !both.is_empty() {
        let echo = by_label.get("echo-limit").map(|r| r.throughput_rps);
        let cats: Vec<String> = both.iter().map(|(l, ..)| (*l).clone()).collect();
        let mut series = vec![
            (
                "groupcache (Rust)".to_string(),
                both.iter().map(|(_, r, _)| Some(r.rps)).collect::<Vec<_>>(),
            ),
            (
                "golang/groupcache".to_string(),
                both.iter().map(|(_, _, g)| Some(g.rps)).collect(),
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
    let mut cdfs: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (name, imp) in [
        ("Rust, spread-uniform (Go loadgen)", RUST),
        ("Go, spread-uniform (Go loadgen)", GO),
    ] {
        if let Some(a) = agg.get(&(imp.to_string(), "spread-uniform".to_string())) {
            cdfs.push((name.to_string(), a.cdf.clone()));
        }
    }
    for (name, label) in [
        ("Rust, uniform-3 (own tool)", "uniform-3"),
        ("echo limit (own tool)", "echo-limit"),
    ] {
        if let Some(r) = by_label.get(label).filter(|r| !r.cdf.is_empty()) {
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

    // ---- side by side
    if !both.is_empty() {
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
        for (l, r, g) in &both {
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
        let cores: f64 = env.get("nproc").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let delay: Option<f64> = env.get("source_delay_ms").and_then(|v| v.parse().ok());
        let rows: Vec<(String, ceiling::Side, ceiling::Side)> = both
            .iter()
            .map(|(l, r, g)| ((*l).clone(), r.side(), g.side()))
            .collect();
        let bounds = ceiling::table(&rows, cores, delay);
        if bounds.lines().count() > 2 {
            let _ = writeln!(
                md,
                "### What 2x Go's throughput would take on this rig

The load generator shares the cores with the nodes, a single client waits for each answer, and a stampede waits for its one load; so each scenario's 2x leaves our node a budget that can be computed from the same run (see `src/bench/ceiling.rs` for the arithmetic):

{bounds}"
            );
        }
        if !inp.harness_summary.trim().is_empty() {
            let _ = writeln!(
                md,
                "The harness's own summary:\n\n{}\n",
                inp.harness_summary.trim_end()
            );
        }
    }

    // ---- machine and commands
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
