//! The key index of one LRU lane: an open-addressing hash table (linear
//! probing, backward-shift deletion) from a key's hash to its slab index.
//!
//! Each slot is one `u64`: the low 32 bits of the key's hash (the
//! *fingerprint*, which also gives the slot the entry wants, so the table
//! can grow and delete without rehashing keys) and the slab index + 1 (0
//! marks an empty slot). A lookup that hits reads one slot and, unless two
//! keys share a fingerprint, compares one key: one cache line of index per
//! get, where a Swiss table reads a control group and a bucket.
//!
//! The shard is picked by the hash's upper 32 bits, so the fingerprint bits
//! are independent of the shard and spread keys evenly over the slots.

/// An empty slot.
const EMPTY: u64 = 0;

/// Smallest non-zero capacity (slots).
const MIN_CAPACITY: usize = 8;

/// The index of one lane: fingerprint -> slab index, keys compared by the
/// caller.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Slots; the length is zero or a power of two.
    slots: Vec<u64>,
    /// Occupied slots.
    len: usize,
}

/// The slot value for `fingerprint` and slab index `i`.
#[inline(always)]
fn pack(fingerprint: u32, i: u32) -> u64 {
    (u64::from(fingerprint) << 32) | (u64::from(i) + 1)
}

/// The fingerprint stored in a non-empty slot.
#[inline(always)]
fn fingerprint_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

/// The slab index stored in a non-empty slot.
#[inline(always)]
fn index_of(slot: u64) -> u32 {
    (slot as u32).wrapping_sub(1)
}

/// The fingerprint of a key's 64-bit hash.
#[inline(always)]
fn fingerprint(hash: u64) -> u32 {
    hash as u32
}

impl Index {
    /// Number of keys held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// `mask` of the slot array (its length - 1); only valid when non-empty.
    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slab index of the key with `hash` for which `eq` holds, if any.
    #[inline(always)]
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let fp = fingerprint(hash);
        let mask = self.mask();
        let mut pos = fp as usize & mask;
        loop {
            let slot = self.slots[pos];
            if slot == EMPTY {
                return None;
            }
            if fingerprint_of(slot) == fp && eq(index_of(slot)) {
                return Some(index_of(slot));
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Adds slab index `i` for a key with `hash` (the caller knows the key
    /// is not present).
    pub(super) fn insert(&mut self, hash: u64, i: u32) {
        // Grow at 3/4 load: linear probing stays short below that.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        self.place(pack(fingerprint(hash), i));
        self.len += 1;
    }

    /// Removes slab index `i`, stored under `hash`; false if absent.
    pub(super) fn remove(&mut self, hash: u64, i: u32) -> bool {
        if self.len == 0 {
            return false;
        }
        let target = pack(fingerprint(hash), i);
        let mask = self.mask();
        let mut pos = fingerprint(hash) as usize & mask;
        loop {
            match self.slots[pos] {
                EMPTY => return false,
                slot if slot == target => break,
                _ => pos = (pos + 1) & mask,
            }
        }
        // Backward-shift deletion: pull later entries of the probe run into
        // the hole when their wanted slot is not after the hole (cyclically),
        // so no tombstones are needed and lookups stay short.
        let mut hole = pos;
        let mut next = (hole + 1) & mask;
        loop {
            let slot = self.slots[next];
            if slot == EMPTY {
                break;
            }
            let wanted = fingerprint_of(slot) as usize & mask;
            // Distance from the wanted slot to `next` vs to the hole.
            if (next.wrapping_sub(wanted) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = slot;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Puts a packed slot into the first free slot of its probe run (room
    /// is guaranteed by the load factor).
    fn place(&mut self, packed: u64) {
        let mask = self.mask();
        let mut pos = fingerprint_of(packed) as usize & mask;
        while self.slots[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.slots[pos] = packed;
    }

    /// Doubles the slot array (or allocates the first one) and re-places
    /// every entry from its stored fingerprint.
    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; capacity]);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            self.place(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::Index;

    /// Random inserts and removes, with hashes drawn from a small set so
    /// that fingerprints collide and probe runs wrap and merge, agree with a
    /// `HashMap` model on every lookup.
    #[test]
    fn agrees_with_a_map() {
        proptest!(ProptestConfig::with_cases(256), |(ops in prop::collection::vec((0u32..200, any::<bool>(), 0u64..24), 1..400))| {
            let mut index = Index::default();
            // slab index -> hash
            let mut model: HashMap<u32, u64> = HashMap::new();
            for (i, insert, h) in ops {
                // Few distinct low bits: heavy collisions; the high bits vary.
                let hash = (h << 40) | (h % 5);
                if insert && !model.contains_key(&i) {
                    index.insert(hash, i);
                    model.insert(i, hash);
                } else if let Some(old) = model.remove(&i) {
                    prop_assert!(index.remove(old, i));
                }
                prop_assert_eq!(index.len(), model.len());
                for (&j, &hash) in &model {
                    prop_assert_eq!(index.find(hash, |k| k == j), Some(j));
                }
                prop_assert_eq!(index.find(hash, |_| false), None);
            }
        });
    }

    /// Removing an absent entry changes nothing.
    #[test]
    fn remove_absent() {
        let mut index = Index::default();
        assert!(!index.remove(7, 1));
        index.insert(7, 1);
        assert!(!index.remove(7, 2));
        assert_eq!(index.find(7, |i| i == 1), Some(1));
    }
}
