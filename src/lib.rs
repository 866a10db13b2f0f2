//! groupcache: a distributed caching and cache-filling library and server,
//! speaking gRPC. This facade re-exports [`cache_core`] and [`cache_grpc`].
//!
//! It also holds the `groupcache` binary's code: the command line
//! ([`cli`]), the built-in sources of truth ([`source`]), the Prometheus
//! exporter of `serve --metrics-listen` ([`metrics`]) and the value
//! syntaxes they share ([`units`]).

pub use cache_core as core;
pub use cache_grpc as grpc;

pub mod build;
pub mod cli;
pub mod discovery;
mod error;
pub mod metrics;
pub mod source;
pub mod units;

pub use error::{EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Error};

/// The README's Rust examples, compiled as doctests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
