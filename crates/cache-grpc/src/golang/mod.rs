//! Interop with golang/groupcache: a node that joins an existing Go
//! `HTTPPool`, so that a Go pool can be replaced by Rust nodes one at a
//! time (docs/migrating.md).
//!
//! Such a node:
//!
//! 1. places keys with Go's ring ([`GoRing`]: CRC-32, 50 points per peer
//!    URL), so every node of the mixed pool names the same owner;
//! 2. fetches keys it does not own from their Go (or Rust) owner over
//!    Go's protocol ([`GoPeer`]: `GET /_groupcache/GROUP/KEY`, a protobuf
//!    `GetResponse`), loading the key itself on any failure, as a Go node
//!    does;
//! 3. answers the same protocol on a listener of its own
//!    ([`serve_golang`]), from its caches or its loader, never forwarding.
//!
//! [`GoPool`] is the [`PeerPicker`](cache_core::PeerPicker) set on the
//! node's groups in place of the gRPC [`PeerPool`](crate::PeerPool).
//!
//! # Layout
//!
//! - [`ring`]: [`GoRing`], Go's consistent hash, bit for bit.
//! - [`wire`]: the request path's escaping and the `GetResponse` message.
//! - [`client`]: [`GoPeer`], a `PeerClient` over HTTP/1.1.
//! - [`picker`]: [`GoPool`], the ring and the clients.
//! - [`server`]: [`serve_golang`], the `/_groupcache/` listener.

pub mod client;
pub mod picker;
pub mod ring;
pub mod server;
pub mod wire;

pub use client::{GoPeer, GoPeerOptions};
pub use picker::GoPool;
pub use ring::{DEFAULT_REPLICAS, GoRing, MAX_REPLICAS};
pub use server::{GoServerOptions, serve_golang};

/// golang/groupcache's default path prefix (`defaultBasePath`).
pub const DEFAULT_BASE_PATH: &str = "/_groupcache/";
