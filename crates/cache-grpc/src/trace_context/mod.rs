//! W3C trace context on the wire: `traceparent` and `tracestate`, read
//! from a request and written on the peer hop, so that one trace shows a
//! client, the node it asked, the key's owner and the owner's load.
//!
//! 1. **Read** ([`from_headers`], called by the server's
//!    [`TraceLayer`](crate::middleware::trace::TraceLayer) for every
//!    request): a strict parser of `traceparent` ([`parse_traceparent`]).
//!    Anything it does not accept is dropped silently: the request then
//!    carries no context (with the `otel` feature, its span starts a new
//!    trace). `tracestate` is taken only with a valid `traceparent`, and
//!    handed on as it came (cut at an entry boundary to
//!    [`MAX_STATE_BYTES`]).
//! 2. **Carry**: the context goes into the request's extensions, from
//!    there into the get's [`LoadContext`](cache_core::LoadContext), and
//!    with the flight to the peer client (cache-core only hands it on).
//! 3. **Write** ([`hop`], from [`GrpcPeer`](crate::GrpcPeer)'s fetch): a
//!    `traceparent` with the same trace id and, as parent id, the id of the
//!    hop's own `peer_fetch` span; `tracestate` passed through unchanged.
//!
//! Where the hop's span id comes from: without the `otel` feature nothing
//! in the process gives spans ids, so each hop draws one ([`new_span_id`])
//! and records it on its span (`span_id`) beside the `trace_id`, which lets
//! logs of the two nodes be joined (the owner's `grpc` span records the same
//! value as `parent_id`). With the feature, and a `tracing-opentelemetry`
//! layer installed, the ids are OpenTelemetry's: the request span's parent
//! is set from the received context, and a hop sends its span's own ids
//! (`otel.rs`). Without a valid OpenTelemetry context (no layer, or the span
//! filtered out) the feature falls back to the behaviour above.
//!
//! The header is written by this module in both builds, not by
//! OpenTelemetry's global propagator: one strict parser and one formatter
//! for the wire, the same bytes whichever build sent them, `tracestate`
//! passed through untouched (OpenTelemetry's `TraceState` re-serialises it
//! and drops what it cannot parse), and nothing to configure for a library
//! user who never installs a propagator.
//!
//! Cost on the request path: one header lookup per request, and a 55-byte
//! parse when the header is there; no allocation without the header.

pub mod hop;
#[cfg(feature = "otel")]
pub mod otel;

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use cache_core::TraceContext;
use http::HeaderMap;
use http::header::HeaderName;

/// The header carrying the trace id, the caller's span id and the flags.
pub const TRACEPARENT: &str = "traceparent";

/// The header carrying the vendors' trace state, passed through.
pub const TRACESTATE: &str = "tracestate";

/// The same names as header names: looked up without parsing the name.
const TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);
const TRACESTATE_HEADER: HeaderName = HeaderName::from_static(TRACESTATE);

/// The length of a version-00 `traceparent`: `vv-<32 hex>-<16 hex>-ff`.
pub const TRACEPARENT_LEN: usize = 55;

/// The longest `tracestate` handed on (the spec asks vendors to pass at
/// least 512 characters); a longer one is cut at an entry boundary.
pub const MAX_STATE_BYTES: usize = 512;

/// The flags a version-00 `traceparent` defines (sampled, and Level 2's
/// random trace id); the others are reserved and set to zero.
const KNOWN_FLAGS: u8 = 0x03;

/// The trace context of a request: its `traceparent` if valid (exactly one
/// header, accepted by [`parse_traceparent`]), with its `tracestate`.
pub fn from_headers(headers: &HeaderMap) -> Option<TraceContext> {
    let mut values = headers.get_all(TRACEPARENT_HEADER).into_iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None; // two parents: neither can be trusted
    }
    let ctx = parse_traceparent(value.as_bytes())?;
    Some(ctx.with_state(state_of(headers).map(Into::into)))
}

/// Parses a `traceparent` value, strictly, per W3C Trace Context:
///
/// - a version of two lower-case hex digits, not `ff`;
/// - version `00`: exactly `00-<trace id>-<parent id>-<flags>`, 55
///   characters, nothing after;
/// - a later version: the same first 55 characters, then the end or a
///   `-` (fields this parser does not know follow); only the sampled flag
///   is kept, the meaning of the others being that version's;
/// - the trace id 32 and the parent id 16 lower-case hex digits, neither
///   all zero; the flags two lower-case hex digits (reserved bits
///   cleared).
///
/// `None` for anything else (upper-case hex included).
pub fn parse_traceparent(value: &[u8]) -> Option<TraceContext> {
    if value.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_bytes::<1>(&value[0..2])?[0];
    if version == 0xff || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let known = if version == 0 {
        if value.len() != TRACEPARENT_LEN {
            return None;
        }
        KNOWN_FLAGS
    } else {
        if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
            return None;
        }
        TraceContext::SAMPLED
    };
    let trace_id = hex_bytes::<16>(&value[3..35])?;
    let parent_id = hex_bytes::<8>(&value[36..52])?;
    let flags = hex_bytes::<1>(&value[53..55])?[0] & known;
    TraceContext::new(trace_id, parent_id, flags)
}

/// The version-00 `traceparent` of `ctx`.
pub fn format_traceparent(ctx: &TraceContext) -> [u8; TRACEPARENT_LEN] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0..2].copy_from_slice(b"00");
    write_hex(&mut out[3..35], &ctx.trace_id());
    write_hex(&mut out[36..52], &ctx.parent_id());
    write_hex(&mut out[53..55], &[ctx.flags()]);
    out
}

/// A fresh span id: random, never zero. Keyed SipHash of a process-wide
/// counter under keys the standard library draws from the operating
/// system, so ids do not repeat within a process and cannot be guessed
/// across processes; no dependency needed.
pub fn new_span_id() -> [u8; 8] {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    loop {
        let id = keys.hash_one(NEXT.fetch_add(1, Ordering::Relaxed));
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// Bytes as lower-case hex, for span fields (`trace_id`, `span_id`).
#[derive(Clone, Copy)]
pub struct Hex<T>(pub T);

impl<T: AsRef<[u8]>> fmt::Display for Hex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .as_ref()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Hex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The request's `tracestate`: its headers joined with `,` (HTTP's rule
/// for a list split over several headers), if all are visible ASCII, cut
/// to [`MAX_STATE_BYTES`] at an entry boundary; `None` if empty.
fn state_of(headers: &HeaderMap) -> Option<String> {
    let mut state = String::new();
    for value in headers.get_all(TRACESTATE_HEADER) {
        let part = value.to_str().ok()?.trim();
        if part.is_empty() {
            continue;
        }
        if !state.is_empty() {
            state.push(',');
        }
        state.push_str(part);
    }
    if state.len() > MAX_STATE_BYTES {
        // Drop whole entries from the end until it fits.
        let cut = state[..=MAX_STATE_BYTES].rfind(',').unwrap_or(0);
        state.truncate(cut);
    }
    (!state.is_empty()).then_some(state)
}

/// `N` bytes from `2 * N` lower-case hex digits, or `None`.
fn hex_bytes<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

/// The value of one lower-case hex digit (the spec's `HEXDIGLC`).
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Writes `bytes` into `out` as lower-case hex (`out` is twice as long).
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests;
