//! The [`Store`] trait's operations on a [`ShardedStore`]: the hit path
//! (SIEVE hits under a read lock, LRU hits under the shard's write lock),
//! inserts under the budget rule of the [parent module](super), removal,
//! and the counters.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::shard::{Listed, Lookup};
use super::{Eviction, FOUND_HOT, FOUND_MAIN, FOUND_NEITHER, ShardedStore, hash_key, lane_of};
use crate::CacheStats;
use crate::store::{CacheKind, Entry, Store, entry_size, share_value};
use crate::sync::AtomicU64;

impl Store for ShardedStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let hash = hash_key(key);
        let i = self.shard_index(hash);
        let cell = &self.shards[i];
        if self.eviction == Eviction::Sieve
            && let Some(entry) = cell.read().peek(lane_of(kind), hash, key, || now)
        {
            self.gets[lane_of(kind)].incr();
            return entry.inspect(|_| self.hits[lane_of(kind)].incr());
        }
        let found = {
            let mut shard = cell.write();
            let found = shard.get(lane_of(kind), hash, key, || now);
            if let Lookup::Expired(_) = found {
                cell.publish(&shard);
            }
            found
        };
        self.gets[lane_of(kind)].incr();
        match found {
            Lookup::Hit(entry) => {
                self.hits[lane_of(kind)].incr();
                Some(entry)
            }
            Lookup::Miss => None,
            Lookup::Expired(size) => {
                self.release(kind, size);
                None
            }
        }
    }

    /// Both lanes of a key live in the same shard: one hash, one lock, the
    /// clock read only for entries that expire, and one counter increment
    /// (the lookup's outcome; `stats` turns outcomes into per-cache gets and
    /// hits).
    #[inline]
    fn get_hot_then_main(&self, key: &str, now: &dyn Fn() -> Instant) -> Option<Entry> {
        let hash = hash_key(key);
        let cell = &self.shards[self.shard_index(hash)];
        if self.eviction == Eviction::Sieve {
            let shard = cell.read();
            let found = match shard.peek(lane_of(CacheKind::Hot), hash, key, now) {
                Some(Some(entry)) => Some((FOUND_HOT, Some(entry))),
                Some(None) => match shard.peek(lane_of(CacheKind::Main), hash, key, now) {
                    Some(Some(entry)) => Some((FOUND_MAIN, Some(entry))),
                    Some(None) => Some((FOUND_NEITHER, None)),
                    None => None,
                },
                None => None,
            };
            drop(shard);
            if let Some((outcome, entry)) = found {
                self.hot_then_main[outcome].incr();
                return entry;
            }
            // An entry has expired: drop it under the write lock below.
        }
        let mut shard = cell.write();
        let hot = shard.get(lane_of(CacheKind::Hot), hash, key, now);
        let main = match hot {
            Lookup::Hit(entry) => {
                drop(shard);
                self.hot_then_main[FOUND_HOT].incr();
                return Some(entry);
            }
            Lookup::Miss => match shard.get(lane_of(CacheKind::Main), hash, key, now) {
                Lookup::Hit(entry) => {
                    drop(shard);
                    self.hot_then_main[FOUND_MAIN].incr();
                    return Some(entry);
                }
                Lookup::Miss => {
                    drop(shard);
                    self.hot_then_main[FOUND_NEITHER].incr();
                    return None;
                }
                expired => expired,
            },
            Lookup::Expired(_) => shard.get(lane_of(CacheKind::Main), hash, key, now),
        };
        // An entry expired: publish the shard's new byte counts, release.
        cell.publish(&shard);
        drop(shard);
        self.after_expiry(hot, main)
    }

    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        let lane = lane_of(kind);
        let size = entry_size(key, entry.data.len());
        let hash = hash_key(key);
        let i = self.shard_index(hash);
        let cell = &self.shards[i];
        // 1. Drop the key's old entry in this cache, so a replacement is
        //    charged only its own size (and a too-large new value does not
        //    leave the stale one behind).
        let old = {
            let mut shard = cell.write();
            let old = shard.remove(lane, hash, key);
            if old.is_some() {
                cell.publish(&shard);
            }
            old
        };
        if let Some(old) = old {
            self.release(kind, old);
        }
        if size > self.cap(kind) {
            return;
        }
        let entry = share_value(entry);
        // 2. Reserve the bytes, evicting as needed (no lock held here).
        if !self.reserve_for(kind, size, i) {
            return;
        }
        // 3. Link. A concurrent insert of the same key may have linked first:
        //    its entry is replaced and its bytes released.
        let replaced = {
            let mut shard = cell.write();
            let replaced = shard.link(lane, hash, key, entry, size);
            cell.publish(&shard);
            replaced
        };
        if let Some(r) = replaced {
            self.release(kind, r);
        }
    }

    fn has_room(&self, kind: CacheKind, size: u64) -> bool {
        let fits = |counter: &AtomicU64, limit: u64| {
            counter
                .load(Ordering::Acquire)
                .checked_add(size)
                .is_some_and(|total| total <= limit)
        };
        let hot_fits = kind == CacheKind::Main || fits(&self.hot_used, self.hot_cap);
        size <= self.cap(kind) && hot_fits && fits(&self.used, self.budget)
    }

    fn remove(&self, key: &str) -> bool {
        let hash = hash_key(key);
        let cell = &self.shards[self.shard_index(hash)];
        let (main, hot) = {
            let mut shard = cell.write();
            let main = shard.remove(lane_of(CacheKind::Main), hash, key);
            let hot = shard.remove(lane_of(CacheKind::Hot), hash, key);
            cell.publish(&shard);
            (main, hot)
        };
        if let Some(size) = main {
            self.release(CacheKind::Main, size);
        }
        if let Some(size) = hot {
            self.release(CacheKind::Hot, size);
        }
        main.is_some() || hot.is_some()
    }

    fn stats(&self, kind: CacheKind) -> CacheStats {
        let lane = lane_of(kind);
        let mut total = CacheStats::default();
        for cell in self.shards.iter() {
            let s = cell.read().stats(lane);
            total.bytes += s.bytes;
            total.items += s.items;
            total.evictions += s.evictions;
        }
        let [in_hot, in_main, in_neither] = self.hot_then_main.each_ref().map(|c| c.get());
        total.gets = self.gets[lane].get();
        total.hits = self.hits[lane].get();
        match kind {
            CacheKind::Hot => {
                total.gets += in_hot + in_main + in_neither;
                total.hits += in_hot;
            }
            CacheKind::Main => {
                total.gets += in_main + in_neither;
                total.hits += in_main;
            }
        }
        total
    }

    fn budget(&self) -> u64 {
        self.budget
    }

    /// Each shard's lane in value order (the reverse of its eviction order:
    /// `order.rs`), the shards interleaved one entry at a time (shard 0's
    /// first, shard 1's first, ..., then each one's second), up to the
    /// first entry that would take the total past `max_bytes`. See the
    /// module documentation for the cost.
    fn hottest(&self, kind: CacheKind, max_bytes: u64, now: Instant) -> Vec<(String, Entry)> {
        let lane = lane_of(kind);
        // One shard at a time, each under its read lock only while it is
        // walked: not a snapshot of the whole store.
        let shards: Vec<_> = self
            .shards
            .iter()
            .map(|cell| {
                let (entries, truncated) = cell.read().hottest(lane, max_bytes, now);
                (entries.into_iter(), truncated)
            })
            .collect();
        interleave(shards, max_bytes)
    }
}

/// Round-robin over the shards' lists until one's next entry would not fit
/// in `max_bytes`, or one that stopped because its own next entry did not
/// fit comes up empty (that entry would not fit here either: the total
/// already holds the shard's whole list). A shard that ran out of entries
/// is passed over.
fn interleave(
    mut shards: Vec<(std::vec::IntoIter<Listed>, bool)>,
    max_bytes: u64,
) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    let mut total = 0u64;
    loop {
        let mut any = false;
        for (entries, truncated) in &mut shards {
            let Some((key, entry, size)) = entries.next() else {
                if *truncated {
                    return out;
                }
                continue;
            };
            if total + size > max_bytes {
                return out;
            }
            total += size;
            out.push((key, entry));
            any = true;
        }
        if !any {
            return out;
        }
    }
}
