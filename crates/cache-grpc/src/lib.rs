//! # cache-grpc: the groupcache gRPC service
//!
//! (Being written.)

pub mod pb;
