//! The one error type of `cache-core`.

use std::sync::Arc;

/// Everything that can go wrong on the get path, classified so that callers
/// (and the gRPC layer, which maps each variant to one status code) can act on
/// the kind of failure rather than on a message.
///
/// `Error` is `Clone` because a single load's outcome is handed to every
/// waiter of a singleflight call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The source of truth has no value for this key. Returned by a
    /// [`Getter`](crate::Getter), reported by a key's owner, or served from
    /// the negative cache.
    #[error("key not found")]
    NotFound,
    /// The source of truth failed (the owner's or the local loader returned
    /// an error). The text is for logs; the gRPC layer does not send it to
    /// clients.
    #[error("source failed: {0}")]
    SourceFailed(Arc<str>),
    /// The peer could not be reached or broke the connection (transport
    /// failure). The group answers this by loading locally.
    #[error("peer unavailable: {0}")]
    Unavailable(Arc<str>),
    /// The caller's deadline passed before an answer was ready.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The node (or the peer) refused the request to protect itself.
    #[error("overloaded")]
    Overloaded,
    /// The key's load was refused because the node already runs as many
    /// source loads as its [`LoadLimiter`](crate::LoadLimiter) allows and
    /// as many more wait. An answer about the source's capacity: a requester
    /// passes it on rather than loading the key itself.
    #[error("too many loads in progress")]
    TooManyLoads,
    /// The key is empty or longer than the group's key limit.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The value is larger than a server may send (`max_value_bytes` of the
    /// gRPC layer). An answer about the value, not the peer: a requester
    /// passes an owner's refusal on rather than loading the key itself.
    #[error("value of {size} bytes exceeds max_value_bytes ({limit})")]
    ValueTooLarge {
        /// The value's size in bytes.
        size: u64,
        /// The largest value allowed.
        limit: u64,
    },
    /// The loader panicked. Every waiter of that load gets this error; the
    /// next get of the key calls the loader again.
    #[error("loader panicked")]
    LoaderPanicked,
    /// A [`Registry`](crate::Registry) already holds a group of this name.
    #[error("a group named {0:?} is already registered")]
    DuplicateGroup(String),
    /// No group of this name is registered.
    #[error("no group named {0:?}")]
    UnknownGroup(String),
    /// A builder was given a value it cannot work with.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A value read through a [`TypedGroup`](crate::typed::TypedGroup) is
    /// not valid for its [`Codec`](crate::typed::Codec): bytes written by
    /// another codec or another version of the type, or not UTF-8 for a
    /// `String`. The answer of this reader only: the cached bytes stay as
    /// they are for readers that can decode them, and nothing is cached
    /// for the error (see [`typed`](crate::typed)).
    #[error("value does not decode as {codec} into {type_name}: {detail}")]
    Decode {
        /// The codec's format (`"UTF-8"`, `"JSON"`, `"postcard"`,
        /// `"protobuf"`, or a custom codec's name).
        codec: &'static str,
        /// The Rust type the value was to become.
        type_name: &'static str,
        /// What the codec said was wrong.
        detail: Arc<str>,
    },
}

impl Error {
    /// Builds a [`Error::SourceFailed`] from anything printable.
    pub fn source_failed(detail: impl std::fmt::Display) -> Self {
        Error::SourceFailed(detail.to_string().into())
    }

    /// Builds a [`Error::Unavailable`] from anything printable.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Error::Unavailable(detail.to_string().into())
    }

    /// Builds a [`Error::Decode`]: a value did not decode as `codec` into a
    /// `V`, for the reason `detail`. For [`Codec`](crate::typed::Codec)
    /// implementations.
    pub fn decode<V>(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Decode {
            codec,
            type_name: std::any::type_name::<V>(),
            detail: detail.to_string().into(),
        }
    }

    /// Builds the error of a value that a loader produced but its codec
    /// could not encode: a [`Error::SourceFailed`] ("value of type V does
    /// not encode as `codec`: `detail`"), since the load failed. Like any
    /// failed load it is not cached, and the next get loads again. For
    /// [`Codec`](crate::typed::Codec) implementations.
    pub fn encode_failed<V>(codec: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::source_failed(format_args!(
            "value of type {} does not encode as {codec}: {detail}",
            std::any::type_name::<V>()
        ))
    }

    /// True when a failed peer fetch should be answered by loading the key
    /// locally: the peer could not answer (its client found it dead, hung
    /// or skipped by its breaker), or it shed the request. `NotFound`,
    /// `SourceFailed`, `TooManyLoads` and `ValueTooLarge` are answers about the owner's
    /// source and are passed on instead (reloading would only fail again and
    /// double the load on the source); so is `DeadlineExceeded`, the load
    /// timeout passing while a live owner loads.
    pub fn is_peer_fallback(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Overloaded)
    }
}
