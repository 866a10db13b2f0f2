//! Keys recently removed or set on this node: what a value that was
//! already travelling here when the key changed is checked against.
//!
//! Generations ([`generation.rs`](super::generation)) order a remove against
//! loads and fetches *this node* started: each reads the key's generation
//! before it begins. Two kinds of value arrive with no such reading: an
//! entry a leaving owner hands over (`Put`), read from its cache at some
//! earlier moment, and a warm takeover's answer from the key's previous
//! owner, which may not have heard of the remove yet. Both are refused for a
//! key removed or set here within the last `tombstone_ttl`: the key is
//! then loaded from the source (or kept as set), never put back from a copy
//! older than the change.
//!
//! Bounded: at most [`CAPACITY`] keys, the oldest forgotten first, and
//! entries older than the TTL dropped as new ones come. Only the mutation
//! paths and those two rare arrivals take the lock; gets never do.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// The most keys remembered per group.
pub(super) const CAPACITY: usize = 65_536;

/// Recently removed or set keys and when.
pub(super) struct Tombstones {
    ttl: Duration,
    /// Held for a map update and a few pops; no `.await`, no user code.
    inner: Mutex<Marks>,
}

#[derive(Default)]
struct Marks {
    /// The latest mark of each key.
    at: HashMap<Box<str>, Instant>,
    /// Every mark in the order made (a key marked twice is in it twice; its
    /// older entry is skipped when popped).
    order: VecDeque<(Box<str>, Instant)>,
}

impl Tombstones {
    pub(super) fn new(ttl: Duration) -> Self {
        Tombstones {
            ttl,
            inner: Mutex::new(Marks::default()),
        }
    }

    /// Remembers that `key` changed at `now`.
    pub(super) fn mark(&self, key: &str, now: Instant) {
        // Lock scope: one insert, then dropping what is too old or too many.
        let mut marks = self.inner.lock();
        marks.at.insert(key.into(), now);
        marks.order.push_back((key.into(), now));
        while let Some((oldest, at)) = marks.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.ttl;
            if !expired && marks.order.len() <= CAPACITY {
                break;
            }
            if marks.at.get(oldest) == Some(at) {
                let oldest = oldest.clone();
                marks.at.remove(&oldest);
            }
            marks.order.pop_front();
        }
    }

    /// True if `key` changed here less than the TTL before `now`.
    pub(super) fn changed_recently(&self, key: &str, now: Instant) -> bool {
        let marks = self.inner.lock();
        marks
            .at
            .get(key)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark holds for the TTL and no longer.
    #[test]
    fn a_mark_expires() {
        let t = Tombstones::new(Duration::from_secs(10));
        let now = Instant::now();
        assert!(!t.changed_recently("k", now));
        t.mark("k", now);
        assert!(t.changed_recently("k", now + Duration::from_secs(9)));
        assert!(!t.changed_recently("k", now + Duration::from_secs(10)));
    }

    /// Past the capacity the oldest keys are forgotten, and a key marked
    /// again is kept by its newer mark.
    #[test]
    fn capacity_forgets_the_oldest() {
        let t = Tombstones::new(Duration::from_secs(3600));
        let now = Instant::now();
        t.mark("first", now);
        t.mark("again", now);
        t.mark("again", now + Duration::from_millis(1));
        for i in 0..CAPACITY - 1 {
            t.mark(&format!("k{i}"), now + Duration::from_millis(2));
        }
        let later = now + Duration::from_millis(3);
        assert!(!t.changed_recently("first", later));
        assert!(t.changed_recently("again", later));
        assert!(t.inner.lock().order.len() <= CAPACITY);
    }
}
