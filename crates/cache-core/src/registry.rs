//! An explicit set of groups by name (no global state).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::{Error, Group};

/// Groups by name. Cheap to clone: clones share the same set.
///
/// ```
/// use cache_core::{getter_fn, GroupBuilder, Loaded, Registry};
///
/// let registry = Registry::new();
/// let group = GroupBuilder::new("colors", 1 << 20, getter_fn(|k: String, _| async move {
///     Ok(Loaded::new(k))
/// }))
/// .build()
/// .unwrap();
/// registry.add(group.clone()).unwrap();
/// assert!(registry.add(group).is_err()); // a duplicate name is an error
/// assert!(registry.get("colors").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Guarded by a read-write lock: lookups (every request) vastly outnumber
    /// additions (start-up). Never held across an `.await`.
    groups: Arc<RwLock<BTreeMap<String, Group>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `group`; fails with [`Error::DuplicateGroup`] if its name is taken.
    pub fn add(&self, group: Group) -> Result<(), Error> {
        let mut groups = self.groups.write();
        if groups.contains_key(group.name()) {
            return Err(Error::DuplicateGroup(group.name().to_owned()));
        }
        groups.insert(group.name().to_owned(), group);
        Ok(())
    }

    /// The group called `name`.
    pub fn get(&self, name: &str) -> Option<Group> {
        self.groups.read().get(name).cloned()
    }

    /// The group called `name`, or [`Error::UnknownGroup`].
    pub fn require(&self, name: &str) -> Result<Group, Error> {
        self.get(name)
            .ok_or_else(|| Error::UnknownGroup(name.to_owned()))
    }

    /// Every group, ordered by name.
    pub fn groups(&self) -> Vec<Group> {
        self.groups.read().values().cloned().collect()
    }
}
