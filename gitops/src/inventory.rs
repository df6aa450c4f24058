//! What a GitSync manages: each object's identity, the order objects are applied in (CRDs, then
//! Namespaces, then the rest, so every kind and namespace exists before what needs it), the
//! marks put on every applied object, and what may be pruned: only objects that are in the
//! inventory, no longer rendered, still carry this GitSync's tracking annotation and have not
//! opted out; never everything because a render came back empty, unless `allowEmpty` says so.
//! Pure: the reconciler reads the cluster and makes the writes.

use std::collections::BTreeSet;

use rollout_rs_crds::gitsync::ResourceStatus;
use rollout_rs_crds::labels::{PRUNE_ANNOTATION, TRACKED_BY_ANNOTATION};
use serde_json::Value;

/// An object's identity across renders and in the inventory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Key {
    /// The key of a rendered or live object (`None` without apiVersion, kind or name).
    pub fn of(obj: &Value) -> Option<Key> {
        let api_version = obj.get("apiVersion")?.as_str()?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Some(Key {
            group: group.to_string(),
            version: version.to_string(),
            kind: obj.get("kind")?.as_str()?.to_string(),
            namespace: obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            name: obj.pointer("/metadata/name")?.as_str()?.to_string(),
        })
    }

    pub fn from_status(r: &ResourceStatus) -> Key {
        Key {
            group: r.group.clone().unwrap_or_default(),
            version: r.version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }

    /// The inventory entry (sync status and health filled in by the caller).
    pub fn to_status(&self) -> ResourceStatus {
        ResourceStatus {
            group: (!self.group.is_empty()).then(|| self.group.clone()),
            version: self.version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            ..Default::default()
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, as messages name an object.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The same object whatever version it is served at (a version bump in Git is not a new
    /// object).
    fn same_object(&self, other: &Key) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }

    fn tier(&self) -> u8 {
        match (self.group.as_str(), self.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
            ("", "Namespace") => 1,
            _ => 2,
        }
    }
}

/// The order to apply rendered objects in, as indices: CRDs first, then Namespaces, then the
/// rest, each tier in render order.
pub fn apply_order(keys: &[Key]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // A stable sort keeps render order within a tier.
    order.sort_by_key(|&i| keys[i].tier());
    order
}

/// Marks a rendered object before it is applied: the tracking annotation of the GitSync, and
/// `namespace` when the object is namespaced and sets none.
pub fn prepare(obj: &mut Value, tracking: &str, namespace: Option<&str>) {
    let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(ns) = namespace {
        let unset = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if unset {
            metadata.insert("namespace".into(), Value::String(ns.to_string()));
        }
    }
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if !annotations.is_object() {
        *annotations = Value::Object(Default::default());
    }
    if let Some(a) = annotations.as_object_mut() {
        a.insert(
            TRACKED_BY_ANNOTATION.into(),
            Value::String(tracking.to_string()),
        );
    }
}

/// What a live object says about pruning it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveMarks {
    pub tracked_by: Option<String>,
    pub prune: Option<String>,
}

impl LiveMarks {
    pub fn of(live: &Value) -> LiveMarks {
        let annotation = |k: &str| {
            live.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        LiveMarks {
            tracked_by: annotation(TRACKED_BY_ANNOTATION),
            prune: annotation(PRUNE_ANNOTATION),
        }
    }
}

/// The prune a sync makes: what to delete, in order, and what it leaves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prune {
    /// Reverse of the apply order: the rest, then Namespaces, then CRDs.
    pub delete: Vec<Key>,
    /// Still ours but opted out (`rollout-rs.io/prune: "false"`): they stay, and keep the
    /// GitSync OutOfSync as Argo CD's `Prune=false` does.
    pub kept: Vec<Key>,
    /// No longer carrying this GitSync's tracking annotation: someone else owns them now;
    /// they leave the inventory untouched.
    pub released: Vec<Key>,
}

/// Why nothing at all is pruned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmptyRender {
    pub managed: usize,
}

impl std::fmt::Display for EmptyRender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the source rendered no objects: pruning all {} managed objects needs syncPolicy.automated.allowEmpty",
            self.managed
        )
    }
}

/// What may be pruned of `inventory` (in apply order) now that `rendered` is what Git holds.
/// `live` reads an object's marks (`None`: it is gone already).
pub fn prune(
    inventory: &[Key],
    rendered: &[Key],
    live: impl Fn(&Key) -> Option<LiveMarks>,
    tracking: &str,
    allow_empty: bool,
) -> Result<Prune, EmptyRender> {
    if rendered.is_empty() && !inventory.is_empty() && !allow_empty {
        return Err(EmptyRender {
            managed: inventory.len(),
        });
    }
    let mut out = Prune::default();
    let mut seen = BTreeSet::new();
    for key in inventory.iter().rev() {
        if rendered.iter().any(|r| r.same_object(key)) || !seen.insert(key.clone()) {
            continue;
        }
        let Some(marks) = live(key) else { continue };
        if marks.tracked_by.as_deref() != Some(tracking) {
            out.released.push(key.clone());
        } else if marks.prune.as_deref() == Some("false") {
            out.kept.push(key.clone());
        } else {
            out.delete.push(key.clone());
        }
    }
    // Namespaces and CRDs go last: deleting them first would take what is in them along.
    out.delete.sort_by_key(|k| std::cmp::Reverse(k.tier()));
    Ok(out)
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
