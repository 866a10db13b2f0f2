//! groupcache: a distributed caching and cache-filling library and server,
//! speaking gRPC. This facade re-exports [`cache_core`] and [`cache_grpc`].

pub use cache_core as core;
pub use cache_grpc as grpc;

pub mod bench;
