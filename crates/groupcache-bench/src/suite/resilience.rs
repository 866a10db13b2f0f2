//! The headline lines of the suite's issue-10 scenarios: stampedes over a
//! source much slower than the peer timeout (`slow-stampede-N` runs: one
//! cold key each, expected one source load and no error per run), and one
//! owner SIGSTOPped under load (the `sigstop` run's per-second timeline:
//! expected no error, and at most one second whose p99 reaches the peer
//! timeout, the one in which the breaker opens).
//!
//! The scenarios' settings come from the suite's `env.txt`:
//! `slow_source_delay_ms`, `resilience_peer_timeout_ms`, `sigstop_at_s`,
//! `sigstop_for_s`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Report;

/// Appends the headline bullets of the scenarios present in `ours`.
pub(crate) fn headline(md: &mut String, ours: &[Report], env: &BTreeMap<&str, &str>) {
    let num = |k: &str| env.get(k).and_then(|v| v.parse::<f64>().ok());
    let peer_timeout_ms = num("resilience_peer_timeout_ms");
    let slow: Vec<&Report> = ours
        .iter()
        .filter(|r| r.label.starts_with("slow-stampede-"))
        .collect();
    if !slow.is_empty() {
        let loads: Vec<String> = slow
            .iter()
            .map(|r| {
                r.stats
                    .as_ref()
                    .map_or("?".into(), |s| s.source_loads.to_string())
            })
            .collect();
        let errors: Vec<String> = slow.iter().map(|r| r.errors.to_string()).collect();
        let pass = slow
            .iter()
            .all(|r| r.errors == 0 && r.stats.as_ref().is_some_and(|s| s.source_loads == 1));
        let _ = writeln!(
            md,
            "- Stampede over a slow source ({} ms loads, peer timeout {} ms): {} runs of {} concurrent gets of one cold key over 3 nodes -> **source loads {}** (expected 1 each), errors {} (expected 0): {}.",
            fmt_opt(num("slow_source_delay_ms")),
            fmt_opt(peer_timeout_ms),
            slow.len(),
            slow[0].concurrency,
            loads.join(" / "),
            errors.join(" / "),
            if pass { "PASS" } else { "FAIL" }
        );
    }
    let Some(stop) = ours.iter().find(|r| r.label == "sigstop") else {
        return;
    };
    let (at, dur) = (num("sigstop_at_s"), num("sigstop_for_s"));
    let stopped = |t: f64| match (at, dur) {
        (Some(a), Some(d)) => t >= a && t < a + d,
        _ => false,
    };
    let p99s: Vec<String> = stop
        .timeline
        .iter()
        .map(|p| {
            let ms = format!("{:.0}", p.p99_us / 1000.0);
            if stopped(p.t_s) {
                format!("**{ms}**")
            } else {
                ms
            }
        })
        .collect();
    let slow_seconds = stop
        .timeline
        .iter()
        .filter(|p| stopped(p.t_s))
        .filter(|p| peer_timeout_ms.is_some_and(|pt| p.p99_us / 1000.0 >= pt))
        .count();
    let rate = |during: bool| {
        median(
            stop.timeline
                .iter()
                .filter(|p| stopped(p.t_s) == during)
                .map(|p| p.requests)
                .collect(),
        )
    };
    let pass = stop.errors == 0 && slow_seconds <= 1;
    let _ = writeln!(
        md,
        "- One owner SIGSTOPped for {} s under load through the other two (`sigstop`, peer timeout {} ms): {} errors; p99 per second in ms (stopped seconds in bold): {}; **{slow_seconds} stopped second(s) with p99 at or above the peer timeout** (expected: no error, at most 1 such second): {}. Requests per second, median: {} while stopped, {} otherwise.",
        fmt_opt(dur),
        fmt_opt(peer_timeout_ms),
        stop.errors,
        p99s.join(", "),
        if pass { "PASS" } else { "FAIL" },
        rate(true),
        rate(false)
    );
}

/// The median of `v` (the lower middle one; 0 for none).
fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// A setting from `env.txt`, or `?`.
fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StatsDelta, TimelinePoint};

    fn run(label: &str, loads: u64, errors: u64) -> Report {
        Report {
            label: label.into(),
            concurrency: 300,
            errors,
            stats: Some(StatsDelta {
                source_loads: loads,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// One load and no error per slow stampede passes; an extra load fails.
    #[test]
    fn slow_stampede_verdict() {
        let env: BTreeMap<&str, &str> = [
            ("slow_source_delay_ms", "1500"),
            ("resilience_peer_timeout_ms", "300"),
        ]
        .into();
        let mut md = String::new();
        headline(
            &mut md,
            &[run("slow-stampede-1", 1, 0), run("slow-stampede-2", 1, 0)],
            &env,
        );
        assert!(
            md.contains("(1500 ms loads, peer timeout 300 ms): 2 runs of 300"),
            "{md}"
        );
        assert!(
            md.contains("**source loads 1 / 1**") && md.ends_with("PASS.\n"),
            "{md}"
        );
        let mut md = String::new();
        headline(&mut md, &[run("slow-stampede-1", 3, 200)], &env);
        assert!(
            md.contains("source loads 3**") && md.ends_with("FAIL.\n"),
            "{md}"
        );
    }

    /// The stopped seconds are the ones in bold; one slow second passes,
    /// two fail.
    #[test]
    fn sigstop_timeline_verdict() {
        let env: BTreeMap<&str, &str> = [
            ("resilience_peer_timeout_ms", "300"),
            ("sigstop_at_s", "1"),
            ("sigstop_for_s", "2"),
        ]
        .into();
        let point = |t: f64, p99_ms: f64, requests: u64| TimelinePoint {
            t_s: t,
            requests,
            p99_us: p99_ms * 1000.0,
            ..Default::default()
        };
        let mut stop = run("sigstop", 0, 0);
        stop.timeline = vec![
            point(0.0, 2.0, 900),
            point(1.0, 320.0, 300),
            point(2.0, 3.0, 800),
            point(3.0, 2.0, 1000),
        ];
        let mut md = String::new();
        headline(&mut md, &[stop.clone()], &env);
        assert!(md.contains("2, **320**, **3**, 2;"), "{md}");
        assert!(
            md.contains("**1 stopped second(s)") && md.contains("PASS."),
            "{md}"
        );
        assert!(
            md.ends_with("median: 300 while stopped, 900 otherwise.\n"),
            "{md}"
        );
        stop.timeline[2].p99_us = 310_000.0;
        let mut md = String::new();
        headline(&mut md, &[stop], &env);
        assert!(
            md.contains("**2 stopped second(s)") && md.contains("FAIL."),
            "{md}"
        );
    }
}
