//! One shard of an [`ShardedStore`](super::ShardedStore): a slab of nodes shared by
//! both caches and, per cache, an index from key hash to slab slot plus an
//! intrusive doubly linked list in recency order. Every operation is O(1).
//!
//! A node is what a hit reads, and nothing else: the key (inline up to 24
//! bytes), the payload and its expiry, in one 64-byte, 64-aligned slot, so a
//! hit on a cold key costs one cache line of node. The recency links live
//! in a parallel array of 8-byte pairs (a relink touches only those), and
//! the charged size and the hash are recomputed when needed instead of
//! stored.
//!
//! A shard knows nothing of the budget: it reports the sizes it links and
//! unlinks, and the store does the accounting.

use std::sync::atomic::Ordering;
use std::time::Duration;

use compact_str::CompactString;
use tokio::time::Instant;

use super::lane::{Lane, Link, NIL, push_front, unlink};
use super::order::ValueOrder;
use super::{Eviction, hash_key};
use crate::CacheStats;
use crate::store::{Cached, Entry, entry_size};

/// One cached entry: exactly one cache line.
#[repr(align(64))]
struct Node {
    /// The key, owned once here (the index holds only the slab slot); keys
    /// of up to 24 bytes live inside the node, so comparing them on a hit
    /// reads no other cache line.
    key: CompactString,
    /// The payload.
    data: Cached,
    /// When the entry expires, as [`Expiry`] encodes it.
    expires: Expiry,
}

// The layout the module documentation promises (a `None` slot included).
const _: () = assert!(std::mem::size_of::<Option<Node>>() == 64);

/// An expiry in 8 bytes: 0 for never, else 1 + nanoseconds since the
/// shard's epoch (an `Option<Instant>` takes 16). Deadlines before the
/// epoch are stored as the epoch itself: already past.
#[derive(Clone, Copy)]
struct Expiry(u64);

impl Expiry {
    fn encode(at: Option<Instant>, epoch: Instant) -> Self {
        Expiry(at.map_or(0, |at| {
            let nanos = at.saturating_duration_since(epoch).as_nanos();
            u64::try_from(nanos)
                .unwrap_or(u64::MAX - 1)
                .min(u64::MAX - 1)
                + 1
        }))
    }

    #[inline(always)]
    fn decode(self, epoch: Instant) -> Option<Instant> {
        match self.0 {
            0 => None,
            n => Some(epoch + Duration::from_nanos(n - 1)),
        }
    }
}

/// What [`Shard::find_live`] found.
enum Found {
    /// A live entry at slot `.0`, cloned.
    Live(u32, Entry),
    /// An expired entry at this slot.
    Expired(u32),
    /// No entry.
    Missing,
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

/// An entry listed by [`Shard::hottest`]: its key, a clone of it and the
/// bytes it is charged.
pub(super) type Listed = (String, Entry, u64);

/// The mutable state of one shard; always accessed under its mutex.
pub(super) struct Shard {
    /// Nodes of both caches; `None` for vacant slots, chained from `free`
    /// through `links[i].next`.
    slots: Vec<Option<Node>>,
    /// Recency links, parallel to `slots`.
    links: Vec<Link>,
    /// First vacant slot, or `NIL`.
    free: u32,
    /// Index 0 is the main cache, 1 the hot cache (see `lane_of`).
    lanes: [Lane; 2],
    /// The origin of the nodes' [`Expiry`] values.
    epoch: Instant,
    /// How hits are recorded and victims chosen.
    eviction: Eviction,
}

#[inline(always)]
fn node(slots: &[Option<Node>], i: u32) -> &Node {
    match &slots[i as usize] {
        Some(n) => n,
        None => unreachable!("store shard: link to a vacant slot"),
    }
}

/// The bytes charged for a node (`entry_size`, recomputed: it only depends
/// on what the node holds).
fn size_of_node(n: &Node) -> u64 {
    entry_size(&n.key, n.data.len())
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

impl Shard {
    /// An empty shard.
    pub(super) fn new(eviction: Eviction) -> Self {
        Shard {
            slots: Vec::new(),
            links: Vec::new(),
            free: NIL,
            lanes: [Lane::new(), Lane::new()],
            epoch: Instant::now(),
            eviction,
        }
    }

    /// Switches the eviction policy (see [`ShardedStore::with_eviction`]).
    ///
    /// [`ShardedStore::with_eviction`]: super::ShardedStore::with_eviction
    pub(super) fn set_eviction(&mut self, eviction: Eviction) {
        self.eviction = eviction;
        for lane in &mut self.lanes {
            lane.hand = NIL;
        }
        for link in &mut self.links {
            *link.visited.get_mut() = false;
        }
    }

    /// Finds `key` in `lane` and clones its entry if live, changing
    /// nothing: the lookup shared by [`get`](Self::get) (write lock) and
    /// [`peek`](Self::peek) (read lock). `now` is called only if the entry
    /// found has an expiry, so hits on entries without one never read the
    /// clock; an empty lane (often the hot cache) costs no probe.
    #[inline(always)]
    fn find_live(&self, lane: usize, hash: u64, key: &str, now: impl FnOnce() -> Instant) -> Found {
        let l = &self.lanes[lane];
        if l.head == NIL {
            return Found::Missing;
        }
        let Some(i) = l
            .table
            .find(hash, |i| same_key(&node(&self.slots, i).key, key))
        else {
            return Found::Missing;
        };
        let n = node(&self.slots, i);
        let expires_at = n.expires.decode(self.epoch);
        if let Some(at) = expires_at
            && at <= now()
        {
            return Found::Expired(i);
        }
        Found::Live(
            i,
            Entry {
                data: n.data.clone(),
                expires_at,
            },
        )
    }

    /// Looks `key` up in `lane`. A live entry becomes the most recently
    /// used (LRU) or is marked visited (SIEVE); an expired one is dropped.
    /// (Gets and hits are counted by the store.)
    #[inline(always)]
    pub(super) fn get(
        &mut self,
        lane: usize,
        hash: u64,
        key: &str,
        now: impl FnOnce() -> Instant,
    ) -> Lookup {
        match self.find_live(lane, hash, key, now) {
            Found::Missing => Lookup::Miss,
            Found::Expired(i) => self.expire(lane, hash, i),
            Found::Live(i, entry) => {
                let Shard {
                    links,
                    lanes,
                    eviction,
                    ..
                } = self;
                match eviction {
                    Eviction::Lru => {
                        let l = &mut lanes[lane];
                        if l.head != i {
                            unlink(links, l, i);
                            push_front(links, l, i);
                        }
                    }
                    Eviction::Sieve => *links[i as usize].visited.get_mut() = true,
                }
                Lookup::Hit(entry)
            }
        }
    }

    /// A SIEVE hit under the read lock: `Some(Some(entry))` for a live entry
    /// (marked visited: an atomic store, only the first time), `Some(None)`
    /// for no entry, and `None` when the entry found has expired and must be
    /// dropped under the write lock ([`get`](Self::get)).
    #[inline(always)]
    pub(super) fn peek(
        &self,
        lane: usize,
        hash: u64,
        key: &str,
        now: impl FnOnce() -> Instant,
    ) -> Option<Option<Entry>> {
        match self.find_live(lane, hash, key, now) {
            Found::Missing => Some(None),
            Found::Expired(_) => None,
            Found::Live(i, entry) => {
                let visited = &self.links[i as usize].visited;
                if !visited.load(Ordering::Relaxed) {
                    visited.store(true, Ordering::Relaxed);
                }
                Some(Some(entry))
            }
        }
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

    /// Links a new entry as the most recently used of `lane`; `size` is its
    /// `entry_size`. If `key` is already there (a concurrent insert won the
    /// race), the old entry is replaced and its size returned, to be
    /// released by the caller.
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
            data: entry.data,
            expires: Expiry::encode(entry.expires_at, self.epoch),
        };
        debug_assert_eq!(size_of_node(&new), size, "size is entry_size");
        let i = match self.free {
            NIL => {
                let i = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .expect("store shard: more than u32::MAX - 1 entries in one shard");
                self.slots.push(Some(new));
                self.links.push(Link::detached());
                i
            }
            i => {
                let slot = &mut self.slots[i as usize];
                assert!(slot.is_none(), "store shard: free list points at a node");
                *slot = Some(new);
                self.free = self.links[i as usize].next;
                i
            }
        };
        let Shard { links, lanes, .. } = self;
        let l = &mut lanes[lane];
        l.table.insert(hash, i);
        push_front(links, l, i);
        l.stats.bytes += size;
        l.stats.items += 1;
        replaced
    }

    /// Evicts one entry of `lane`, counting an eviction: the least recently
    /// used (LRU), or the first unvisited one from the hand towards the
    /// head, clearing visited marks on the way and wrapping to the tail
    /// (SIEVE). Returns its size, or `None` if the lane is empty.
    pub(super) fn pop_victim(&mut self, lane: usize) -> Option<u64> {
        let l = &self.lanes[lane];
        if l.tail == NIL {
            return None;
        }
        let victim = match self.eviction {
            Eviction::Lru => l.tail,
            Eviction::Sieve => {
                let mut i = if l.hand == NIL { l.tail } else { l.hand };
                // Ends within two passes: every visited mark met is cleared.
                while *self.links[i as usize].visited.get_mut() {
                    *self.links[i as usize].visited.get_mut() = false;
                    i = match self.links[i as usize].prev {
                        NIL => l.tail,
                        prev => prev,
                    };
                }
                // Unlinking the victim moves the hand on to its `prev`.
                self.lanes[lane].hand = i;
                i
            }
        };
        let hash = hash_key(&node(&self.slots, victim).key);
        let size = self.unlink_remove(lane, hash, victim);
        self.lanes[lane].stats.evictions += 1;
        Some(size)
    }

    /// The live entries of `lane` in [value order](super::order) (most
    /// valuable first), with their sizes, until the next one would take
    /// their total past `max_bytes`; and whether it stopped for that reason
    /// (true) rather than for lack of entries. Entries expired at `now` are
    /// skipped; nothing is counted, marked, moved or dropped (a read lock
    /// is enough).
    pub(super) fn hottest(&self, lane: usize, max_bytes: u64, now: Instant) -> (Vec<Listed>, bool) {
        let mut out = Vec::new();
        let mut total = 0u64;
        for i in ValueOrder::of(&self.lanes[lane], &self.links, self.eviction) {
            let n = node(&self.slots, i);
            let expires_at = n.expires.decode(self.epoch);
            if expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            let size = size_of_node(n);
            if total.saturating_add(size) > max_bytes {
                return (out, true);
            }
            total += size;
            let entry = Entry {
                data: n.data.clone(),
                expires_at,
            };
            out.push((n.key.to_string(), entry, size));
        }
        (out, false)
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
            out.push(node(&self.slots, i).key.to_string());
            i = self.links[i as usize].next;
        }
        out
    }

    /// Unlinks node `i` (known to be in `lane` with `hash`) from the list and
    /// the index, frees its slot and returns its size.
    fn unlink_remove(&mut self, lane: usize, hash: u64, i: u32) -> u64 {
        let Shard {
            slots,
            links,
            lanes,
            free,
            ..
        } = self;
        let l = &mut lanes[lane];
        if l.hand == i {
            // SIEVE: the hand moves on to the next node towards the head.
            l.hand = links[i as usize].prev;
        }
        unlink(links, l, i);
        l.table.remove(hash, i);
        let n = slots[i as usize]
            .take()
            .expect("store shard: removed a vacant slot");
        links[i as usize] = Link {
            next: *free,
            ..Link::detached()
        };
        *free = i;
        let size = size_of_node(&n);
        l.stats.bytes -= size;
        l.stats.items -= 1;
        size
    }
}
