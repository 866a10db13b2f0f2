//! # cache-grpc: the groupcache gRPC service, peer pool and middleware
//!
//! The network half of groupcache, on top of [`cache_core`]: a gRPC server
//! for the `groupcache.v1.Groupcache` service (`proto/groupcache/v1`), a
//! [`PeerPool`] that implements core's [`PeerPicker`](cache_core::PeerPicker)
//! over gRPC, and the middleware between them.
//!
//! ## A `Get`, step by step
//!
//! 1. **Accept.** [`transport`] takes the connection off the listener
//!    (at most `max_connections` open; accept errors back off) and runs it
//!    in its own task: first the TLS handshake when the server has
//!    [`tls`] (the client's verified certificate kept), then the
//!    configured driver: our loop on `h2` (the default) or hyper's. The
//!    driver reads the request off the HTTP/2 connection, puts the
//!    connection's addresses (so `remote_addr()` works) and certificate in
//!    its extensions and calls the node's one service (the same one for
//!    the client port and the optional peer port, [`Listeners`]).
//! 2. **Span and route.** That service is built once, by [`serve()`], for
//!    either driver. A `grpc` span is opened for the request
//!    ([`middleware::trace`]), with the caller's W3C trace context if it
//!    sent a valid `traceparent` ([`trace_context`]), its credentials are
//!    checked ([`auth`]: `UNAUTHENTICATED` or `PERMISSION_DENIED`, when
//!    tokens or mTLS are on), and the
//!    [`Router`](server::Router) sends
//!    `groupcache.v1.Groupcache` on and every other service (health,
//!    reflection) to tonic's router.
//! 3. **Shed and deadline.** [`middleware::shed`] answers
//!    `RESOURCE_EXHAUSTED` when too many requests are in flight;
//!    [`middleware::deadline`] turns `grpc-timeout` (capped by the request
//!    timeout) into a [`Deadline`](middleware::deadline::Deadline) in the
//!    extensions and answers `DEADLINE_EXCEEDED` itself if the handler is
//!    still busy when it passes.
//! 4. **Decode.** The [`GroupcacheServer`](server::GroupcacheServer) reads
//!    `Get` and `Fetch` with the [unary codec](codec::unary): one message
//!    frame, decoded with prost (`INVALID_ARGUMENT` if it does not decode,
//!    `RESOURCE_EXHAUSTED` over the size limit). Anything out of the
//!    ordinary (compression, `Stats`) goes to the generated tonic server,
//!    which answers the same way.
//! 5. **Serve.** [`GroupcacheService`] looks the group up in the
//!    [`Registry`](cache_core::Registry) and calls
//!    [`Group::get_with_ttl`](cache_core::Group::get_with_ttl) with the
//!    deadline. The group answers from its caches, or, on a miss, asks its
//!    [`PeerPool`] who owns the key (the consistent hash ring over
//!    canonical peer ids).
//! 6. **The owner.** If a peer owns it, the [`client`]'s [`GrpcPeer`] sends
//!    `Fetch` on the peer's one HTTP/2 channel (unless its [`breaker`] is
//!    open: then the key is loaded here), in a `peer_fetch` span, with a
//!    `traceparent` of the same trace whose parent is that span. The owner's `Fetch` calls
//!    [`Group::fetch_for_peer`](cache_core::Group::fetch_for_peer): its
//!    caches or its loader, never another peer. It answers the value, the
//!    key's request rate (for the requester's hot cache) and the TTL.
//! 7. **Errors.** Errors cross the wire through [`status`]: an owner's
//!    `NOT_FOUND` or source failure carries a `gc-error` marker and is
//!    passed on; an unmarked failure (refused, reset, shed, dead) makes the
//!    requesting group load the key itself.
//! 8. **Answer.** The value, a [`Bytes`](bytes::Bytes) from cache to
//!    socket, is encoded in one frame followed by the trailers, and written
//!    by the driver within the connection's flow-control window and budget
//!    of queued bytes, through the connection's
//!    [`CoalescingIo`](transport::coalesce::CoalescingIo) writer together
//!    with whatever else is ready.
//!
//! [`serve()`] adds health (`grpc.health.v1`), reflection (v1 and
//! v1alpha) and a graceful drain; [`LocalCluster`] runs N such nodes in one
//! process.
//!
//! # Layout
//!
//! - [`service`]: [`GroupcacheService`], what `Get`, `Fetch` and `Stats`
//!   do.
//! - [`server`]: [`serve()`], [`ServerOptions`] (a checked builder), the
//!   service stack, the [`Router`](server::Router), the
//!   [`GroupcacheServer`](server::GroupcacheServer) and [`RequestStats`]
//!   (requests in flight and shed, for metrics).
//! - [`codec`]: encoding and decoding only: the generated code's protobuf
//!   codec, and the unary codec of `Get` and `Fetch`.
//! - [`transport`]: how bytes move: accepting, the two connection drivers,
//!   the [`ResponseBody`](transport::ResponseBody), write coalescing.
//! - [`middleware`]: tower layers: trace, shed, deadline, catch-panic.
//! - [`trace_context`]: W3C `traceparent`/`tracestate`: the strict parser,
//!   the formatter, the peer hop's span and ids (OpenTelemetry's with the
//!   `otel` feature).
//! - [`auth`]: client and peer tokens, peer certificates: who may call
//!   what.
//! - [`limits`]: message size limits derived from `max_value_bytes`.
//! - [`status`]: the one mapping between core errors and gRPC statuses.
//! - [`client`]: [`GrpcPeer`], a `PeerClient` over a tonic channel, with
//!   HTTP/2 PINGs for liveness.
//! - [`breaker`]: the per-peer circuit breaker and its health probes.
//! - [`pool`]: [`PeerPool`], the ring and the clients, changeable at run
//!   time.
//! - [`cluster`]: [`LocalCluster`], an in-process N-node cluster.
//! - [`golang`]: joining a golang/groupcache `HTTPPool`: Go's ring, its
//!   HTTP peer protocol (client and server).
//! - [`pb`]: code generated from the proto (by `build.rs`).
//! - [`error`]: [`Error`], this crate's error type.

pub mod access_log;
pub mod auth;
pub mod breaker;
pub mod client;
pub mod cluster;
pub mod codec;
pub mod error;
pub mod golang;
pub mod handoff;
pub mod limits;
mod log_limit;
pub mod middleware;
pub mod mutations;
pub mod pb;
pub mod pool;
pub mod server;
pub mod service;
pub mod status;
pub mod tls;
pub mod trace_context;
pub mod transport;

pub use breaker::{BreakerOptions, PeerHealth};
pub use client::GrpcPeer;
pub use cluster::{ClusterOptions, LocalCluster};
pub use error::Error;
pub use limits::DEFAULT_MAX_VALUE_BYTES;
pub use mutations::MutationReport;
pub use pool::{MembershipChange, PeerPool, PoolOptions, PoolOptionsBuilder};
pub use server::{Listeners, RequestStats, ServerOptions, ServerOptionsBuilder, serve};
pub use service::GroupcacheService;
pub use transport::Transport;
