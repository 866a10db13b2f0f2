//! Moving values between owners when the ring changes: what a leaving
//! node hands over ([`Group::hottest_owned`]), what a new owner accepts
//! ([`Group::accept_handoff`]), and the cache-only answer a previous owner
//! gives during warm takeover ([`Group::peek`]).
//!
//! None of these loads or forwards: a handed-over or peeked value is one
//! the mesh already loaded, so moving it costs no source load, and a peek
//! never makes a request travel further than one hop.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::Group;
use crate::Fetched;
use crate::store::{CacheKind, Cached, Entry};

/// One value handed from a leaving owner to the key's next owner.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffEntry {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: Bytes,
    /// Time left before it expires, if it expires.
    pub ttl: Option<Duration>,
}

impl Group {
    /// The live values of this node's main cache (the keys it owns), the
    /// most valuable first, until their sizes sum to `max_bytes`.
    /// Negative entries are left out. Stores that cannot enumerate
    /// their entries return none.
    pub fn hottest_owned(&self, max_bytes: u64) -> Vec<HandoffEntry> {
        let now = Instant::now();
        self.inner
            .store
            .hottest(CacheKind::Main, max_bytes, now)
            .into_iter()
            .filter_map(|(key, entry)| match entry.data {
                Cached::Value(value) => Some(HandoffEntry {
                    key,
                    value,
                    ttl: entry.expires_at.map(|at| at.saturating_duration_since(now)),
                }),
                Cached::NotFound => None,
            })
            .collect()
    }

    /// Stores a value handed over by a peer (a leaving owner) in the main
    /// cache, as if this node had loaded it. Refused (false) when the key
    /// is invalid, the value already expired, or the key was removed
    /// while it was in transit (a racing remove wins).
    pub fn accept_handoff(&self, entry: HandoffEntry) -> bool {
        let inner = &self.inner;
        if entry.key.is_empty() || entry.key.len() > inner.opts.max_key_bytes {
            return false;
        }
        if entry.ttl.is_some_and(|ttl| ttl.is_zero()) {
            return false;
        }
        let generation = inner.generations.current(&entry.key);
        let stored = Entry {
            data: Cached::Value(entry.value),
            expires_at: entry.ttl.map(|ttl| Instant::now() + ttl),
        };
        inner
            .generations
            .insert_if_current(&entry.key, generation, || {
                inner.store.insert(CacheKind::Main, &entry.key, stored)
            })
    }

    /// The value of `key` if this node holds it in either cache, without
    /// loading, forwarding or counting a get: the answer to a peer's
    /// cache-only fetch during warm takeover.
    pub fn peek(&self, key: &str) -> Option<Fetched> {
        let now = Instant::now();
        let entry = [CacheKind::Main, CacheKind::Hot]
            .into_iter()
            .find_map(|kind| self.inner.store.get(kind, key, now))?;
        match entry.data {
            Cached::Value(value) => Some(Fetched {
                value,
                minute_qps: None,
                ttl: entry.expires_at.map(|at| at.saturating_duration_since(now)),
            }),
            Cached::NotFound => None,
        }
    }
}
