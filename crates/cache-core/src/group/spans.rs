//! The spans of the get path, and how each records its outcome.
//!
//! | span | opened by | fields |
//! |---|---|---|
//! | `get` | [`Group::get`](super::Group::get) and friends, one per get | `group`, `outcome`: `hit`, `peer`, `fallback`, `load`, `takeover`, `not_found` or `error` (then `error`) |
//! | `fetch` | [`Group::fetch_for_peer`](super::Group::fetch_for_peer), on the owner | `group`, `outcome`: `hit`, `load`, `takeover`, `not_found` or `error` |
//! | `load` | every call of the loader (a local load or a fallback) | `group`, `fallback`, `outcome`: `ok`, `not_found`, `rejected` (load limit) or `error` |
//! | `takeover` | every ask of a key's previous owner (warm takeover, `takeover.rs`) | `group`, `previous` (its id), `outcome`: `hit`, `not_found`, `expired` or `error` (then `error`) |
//!
//! A flight runs in the span of the get or fetch that started it (the
//! singleflight spawns its task in the current span), so a load, and a peer
//! client's own span, are children of the request that caused them; a
//! caller that joins a running flight shares its outcome, not its spans.
//!
//! Every span is at `debug` level: with the usual `info` filter none is
//! created, and a hit pays one check of the global level filter. The field
//! values are only computed for an enabled span.

use tracing::Span;
use tracing::field::Empty;

use super::{Found, Via};
use crate::{Error, Fetched, Loaded};

/// The `get` span of a get of a key of `group`.
#[inline]
pub(super) fn get(group: &str) -> Span {
    tracing::debug_span!("get", group, outcome = Empty, error = Empty)
}

/// The `fetch` span of a peer's fetch of a key of `group`.
pub(super) fn fetch(group: &str) -> Span {
    tracing::debug_span!("fetch", group, outcome = Empty, error = Empty)
}

/// The `load` span of a loader call for a key of `group`.
pub(super) fn load(group: &str, fallback: bool) -> Span {
    tracing::debug_span!("load", group, fallback, outcome = Empty, error = Empty)
}

/// The `takeover` span of an ask of `previous`, the previous owner of a
/// key of `group`.
pub(super) fn takeover(group: &str, previous: &str) -> Span {
    tracing::debug_span!("takeover", group, previous, outcome = Empty, error = Empty)
}

/// Records the outcome of an ask of a previous owner on its `takeover`
/// span: `hit`, `expired` (a value with no time left), or the error's.
pub(super) fn record_takeover(span: &Span, result: &Result<Fetched, Error>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(fetched) if fetched.ttl.is_some_and(|ttl| ttl.is_zero()) => {
            span.record("outcome", "expired");
        }
        Ok(_) => {
            span.record("outcome", "hit");
        }
        Err(err) => record_error(span, err),
    }
}

/// Records the outcome of a get or a fetch on its span.
#[inline]
pub(super) fn record_found(span: &Span, result: &Result<Found, Error>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(found) => {
            span.record("outcome", found.via.as_str());
        }
        Err(err) => record_error(span, err),
    }
}

/// Records the outcome of a loader call on its `load` span.
pub(super) fn record_load(span: &Span, result: &Result<Loaded, Error>) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(_) => {
            span.record("outcome", "ok");
        }
        Err(Error::TooManyLoads) => {
            span.record("outcome", "rejected");
        }
        Err(err) => record_error(span, err),
    }
}

fn record_error(span: &Span, err: &Error) {
    if *err == Error::NotFound {
        span.record("outcome", "not_found");
    } else {
        span.record("outcome", "error");
        span.record("error", tracing::field::display(err));
    }
}

impl Via {
    /// The name of this outcome in a span's `outcome` field.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Via::Hit => "hit",
            Via::Stale => "stale",
            Via::Peer => "peer",
            Via::Fallback => "fallback",
            Via::Load => "load",
            Via::Takeover => "takeover",
        }
    }
}
