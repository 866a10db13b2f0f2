//! The tower layers between a transport and the services, each one
//! concern; [`server::stack`](crate::server) puts them together once for
//! both transports.
//!
//! - [`trace`]: a `grpc` span per request, with its path and the client's
//!   address.
//! - [`shed`]: at most `max_concurrent_requests` `Groupcache` requests in
//!   flight; the next is `RESOURCE_EXHAUSTED` at once.
//! - [`deadline`]: `grpc-timeout` (capped by the request timeout) as a
//!   [`Deadline`](deadline::Deadline) in the extensions, and
//!   `DEADLINE_EXCEEDED` when it passes.
//! - [`catch_panic`]: a request that panicked is answered `INTERNAL`
//!   (hyper's driver; ours catches panics around each stream itself).

pub mod catch_panic;
pub mod deadline;
pub mod shed;
pub mod trace;
