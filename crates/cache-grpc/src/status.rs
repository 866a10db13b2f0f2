//! The one place where [`cache_core::Error`] becomes a [`tonic::Status`] and
//! back.
//!
//! # Server side: [`to_status`]
//!
//! ([`key_status`] gives the same code, message and marker in parts, for
//! the per-key results of `GetMany` and `FetchMany`; [`from_key_result`]
//! reads a `FetchMany` result back as [`from_status`] reads a status.)
//!
//! | core error | status code | marker (`gc-error`) |
//! |---|---|---|
//! | `UnknownGroup` | `INVALID_ARGUMENT` | – |
//! | `InvalidKey` | `INVALID_ARGUMENT` | `invalid-key` |
//! | `NotFound` | `NOT_FOUND` | `not-found` |
//! | `SourceFailed` | `UNAVAILABLE` ("the source failed to load the key") | `source-failed` |
//! | `LoaderPanicked` | `INTERNAL` ("the loader failed unexpectedly") | `loader-panicked` |
//! | `DeadlineExceeded` | `DEADLINE_EXCEEDED` | – |
//! | `Overloaded` | `RESOURCE_EXHAUSTED` | – |
//! | `TooManyLoads` | `RESOURCE_EXHAUSTED` ("too many loads in progress") | `too-many-loads` |
//! | `ValueTooLarge` | `RESOURCE_EXHAUSTED` ("value of N bytes exceeds max_value_bytes (M)") | `value-too-large` |
//! | `Unavailable` | `UNAVAILABLE` ("a peer was unavailable") | – |
//! | `DuplicateGroup`, `Config` | `INTERNAL` | – |
//! | `Decode` | `INTERNAL` ("a value did not decode in the loader") | `source-failed` |
//!
//! Messages never carry the internal detail of a source failure (the
//! group logs it, once per failed load rather than once per waiting
//! request). A loader panic is a bug in the loader rather than a
//! transient condition, so it maps to `INTERNAL`, and it is an answer of the
//! owner: the requester does not re-run the same loader locally.
//!
//! The server never decodes a value (it serves bytes), so a `Decode`
//! reaches it only from a loader that read another group through a typed
//! handle (`cache_core::typed`) and returned the error. It is `INTERNAL`,
//! not `DATA_LOSS`: the bytes are intact, and the reader's type or codec
//! disagrees with the writer's, a fault of the deployment (a version skew,
//! a wrong codec) rather than lost or corrupted data, and `DATA_LOSS`
//! would send an operator looking for corruption. For a requester it is a
//! failed load on the owner, so it carries the `source-failed` marker (and
//! comes back as `SourceFailed`, passed on: a local load would run the
//! same loader and codec); like a source failure's, its detail, which may
//! quote the value, stays in the owner's log.
//!
//! # Requests that do not decode
//!
//! | request | status code | message |
//! |---|---|---|
//! | a `group` or `key` that is not UTF-8 ([`not_utf8`]) | `INVALID_ARGUMENT` | `key is not valid UTF-8` |
//! | bytes that are no such protobuf message ([`invalid_request`]) | `INVALID_ARGUMENT` | `request is not a valid groupcache.v1.GetRequest: ...` |
//! | a message over the decode limit ([`request_too_large`]) | `RESOURCE_EXHAUSTED` | `request message of N bytes is over the limit of M bytes` |
//!
//! tonic's own answers are `INTERNAL` and `OUT_OF_RANGE`; gRPC's status
//! code guide, and gRPC servers in other languages, say the caller sent a
//! bad argument, and that a message over the limit exhausts a resource.
//! [`codec`](crate::codec) (both of its codecs) decides
//! which case it is; [`limits::RequestLimit`](crate::limits::RequestLimit)
//! catches the size before tonic reads the message.
//!
//! # Client side: [`from_status`]
//!
//! A peer's answer to `Fetch` must tell "the owner's source said so" (passed
//! on to the caller) from "the peer could not answer" (the caller loads the
//! key locally). Both can arrive as `UNAVAILABLE`, so the owner marks its own
//! answers with the response metadata key [`ERROR_KIND_KEY`]. A status
//! without the marker is the transport's, a proxy's or an overloaded peer's
//! and maps to an error for which [`cache_core::Error::is_peer_fallback`] is
//! true.

use cache_core::Error as CoreError;
use tonic::{Code, Status};

/// The response metadata key with which an owner marks errors that come
/// from its source or loader rather than from the transport.
pub const ERROR_KIND_KEY: &str = "gc-error";

/// Marker value: the owner's source has no such key.
pub const KIND_NOT_FOUND: &str = "not-found";
/// Marker value: the owner's source failed.
pub const KIND_SOURCE_FAILED: &str = "source-failed";
/// Marker value: the owner (its key limit or its loader) refused the key.
pub const KIND_INVALID_KEY: &str = "invalid-key";
/// Marker value: the owner's loader panicked.
pub const KIND_LOADER_PANICKED: &str = "loader-panicked";
/// Marker value: the owner's load limit and its queue were full.
pub const KIND_TOO_MANY_LOADS: &str = "too-many-loads";
/// Marker value: the owner's value is over its `max_value_bytes`.
pub const KIND_VALUE_TOO_LARGE: &str = "value-too-large";

/// The response metadata key with which an owner that remembers a key's
/// NotFound says for how many more milliseconds (negative caching across
/// the mesh: the requester may keep the NotFound as long).
pub const NEGATIVE_TTL_KEY: &str = "gc-negative-ttl-ms";

/// The message sent for a source failure (the detail stays in the logs).
const SOURCE_FAILED_MESSAGE: &str = "the source failed to load the key";
/// The message sent for a loader's decode error (the detail stays in the
/// logs).
const DECODE_MESSAGE: &str = "a value did not decode in the loader";

/// Maps a core error to the status sent to a client or peer.
pub fn to_status(err: &CoreError) -> Status {
    let KeyStatus {
        code,
        message,
        kind,
    } = key_status(err);
    let status = Status::new(code, message);
    match kind {
        Some(kind) => marked(status, kind),
        None => status,
    }
}

/// A core error as one key's result of a batch (`GetMany`, `FetchMany`)
/// carries it: what [`to_status`] sends for the error, in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The status code.
    pub code: Code,
    /// The status message (never a source failure's detail).
    pub message: String,
    /// The owner's marker ([`ERROR_KIND_KEY`]'s value), if the error is an
    /// answer about its source.
    pub kind: Option<&'static str>,
}

/// The code, message and marker of `err`: the table at the top of this
/// module, shared by [`to_status`] and the per-key results of batches.
pub fn key_status(err: &CoreError) -> KeyStatus {
    let (code, message, kind) = match err {
        CoreError::UnknownGroup(name) => (
            Code::InvalidArgument,
            format!("unknown group {name:?}"),
            None,
        ),
        // Marked: a key the owner refuses (for example a `dir:` source
        // refusing `../x`) would be refused by a local load too.
        CoreError::InvalidKey(reason) => (
            Code::InvalidArgument,
            format!("invalid key: {reason}"),
            Some(KIND_INVALID_KEY),
        ),
        CoreError::NotFound => (
            Code::NotFound,
            "key not found".to_owned(),
            Some(KIND_NOT_FOUND),
        ),
        CoreError::SourceFailed(_) => (
            Code::Unavailable,
            SOURCE_FAILED_MESSAGE.to_owned(),
            Some(KIND_SOURCE_FAILED),
        ),
        CoreError::LoaderPanicked => (
            Code::Internal,
            "the loader failed unexpectedly".to_owned(),
            Some(KIND_LOADER_PANICKED),
        ),
        CoreError::DeadlineExceeded => {
            (Code::DeadlineExceeded, "deadline exceeded".to_owned(), None)
        }
        CoreError::Overloaded => (Code::ResourceExhausted, "overloaded".to_owned(), None),
        // Marked like a source failure: the requester passes it on; the
        // detail may quote the value, so it stays in the logs.
        CoreError::Decode { .. } => (
            Code::Internal,
            DECODE_MESSAGE.to_owned(),
            Some(KIND_SOURCE_FAILED),
        ),
        // Marked: another node loading the key itself would only add to the
        // load on a source that is already saturated.
        CoreError::TooManyLoads => (
            Code::ResourceExhausted,
            "too many loads in progress; try again later".to_owned(),
            Some(KIND_TOO_MANY_LOADS),
        ),
        // Marked: the requester's own load would give the same value, as
        // large (and load the source a second time for it).
        CoreError::ValueTooLarge { .. } => (
            Code::ResourceExhausted,
            err.to_string(),
            Some(KIND_VALUE_TOO_LARGE),
        ),
        CoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "peer unavailable");
            (Code::Unavailable, "a peer was unavailable".to_owned(), None)
        }
        other => {
            tracing::error!(error = %other, "unexpected error on the request path");
            (Code::Internal, "internal error".to_owned(), None)
        }
    };
    KeyStatus {
        code,
        message,
        kind,
    }
}

/// The owner's NotFound for a key it remembers as missing for `ttl` more:
/// `NOT_FOUND`, marked, with [`NEGATIVE_TTL_KEY`].
pub fn not_found_for(ttl: std::time::Duration) -> Status {
    let mut status = to_status(&CoreError::NotFound);
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    status.metadata_mut().insert(
        NEGATIVE_TTL_KEY,
        ms.to_string().parse().expect("digits are ASCII"),
    );
    status
}

/// How long the owner remembers the NotFound of `status`
/// ([`not_found_for`]), if it said; `None` for any other status.
pub fn negative_ttl(status: &Status) -> Option<std::time::Duration> {
    if status.code() != Code::NotFound {
        return None;
    }
    let ms = status.metadata().get(NEGATIVE_TTL_KEY)?.to_str().ok()?;
    let ms: u64 = ms.parse().ok()?;
    (ms > 0).then(|| std::time::Duration::from_millis(ms))
}

/// The answer to a `Remove` naming no key.
pub fn no_keys() -> Status {
    Status::invalid_argument("no keys: name at least one")
}

/// The answer to a batch (`GetMany`, `FetchMany`, `Remove`) naming `count`
/// keys, over the limit of `limit` (`--max-batch-keys`).
pub fn too_many_keys(count: usize, limit: usize) -> Status {
    Status::invalid_argument(format!(
        "a batch of {count} keys is over the limit of {limit} keys per request \
         (--max-batch-keys): split it"
    ))
}

/// The answer to a `Set` that could not be applied: the key's owner did
/// not confirm it (`UNAVAILABLE`, saying who and why), or the core refused
/// it ([`to_status`]).
pub fn mutation_failed(err: &CoreError) -> Status {
    match err {
        CoreError::Unavailable(detail) => Status::unavailable(detail.to_string()),
        other => to_status(other),
    }
}

/// Maps one key's result of a peer's `FetchMany` (its status code number,
/// message and marker, empty for none) to a core error, exactly as
/// [`from_status`] maps a failed `Fetch` with that status.
pub fn from_key_result(code: u32, message: &str, kind: &str) -> CoreError {
    let code = Code::from_i32(i32::try_from(code).unwrap_or(i32::MAX));
    let mut status = Status::new(code, message);
    if !kind.is_empty()
        && let Ok(value) = tonic::metadata::MetadataValue::try_from(kind)
    {
        status.metadata_mut().insert(ERROR_KIND_KEY, value);
    }
    from_status(&status)
}

/// The answer to a request whose string field `field` (`group`, `key`) is
/// not valid UTF-8.
pub fn not_utf8(field: &str) -> Status {
    Status::invalid_argument(format!("{field} is not valid UTF-8"))
}

/// The answer to a request that does not decode as the protobuf message
/// `message` (its full name, `groupcache.v1.GetRequest`).
pub fn invalid_request(message: &str, error: &prost::DecodeError) -> Status {
    Status::invalid_argument(format!("request is not a valid {message}: {error}"))
}

/// The answer to a request whose message announces `len` bytes, over the
/// decode limit of `limit`.
pub fn request_too_large(len: usize, limit: usize) -> Status {
    Status::resource_exhausted(format!(
        "request message of {len} bytes is over the limit of {limit} bytes"
    ))
}

/// Maps a status received from a peer's `Fetch` to a core error.
///
/// Marked statuses are the owner's answers (`NotFound`, `SourceFailed`,
/// `LoaderPanicked`, `InvalidKey`, `TooManyLoads`, `ValueTooLarge`: passed
/// on). Unmarked ones
/// come from the transport or the peer's server: `DEADLINE_EXCEEDED` (the
/// fetch's deadline, the load timeout, passed) becomes `DeadlineExceeded`,
/// passed on; `RESOURCE_EXHAUSTED` becomes `Overloaded` and anything else
/// `Unavailable` (`CANCELLED` included: hyper's word for a request whose
/// connection went away), and both make the group load the key locally.
/// The client's own timer also reports `CANCELLED`; the peer client tells
/// that case apart by the time, before it calls this.
pub fn from_status(status: &Status) -> CoreError {
    let kind = status
        .metadata()
        .get(ERROR_KIND_KEY)
        .and_then(|v| v.to_str().ok());
    match kind {
        Some(KIND_NOT_FOUND) => return CoreError::NotFound,
        Some(KIND_SOURCE_FAILED) => return CoreError::source_failed(status.message()),
        Some(KIND_LOADER_PANICKED) => return CoreError::LoaderPanicked,
        Some(KIND_INVALID_KEY) => return CoreError::InvalidKey("refused by the key's owner"),
        Some(KIND_TOO_MANY_LOADS) => return CoreError::TooManyLoads,
        Some(KIND_VALUE_TOO_LARGE) => return value_too_large(status.message()),
        _ => {}
    }
    match status.code() {
        Code::DeadlineExceeded => CoreError::DeadlineExceeded,
        Code::ResourceExhausted => CoreError::Overloaded,
        code => CoreError::unavailable(format!("{code:?}: {}", status.message())),
    }
}

/// The owner's `ValueTooLarge`, its sizes read back from the message (0
/// where the message does not say).
fn value_too_large(message: &str) -> CoreError {
    let mut numbers = message
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap_or(0));
    CoreError::ValueTooLarge {
        size: numbers.next().unwrap_or(0),
        limit: numbers.next().unwrap_or(0),
    }
}

/// Adds the owner's marker to `status`.
fn marked(mut status: Status, kind: &'static str) -> Status {
    status.metadata_mut().insert(
        ERROR_KIND_KEY,
        tonic::metadata::MetadataValue::from_static(kind),
    );
    status
}

/// The canonical name of a gRPC status code, as the proto, grpcurl and
/// every gRPC library print it (`NOT_FOUND`, ...).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner's `ValueTooLarge` crosses the wire marked, as itself (sizes
    /// included), and is passed on rather than loaded again.
    #[test]
    fn value_too_large_round_trips() {
        let err = CoreError::ValueTooLarge {
            size: 5_242_880,
            limit: 1_048_576,
        };
        let status = to_status(&err);
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "value of 5242880 bytes exceeds max_value_bytes (1048576)"
        );
        let back = from_status(&status);
        assert!(!back.is_peer_fallback());
        assert!(matches!(
            back,
            CoreError::ValueTooLarge {
                size: 5_242_880,
                limit: 1_048_576
            }
        ));
    }

    /// Every core error maps to the documented status code.
    #[test]
    fn core_errors_map_to_documented_codes() {
        let cases = [
            (CoreError::UnknownGroup("g".into()), Code::InvalidArgument),
            (CoreError::InvalidKey("empty"), Code::InvalidArgument),
            (CoreError::NotFound, Code::NotFound),
            (CoreError::source_failed("db down"), Code::Unavailable),
            (CoreError::LoaderPanicked, Code::Internal),
            (CoreError::DeadlineExceeded, Code::DeadlineExceeded),
            (CoreError::Overloaded, Code::ResourceExhausted),
            (CoreError::TooManyLoads, Code::ResourceExhausted),
            (CoreError::unavailable("conn refused"), Code::Unavailable),
            (CoreError::Config("x".into()), Code::Internal),
            (
                CoreError::decode::<String>("UTF-8", "invalid utf-8"),
                Code::Internal,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(to_status(&err).code(), code, "{err:?}");
        }
    }

    /// Requests that do not decode are the caller's mistake; a request
    /// over the limit exhausts a resource.
    #[test]
    fn bad_requests_map_to_documented_codes() {
        assert_eq!(not_utf8("key").code(), Code::InvalidArgument);
        assert_eq!(not_utf8("key").message(), "key is not valid UTF-8");
        let error = <crate::pb::GetRequest as prost::Message>::decode(&[0xff][..]).unwrap_err();
        let status = invalid_request("groupcache.v1.GetRequest", &error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("request is not a valid groupcache.v1.GetRequest: "),
            "{status:?}"
        );
        assert_eq!(request_too_large(11, 10).code(), Code::ResourceExhausted);
    }

    /// A key's result of a batch carries what `to_status` would send, and
    /// comes back as the same error (marked answers as the owner's,
    /// unmarked ones as fallbacks).
    #[test]
    fn key_results_round_trip() {
        for err in [
            CoreError::NotFound,
            CoreError::source_failed("x"),
            CoreError::LoaderPanicked,
            CoreError::TooManyLoads,
            CoreError::DeadlineExceeded,
            CoreError::Overloaded,
            CoreError::unavailable("gone"),
        ] {
            let key = key_status(&err);
            let status = to_status(&err);
            assert_eq!(
                (key.code, key.message.as_str()),
                (status.code(), status.message())
            );
            let back = from_key_result(key.code as u32, &key.message, key.kind.unwrap_or(""));
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&from_status(&status)),
                "{err:?} came back as {back:?}"
            );
            assert_eq!(back.is_peer_fallback(), err.is_peer_fallback(), "{err:?}");
        }
    }

    /// A source failure says the source failed and leaks no detail.
    #[test]
    fn source_failure_hides_detail() {
        let status = to_status(&CoreError::source_failed("password=hunter2 at db:5432"));
        assert_eq!(status.message(), SOURCE_FAILED_MESSAGE);
        assert!(!status.message().contains("hunter2"));
    }

    /// Owner answers survive the round trip and are not peer fallbacks.
    #[test]
    fn owner_answers_round_trip() {
        for err in [
            CoreError::NotFound,
            CoreError::source_failed("x"),
            CoreError::LoaderPanicked,
            CoreError::InvalidKey("refused by the source"),
            CoreError::TooManyLoads,
        ] {
            let back = from_status(&to_status(&err));
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&err),
                "{err:?} came back as {back:?}"
            );
            assert!(!back.is_peer_fallback(), "{back:?}");
        }
    }

    /// Statuses without the owner's marker are transport-level: the
    /// requester falls back to a local load, except for its own timer's.
    #[test]
    fn unmarked_statuses_are_fallbacks() {
        let cases = [
            (Status::unavailable("connection refused"), "Unavailable"),
            (Status::not_found("404 from a proxy"), "Unavailable"),
            (Status::unknown("h2 protocol error"), "Unavailable"),
            (Status::internal("boom"), "Unavailable"),
            (Status::invalid_argument("unknown group"), "Unavailable"),
            (Status::resource_exhausted("shed"), "Overloaded"),
            (Status::cancelled("connection closed"), "Unavailable"),
        ];
        for (status, want) in cases {
            let err = from_status(&status);
            assert!(
                format!("{err:?}").starts_with(want),
                "{status:?} -> {err:?}"
            );
            assert!(err.is_peer_fallback(), "{status:?} -> {err:?}");
        }
        // The fetch's own deadline is the load timeout: when it passes,
        // loading locally would only start the load over.
        let err = from_status(&Status::deadline_exceeded("late"));
        assert_eq!(err, CoreError::DeadlineExceeded);
        assert!(!err.is_peer_fallback());
    }

    /// A loader's decode error is INTERNAL for clients, hides its detail,
    /// and reaches a requester as the owner's failed load: passed on, not
    /// loaded again locally.
    #[test]
    fn decode_error_is_the_owners_failed_load() {
        let err = CoreError::decode::<u64>("JSON", "invalid type: string \"secret\"");
        let status = to_status(&err);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), DECODE_MESSAGE);
        assert!(!status.message().contains("secret"));
        let back = from_status(&status);
        assert!(matches!(back, CoreError::SourceFailed(_)), "{back:?}");
        assert!(!back.is_peer_fallback());
    }

    /// The marker is what decides: UNAVAILABLE with it is the owner's source
    /// failure, without it a transport failure.
    #[test]
    fn marker_decides_between_same_codes() {
        let marked = to_status(&CoreError::source_failed("x"));
        assert_eq!(marked.code(), Code::Unavailable);
        assert!(matches!(from_status(&marked), CoreError::SourceFailed(_)));
        let bare = Status::unavailable(marked.message());
        assert!(matches!(from_status(&bare), CoreError::Unavailable(_)));
    }
}
