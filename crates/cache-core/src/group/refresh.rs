//! Stale-while-revalidate and stale-if-error, for a group with a stale
//! window (`stale_ttl`; the entry encoding is in `ttl.rs`).
//!
//! - **Who serves a stale value: only the key's owner, from its main
//!   cache.** A get on the owner that finds the key's value past its fresh
//!   time but inside its stale window answers that value at once (counted
//!   in `stale_hits`), and so does a peer's fetch, whose answer is then
//!   marked stale ([`Fetched::stale`](crate::Fetched::stale)) with the time
//!   left in the window as its TTL (never 0, which would read "no expiry").
//!   A non-owner never serves a stale value: a stale entry there is a miss,
//!   and the owner is asked; a stale answer from the owner goes to the
//!   caller but not into the hot cache. A hot copy is fresh exactly as long
//!   as the owner's value was when it was fetched, so it never outlives it.
//! - **One refresh per key, in the whole mesh.** Serving a stale value
//!   starts the key's background refresh unless one is running here (the
//!   `running` set), so only the owner refreshes, once at a time. The
//!   refresh is a spawned task that waits on the key's local flight, the
//!   one a miss or a peer fetch of the key would start or join: a refresh
//!   and a concurrent load are one loader call. No caller waits for it. It
//!   replaces the value through `populate`, under the generation read when
//!   the flight started, so a `remove` during the refresh wins (the
//!   refreshed value answers no one and is not stored).
//! - **When the refresh fails** (the loader errs, times out or panics), the
//!   stale value stays and is served until its stale window ends
//!   (stale-if-error: those answers are also counted in
//!   `stale_if_error_hits`), and the next stale get tries again (one
//!   refresh at a time, like loads). When the loader says NotFound, the
//!   stale value is dropped (unless negative caching already replaced it).
//!   After the window, the entry has expired: the next get is a miss.
//!
//! With no runtime (a hit needs none) a stale value is served but not
//! refreshed; the next stale get in a runtime refreshes it.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::{Found, Inner, Via};
use crate::stats::incr;
use crate::store::{CacheKind, Cached};
use crate::{Error, Fetched};

/// How many keys' failed refreshes are remembered before the ones whose
/// stale value has expired are forgotten (a bound on `failed`).
const FAILED_PRUNE_AT: usize = 4096;

/// The background refreshes of a group's keys.
#[derive(Debug, Default)]
pub(super) struct Refreshes {
    /// Keys whose refresh task is running: at most one per key. A key is
    /// inserted by the get that starts the task and removed when the task
    /// ends or is dropped. Held for one set operation.
    running: Mutex<HashSet<Box<str>>>,
    /// Keys whose last refresh failed, with the hard expiry of the stale
    /// value it left in place: a stale hit on that very value is a
    /// stale-if-error hit (a later value of the key has another expiry).
    /// Pruned of expired marks when it reaches [`FAILED_PRUNE_AT`]. Held for
    /// one map operation.
    failed: Mutex<HashMap<Box<str>, Instant>>,
}

impl Refreshes {
    /// Marks `key`'s refresh as running; false if one already is.
    fn begin(&self, key: &str) -> bool {
        self.running.lock().insert(key.into())
    }

    /// True if the stale value expiring at `hard` is the one a failed
    /// refresh of `key` left.
    fn failed_for(&self, key: &str, hard: Instant) -> bool {
        self.failed.lock().get(key) == Some(&hard)
    }

    /// Remembers that `key`'s refresh failed, leaving the value that expires
    /// at `hard`.
    fn mark_failed(&self, key: &str, hard: Instant, now: Instant) {
        let mut failed = self.failed.lock();
        if failed.len() >= FAILED_PRUNE_AT {
            failed.retain(|_, at| *at > now);
        }
        failed.insert(key.into(), hard);
    }

    /// Forgets a failed refresh of `key`.
    fn clear_failed(&self, key: &str) {
        self.failed.lock().remove(key);
    }
}

/// A key's `running` mark: made before its refresh task is spawned and
/// moved into it, so the mark ends when the task ends or is dropped, even
/// unpolled (a runtime shutting down).
struct Running {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.inner
            .refreshes
            .running
            .lock()
            .remove(self.key.as_str());
    }
}

impl Inner {
    /// The first lookup of a get in a group with a stale window: as
    /// [`first_lookup`](Inner::first_lookup)'s, plus the stale check (the
    /// clock read by the store is reused). A stale entry is served only on
    /// the key's owner, from its main cache; elsewhere it is a miss.
    pub(super) fn first_lookup_swr(self: &Arc<Self>, key: &str) -> Option<Result<Found, Error>> {
        let clock = Cell::new(None);
        let read = || {
            let now = Instant::now();
            clock.set(Some(now));
            now
        };
        let answer = self.store.get_hot_then_main(key, &read).and_then(|entry| {
            let now = clock.get().unwrap_or_else(Instant::now);
            if self.is_stale(&entry, now) {
                self.stale_on_owner(key, now)
            } else {
                Some(self.hit(self.with_fresh_expiry(entry), false))
            }
        });
        // One increment, for a get and a cache hit (as in `first_lookup`).
        match answer {
            Some(_) => incr(&self.hits_on_entry),
            None => incr(&self.stats.gets),
        }
        answer
    }

    /// The answer to a get that found a stale entry at `now`: on the key's
    /// owner, its main cache's entry (the stale one may have been a hot
    /// copy from before the ring changed), served stale if it is; `None`
    /// (a miss) elsewhere or when the main cache has no entry.
    fn stale_on_owner(self: &Arc<Self>, key: &str, now: Instant) -> Option<Result<Found, Error>> {
        if self.peers.pick(key).is_some() {
            return None;
        }
        self.owned_hit(key, now)
    }

    /// The main-cache lookup of a peer's fetch: a fresh value, a stale one
    /// (served, marked stale, and refreshed), a negative entry, or `None`.
    pub(super) fn lookup_for_peer(self: &Arc<Self>, key: &str) -> Option<Result<Found, Error>> {
        self.owned_hit(key, Instant::now())
    }

    /// `key`'s main-cache entry at `now`, as its owner answers it: fresh,
    /// or stale (served and refreshed), counting no cache hit.
    fn owned_hit(self: &Arc<Self>, key: &str, now: Instant) -> Option<Result<Found, Error>> {
        let entry = self.store.get(CacheKind::Main, key, now)?;
        if let (true, Some(hard), Cached::Value(value)) =
            (self.is_stale(&entry, now), entry.expires_at, &entry.data)
        {
            return Some(Ok(self.serve_stale(key, value.clone(), hard)));
        }
        Some(self.hit(self.with_fresh_expiry(entry), false))
    }

    /// The answer of a peer's fetch, from what the owner found: a stale
    /// value is marked so, with the time left in its stale window (never
    /// zero) as its TTL.
    pub(super) fn fetched(found: Found, minute_qps: f64) -> Fetched {
        let now = Instant::now();
        let stale = found.via == Via::Stale;
        let ttl = found.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            if stale {
                left.max(Duration::from_millis(1))
            } else {
                left
            }
        });
        Fetched {
            value: found.value,
            minute_qps: Some(minute_qps),
            ttl,
            not_found: false,
            stale,
        }
    }

    /// Serves the stale `value` (hard expiry `hard`) of `key`: counts it,
    /// and starts the key's refresh unless one is running.
    fn serve_stale(self: &Arc<Self>, key: &str, value: Bytes, hard: Instant) -> Found {
        incr(&self.stats.stale_hits);
        if self.refreshes.failed_for(key, hard) {
            incr(&self.stats.stale_if_error_hits);
        }
        self.start_refresh(key, hard);
        Found {
            value,
            expires_at: Some(hard),
            via: Via::Stale,
        }
    }

    /// Spawns `key`'s refresh, unless one is running or there is no
    /// runtime. `hard` is the stale value's hard expiry.
    fn start_refresh(self: &Arc<Self>, key: &str, hard: Instant) {
        let Some(runtime) = crate::sync::spawner().ok() else {
            return;
        };
        if !self.refreshes.begin(key) {
            return;
        }
        incr(&self.stats.refreshes);
        let running = Running {
            inner: Arc::clone(self),
            key: key.to_owned(),
        };
        runtime.spawn(async move {
            let (inner, key) = (&running.inner, running.key.as_str());
            let generation = inner.generations.current(key);
            let result = inner.load_owned(key, None, None).await;
            inner.refreshed(key, generation, hard, result);
        });
    }

    /// Records how `key`'s refresh ended.
    fn refreshed(&self, key: &str, generation: u64, hard: Instant, result: Result<Found, Error>) {
        let drop_stale = || {
            self.generations.insert_if_current(key, generation, || {
                self.store.remove(key);
            });
        };
        match result {
            Ok(found) => {
                self.refreshes.clear_failed(key);
                // A value the source says not to cache (a zero TTL) was not
                // stored: the stale one must not outlive that answer.
                if found.expires_at.is_some_and(|at| at <= Instant::now()) {
                    drop_stale();
                }
            }
            Err(Error::NotFound) => {
                incr(&self.stats.refresh_errors);
                self.refreshes.clear_failed(key);
                // The source no longer has the key: stop serving it stale.
                // With negative caching the flight already replaced it.
                if self.opts.negative_ttl.is_none() {
                    drop_stale();
                }
            }
            Err(_) => {
                incr(&self.stats.refresh_errors);
                self.refreshes.mark_failed(key, hard, Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One running mark per key; a failure mark names the stale value's
    /// expiry, is cleared by a success, and expired marks are pruned once
    /// the map is full.
    #[test]
    fn marks() {
        let r = Refreshes::default();
        assert!(r.begin("k"));
        assert!(!r.begin("k"), "one refresh per key at a time");
        assert!(r.begin("other"));
        let now = Instant::now();
        let hard = now + Duration::from_secs(30);
        r.mark_failed("k", hard, now);
        assert!(r.failed_for("k", hard));
        assert!(
            !r.failed_for("k", hard + Duration::from_secs(1)),
            "another value"
        );
        r.clear_failed("k");
        assert!(!r.failed_for("k", hard));
        for i in 0..FAILED_PRUNE_AT {
            r.mark_failed(&format!("old{i}"), now, now);
        }
        r.mark_failed("k", hard, now + Duration::from_secs(1));
        assert_eq!(r.failed.lock().len(), 1, "expired marks pruned");
        assert!(r.failed_for("k", hard));
    }
}
