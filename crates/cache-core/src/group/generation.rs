//! Per-key generations: how a `remove` that races an in-flight load keeps
//! that load from populating the cache.

use parking_lot::Mutex;
use xxhash_rust::xxh3::xxh3_64;

/// Number of stripes. Keys share a stripe by hash; a removal therefore also
/// invalidates in-flight loads of the other keys of its stripe, which only
/// costs them their cache insert (never correctness).
const STRIPES: usize = 64;

/// A generation counter per stripe of keys.
///
/// A load reads its key's generation before it starts and inserts its result
/// only if the generation is unchanged, with the check and the insert under
/// the stripe's lock. `remove` bumps the generation and clears the caches
/// under that same lock. So either the insert happens before the removal
/// (and the removal clears it) or the load sees the new generation and does
/// not insert: a value loaded before a `remove` never survives it.
pub(super) struct Generations {
    /// Each mutex guards its stripe's counter and orders inserts against
    /// removals of that stripe's keys. Held only for a compare and a store
    /// call (no `.await`, no user code).
    stripes: Box<[Mutex<u64>]>,
}

impl Generations {
    pub(super) fn new() -> Self {
        Generations {
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
        }
    }

    fn stripe_index(&self, key: &str) -> usize {
        (xxh3_64(key.as_bytes()) % STRIPES as u64) as usize
    }

    fn stripe(&self, key: &str) -> &Mutex<u64> {
        &self.stripes[self.stripe_index(key)]
    }

    /// The generation of `key`'s stripe now; read it before loading.
    pub(super) fn current(&self, key: &str) -> u64 {
        *self.stripe(key).lock()
    }

    /// Every stripe's generation now, in stripe order: a mark that
    /// [`generation_at`](Self::generation_at) reads a key's generation
    /// from later (a handoff: entries that arrive after the mark lose to
    /// removes made after it).
    pub(super) fn snapshot(&self) -> Box<[u64]> {
        self.stripes.iter().map(|stripe| *stripe.lock()).collect()
    }

    /// `key`'s generation in a [`snapshot`](Self::snapshot) of these
    /// generations.
    pub(super) fn generation_at(&self, snapshot: &[u64], key: &str) -> u64 {
        snapshot[self.stripe_index(key)]
    }

    /// Runs `insert` if `key`'s generation is still `generation`; true if
    /// it ran.
    pub(super) fn insert_if_current(
        &self,
        key: &str,
        generation: u64,
        insert: impl FnOnce(),
    ) -> bool {
        // Lock scope: the compare and the insert, atomically w.r.t. `remove`.
        let current = self.stripe(key).lock();
        if *current == generation {
            insert();
            true
        } else {
            false
        }
    }

    /// Bumps `key`'s generation, then runs `remove`, both under the lock.
    pub(super) fn invalidate<R>(&self, key: &str, remove: impl FnOnce() -> R) -> R {
        // Lock scope: the bump and the removal.
        let mut current = self.stripe(key).lock();
        *current = current.wrapping_add(1);
        remove()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An insert is refused once the key's generation has moved on, and
    /// allowed again with the new generation.
    #[test]
    fn invalidation_refuses_stale_inserts() {
        let g = Generations::new();
        let before = g.current("k");
        assert!(g.invalidate("k", || true));
        let mut inserted = 0;
        assert!(!g.insert_if_current("k", before, || inserted += 1));
        assert!(g.insert_if_current("k", g.current("k"), || inserted += 1));
        assert_eq!(inserted, 1);
    }

    /// A snapshot holds each key's generation as of when it was taken: a
    /// removal after it refuses inserts made with it, one before it does
    /// not.
    #[test]
    fn a_snapshot_remembers_generations() {
        let g = Generations::new();
        assert_ne!(g.stripe_index("before"), g.stripe_index("after"));
        g.invalidate("before", || ());
        let mark = g.snapshot();
        assert_eq!(mark.len(), STRIPES);
        assert_eq!(g.generation_at(&mark, "before"), g.current("before"));
        g.invalidate("after", || ());
        let stale = g.generation_at(&mark, "after");
        assert!(!g.insert_if_current("after", stale, || ()));
        assert!(g.insert_if_current("before", g.generation_at(&mark, "before"), || ()));
    }
}
