//! Code generated from `proto/groupcache/v1/groupcache.proto`.
//!
//! Fenced in its own module: these types are the wire format and never leak
//! into `cache-core`.
#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("groupcache.v1");

/// The encoded file descriptor set, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("groupcache_descriptor");
