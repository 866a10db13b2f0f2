//! The value order of a lane: its nodes from the one the shard would evict
//! last to the one it would evict next, if nothing else happened (no hit,
//! no insert). What [`Store::hottest`](crate::store::Store::hottest) walks.
//!
//! - **LRU**: the list from head to tail (most recently used first),
//!   walked lazily: a caller that stops early reads no further.
//! - **SIEVE**: from the hand (the tail when it has none) towards the head
//!   the hand evicts every unvisited node and clears the marks of the
//!   visited ones, then wraps to the tail and does the same up to where it
//!   started, then evicts the nodes it cleared, in the same order. Call `A`
//!   the nodes from the head to the hand (inclusive) and `B` those after
//!   the hand, up to the tail. It evicts `A`'s unvisited nodes (hand to
//!   head), `B`'s unvisited (tail to hand), then `A`'s visited and `B`'s
//!   visited in the same directions. Reversed, in list order from the
//!   head: `B` visited, `A` visited, `B` unvisited, `A` unvisited. That
//!   takes one walk of the whole lane, reading each mark once (a concurrent
//!   hit under the read lock may set a mark meanwhile, never clear one: a
//!   node read unvisited stays in its bucket, and appears once).

use std::sync::atomic::Ordering;

use super::Eviction;
use super::lane::{Lane, Link, NIL};

/// The slab slots of a lane's nodes in value order (see the module
/// documentation).
pub(super) enum ValueOrder<'a> {
    /// LRU: the list walked from `next`, until `NIL`.
    Lru { links: &'a [Link], next: u32 },
    /// SIEVE: the four buckets, concatenated.
    Sieve(std::vec::IntoIter<u32>),
}

impl<'a> ValueOrder<'a> {
    /// The value order of `lane`, whose links are `links`, under `eviction`.
    /// Call with the shard locked (read or write).
    pub(super) fn of(lane: &Lane, links: &'a [Link], eviction: Eviction) -> Self {
        match eviction {
            Eviction::Lru => ValueOrder::Lru {
                links,
                next: lane.head,
            },
            Eviction::Sieve => ValueOrder::Sieve(sieve_order(lane, links).into_iter()),
        }
    }
}

impl Iterator for ValueOrder<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            ValueOrder::Lru { links, next } => {
                let i = *next;
                if i == NIL {
                    return None;
                }
                *next = links[i as usize].next;
                Some(i)
            }
            ValueOrder::Sieve(order) => order.next(),
        }
    }
}

/// SIEVE's value order: `B` visited, `A` visited, `B` unvisited, `A`
/// unvisited, each in list order from the head.
fn sieve_order(lane: &Lane, links: &[Link]) -> Vec<u32> {
    let hand = if lane.hand == NIL {
        lane.tail
    } else {
        lane.hand
    };
    // [A visited, A unvisited, B visited, B unvisited]
    let mut buckets: [Vec<u32>; 4] = Default::default();
    let mut past_hand = false;
    let mut i = lane.head;
    while i != NIL {
        let link = &links[i as usize];
        let unvisited = !link.visited.load(Ordering::Relaxed);
        buckets[2 * usize::from(past_hand) + usize::from(unvisited)].push(i);
        past_hand |= i == hand;
        i = link.next;
    }
    let [a_visited, a_unvisited, b_visited, b_unvisited] = buckets;
    let mut order = b_visited;
    order.extend(a_visited);
    order.extend(b_unvisited);
    order.extend(a_unvisited);
    order
}

#[cfg(test)]
mod tests;
