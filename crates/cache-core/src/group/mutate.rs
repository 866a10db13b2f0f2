//! Changing a key on this node: [`Group::remove`] and [`Group::set`].
//!
//! Both do three things, in this order, and return only when done:
//!
//! 1. under the key's generation lock, bump its generation, mark it in the
//!    tombstones and change the caches (drop it from both; for `set`, then
//!    store the new value in the main cache). Any load, fetch or takeover
//!    of the key that began before the bump finds a new generation when it
//!    comes to insert, and does not insert: its value still answers the
//!    callers that were waiting for it, but never enters a cache;
//! 2. detach the key's flights ([`Singleflight::forget`]), so that a get
//!    arriving after the change never joins a load that began before it;
//! 3. count it.
//!
//! After `remove(k)` returns, a get of `k` on this node loads it afresh (or
//! asks its owner); after `set(k, v)` it answers `v` until `v` expires, is
//! evicted, or `k` changes again. Neither reaches other nodes: `cache-grpc`
//! sends them to the whole mesh (the owner first, then every other node).
//!
//! [`Singleflight::forget`]: crate::singleflight::Singleflight::forget

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::Group;
use super::ttl::TtlPolicy;
use crate::Error;
use crate::stats::incr;
use crate::store::CacheKind;

impl Group {
    /// Removes `key` from this node's caches (main and hot, values and
    /// remembered NotFounds); true if anything was removed. Race-free
    /// against loads in flight: a load, peer fetch or warm takeover of
    /// `key` that began before this call still answers the callers waiting
    /// for it, but its value is not cached, and a get after this call
    /// starts a new load. A handed-over entry or takeover answer for `key`
    /// arriving within the [tombstone TTL](crate::GroupBuilder::tombstone_ttl)
    /// is refused. Idempotent. This node only: see the module docs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use cache_core::{getter_fn, GroupBuilder, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let loads = Arc::new(AtomicU32::new(0));
    /// let counter = Arc::clone(&loads);
    /// let group = GroupBuilder::new("g", 1 << 20, getter_fn(move |key: String, _ctx| {
    ///     let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    ///     async move { Ok(Loaded::new(format!("{key} v{n}"))) }
    /// }))
    /// .build()?;
    /// assert_eq!(group.get("k").await?, "k v1");
    /// assert!(group.remove("k"));
    /// assert!(!group.remove("k")); // idempotent
    /// assert_eq!(group.get("k").await?, "k v2"); // loaded again
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn remove(&self, key: &str) -> bool {
        let inner = &self.inner;
        let removed = inner.generations.invalidate(key, || {
            inner.tombstones.mark(key, Instant::now());
            inner.store.remove(key)
        });
        inner.flights.forget(key);
        inner.local_flights.forget(key);
        incr(&inner.stats.removes);
        removed
    }

    /// Stores `value` for `key` in this node's main cache, replacing what
    /// either cache held, with `ttl` to live (`None`: until evicted or
    /// changed; a zero `ttl` only removes the key), capped by the group's
    /// [`max_ttl`](crate::GroupBuilder::max_ttl) (no jitter). With a stale
    /// window, the set value is served stale and refreshed from the source
    /// like a loaded one once its TTL ends. Ordered against loads
    /// like [`remove`](Group::remove): a load of `key` that began before
    /// this call never overwrites `value`. The source is not written: once
    /// `value` expires or is evicted, the key is loaded from the source
    /// again. This node only, whoever owns `key`: `cache-grpc` sends a
    /// client's `Set` to the key's owner.
    ///
    /// [`Error::InvalidKey`] for an invalid key. A value larger than the
    /// main cache's share of the budget is not stored (the store's rule),
    /// and the key is then only removed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{getter_fn, GroupBuilder, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("g", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     Ok(Loaded::new(format!("from source: {key}")))
    /// }))
    /// .build()?;
    /// group.set("k", "written".into(), Some(Duration::from_secs(60)))?;
    /// assert_eq!(group.get("k").await?, "written");
    /// assert_eq!(group.stats().local_loads, 0);
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<(), Error> {
        let inner = &self.inner;
        inner.check_key(key)?;
        let now = Instant::now();
        let entry = match inner.opts.ttl.capped(ttl) {
            Some(ttl) if ttl.is_zero() => None,
            ttl => Some(inner.value_entry(value, TtlPolicy::after(now, ttl))),
        };
        inner.generations.invalidate(key, || {
            inner.tombstones.mark(key, now);
            inner.store.remove(key);
            if let Some(entry) = entry {
                inner.store.insert(CacheKind::Main, key, entry);
            }
        });
        inner.flights.forget(key);
        inner.local_flights.forget(key);
        incr(&inner.stats.sets);
        Ok(())
    }
}
