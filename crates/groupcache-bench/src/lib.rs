//! `groupcache-bench`: a gRPC load generator for groupcache nodes, the echo
//! server it is compared with, and the benchmark suite's report and plots.
//! It stands beside the node as `redis-benchmark` stands beside
//! `redis-server`: a binary of its own (`groupcache-bench`), speaking to
//! nodes only over the wire (`groupcache.v1.Groupcache`), so it depends on
//! `cache-grpc` for the generated client and the peer ring, never on the
//! node's package.
//!
//! A run, step by step:
//!
//! 1. [`BenchConfig`] says what to drive (targets, group, key set and its
//!    distribution, workers, connections, duration or request count, an
//!    optional open-loop rate, deadlines, value verification against
//!    [`synthetic_value`]).
//! 2. [`run`] connects, warms up, drives the load, and takes the cluster's
//!    `Stats` and the servers' CPU times as the measured phase begins and
//!    ends.
//! 3. The [`Report`] holds throughput, latency percentiles, errors by
//!    status, CPU per request and the counter deltas, as a table or JSON.
//! 4. The same tool drives [`echo`], a bare tonic server answering every
//!    `Get` with a fixed payload: the limit a node's throughput is a
//!    fraction of.
//! 5. [`suite::render`] turns the runs of `scripts/bench-suite` (ours and
//!    the Go harness's) into `docs/benchmarks.md` and its SVG plots.
//!
//! # Layout
//! - [`load`]: the load generator (config, keys, client, worker, run,
//!   owned, stats, cpu, progress, timeline, report)
//! - [`echo`]: the limit server
//! - [`suite`]: the suite's Markdown report and plots (harness, headline,
//!   resilience, scenarios, plots, svg, side_by_side, ceiling)
//! - [`cli`]: the command line (`groupcache-bench`, `echo`, `report`)
//! - `synthetic`: the values a node's `synthetic:` source serves
//! - `error`: [`Error`], the crate's one error type

pub mod cli;
pub mod echo;
mod error;
pub mod load;
pub mod suite;
mod synthetic;

pub use error::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Error};
pub use load::{
    BenchConfig, Distribution, KeyPicker, KeySet, Latency, Report, StatsDelta, Stop, TimelinePoint,
    Verify, owned_keys, process_cpu_seconds, run,
};
pub use synthetic::synthetic_value;
