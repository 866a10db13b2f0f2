//! Encoding and decoding `groupcache.v1` messages; nothing else.
//!
//! - [`proto`]: [`ProtoCodec`], the codec of the generated tonic server and
//!   client (`codec_path` in `build.rs`): tonic-prost's, but a request that
//!   does not decode is `INVALID_ARGUMENT`.
//! - [`unary`]: `Get` and `Fetch` read from one message frame and answered
//!   in one, without tonic's generic codec, for the
//!   [`GroupcacheServer`](crate::server::GroupcacheServer).
//!
//! Both decode with [`Decode::decode_message`], so a bad request gets the
//! same status whichever way it comes in.

pub mod proto;
pub mod unary;

pub use self::proto::{Decode, ProtoCodec, ProtoDecoder};
