//! Something the controllers remember per object (by uid) between reconciles, and forget with
//! the object: on its Delete event, and after a relist for every object no longer listed (a
//! watch that was lost sends no Delete). Nothing kept per object outlives it.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// A value per object uid.
#[derive(Debug)]
pub(crate) struct PerObject<T>(Mutex<HashMap<String, T>>);

impl<T> Default for PerObject<T> {
    fn default() -> Self {
        PerObject(Mutex::new(HashMap::new()))
    }
}

impl<T> PerObject<T> {
    /// The map, locked (a panic elsewhere while it was held poisons nothing here).
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, T>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Forgets every object but these.
    pub(crate) fn keep_only(&self, live: &HashSet<String>) {
        self.lock().retain(|uid, _| live.contains(uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_with_their_objects() {
        let m: PerObject<u32> = PerObject::default();
        m.lock().insert("a".into(), 1);
        m.lock().insert("b".into(), 2);
        m.keep_only(&["b".to_string()].into());
        assert_eq!(m.lock().keys().collect::<Vec<_>>(), ["b"]);
        m.forget("b");
        assert!(m.lock().is_empty());
    }
}
