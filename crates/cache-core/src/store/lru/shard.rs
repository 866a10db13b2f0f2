//! One shard of an [`LruStore`](super::LruStore): a slab of nodes shared by
//! both caches and, per cache, a hash table of slab indices plus an intrusive
//! doubly linked list in recency order. Every operation is O(1).
//!
//! A shard knows nothing of the budget: it reports the sizes it links and
//! unlinks, and the store does the accounting.

use compact_str::CompactString;
use tokio::time::Instant;

use super::index::Index;
use crate::CacheStats;
use crate::store::Entry;

/// "No node": the end of a list or of the free list.
const NIL: u32 = u32::MAX;

/// One cached entry and its links in its cache's recency list.
struct Node {
    /// The key, owned once here (the hash table holds only the slab index);
    /// keys of up to 24 bytes live inside the node, so comparing them on a
    /// hit reads no other cache line.
    key: CompactString,
    /// `hash_key(key)`, kept so that evicting the node finds its index slot
    /// without rehashing the key.
    hash: u64,
    /// The payload and its expiry.
    entry: Entry,
    /// The bytes charged for this entry (`entry_size`).
    size: u64,
    /// Towards the most recently used end (`NIL` at the head).
    prev: u32,
    /// Towards the least recently used end (`NIL` at the tail).
    next: u32,
}

/// A slab slot: a node, or a link in the free list.
enum Slot {
    Occupied(Node),
    Vacant { next_free: u32 },
}

/// One cache (main or hot) inside a shard.
#[derive(Default)]
struct Lane {
    /// Slab indices of this cache's nodes, found by key hash and compared by
    /// key, so a lookup by `&str` neither allocates nor copies the key.
    table: Index,
    /// The most recently used node, or `NIL`.
    head: u32,
    /// The least recently used node (the next victim), or `NIL`.
    tail: u32,
    /// Bytes, items and evictions of this cache in this shard (`gets` and
    /// `hits` stay 0: the store counts them in striped counters, so a hit
    /// does not write a shard line the other threads will read); plain
    /// integers because they are only touched under the shard's mutex.
    stats: CacheStats,
}

impl Lane {
    fn new() -> Self {
        Lane {
            head: NIL,
            tail: NIL,
            ..Lane::default()
        }
    }
}

/// The result of [`Shard::get`].
pub(super) enum Lookup {
    /// A live entry (a clone: a reference-count increment of the value).
    Hit(Entry),
    /// No entry.
    Miss,
    /// An entry that had expired; it was dropped and its size must be
    /// released from the budget.
    Expired(u64),
}

/// The mutable state of one shard; always accessed under its mutex.
pub(super) struct Shard {
    /// Nodes of both caches; vacant slots are chained from `free`.
    slots: Vec<Slot>,
    /// First vacant slot, or `NIL`.
    free: u32,
    /// Index 0 is the main cache, 1 the hot cache (see `lane_of`).
    lanes: [Lane; 2],
}

fn node(slots: &[Slot], i: u32) -> &Node {
    match &slots[i as usize] {
        Slot::Occupied(n) => n,
        Slot::Vacant { .. } => unreachable!("lru shard: link to a vacant slot"),
    }
}

fn node_mut(slots: &mut [Slot], i: u32) -> &mut Node {
    match &mut slots[i as usize] {
        Slot::Occupied(n) => n,
        Slot::Vacant { .. } => unreachable!("lru shard: link to a vacant slot"),
    }
}

/// `a == b` for keys, inlined: most keys are short, and for them two
/// overlapping 8-byte loads (or one 4-byte pair) beat a call to `memcmp`.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// Detaches node `i` from `lane`'s list (it stays in the slab and table).
fn unlink(slots: &mut [Slot], lane: &mut Lane, i: u32) {
    let (prev, next) = {
        let n = node(slots, i);
        (n.prev, n.next)
    };
    match prev {
        NIL => lane.head = next,
        p => node_mut(slots, p).next = next,
    }
    match next {
        NIL => lane.tail = prev,
        n => node_mut(slots, n).prev = prev,
    }
}

/// Attaches node `i` at the most recently used end of `lane`'s list.
fn push_front(slots: &mut [Slot], lane: &mut Lane, i: u32) {
    let old_head = lane.head;
    {
        let n = node_mut(slots, i);
        n.prev = NIL;
        n.next = old_head;
    }
    match old_head {
        NIL => lane.tail = i,
        h => node_mut(slots, h).prev = i,
    }
    lane.head = i;
}

impl Shard {
    /// An empty shard.
    pub(super) fn new() -> Self {
        Shard {
            slots: Vec::new(),
            free: NIL,
            lanes: [Lane::new(), Lane::new()],
        }
    }

    /// Looks `key` up in `lane`. A live entry becomes the most recently
    /// used; an expired one is dropped. `now` is called only if the entry
    /// found has an expiry, so hits on entries without one never read the
    /// clock. An empty lane (often the hot cache) costs no probe. (Gets and
    /// hits are counted by the store.)
    #[inline(always)]
    pub(super) fn get(
        &mut self,
        lane: usize,
        hash: u64,
        key: &str,
        now: impl FnOnce() -> Instant,
    ) -> Lookup {
        let Shard { slots, lanes, .. } = self;
        let l = &mut lanes[lane];
        if l.head == NIL {
            return Lookup::Miss;
        }
        let Some(i) = l.table.find(hash, |i| same_key(&node(slots, i).key, key)) else {
            return Lookup::Miss;
        };
        if let Some(at) = node(slots, i).entry.expires_at
            && at <= now()
        {
            return self.expire(lane, hash, i);
        }
        if l.head != i {
            unlink(slots, l, i);
            push_front(slots, l, i);
        }
        Lookup::Hit(node(slots, i).entry.clone())
    }

    /// Drops node `i`, found expired by a lookup (off the hit path).
    #[cold]
    fn expire(&mut self, lane: usize, hash: u64, i: u32) -> Lookup {
        Lookup::Expired(self.unlink_remove(lane, hash, i))
    }

    /// Removes `key` from `lane`; returns the size it was charged.
    pub(super) fn remove(&mut self, lane: usize, hash: u64, key: &str) -> Option<u64> {
        let i = self.lanes[lane]
            .table
            .find(hash, |i| same_key(&node(&self.slots, i).key, key))?;
        Some(self.unlink_remove(lane, hash, i))
    }

    /// Links a new entry as the most recently used of `lane`. If `key` is
    /// already there (a concurrent insert won the race), the old entry is
    /// replaced and its size returned, to be released by the caller.
    pub(super) fn link(
        &mut self,
        lane: usize,
        hash: u64,
        key: &str,
        entry: Entry,
        size: u64,
    ) -> Option<u64> {
        let replaced = self.remove(lane, hash, key);
        let new = Node {
            key: CompactString::new(key),
            hash,
            entry,
            size,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free {
            NIL => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .expect("lru shard: more than u32::MAX - 1 entries in one shard");
                self.slots.push(Slot::Occupied(new));
                i
            }
            i => {
                let slot = &mut self.slots[i as usize];
                let Slot::Vacant { next_free } = *slot else {
                    unreachable!("lru shard: free list points at an occupied slot")
                };
                self.free = next_free;
                *slot = Slot::Occupied(new);
                i
            }
        };
        let Shard { slots, lanes, .. } = self;
        let l = &mut lanes[lane];
        l.table.insert(hash, i);
        push_front(slots, l, i);
        l.stats.bytes += size;
        l.stats.items += 1;
        replaced
    }

    /// Evicts the least recently used entry of `lane`, counting an eviction;
    /// returns its size, or `None` if the lane is empty.
    pub(super) fn pop_lru(&mut self, lane: usize) -> Option<u64> {
        let i = self.lanes[lane].tail;
        if i == NIL {
            return None;
        }
        let hash = node(&self.slots, i).hash;
        let size = self.unlink_remove(lane, hash, i);
        self.lanes[lane].stats.evictions += 1;
        Some(size)
    }

    /// Bytes held by `lane` in this shard.
    pub(super) fn bytes(&self, lane: usize) -> u64 {
        self.lanes[lane].stats.bytes
    }

    /// The counters of `lane` in this shard.
    pub(super) fn stats(&self, lane: usize) -> CacheStats {
        self.lanes[lane].stats
    }

    /// The keys of `lane` from most to least recently used (for tests).
    #[cfg(test)]
    pub(super) fn keys_mru(&self, lane: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = self.lanes[lane].head;
        while i != NIL {
            let n = node(&self.slots, i);
            out.push(n.key.to_string());
            i = n.next;
        }
        out
    }

    /// Unlinks node `i` (known to be in `lane` with `hash`) from the list and
    /// the table, frees its slot and returns its size.
    fn unlink_remove(&mut self, lane: usize, hash: u64, i: u32) -> u64 {
        let Shard { slots, lanes, free } = self;
        let l = &mut lanes[lane];
        unlink(slots, l, i);
        l.table.remove(hash, i);
        let old = std::mem::replace(&mut slots[i as usize], Slot::Vacant { next_free: *free });
        *free = i;
        let Slot::Occupied(n) = old else {
            unreachable!("lru shard: removed a vacant slot")
        };
        l.stats.bytes -= n.size;
        l.stats.items -= 1;
        n.size
    }
}
