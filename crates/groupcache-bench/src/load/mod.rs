//! The load generator: drive `groupcache.v1.Groupcache/Get` and measure.
//!
//! 1. [`BenchConfig`] says what to drive: targets, group, key set and
//!    distribution (uniform, zipf, sequential), workers, HTTP/2 connections
//!    per target, duration or request count, warm-up, an optional open-loop
//!    rate, a per-request deadline and value verification.
//! 2. [`run`] opens the connections, starts the workers (each one request in
//!    flight; many workers share a connection), takes the cluster's `Stats`
//!    and the servers' CPU times when the measured phase begins and ends, and
//!    merges the workers' HDR histograms.
//! 3. The [`Report`] holds throughput, latency percentiles, errors by status
//!    code, CPU per request and the cluster's counter deltas, as a table
//!    ([`Report::to_table`]) or JSON (serde).
//!
//! # Layout
//! - `config`: the run's settings and their defaults
//! - `keys`: key distributions
//! - `client`: connections
//! - `worker`: closed and open loops, latency recording
//! - `run`: a whole run
//! - `owned`: which keys a node owns
//! - `stats`: the cluster's counters through the `Stats` RPC
//! - `cpu`: CPU time of processes from `/proc`
//! - `progress`: the live progress bar
//! - `timeline`: per-slice figures (`--timeline`)
//! - `report`: the result, as a table or JSON

mod client;
mod config;
mod cpu;
mod keys;
mod owned;
mod progress;
mod report;
mod run;
mod stats;
mod timeline;
mod worker;

pub use config::{BenchConfig, Distribution, KeySet, Stop, Verify};
pub use cpu::process_cpu_seconds;
pub use keys::KeyPicker;
pub use owned::owned_keys;
pub use report::{Latency, Report};
pub use run::run;
pub use stats::StatsDelta;
pub use timeline::TimelinePoint;
