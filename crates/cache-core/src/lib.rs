//! # cache-core: the embeddable groupcache engine
//!
//! A [`Group`] is a named cache namespace with one loader (a [`Getter`]):
//! a read-through cache that, in a cluster, spreads keys over the nodes so
//! that each key is loaded by one node (its *owner*) and by one caller at a
//! time. This crate has no networking: the gRPC crate plugs in through
//! [`PeerPicker`] and [`PeerClient`].
//!
//! ## The get path
//!
//! [`Group::get`] of a key:
//!
//! 1. **Validate** the key: empty or longer than `max_key_bytes` (1024 by
//!    default) fails with [`Error::InvalidKey`].
//! 2. **Hot cache**: a copy of a popular key owned by another node? Return it.
//! 3. **Main cache**: a key this node owns, loaded earlier? Return it. A
//!    remembered `NotFound` (negative caching, off by default) returns
//!    [`Error::NotFound`]. Expired entries are never served. With a stale
//!    window ([`GroupBuilder::stale_ttl`]) a value past its TTL is served
//!    at once by the key's owner, which refreshes it in the background
//!    (one refresh per key); elsewhere it is a miss. Steps 1 to 3
//!    are one store lookup, answered by the first poll of the [`Get`]
//!    future without allocating; with the default SIEVE store a hit takes
//!    only its thread's read lock, so hits on many threads do not contend.
//! 4. **Singleflight**: join the flight of this key if one is running, else
//!    start one in a spawned task (run in this get's `get` span, and given
//!    the get's [`TraceContext`] if its [`LoadContext`] has one). Each caller waits with its own deadline;
//!    dropping a caller does not stop the flight. The flight serves all of
//!    its callers, so no caller's deadline bounds it: it runs until it is
//!    done, until the group's load timeout (30 s by default), or until no
//!    caller waits any more, when it is dropped with its loader call or
//!    peer fetch.
//! 5. **Re-check both caches** inside the flight: a previous flight may have
//!    filled them after this caller missed and before it joined.
//! 6. **Pick the owner** with the [`PeerPicker`].
//! 7. **Remote owner**: fetch from it, waiting as long as the flight lives:
//!    a live owner that is still loading is waited for, however slow its
//!    source. Telling a dead or hung owner from a slow one is the
//!    [`PeerClient`]'s job (`cache-grpc` judges the connection by HTTP/2
//!    PINGs within the peer timeout, and skips a peer whose breaker is
//!    open).
//!    - Success: the value is returned, and copied into the hot cache if the
//!      [promotion policy](promotion) says so (given the owner's reported
//!      request rate and whether the hot cache has free room; the default
//!      keeps every value while it has).
//!    - The peer could not answer (unavailable, or it shed the request:
//!      [`Error::is_peer_fallback`]): load locally with the [`Getter`] and
//!      put the value in the hot cache only, never the main cache.
//!    - NotFound, SourceFailed or TooManyLoads: returned as is; the key is
//!      not loaded locally (that would only ask the failed or saturated
//!      source again). So is the load timeout passing.
//! 8. **This node owns the key**: one local flight per key at a time,
//!    shared with peers' fetches of it, which re-checks the main cache, then:
//!    - **Warm takeover**: during the warm-up period after a ring change,
//!      when the [`PeerPicker`] names the key's previous owner
//!      ([`PeerPicker::previous_owner`]), ask it for its cached copy
//!      ([`PeerClient::fetch_cached`]: it neither loads nor forwards),
//!      within the load timeout and holding no load-limiter permit. A value
//!      goes into the main cache with the TTL the previous owner reported
//!      and is returned, with no loader call (`takeover_hits`); anything
//!      else (NotFound, an error, no answer in time) counts a
//!      `takeover_misses` and goes on to the loader.
//!    - Run the [`Getter`] and put the value in the main cache until its
//!      TTL, or a `NotFound` for `negative_ttl` when enabled. Every loader
//!      call (fallbacks too) first takes a permit of the [`LoadLimiter`],
//!      which bounds the loads running at once and queues a bounded number
//!      more; past the queue the load fails at once with
//!      [`Error::TooManyLoads`]. A failed load is logged once, with the
//!      number of callers waiting for it.
//!
//! A peer's fetch ([`Group::fetch_for_peer`]) runs steps 1, 3 and 8 only: it
//! is never forwarded to another node.
//!
//! ```
//! use cache_core::{getter_fn, GroupBuilder, Loaded};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let group = GroupBuilder::new("greetings", 64 << 20, getter_fn(|key: String, _ctx| async move {
//!     // Ask the database, a service, or compute it.
//!     Ok(Loaded::new(format!("hello, {key}")))
//! }))
//! .build()?;
//!
//! assert_eq!(group.get("world").await?, "hello, world"); // loaded
//! assert_eq!(group.get("world").await?, "hello, world"); // cache hit
//! assert_eq!(group.stats().local_loads, 1);
//! # Ok::<(), cache_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Concurrent calls on the same key
//!
//! Concurrent gets of one missing key share a single load:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use cache_core::{getter_fn, GroupBuilder, Loaded};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_time().build().unwrap().block_on(async {
//! let loads = Arc::new(AtomicUsize::new(0));
//! let counted = Arc::clone(&loads);
//! let group = GroupBuilder::new("slow", 1 << 20, getter_fn(move |key: String, _ctx| {
//!     let counted = Arc::clone(&counted);
//!     async move {
//!         counted.fetch_add(1, Ordering::SeqCst);
//!         tokio::time::sleep(Duration::from_millis(50)).await;
//!         Ok(Loaded::new(key))
//!     }
//! }))
//! .build()?;
//!
//! let gets = (0..8).map(|_| {
//!     let group = group.clone();
//!     tokio::spawn(async move { group.get("report").await })
//! });
//! for get in futures::future::join_all(gets).await {
//!     assert_eq!(get.unwrap()?, "report");
//! }
//! assert_eq!(loads.load(Ordering::SeqCst), 1);
//! assert_eq!(group.stats().loads_deduped, 1);
//! # Ok::<(), cache_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Typed values
//!
//! The group caches bytes; [`typed`] puts a [`Codec`] over them, so that a
//! loader returns a Rust value ([`typed_getter_fn`]: encoded once per
//! load) and a [`TypedGroup`] reads it back (decoded per get). A value
//! that does not decode is [`Error::Decode`] for that reader only, never a
//! panic and never cached. UTF-8 and raw bytes need no feature; protobuf
//! (feature `prost`), JSON (`serde-json`) and postcard (`postcard`) codecs
//! are off by default, so this crate builds neither prost nor serde unless
//! asked.
//!
//! ```
//! use cache_core::{typed_getter_fn, GroupBuilder, TypedGroup, TypedLoaded};
//! use cache_core::typed::Utf8Codec;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let group = GroupBuilder::new("names", 1 << 20, typed_getter_fn(Utf8Codec, |key: String, _ctx| async move {
//!     Ok(TypedLoaded::new(format!("name of {key}")))
//! }))
//! .build()?;
//! let names: TypedGroup<String> = TypedGroup::new(group);
//! let name: String = names.get("7").await?;
//! assert_eq!(name, "name of 7");
//! # Ok::<(), cache_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Layout
//!
//! - `group` ([`Group`], [`GroupBuilder`]): the get path above; its
//!   `load.rs` holds steps 5 to 8, `takeover.rs` the warm takeover of step
//!   8, `ttl.rs` a value's fresh time (the TTL cap and jitter) and how
//!   entries encode the stale window, `refresh.rs` stale-while-revalidate
//!   and stale-if-error, and `handoff.rs` what a leaving owner hands over
//!   ([`Group::hottest_owned`]), what the next owner accepts
//!   ([`Group::accept_handoff`], or [`Group::accept_handoff_since`] a
//!   [`HandoffMark`] so that removes made meanwhile win) and the
//!   cache-only answer a previous owner gives ([`Group::peek`]).
//! - [`singleflight`]: one execution per key at a time, cancellation- and
//!   panic-safe.
//! - [`store`]: the main and hot caches under one byte budget
//!   ([`store::ShardedStore`], [`store::MokaStore`]).
//! - [`promotion`]: which values fetched from peers enter the hot cache.
//! - [`load_limit`] ([`LoadLimiter`]): the bound on loads running at once.
//! - `peers` ([`PeerPicker`], [`PeerClient`], [`NoPeers`]): the seam to the
//!   network.
//! - `consistent_hash` ([`HashRing`]): which node owns a key.
//! - [`key_rate`] ([`KeyRates`]): per-key request rates an owner reports
//!   with fetched values.
//! - `getter` ([`Getter`], [`getter_fn`]), `context` ([`LoadContext`]):
//!   the loader and what it is given; `trace` ([`TraceContext`]): the W3C
//!   trace a get carries to its peer fetch and loader, handed on, never
//!   parsed (the network crate does that).
//! - `group/spans.rs`: the path's `tracing` spans (`get`, `fetch`, `load`,
//!   at debug level) and the outcome each records.
//! - [`stats`] ([`StatsSnapshot`]): counters, each defined by what
//!   increments it, and latency histograms ([`LatencyHistogram`]: fixed
//!   exponential buckets, atomic, striped per thread) of gets by
//!   [`GetOutcome`] and of loads.
//! - [`typed`] ([`TypedGroup`], [`Codec`], [`typed_getter_fn`]): typed
//!   values over the group's bytes, on its public API only; the serde and
//!   prost codecs behind features.
//! - `registry` ([`Registry`]): groups by name, no global state.
//! - `error` ([`Error`]): every failure, classified.
//! - `sync`: the locks, atomics, spawn and timeout that the singleflight
//!   and the LRU store synchronise with: the real ones, or shuttle's for
//!   the concurrency models (feature `shuttle`, `docs/testing.md`).

pub use async_trait::async_trait;

pub mod consistent_hash;
mod context;
mod error;
mod getter;
mod group;
pub mod key_rate;
pub mod load_limit;
mod peers;
pub mod promotion;
mod registry;
pub mod singleflight;
pub mod stats;
pub mod store;
mod sync;
mod trace;
pub mod typed;

pub use consistent_hash::{HashRing, canonical_peer_id};
pub use context::LoadContext;
pub use error::Error;
pub use getter::{Getter, GetterFn, Loaded, getter_fn};
pub use group::{
    DEFAULT_HOT_TTL, DEFAULT_LOAD_TIMEOUT, DEFAULT_TOMBSTONE_TTL, Get, Group, GroupBuilder,
    HandoffEntry, HandoffMark, MAX_TTL, StoreKind,
};
pub use key_rate::KeyRates;
pub use load_limit::{LoadLimiter, LoadLimiterStats};
pub use peers::{Fetched, NoPeers, PeerClient, PeerPicker};
pub use promotion::{CoinFlip, PromotionPolicy, QpsThreshold};
pub use registry::Registry;
pub use stats::{
    CacheStats, GetLatency, GetOutcome, GroupStats, LatencyHistogram, LatencySnapshot,
    StatsSnapshot,
};
pub use trace::TraceContext;
pub use typed::{Codec, TypedGroup, TypedLoaded, typed_getter_fn};
