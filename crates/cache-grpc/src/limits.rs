//! Message size limits, derived on both ends from one setting.
//!
//! tonic decodes at most 4 MiB by default and encodes without limit, so a
//! large value would fail on one side only. Server and peer clients both call
//! [`message_limit`] with the same `max_value_bytes`, so a value the server
//! may send is a value its peers may receive.

/// The default largest value served or fetched: 8 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 8 << 20;

/// Room for everything in a message that is not the value (group, key,
/// field tags, QPS, TTL): 64 KiB, far above the default key limit of 1 KiB.
pub const MESSAGE_OVERHEAD_BYTES: usize = 64 << 10;

/// The gRPC message limit (encode and decode) for values of up to
/// `max_value_bytes`: the value plus [`MESSAGE_OVERHEAD_BYTES`].
pub const fn message_limit(max_value_bytes: usize) -> usize {
    max_value_bytes.saturating_add(MESSAGE_OVERHEAD_BYTES)
}
