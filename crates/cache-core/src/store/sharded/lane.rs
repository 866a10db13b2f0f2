//! The recency lists of a shard: per cache (main or hot) a [`Lane`] with
//! its index and the head, tail and SIEVE hand of an intrusive doubly
//! linked list whose [`Link`]s sit in an array parallel to the shard's
//! slab. Links change only under the shard's write lock; `visited` is an
//! atomic because SIEVE hits set it under the read lock.

use std::sync::atomic::AtomicBool;

use super::index::Index;
use crate::CacheStats;

/// "No node": the end of a list or of the free list.
pub(super) const NIL: u32 = u32::MAX;

/// A node's place in its cache's list (for a vacant slot, `next` chains
/// the free list). `prev` and `next` change only under the write lock;
/// `visited` is set by SIEVE hits under the read lock.
pub(super) struct Link {
    /// Towards the head: more recently used (LRU) or inserted (SIEVE);
    /// `NIL` at the head.
    pub(super) prev: u32,
    /// Towards the tail; `NIL` at the tail.
    pub(super) next: u32,
    /// SIEVE: hit since the hand last passed (unused under LRU).
    pub(super) visited: AtomicBool,
}

impl Link {
    /// In no list, not visited.
    pub(super) fn detached() -> Link {
        Link {
            prev: NIL,
            next: NIL,
            visited: AtomicBool::new(false),
        }
    }
}

/// One cache (main or hot) inside a shard.
#[derive(Default)]
pub(super) struct Lane {
    /// Slab slots of this cache's nodes, found by key hash and compared by
    /// key, so a lookup by `&str` neither allocates nor copies the key.
    pub(super) table: Index,
    /// The most recently used node, or `NIL`.
    pub(super) head: u32,
    /// The least recently used (LRU) or oldest (SIEVE) node, or `NIL`.
    pub(super) tail: u32,
    /// SIEVE's hand: where the next victim search starts (`NIL`: at the
    /// tail). Always `NIL` under LRU.
    pub(super) hand: u32,
    /// Bytes, items and evictions of this cache in this shard (`gets` and
    /// `hits` stay 0: the store counts them in striped counters, so a hit
    /// does not write a shard line the other threads will read); plain
    /// integers because they are only touched under the shard's mutex.
    pub(super) stats: CacheStats,
}

impl Lane {
    pub(super) fn new() -> Self {
        Lane {
            head: NIL,
            tail: NIL,
            hand: NIL,
            ..Lane::default()
        }
    }
}

/// Detaches node `i` from `lane`'s list (it stays in the slab and index).
pub(super) fn unlink(links: &mut [Link], lane: &mut Lane, i: u32) {
    let (prev, next) = (links[i as usize].prev, links[i as usize].next);
    match prev {
        NIL => lane.head = next,
        p => links[p as usize].next = next,
    }
    match next {
        NIL => lane.tail = prev,
        n => links[n as usize].prev = prev,
    }
}

/// Attaches node `i` at the head of `lane`'s list, not visited.
pub(super) fn push_front(links: &mut [Link], lane: &mut Lane, i: u32) {
    let old_head = lane.head;
    links[i as usize] = Link {
        next: old_head,
        ..Link::detached()
    };
    match old_head {
        NIL => lane.tail = i,
        h => links[h as usize].prev = i,
    }
    lane.head = i;
}
