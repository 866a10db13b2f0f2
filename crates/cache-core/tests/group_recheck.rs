//! A forced interleaving that shows why `Group` re-checks its caches inside
//! the singleflight.
//!
//! Caller B misses both caches, and is paused (by a store wrapper, in
//! `Store::get` of the main cache) before it reaches the singleflight.
//! Meanwhile caller A misses, loads the key in a flight, populates the main
//! cache, and the flight removes itself from the map. Then B resumes: it
//! finds no flight, so it starts a new one. Only the re-check of the caches
//! inside that flight sees A's value. Checked by editing
//! `src/group/load.rs`: deleting the re-check in `Inner::load` makes this
//! test fail on its counters (the re-check of the main cache in
//! `Inner::load_locally`, which guards the same race for peer fetches, then
//! catches it one step later: `cache_hits` 0, `loads_deduped` 2); deleting
//! both makes the loader run twice and the test fails on
//! `assert_eq!(count(&calls), 1)`.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use cache_core::store::{CacheKind, Entry, ShardedStore, Store};
use cache_core::{CacheStats, GroupBuilder};
use common::*;
use tokio::time::Instant;

/// A store that, once armed, pauses the next main-cache lookup after doing
/// it: it reports "paused" and blocks until told to go.
struct PausingStore {
    inner: ShardedStore,
    /// `(paused, go)`: taken by the one lookup that pauses.
    armed: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Store for PausingStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let found = self.inner.get(kind, key, now);
        if kind == CacheKind::Main {
            let armed = self.armed.lock().unwrap().take();
            if let Some((paused, go)) = armed {
                paused.send(()).unwrap();
                go.recv().unwrap();
            }
        }
        found
    }
    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        self.inner.insert(kind, key, entry)
    }
    fn remove(&self, key: &str) -> bool {
        self.inner.remove(key)
    }
    fn stats(&self, kind: CacheKind) -> CacheStats {
        self.inner.stats(kind)
    }
    fn budget(&self) -> u64 {
        self.inner.budget()
    }
}

/// B misses before A's flight populates the cache and enters the
/// singleflight after A's flight has left it: the re-check inside B's flight
/// finds A's value, so the loader runs once. Fails without the re-check.
#[test]
fn recheck_inside_the_flight_prevents_a_second_load() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (paused_tx, paused_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let store = Arc::new(PausingStore {
        inner: ShardedStore::new(1 << 20, 0.125),
        armed: Mutex::new(Some((paused_tx, go_rx))),
    });
    let calls = counter();
    let group = GroupBuilder::new("g", 1 << 20, counting_getter("v", Arc::clone(&calls)))
        .store(store)
        .build()
        .unwrap();

    // B: misses, then pauses inside its main-cache lookup.
    let handle = rt.handle().clone();
    let b = std::thread::spawn({
        let group = group.clone();
        move || {
            let _runtime = handle.enter();
            futures::executor::block_on(group.get("k"))
        }
    });
    paused_rx.recv().unwrap();

    // A: misses, loads, populates, and its flight is gone.
    let a = rt.block_on(group.get("k")).unwrap();
    assert_eq!(a, "v:k");
    assert_eq!(count(&calls), 1);
    // The flight's task publishes the outcome, then leaves the map: on a
    // multi-threaded runtime A may return just before the task has left.
    let left = std::time::Instant::now();
    while group.in_flight() != 0 {
        assert!(
            left.elapsed() < std::time::Duration::from_secs(10),
            "flight never left"
        );
        std::thread::yield_now();
    }

    // B resumes with its stale miss and starts a new flight.
    go_tx.send(()).unwrap();
    assert_eq!(b.join().unwrap().unwrap(), "v:k");
    assert_eq!(count(&calls), 1, "B's flight must find A's value");
    assert_counters(
        &group,
        &[
            ("gets", 2),
            ("cache_hits", 1),
            ("loads", 2),
            ("loads_deduped", 1),
            ("local_loads", 1),
        ],
    );
}
