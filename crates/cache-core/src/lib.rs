//! # cache-core: the embeddable groupcache engine
//!
//! (Crate documentation of the get path is being written.)

pub use async_trait::async_trait;

pub mod consistent_hash;
mod context;
mod error;
mod getter;
mod group;
mod peers;
pub mod promotion;
mod registry;
pub mod singleflight;
mod stats;
pub mod store;
mod stubs;

pub use consistent_hash::{HashRing, canonical_peer_id};
pub use context::LoadContext;
pub use error::Error;
pub use getter::{Getter, GetterFn, Loaded, getter_fn};
pub use group::{Group, GroupBuilder, StoreKind};
pub use peers::{Fetched, NoPeers, PeerClient, PeerPicker};
pub use registry::Registry;
pub use stats::{CacheStats, GroupStats, StatsSnapshot};
