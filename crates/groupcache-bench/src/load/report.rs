//! The result of a run: numbers, a text table and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::stats::StatsDelta;
use super::timeline::TimelinePoint;

/// Latency percentiles of the measured requests, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Smallest.
    pub min_us: f64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// Everything measured in one run. Serialises to the `--json` output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The run's label (`--label`).
    pub label: String,
    /// The addresses driven.
    pub targets: Vec<String>,
    /// The group asked.
    pub group: String,
    /// Keys in the key set.
    pub keys: u64,
    /// `uniform`, `zipf` or `seq`.
    pub dist: String,
    /// The zipf exponent, for `zipf`.
    pub zipf_s: Option<f64>,
    /// Workers.
    pub concurrency: usize,
    /// HTTP/2 connections per target.
    pub conns: usize,
    /// Open-loop target rate (requests/s), if any.
    pub rate: Option<f64>,
    /// Length of the measured phase, in seconds.
    pub elapsed_s: f64,
    /// Requests completed in the measured phase (successes and errors).
    pub requests: u64,
    /// Requests that returned OK with the right value.
    pub ok: u64,
    /// Requests that failed: a non-OK status or a wrong value.
    pub errors: u64,
    /// Failures by gRPC status name (`NOT_FOUND`, ...), plus `WRONG_VALUE`
    /// for an OK answer that failed verification.
    pub error_codes: BTreeMap<String, u64>,
    /// Whether values were verified against the synthetic generator.
    pub verified: bool,
    /// Requests per second over the measured phase (all completed requests).
    pub throughput_rps: f64,
    /// Keys per request (`--batch`): 1 for `Get`, more for `GetMany`.
    #[serde(default = "one")]
    pub batch: usize,
    /// Keys asked per second: `throughput_rps` times `batch`.
    #[serde(default)]
    pub keys_per_s: f64,
    /// Latency of all measured requests (from the intended send time in an
    /// open loop).
    pub latency: Latency,
    /// `(percentile, microseconds)` points of the latency distribution, for
    /// plotting a CDF.
    pub cdf: Vec<(f64, f64)>,
    /// CPU microseconds the `--pids` processes burnt per request.
    pub server_cpu_us_per_req: Option<f64>,
    /// Cores the `--pids` processes kept busy on average.
    pub server_cpu_cores: Option<f64>,
    /// CPU microseconds this tool burnt per request.
    pub client_cpu_us_per_req: Option<f64>,
    /// `server_cpu_us_per_req` divided by `batch`.
    #[serde(default)]
    pub server_cpu_us_per_key: Option<f64>,
    /// `client_cpu_us_per_req` divided by `batch`.
    #[serde(default)]
    pub client_cpu_us_per_key: Option<f64>,
    /// The cluster's counters over the measured phase, when the targets
    /// answer `Stats`.
    pub stats: Option<StatsDelta>,
    /// Per-slice figures (`--timeline`); empty when not asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelinePoint>,
}

/// The batch of reports written before `--batch` existed: one key.
fn one() -> usize {
    1
}

/// Percentiles at which the CDF is sampled.
const CDF_POINTS: [f64; 17] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99, 100.0,
];

/// Percentiles of a histogram recorded in nanoseconds.
pub(crate) fn latency_of(h: &Histogram<u64>) -> (Latency, Vec<(f64, f64)>) {
    if h.is_empty() {
        return (Latency::default(), Vec::new());
    }
    let us = |ns: u64| round2(ns as f64 / 1000.0);
    let lat = Latency {
        min_us: us(h.min()),
        mean_us: round2(h.mean() / 1000.0),
        p50_us: us(h.value_at_quantile(0.50)),
        p90_us: us(h.value_at_quantile(0.90)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
    };
    let cdf = CDF_POINTS
        .iter()
        .map(|&p| (p, us(h.value_at_quantile(p / 100.0))))
        .collect();
    (lat, cdf)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Report {
    /// A human-readable summary (several lines, no trailing newline).
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let label = if self.label.is_empty() {
            String::new()
        } else {
            format!("[{}] ", self.label)
        };
        let load = match self.rate {
            Some(r) => format!("open loop {r:.0} req/s, {} workers", self.concurrency),
            None => format!("closed loop, {} workers", self.concurrency),
        };
        let dist = match self.zipf_s {
            Some(z) => format!("zipf s={z}"),
            None => self.dist.clone(),
        };
        let _ = writeln!(
            s,
            "{label}{} target(s), group {}, {} keys ({dist}), {load}, {} conn(s)/target",
            self.targets.len(),
            self.group,
            self.keys,
            self.conns
        );
        let _ = writeln!(
            s,
            "  requests  {} in {:.2}s = {:.0} req/s; ok {}, errors {}{}",
            self.requests,
            self.elapsed_s,
            self.throughput_rps,
            self.ok,
            self.errors,
            if self.verified {
                " (values verified)"
            } else {
                ""
            }
        );
        let l = &self.latency;
        let _ = writeln!(
            s,
            "  latency   p50 {:.0}us  p90 {:.0}us  p99 {:.0}us  p99.9 {:.0}us  max {:.0}us  (mean {:.0}us)",
            l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
        );
        if !self.error_codes.is_empty() {
            let codes: Vec<String> = self
                .error_codes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(s, "  errors    {}", codes.join(" "));
        }
        if let (Some(cpu), Some(cores)) = (self.server_cpu_us_per_req, self.server_cpu_cores) {
            let _ = writeln!(s, "  server    {cpu:.1} CPU-us/req ({cores:.2} cores)");
        }
        if let Some(cpu) = self.client_cpu_us_per_req {
            let _ = writeln!(s, "  client    {cpu:.1} CPU-us/req");
        }
        if self.batch > 1 {
            let per_key = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                s,
                "  batch     {} keys/request (GetMany) = {:.0} keys/s; server {} CPU-us/key, client {} CPU-us/key",
                self.batch,
                self.keys_per_s,
                per_key(self.server_cpu_us_per_key),
                per_key(self.client_cpu_us_per_key)
            );
        }
        if let Some(st) = &self.stats {
            let _ = writeln!(
                s,
                "  cluster   {} node(s): source loads {}, peer fetches {}, hot-cache hits {}, main-cache hits {}",
                st.nodes, st.source_loads, st.peer_fetches, st.hot_cache_hits, st.main_cache_hits
            );
        }
        if !self.timeline.is_empty() {
            let _ = writeln!(
                s,
                "  timeline  t(s)  requests  errors  p50(us)  p99(us)  max(us)"
            );
            for p in &self.timeline {
                let _ = writeln!(
                    s,
                    "            {:>5.1} {:>9} {:>7} {:>8.0} {:>8.0} {:>8.0}",
                    p.t_s, p.requests, p.errors, p.p50_us, p.p99_us, p.max_us
                );
            }
        }
        s.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percentiles come out in microseconds from a nanosecond histogram, and
    /// the CDF is monotonic and ends at the max.
    #[test]
    fn percentiles_in_microseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for i in 1..=1000u64 {
            h.record(i * 1000).unwrap(); // 1..1000 us
        }
        let (lat, cdf) = latency_of(&h);
        assert_eq!(lat.min_us, 1.0);
        assert!((lat.p50_us - 500.0).abs() <= 1.0, "{}", lat.p50_us);
        assert!((lat.p99_us - 990.0).abs() <= 1.0, "{}", lat.p99_us);
        assert!((lat.max_us - 1000.0).abs() <= 1.0, "{}", lat.max_us);
        assert!(cdf.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(cdf.last().unwrap().1, lat.max_us);
    }

    /// A report survives a JSON round trip.
    #[test]
    fn json_round_trip() {
        let r = Report {
            label: "x".into(),
            requests: 5,
            ok: 4,
            errors: 1,
            ..Default::default()
        };
        let j = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
        assert!(r.to_table().contains("requests  5"));
    }
}
