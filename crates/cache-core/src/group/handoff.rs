//! Moving values between owners when the ring changes: what a leaving
//! node hands over ([`Group::hottest_owned`]), what a new owner accepts
//! ([`Group::accept_handoff`]), and the cache-only answer a previous owner
//! gives during warm takeover ([`Group::peek`]).
//!
//! None of these loads or forwards: a handed-over or peeked value is one
//! the mesh already loaded, so moving it costs no source load, and a peek
//! never makes a request travel further than one hop.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::Group;
use super::ttl::TtlPolicy;
use crate::Fetched;
use crate::store::{CacheKind, Cached};

/// The moment a node began to receive a handoff
/// ([`Group::handoff_mark`]): entries accepted with it
/// ([`Group::accept_handoff_since`]) lose to every `remove` made on this
/// node after it. Holds a copy of the group's generations (64 numbers).
#[derive(Clone)]
pub struct HandoffMark {
    /// The group it was taken of (the address of its shared state), so a
    /// mark of another group is refused.
    group: usize,
    /// The group's generations when the mark was taken.
    generations: Box<[u64]>,
}

impl std::fmt::Debug for HandoffMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffMark").finish_non_exhaustive()
    }
}

/// One value handed from a leaving owner to the key's next owner.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffEntry {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: Bytes,
    /// Time left before it expires, if it expires.
    pub ttl: Option<Duration>,
}

impl Group {
    /// The live values of this node's main cache (the keys it owns), the
    /// most valuable first ([`Store::hottest`](crate::store::Store::hottest):
    /// the reverse of the built-in store's eviction order; moka's in no
    /// order of value), up to the first whose
    /// [`entry_size`](crate::store::entry_size) would take their total past
    /// `max_bytes`, each with its remaining TTL. Negative entries are left
    /// out (they count towards the bound), and so are stale values (past
    /// their fresh time: the new owner loads them anew). The TTL is the
    /// fresh time left. Stores that cannot enumerate
    /// their entries return none. Counts no gets and changes no recency.
    pub fn hottest_owned(&self, max_bytes: u64) -> Vec<HandoffEntry> {
        let now = Instant::now();
        self.inner
            .store
            .hottest(CacheKind::Main, max_bytes, now)
            .into_iter()
            .filter(|(_, entry)| !self.inner.is_stale(entry, now))
            .filter_map(|(key, entry)| {
                let ttl = self
                    .inner
                    .fresh_until(&entry)
                    .map(|at| at.saturating_duration_since(now));
                match entry.data {
                    Cached::Value(value) => Some(HandoffEntry { key, value, ttl }),
                    Cached::NotFound => None,
                }
            })
            .collect()
    }

    /// Stores a value handed over by a peer (a leaving owner) in the main
    /// cache, as if this node had loaded it, with the TTL it was handed
    /// with. Refused (false) when the key is invalid, the value has no
    /// time left, or the key was removed or set on this node within the
    /// [tombstone TTL](crate::GroupBuilder::tombstone_ttl) (the entry was
    /// read from the leaving owner's cache before that change reached it).
    /// Past that TTL, a `remove` of the key wins only if it runs during this
    /// call. For a receiver that pulls, a
    /// [`handoff_mark`](Group::handoff_mark) taken when the handoff begins
    /// and [`accept_handoff_since`](Group::accept_handoff_since) make every
    /// remove made after the mark win, however long ago.
    ///
    /// ```
    /// use cache_core::{getter_fn, GroupBuilder, HandoffEntry, Loaded};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let group = GroupBuilder::new("g", 1 << 20, getter_fn(|key: String, _ctx| async move {
    ///     Ok(Loaded::new(format!("loaded {key}")))
    /// }))
    /// .build()?;
    /// let handed = HandoffEntry { key: "k".into(), value: "handed over".into(), ttl: None };
    /// assert!(group.accept_handoff(handed));
    /// assert_eq!(group.get("k").await?, "handed over"); // no load
    /// assert_eq!(group.stats().local_loads, 0);
    /// # Ok::<(), cache_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn accept_handoff(&self, entry: HandoffEntry) -> bool {
        let generation = self.inner.generations.current(&entry.key);
        self.accept_at(entry, generation)
    }

    /// The start of a handoff to this node: entries then accepted with
    /// [`accept_handoff_since`](Group::accept_handoff_since) are refused
    /// when their key was removed here after the mark. Take it before
    /// asking the leaving owner for its entries, so that a `remove` that
    /// reaches this node while they travel wins. A remove refuses the
    /// handed-over entries of about 1/64 of all keys (those sharing its
    /// generation stripe), not only its own: under a steady stream of
    /// removes, take marks for shorter batches.
    pub fn handoff_mark(&self) -> HandoffMark {
        HandoffMark {
            group: Arc::as_ptr(&self.inner) as usize,
            generations: self.inner.generations.snapshot(),
        }
    }

    /// [`accept_handoff`](Group::accept_handoff), also refused when the
    /// key (or one sharing its generation stripe) was removed on this node
    /// since `mark` was taken, or when `mark` is another group's.
    pub fn accept_handoff_since(&self, mark: &HandoffMark, entry: HandoffEntry) -> bool {
        if mark.group != Arc::as_ptr(&self.inner) as usize {
            return false;
        }
        let generation = self
            .inner
            .generations
            .generation_at(&mark.generations, &entry.key);
        self.accept_at(entry, generation)
    }

    /// Stores a handed-over entry if it is valid and `generation` is still
    /// its key's.
    fn accept_at(&self, entry: HandoffEntry, generation: u64) -> bool {
        let inner = &self.inner;
        if inner.check_key(&entry.key).is_err() {
            return false;
        }
        if entry.ttl.is_some_and(|ttl| ttl.is_zero()) {
            return false;
        }
        if inner
            .tombstones
            .changed_recently(&entry.key, Instant::now())
        {
            return false;
        }
        let fresh_until = TtlPolicy::after(Instant::now(), entry.ttl);
        let stored = inner.value_entry(entry.value, fresh_until);
        inner
            .generations
            .insert_if_current(&entry.key, generation, || {
                inner.store.insert(CacheKind::Main, &entry.key, stored)
            })
    }

    /// The value of `key` if this node holds it in either cache (main
    /// first), without loading, forwarding or counting a get in the
    /// group's counters: the answer to a peer's cache-only fetch during
    /// warm takeover. A remembered NotFound, an expired entry or a stale
    /// value (past its fresh time) is `None`; the TTL is the fresh time
    /// left.
    /// The lookup is a store read like any other: the cache's own `gets`
    /// and `hits` count it, and it refreshes the entry's recency (the key
    /// is in use).
    pub fn peek(&self, key: &str) -> Option<Fetched> {
        let now = Instant::now();
        let entry = [CacheKind::Main, CacheKind::Hot]
            .into_iter()
            .find_map(|kind| self.inner.store.get(kind, key, now))?;
        if self.inner.is_stale(&entry, now) {
            return None;
        }
        let ttl = self
            .inner
            .fresh_until(&entry)
            .map(|at| at.saturating_duration_since(now));
        match entry.data {
            Cached::Value(value) => Some(Fetched {
                value,
                minute_qps: None,
                ttl,
                not_found: false,
                stale: false,
            }),
            Cached::NotFound => None,
        }
    }
}
