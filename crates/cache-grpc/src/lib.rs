//! # cache-grpc: the groupcache gRPC service, peer pool and middleware
//!
//! The network half of groupcache, on top of [`cache_core`]: a gRPC server
//! (tonic services on an HTTP/2 driver of our own) for the
//! `groupcache.v1.Groupcache` service (`proto/groupcache/v1`), a
//! [`PeerPool`] that implements core's [`PeerPicker`](cache_core::PeerPicker)
//! over gRPC, and the middleware between them.
//!
//! ## The network get path
//!
//! 1. A client calls `Get(group, key)` on any node, usually with a
//!    `grpc-timeout`. The node's [`h2serve`] driver reads it off the
//!    HTTP/2 connection and runs it as a future inside that connection's
//!    task.
//! 2. The [`deadline`] layer turns `grpc-timeout` (capped by
//!    [`ServerOptions::request_timeout`]) into a [`deadline::Deadline`] in
//!    the request's extensions, and answers `DEADLINE_EXCEEDED` itself if the
//!    handler is still busy when it passes. The [`shed`] layer before it
//!    answers `RESOURCE_EXHAUSTED` when too many requests are in flight.
//! 3. [`server`]'s `Get` looks the group up in the
//!    [`Registry`](cache_core::Registry) (`INVALID_ARGUMENT` if unknown),
//!    builds a [`LoadContext`](cache_core::LoadContext) with the deadline and
//!    calls [`Group::get_with`](cache_core::Group::get_with). (`Get` and
//!    `Fetch` reach it through the [`fastpath`], which decodes and encodes
//!    them directly instead of through tonic's codec and router.) A request
//!    that does not decode, or whose `group` or `key` is not UTF-8, never
//!    gets there: it is answered `INVALID_ARGUMENT` ([`codec`]).
//! 4. The group answers from its caches, or, on a miss, asks its
//!    [`PeerPool`] who owns the key (the consistent hash ring of
//!    `cache_core::consistent_hash`, over canonical peer ids).
//! 5. If a peer owns it, the [`client`]'s [`GrpcPeer`] sends `Fetch` on the
//!    peer's one HTTP/2 channel, with `grpc-timeout` set to the time the group
//!    allows (what is left of the client's budget, minus a reserve for a
//!    local fallback, capped by the peer timeout).
//! 6. The owner's `Fetch` calls
//!    [`Group::fetch_for_peer`](cache_core::Group::fetch_for_peer): its
//!    caches or its loader, never another peer. It answers the value, its
//!    per-key request rate (`minute_qps`, for the requester's hot cache) and
//!    the value's TTL.
//! 7. Errors cross the wire through [`status`]: an owner's `NOT_FOUND` or
//!    source failure carries a `gc-error` marker and is passed on to the
//!    client; any unmarked failure (refused, reset, timed out, shed) makes
//!    the requesting group load the key locally.
//! 8. The value, a [`Bytes`](bytes::Bytes) from cache to socket, goes back to
//!    the client: one response frame, then the trailers, written by the
//!    connection's [`coalesce`] writer together with whatever else is ready.
//!
//! [`serve()`] wires it up with health (`grpc.health.v1`), reflection (v1 and
//! v1alpha) and a graceful drain; [`LocalCluster`] runs N such nodes in one
//! process.
//!
//! # Layout
//!
//! - [`pb`]: code generated from the proto (by `build.rs`, beside this crate
//!   because Cargo runs a build script only for its own package).
//! - [`server`]: the `Groupcache` service (`Get`, `Fetch`, `Stats`).
//! - [`status`]: the one mapping between core errors and gRPC statuses.
//! - [`codec`]: the generated code's protobuf codec; a request that does
//!   not decode is `INVALID_ARGUMENT`.
//! - [`fastpath`]: [`FastGroupcache`](fastpath::FastGroupcache), `Get` and
//!   `Fetch` answered without tonic's generic codec (everything else passes
//!   through to the generated server).
//! - [`deadline`]: tower layer capturing and enforcing `grpc-timeout`.
//! - [`shed`]: tower layer shedding load beyond the in-flight limit.
//! - [`catch_panic`]: tower layer answering a request that panicked
//!   `INTERNAL` (under tonic's server; [`h2serve`] catches its own).
//! - [`client`]: [`GrpcPeer`], a `PeerClient` over a tonic channel.
//! - [`pool`]: [`PeerPool`], the ring and the clients, changeable at run time.
//! - [`coalesce`]: [`CoalescingIo`](coalesce::CoalescingIo), server connections
//!   whose answers leave in batches (one write for many).
//! - [`h2serve`]: the server's HTTP/2 connections on `h2` directly: each
//!   request a future inside its connection's task, no `date` header; the
//!   accept loop (connection cap, backoff) of both transports; the HTTP/2
//!   limits (docs/grpc.md, "HTTP/2 limits").
//! - [`limits`]: message size limits derived from `max_value_bytes`, and
//!   `RESOURCE_EXHAUSTED` for a request over them.
//! - [`serve`](mod@serve): [`serve()`] and [`ServerOptions`].
//! - [`cluster`]: [`LocalCluster`], an in-process N-node cluster.
//! - [`error`]: [`Error`], this crate's error type.

pub mod breaker;
pub mod catch_panic;
pub mod client;
pub mod cluster;
pub mod coalesce;
pub mod codec;
pub mod deadline;
pub mod error;
pub mod fastpath;
pub mod h2serve;
pub mod limits;
pub mod pb;
pub mod pool;
pub mod serve;
pub mod server;
pub mod shed;
pub mod status;

pub use breaker::{BreakerOptions, PeerHealth};
pub use client::GrpcPeer;
pub use cluster::{ClusterOptions, LocalCluster};
pub use error::Error;
pub use limits::DEFAULT_MAX_VALUE_BYTES;
pub use pool::{PeerPool, PoolOptions};
pub use serve::{ServerOptions, serve};
pub use server::GroupcacheService;
