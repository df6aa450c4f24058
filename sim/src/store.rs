//! Object storage: every object as JSON, one global resourceVersion counter, and a bounded log
//! of changes from which watches resume. Mutations go through [`State::commit`] so the log,
//! the counter and the watchers never disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::registry::Registry;

/// Kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    /// `group/plural` of the object.
    pub storage_key: String,
    pub kind: EventType,
    /// The object before the change (for label-selector transitions in watches).
    pub old: Option<Arc<Value>>,
    /// The object after the change (the last state, for deletions). Shared with the store:
    /// the event log costs no copies.
    pub object: Arc<Value>,
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjectKey = (String, String);

/// Everything the API server holds.
pub struct State {
    pub registry: Registry,
    objects: BTreeMap<String, BTreeMap<ObjectKey, Arc<Value>>>,
    rv: u64,
    log: VecDeque<Arc<Event>>,
    log_capacity: usize,
    next_uid: u64,
    events: broadcast::Sender<Arc<Event>>,
    /// Owner uid → its dependents, so garbage collection and the simulated controllers find
    /// them without scanning every object.
    dependents: HashMap<String, BTreeSet<(String, ObjectKey)>>,
    /// Objects held by the `foregroundDeletion` finalizer.
    foreground: BTreeSet<(String, ObjectKey)>,
    /// Service cluster IPs and node ports handed out.
    pub services: crate::services::Allocator,
    /// Pods per Node and the pod IPs in use, kept as pods change: what the scheduler counts
    /// without reading every pod for each one it places.
    placement: Placement,
}

/// Pods per Node and pod IPs in use.
#[derive(Debug, Default)]
pub struct Placement {
    per_node: HashMap<String, usize>,
    ips: HashSet<std::net::Ipv4Addr>,
}

impl Placement {
    pub fn pods_on(&self, node: &str) -> usize {
        self.per_node.get(node).copied().unwrap_or(0)
    }

    pub fn ip_in_use(&self, ip: &std::net::Ipv4Addr) -> bool {
        self.ips.contains(ip)
    }

    fn follow(&mut self, old: Option<&Value>, new: Option<&Value>) {
        let node = |p: &Value| {
            p.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let ip = |p: &Value| {
            p.pointer("/status/podIP")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
        };
        if let Some(n) = old.and_then(node)
            && let Some(count) = self.per_node.get_mut(&n)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_node.remove(&n);
            }
        }
        if let Some(i) = old.and_then(ip) {
            self.ips.remove(&i);
        }
        if let Some(n) = new.and_then(node) {
            *self.per_node.entry(n).or_default() += 1;
        }
        if let Some(i) = new.and_then(ip) {
            self.ips.insert(i);
        }
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn in_foreground_deletion(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
}

impl State {
    pub fn new(log_capacity: usize, events: broadcast::Sender<Arc<Event>>) -> Self {
        State {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            rv: 1,
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            next_uid: 1,
            events,
            dependents: HashMap::new(),
            foreground: BTreeSet::new(),
            services: Default::default(),
            placement: Placement::default(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Events after `rv`, or `None` when `rv` is older than the log keeps (410 Gone).
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        let oldest = self.log.front().map_or(self.rv, |e| e.rv);
        if rv + 1 < oldest && rv < self.rv {
            return None;
        }
        Some(self.log.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    pub fn get(&self, storage_key: &str, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(storage_key)?.get(key).map(Arc::as_ref)
    }

    /// The stored object itself, shared (a copy is made only of what is changed).
    pub fn get_shared(&self, storage_key: &str, key: &ObjectKey) -> Option<Arc<Value>> {
        self.objects.get(storage_key)?.get(key).cloned()
    }

    /// The objects of a resource in one namespace (all, with `None`), in (namespace, name)
    /// order, shared: a range of the ordered map, not a scan of every namespace.
    pub fn list_shared<'a>(
        &'a self,
        storage_key: &str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        let objects = self.objects.get(storage_key);
        let start = (namespace.unwrap_or_default().to_string(), String::new());
        objects
            .into_iter()
            .flat_map(move |m| m.range(start.clone()..))
            .take_while(move |((ns, _), _)| namespace.is_none_or(|want| ns == want))
    }

    /// Every object of a resource, in (namespace, name) order.
    pub fn list(&self, storage_key: &str) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects
            .get(storage_key)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k, v.as_ref()))
    }

    /// The objects whose ownerReferences name `uid`, as (storage key, key).
    pub fn dependents(&self, uid: &str) -> Vec<(String, ObjectKey)> {
        self.dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Objects held by the `foregroundDeletion` finalizer.
    pub fn in_foreground_deletion(&self) -> Vec<(String, ObjectKey)> {
        self.foreground.iter().cloned().collect()
    }

    fn index(
        &mut self,
        storage_key: &str,
        key: &ObjectKey,
        old: Option<&Value>,
        new: Option<&Value>,
    ) {
        if storage_key == "/pods" {
            self.placement.follow(old, new);
        }
        let entry = (storage_key.to_string(), key.clone());
        for uid in old.map(owner_uids).unwrap_or_default() {
            if let Some(set) = self.dependents.get_mut(&uid) {
                set.remove(&entry);
                if set.is_empty() {
                    self.dependents.remove(&uid);
                }
            }
        }
        for uid in new.map(owner_uids).unwrap_or_default() {
            self.dependents
                .entry(uid)
                .or_default()
                .insert(entry.clone());
        }
        if new.is_some_and(in_foreground_deletion) {
            self.foreground.insert(entry);
        } else {
            self.foreground.remove(&entry);
        }
    }

    /// Pods per Node and pod IPs in use.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Storage keys that hold at least one object.
    pub fn storage_keys(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    pub fn new_uid(&mut self) -> String {
        self.next_uid += 1;
        let n = self.next_uid;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            n.wrapping_mul(0x9e37_79b9) as u32,
            (n >> 32) as u16,
            n & 0xfff,
            (n >> 12) & 0xfff,
            n
        )
    }

    /// Stores `object` (or deletes the key when `None`), bumps the resourceVersion, records and
    /// broadcasts the event. Returns the stored object (with its new resourceVersion).
    pub fn commit(
        &mut self,
        storage_key: &str,
        key: ObjectKey,
        object: Option<Value>,
    ) -> Option<Value> {
        self.rv += 1;
        let rv = self.rv;
        let key_for_index = key.clone();
        let bucket = self.objects.entry(storage_key.to_string()).or_default();
        let old = bucket.get(&key).cloned();
        let (kind, stored) = match object {
            Some(mut obj) => {
                set_rv(&mut obj, rv);
                let kind = if old.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                let obj = Arc::new(obj);
                bucket.insert(key, obj.clone());
                (kind, obj)
            }
            None => {
                let removed = bucket.remove(&key)?;
                let mut last = Arc::unwrap_or_clone(removed);
                set_rv(&mut last, rv);
                (EventType::Deleted, Arc::new(last))
            }
        };
        if bucket.is_empty() {
            self.objects.remove(storage_key);
        }
        let new = (kind != EventType::Deleted).then_some(stored.as_ref());
        self.index(storage_key, &key_for_index, old.as_deref(), new);
        let event = Arc::new(Event {
            rv,
            storage_key: storage_key.to_string(),
            kind,
            old,
            object: stored.clone(),
        });
        let stored = Value::clone(&stored);
        if self.log.len() >= self.log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
        Some(stored)
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_list_reads_only_its_namespace() {
        let (events, _) = broadcast::channel(16);
        let mut state = State::new(16, events);
        for (ns, name) in [("a", "x"), ("b", "x"), ("b", "y"), ("bb", "z"), ("c", "x")] {
            let key = (ns.to_string(), name.to_string());
            state.commit(
                "/configmaps",
                key,
                Some(serde_json::json!({"metadata": {"name": name}})),
            );
        }
        let names = |ns: Option<&str>| -> Vec<String> {
            state
                .list_shared("/configmaps", ns)
                .map(|((ns, name), _)| format!("{ns}/{name}"))
                .collect()
        };
        assert_eq!(names(Some("b")), ["b/x", "b/y"], "not bb's");
        assert_eq!(names(Some("c")), ["c/x"]);
        assert!(names(Some("nope")).is_empty());
        assert_eq!(names(None).len(), 5);
        assert_eq!(state.list_shared("/secrets", Some("b")).count(), 0);
    }

    #[test]
    fn placement_follows_pods_as_they_change() {
        let (events, _) = broadcast::channel(16);
        let mut state = State::new(16, events);
        let pod = |node: &str, ip: Option<&str>| {
            let mut p = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": node}});
            if let Some(ip) = ip {
                p["status"] = serde_json::json!({"podIP": ip});
            }
            p
        };
        let key = ("ns".to_string(), "p".to_string());
        state.commit("/pods", key.clone(), Some(pod("n1", None)));
        assert_eq!(state.placement().pods_on("n1"), 1);
        state.commit("/pods", key.clone(), Some(pod("n1", Some("10.0.0.2"))));
        assert_eq!(
            state.placement().pods_on("n1"),
            1,
            "an update is not a second pod"
        );
        assert!(state.placement().ip_in_use(&"10.0.0.2".parse().unwrap()));
        let other = ("ns".to_string(), "q".to_string());
        state.commit("/pods", other.clone(), Some(pod("n2", Some("10.0.1.2"))));
        state.commit("/pods", key, None);
        assert_eq!(state.placement().pods_on("n1"), 0);
        assert!(!state.placement().ip_in_use(&"10.0.0.2".parse().unwrap()));
        assert_eq!(state.placement().pods_on("n2"), 1);
        // Not a pod: not counted.
        state.commit("/configmaps", other, Some(pod("n2", Some("10.0.2.2"))));
        assert_eq!(state.placement().pods_on("n2"), 1);
    }
}
