//! Reserving bytes for an insert and evicting victims until they fit: the
//! part of [`ShardedStore`] that keeps the budget (the rule is in the parent
//! module's documentation).

use std::sync::atomic::Ordering;

use super::{ShardedStore, lane_of};
use crate::store::CacheKind;
use crate::sync::{self, AtomicU64};

/// How many times a reservation that finds no victim at all yields and
/// retries before giving up on storing the entry. The concurrency models
/// (feature `shuttle`) give up at the first round that finds no victim:
/// the rule is the same for any count, and their schedules would almost
/// never keep the other inserts from linking through 16 yields, so the
/// give-up path would go unexplored.
const IDLE_RETRIES: u32 = if cfg!(feature = "shuttle") { 0 } else { 16 };

impl ShardedStore {
    /// Returns `size` bytes of `kind` to the budget; called only after the
    /// entry has been unlinked.
    pub(super) fn release(&self, kind: CacheKind, size: u64) {
        if kind == CacheKind::Hot {
            self.hot_used.fetch_sub(size, Ordering::AcqRel);
        }
        self.used.fetch_sub(size, Ordering::AcqRel);
    }

    /// Raises `counter` by `size` if that keeps it `<= limit`, calling
    /// `evict` (which frees at least one entry, or returns false) until it
    /// fits. Returns false if nothing could be evicted for a while.
    fn reserve(
        &self,
        counter: &AtomicU64,
        limit: u64,
        size: u64,
        mut evict: impl FnMut() -> bool,
    ) -> bool {
        let mut idle = 0;
        let mut cur = counter.load(Ordering::Acquire);
        loop {
            if cur.checked_add(size).is_some_and(|total| total <= limit) {
                match counter.compare_exchange_weak(
                    cur,
                    cur + size,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return true,
                    Err(actual) => {
                        cur = actual;
                        continue;
                    }
                }
            }
            if !evict() {
                idle += 1;
                if idle > IDLE_RETRIES {
                    return false;
                }
                sync::yield_now();
            }
            cur = counter.load(Ordering::Acquire);
        }
    }

    /// Which cache gives up an entry when the total budget is full: the hot
    /// cache if it holds more than its fair share of the bytes in use.
    fn over_share(&self) -> CacheKind {
        let used = self.used.load(Ordering::Acquire) as f64;
        let hot = self.hot_used.load(Ordering::Acquire) as f64;
        if hot > self.hot_fraction * used {
            CacheKind::Hot
        } else {
            CacheKind::Main
        }
    }

    /// Evicts the least recently used entry of `kind` from `own` if that
    /// shard holds at least its average share of the cache, else from the
    /// fullest shard (then any non-empty one). Returns false if the cache
    /// is empty everywhere.
    fn evict_one(&self, kind: CacheKind, own: usize) -> bool {
        let lane = lane_of(kind);
        let n = self.shards.len();
        let mut total: u128 = 0;
        let mut fullest = (0u64, own);
        for (i, cell) in self.shards.iter().enumerate() {
            let b = cell.bytes[lane].load(Ordering::Relaxed);
            total += u128::from(b);
            if b > fullest.0 {
                fullest = (b, i);
            }
        }
        let own_bytes = u128::from(self.shards[own].bytes[lane].load(Ordering::Relaxed));
        let first = if own_bytes > 0 && own_bytes * n as u128 >= total {
            own
        } else {
            fullest.1
        };
        (0..n)
            .map(|k| (first + k) % n)
            .any(|i| self.evict_from(i, kind))
    }

    /// Pops the least recently used entry of `kind` in shard `i`.
    fn evict_from(&self, i: usize, kind: CacheKind) -> bool {
        let cell = &self.shards[i];
        let popped = {
            let mut shard = cell.write();
            let popped = shard.pop_victim(lane_of(kind));
            if popped.is_some() {
                cell.publish(&shard);
            }
            popped
        };
        match popped {
            Some(size) => {
                self.release(kind, size);
                true
            }
            None => false,
        }
    }

    /// Reserves `size` bytes for an entry of `kind` (see the module doc).
    pub(super) fn reserve_for(&self, kind: CacheKind, size: u64, own: usize) -> bool {
        if kind == CacheKind::Hot
            && !self.reserve(&self.hot_used, self.hot_cap, size, || {
                self.evict_one(CacheKind::Hot, own)
            })
        {
            return false;
        }
        let reserved = self.reserve(&self.used, self.budget, size, || {
            let victim = self.over_share();
            let other = match victim {
                CacheKind::Main => CacheKind::Hot,
                CacheKind::Hot => CacheKind::Main,
            };
            self.evict_one(victim, own) || self.evict_one(other, own)
        });
        if !reserved && kind == CacheKind::Hot {
            self.hot_used.fetch_sub(size, Ordering::AcqRel);
        }
        reserved
    }
}
