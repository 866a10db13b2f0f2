//! Typed values: a [`Codec`] layer over the group's `Bytes`, for embedders
//! who would rather read a `User` than parse bytes at every call site.
//!
//! 1. A loader returns a value of type `V` ([`typed_getter_fn`], or a
//!    [`TypedGetter`] wrapped in an [`EncodingGetter`]); the codec encodes
//!    it **once**, in the load, and the group caches, serves and sends the
//!    bytes as it always does.
//! 2. A [`TypedGroup<V, C>`](TypedGroup) wraps a [`Group`](crate::Group)
//!    and decodes the bytes of every get into a `V` with its codec.
//!
//! The group below the typed handle is unchanged: it knows nothing of `V`,
//! peers fetch the owner's bytes, the hot and main caches hold bytes, and
//! the stats count bytes. Only the edges run the codec.
//!
//! # Codecs
//!
//! | codec | values | feature |
//! |---|---|---|
//! | [`Utf8Codec`] | `String` (checked UTF-8) | always |
//! | [`BytesCodec`] | `Bytes`, `Vec<u8>` (as they are) | always |
//! | `ProstCodec` | any `prost::Message + Default` | `prost` |
//! | `JsonCodec` | any `serde` type, as JSON | `serde-json` |
//! | `PostcardCodec` | any `serde` type, in postcard's compact binary format | `postcard` |
//!
//! A codec of your own implements [`Codec<V>`](Codec); a type of your own
//! may name the codec a `TypedGroup<V>` uses when it names none
//! ([`DefaultCodec`]; `String` uses [`Utf8Codec`], `Bytes` [`BytesCodec`]).
//!
//! # Invariants
//!
//! - **A decode error is the reader's, never the cache's.** It is returned
//!   as [`Error::Decode`](crate::Error::Decode) (never a panic) to the get
//!   that decoded; the bytes stay cached, untouched, for every other
//!   reader, and nothing is cached for the error (it is not a `NotFound`,
//!   and the negative cache never sees it). The group counts that get as
//!   served (a hit or a load), since it served the bytes. So a reader with
//!   the wrong codec, or an old version of the type, cannot poison the key
//!   for readers that can decode it. Bytes that no reader can decode any
//!   more (after a change of format) stay until their TTL, eviction or
//!   [`TypedGroup::remove`] on each node; the next get then loads again.
//! - **An encode error is the load's.** A value the loader's codec cannot
//!   encode fails the load with [`Error::SourceFailed`](crate::Error)
//!   ([`Error::encode_failed`](crate::Error::encode_failed)): nothing is
//!   cached and the next get calls the loader again.
//! - **One codec per group, on every node.** The bytes a node reads may
//!   have been encoded by the key's owner, so the loader's codec and the
//!   readers' must agree across the mesh. Across a rolling upgrade that
//!   changes `V`, prefer a format that tolerates the change (protobuf's
//!   new fields, JSON with `#[serde(default)]`); postcard is not
//!   self-describing, and any change to a type's fields makes older bytes
//!   fail to decode.
//! - **A typed hit decodes.** A plain hit is a reference-count bump; a
//!   typed hit also runs the codec on the value ([`BytesCodec`] excepted,
//!   which is free).
//!
//! # Layout
//!
//! - `codec.rs`: the [`Codec`] and [`DefaultCodec`] traits.
//! - `plain.rs`: [`Utf8Codec`], [`BytesCodec`].
//! - `protobuf.rs`, `json.rs`, `binary.rs`: the codecs behind features.
//! - `getter.rs`: the encode side, what loaders return
//!   ([`TypedLoaded`], [`TypedGetter`], [`typed_getter_fn`],
//!   [`EncodingGetter`]).
//! - `group.rs`: the decode side, [`TypedGroup`].

mod codec;
mod getter;
mod group;
mod plain;

#[cfg(feature = "postcard")]
mod binary;
#[cfg(feature = "serde-json")]
mod json;
#[cfg(feature = "prost")]
mod protobuf;

pub use codec::{Codec, DefaultCodec};
pub use getter::{EncodingGetter, TypedGetter, TypedGetterFn, TypedLoaded, typed_getter_fn};
pub use group::TypedGroup;
pub use plain::{BytesCodec, Utf8Codec};

#[cfg(feature = "postcard")]
pub use binary::PostcardCodec;
#[cfg(feature = "serde-json")]
pub use json::JsonCodec;
#[cfg(feature = "prost")]
pub use protobuf::ProstCodec;
