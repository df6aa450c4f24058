//! Reverse indexes kept beside the reflector caches: a key (an owner's uid, a referenced
//! object, a managed-by mark) → the objects that carry it, updated from the same watch events
//! as the cache. A reconcile or a trigger then finds its few objects instead of scanning every
//! cached one, which made the controller's work per Rollout grow with the number of Rollouts.
//!
//! It holds names, not objects: the cache stays the one copy. It decides nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kube::Resource;
use kube::runtime::watcher::Event;

/// An object's place: (namespace, name); the namespace is empty for cluster-scoped kinds.
pub(crate) type Id = (String, String);

/// What an object is found by.
type KeysOf<K> = Box<dyn Fn(&K) -> Vec<String> + Send + Sync>;

#[derive(Default)]
struct Maps {
    by_key: HashMap<String, HashSet<Id>>,
    of_object: HashMap<Id, Vec<String>>,
}

impl Maps {
    fn insert(&mut self, id: Id, keys: Vec<String>) {
        self.remove(&id);
        for key in &keys {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(id.clone());
        }
        if !keys.is_empty() {
            self.of_object.insert(id, keys);
        }
    }

    fn remove(&mut self, id: &Id) {
        for key in self.of_object.remove(id).unwrap_or_default() {
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    live: Maps,
    /// Filled during a relist, swapped in at its end (as the reflector swaps its store).
    relisting: Option<Maps>,
}

/// An index of objects of kind `K` by the keys `keys_of` gives each.
pub(crate) struct Index<K> {
    keys_of: KeysOf<K>,
    state: RwLock<State>,
}

impl<K: Resource> Index<K> {
    pub(crate) fn new(keys_of: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) -> Self {
        Index {
            keys_of: Box::new(keys_of),
            state: RwLock::default(),
        }
    }

    /// Follows one watch event, as the reflector's writer does.
    pub(crate) fn apply(&self, event: &Event<K>) {
        let mut state = self.write();
        match event {
            Event::Apply(o) => state.live.insert(id(o), (self.keys_of)(o)),
            Event::Delete(o) => state.live.remove(&id(o)),
            Event::Init => state.relisting = Some(Maps::default()),
            Event::InitApply(o) => {
                let (id, keys) = (id(o), (self.keys_of)(o));
                state
                    .relisting
                    .get_or_insert_with(Maps::default)
                    .insert(id, keys);
            }
            Event::InitDone => {
                if let Some(fresh) = state.relisting.take() {
                    state.live = fresh;
                }
            }
        }
    }

    /// The objects carrying `key`.
    pub(crate) fn get(&self, key: &str) -> Vec<Id> {
        self.read()
            .live
            .by_key
            .get(key)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn id<K: Resource>(o: &K) -> Id {
    let meta = o.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The key of an object by its controller's uid (see [`controller_key`]).
pub(crate) fn owner_key(uid: &str) -> String {
    format!("owner/{uid}")
}

/// An owned object's key: its controller's uid, or, without a controller, its namespace (an
/// orphan some owner may adopt).
pub(crate) fn controller_key<K: Resource>(o: &K) -> String {
    let meta = o.meta();
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    match controller {
        Some(r) => owner_key(&r.uid),
        None => orphan_key(meta.namespace.as_deref().unwrap_or_default()),
    }
}

/// The key of the orphans of a namespace.
pub(crate) fn orphan_key(namespace: &str) -> String {
    format!("orphan/{namespace}")
}

/// The key of a referenced object of `kind`.
pub(crate) fn reference_key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    fn cm(name: &str, keys: &[&str]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: Some(
                    keys.iter()
                        .map(|k| (k.to_string(), String::new()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn by_labels() -> Index<ConfigMap> {
        Index::new(|c: &ConfigMap| {
            let mut keys: Vec<String> = c
                .metadata
                .labels
                .iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort();
            keys
        })
    }

    fn names(ids: Vec<Id>) -> Vec<String> {
        let mut n: Vec<String> = ids.into_iter().map(|(_, name)| name).collect();
        n.sort();
        n
    }

    #[test]
    fn follows_applies_changes_and_deletes() {
        let index = by_labels();
        index.apply(&Event::Apply(cm("a", &["x", "y"])));
        index.apply(&Event::Apply(cm("b", &["x"])));
        assert_eq!(names(index.get("x")), ["a", "b"]);
        assert_eq!(names(index.get("y")), ["a"]);
        // A change moves the object from its old keys to its new ones.
        index.apply(&Event::Apply(cm("a", &["z"])));
        assert_eq!(names(index.get("x")), ["b"]);
        assert!(index.get("y").is_empty());
        assert_eq!(names(index.get("z")), ["a"]);
        index.apply(&Event::Delete(cm("b", &["x"])));
        assert!(index.get("x").is_empty());
        assert!(
            !index.read().live.by_key.contains_key("x"),
            "empty keys are dropped"
        );
    }

    #[test]
    fn a_relist_replaces_everything_at_its_end() {
        let index = by_labels();
        index.apply(&Event::Apply(cm("gone", &["x"])));
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(cm("kept", &["x"])));
        // Until the relist is done, lookups see what was there before.
        assert_eq!(names(index.get("x")), ["gone"]);
        index.apply(&Event::InitDone);
        assert_eq!(names(index.get("x")), ["kept"]);
        assert!(
            !index
                .read()
                .live
                .of_object
                .contains_key(&("ns".into(), "gone".into()))
        );
    }

    #[test]
    fn owned_objects_are_found_by_controller_or_as_orphans() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let owned = |controller: Option<bool>| ConfigMap {
            metadata: ObjectMeta {
                namespace: Some("shop".into()),
                owner_references: Some(vec![OwnerReference {
                    uid: "u-1".into(),
                    controller,
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(controller_key(&owned(Some(true))), owner_key("u-1"));
        assert_eq!(controller_key(&owned(None)), orphan_key("shop"));
        assert_eq!(controller_key(&cm("x", &[])), orphan_key("ns"));
    }
}
