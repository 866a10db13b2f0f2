//! `## Scenarios`: one table row per run of ours, then the per-slice table
//! of each run made with `--timeline`.

use std::fmt::Write as _;

use crate::Report;

/// The scenarios table and the timelines.
pub(super) fn scenarios(md: &mut String, ours: &[Report]) {
    let _ = writeln!(md, "## Scenarios (`groupcache-bench`)\n");
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
    for r in ours {
        row(md, r);
    }
    let _ = writeln!(md);
    for r in ours.iter().filter(|r| !r.timeline.is_empty()) {
        timeline_table(md, r);
    }
}

/// One run's row.
fn row(md: &mut String, r: &Report) {
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
