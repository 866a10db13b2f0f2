//! The group's handle on its [`Store`]: the built-in [`ShardedStore`] is held
//! directly, so the hit path calls it statically (and inlines it into
//! `get`); any other store goes through `dyn Store`.

use std::ops::Deref;
use std::sync::Arc;

use tokio::time::Instant;

use crate::store::{Entry, ShardedStore, Store};

/// A group's store. The size difference between the variants does not
/// matter: there is one per group, inside the group's `Arc`, and boxing the
/// LRU would put a pointer chase back on every hit.
#[allow(clippy::large_enum_variant)]
pub(super) enum GroupStore {
    /// The default store, dispatched statically.
    Lru(ShardedStore),
    /// A built-in alternative or a user's store.
    Other(Arc<dyn Store>),
}

impl GroupStore {
    /// [`Store::get_hot_then_main`], without a virtual call for the LRU.
    #[inline]
    pub(super) fn get_hot_then_main(&self, key: &str, now: &dyn Fn() -> Instant) -> Option<Entry> {
        match self {
            GroupStore::Lru(store) => store.get_hot_then_main(key, now),
            GroupStore::Other(store) => store.get_hot_then_main(key, now),
        }
    }
}

impl Deref for GroupStore {
    type Target = dyn Store;

    fn deref(&self) -> &(dyn Store + 'static) {
        match self {
            GroupStore::Lru(store) => store,
            GroupStore::Other(store) => &**store,
        }
    }
}
