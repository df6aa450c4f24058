//! Simulated Deployment controller: one ReplicaSet per pod template (`<deployment>-<hash>`,
//! labelled `pod-template-hash`), the current one scaled up to `spec.replicas` and older ones
//! down to zero, and Deployment status summed from its ReplicaSets. An update is paced as the
//! real controller paces it ([`rolling_plan`]): never more than `replicas + maxSurge` pods, never
//! fewer than `replicas - maxUnavailable` available; `Recreate` empties the old ReplicaSets
//! before the new one grows. A paused Deployment is scaled but not rolled.
//!
//! Revisions are kept as the real controller keeps them, since `kubectl rollout history` reads
//! nothing else: the current ReplicaSet carries `deployment.kubernetes.io/revision` (one more
//! than any older one; a template rolled back to gets a new number and remembers its old ones
//! in `revision-history`) and the Deployment's own annotations (`kubernetes.io/change-cause`
//! among them); the Deployment carries its current revision.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::api::Server;
use crate::ops::{self, Part, WriteOptions, meta_str};

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations the real controller does not copy to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

fn revision(rs: &Value) -> u64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// `maxSurge` as a number of pods: a percentage of `replicas` rounded up, 25% by default, and
/// none for the Recreate strategy.
fn max_surge(d: &Value, replicas: i64) -> i64 {
    rolling_limit(d, "maxSurge", replicas, Round::Up).unwrap_or(0)
}

/// `maxUnavailable` as a number of pods: a percentage of `replicas` rounded down, 25% by
/// default, and all of them for the Recreate strategy.
fn max_unavailable(d: &Value, replicas: i64) -> i64 {
    rolling_limit(d, "maxUnavailable", replicas, Round::Down).unwrap_or(replicas)
}

#[derive(Clone, Copy)]
enum Round {
    Up,
    Down,
}

/// A `rollingUpdate` limit in pods; `None` for the Recreate strategy.
fn rolling_limit(d: &Value, field: &str, replicas: i64, round: Round) -> Option<i64> {
    if d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return None;
    }
    Some(
        match d.pointer(&format!("/spec/strategy/rollingUpdate/{field}")) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => percent_of(s, replicas, round),
            _ => percent_of("25%", replicas, round),
        },
    )
}

fn percent_of(s: &str, replicas: i64, round: Round) -> i64 {
    match (s.strip_suffix('%').map(str::parse::<i64>), round) {
        (Some(Ok(p)), Round::Up) => (p * replicas + 99) / 100,
        (Some(Ok(p)), Round::Down) => p * replicas / 100,
        _ => s.parse().unwrap_or(0),
    }
}

/// A ReplicaSet's counts as the pacing reads them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Counts {
    /// `spec.replicas`.
    spec: i64,
    /// `status.availableReplicas`.
    available: i64,
}

fn counts(rs: &Value) -> Counts {
    Counts {
        spec: rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        available: count(rs, "availableReplicas"),
    }
}

/// One step of a rollout, as the real controller takes it: the new ReplicaSet's size and each
/// old one's (oldest first, as given). `surge` and `unavailable` are already in pods. The new
/// one grows while the total stays within `desired + surge`; old pods that are not available go
/// next, then available ones while `desired - unavailable` stay available. Recreate (`recreate`)
/// waits for every old pod to be gone before growing.
fn rolling_plan(
    desired: i64,
    surge: i64,
    unavailable: i64,
    recreate: bool,
    new: Counts,
    old: &[Counts],
) -> (i64, Vec<i64>) {
    if recreate {
        let old_pods: i64 = old.iter().map(|c| c.spec.max(c.available)).sum();
        let new_size = if old_pods == 0 {
            desired
        } else {
            new.spec.min(desired)
        };
        return (new_size, vec![0; old.len()]);
    }
    // Both zero would deadlock; the real controller allows one unavailable pod then.
    let unavailable = if surge == 0 && unavailable == 0 {
        1
    } else {
        unavailable
    };
    let mut old_sizes: Vec<i64> = old.iter().map(|c| c.spec).collect();
    let total = |new_size: i64, old_sizes: &[i64]| new_size + old_sizes.iter().sum::<i64>();

    // Scale up the new ReplicaSet within the surge (down at once when it is above desired).
    let mut new_size = new.spec;
    if new_size > desired {
        new_size = desired;
    } else {
        let room = (desired + surge - total(new_size, &old_sizes)).max(0);
        new_size += room.min(desired - new_size);
    }
    // One move per sync, as the real controller: the old side is looked at once the new
    // ReplicaSet's size is settled.
    if new_size != new.spec {
        return (new_size, old_sizes);
    }

    // Scale down old ReplicaSets within the availability budget.
    let min_available = desired - unavailable;
    let new_unavailable = (new.spec - new.available).max(0);
    let mut budget = total(new.spec, &old_sizes) - min_available - new_unavailable;
    for (size, counts) in old_sizes.iter_mut().zip(old) {
        let unhealthy = (*size - counts.available).max(0);
        let cut = unhealthy.min(budget.max(0));
        *size -= cut;
        budget -= cut;
    }
    let available: i64 = new.available + old.iter().map(|c| c.available).sum::<i64>();
    let mut removable = (available - min_available).max(0);
    for size in old_sizes.iter_mut() {
        let cut = (*size).min(removable);
        *size -= cut;
        removable -= cut;
    }
    (new_size, old_sizes)
}

/// The annotations the current ReplicaSet must carry: the Deployment's own (copied), its
/// revision, the history of revisions it had, and the replica counts.
fn current_annotations(
    d: &Value,
    rs: Option<&Value>,
    new_revision: u64,
    desired: i64,
) -> Map<String, Value> {
    let mut annotations = rs
        .and_then(|rs| rs.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in d
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !NOT_COPIED.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let old = rs.map(revision).unwrap_or(0);
    if old < new_revision {
        annotations.insert(REVISION.into(), json!(new_revision.to_string()));
        if old > 0 {
            let history = annotations
                .get(REVISION_HISTORY)
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(|h| format!("{h},{old}"))
                .unwrap_or_else(|| old.to_string());
            annotations.insert(REVISION_HISTORY.into(), json!(history));
        }
    }
    annotations.insert(DESIRED_REPLICAS.into(), json!(desired.to_string()));
    annotations.insert(
        MAX_REPLICAS.into(),
        json!((desired + max_surge(d, desired)).to_string()),
    );
    annotations
}

/// A short, stable, DNS-safe hash of a pod template.
fn template_hash(template: &Value) -> String {
    let mut h = DefaultHasher::new();
    template.to_string().hash(&mut h);
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = h.finish();
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A pod template as the real controller compares them (`EqualIgnoreHash`, semantic equality):
/// without the `pod-template-hash` label, and with null, empty objects and empty lists dropped.
fn semantic(template: &Value) -> Value {
    fn prune(v: &Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Object(m) => {
                let m: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), prune(v)?)))
                    .collect();
                (!m.is_empty()).then_some(Value::Object(m))
            }
            Value::Array(a) => {
                let a: Vec<Value> = a.iter().map(|v| prune(v).unwrap_or(json!({}))).collect();
                (!a.is_empty()).then_some(Value::Array(a))
            }
            other => Some(other.clone()),
        }
    }
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    prune(&t).unwrap_or(Value::Null)
}

fn owned_replica_sets(state: &crate::store::State, uid: &str) -> Vec<Value> {
    state
        .dependents(uid)
        .into_iter()
        .filter(|(storage, _)| storage == "apps/replicasets")
        .filter_map(|(storage, key)| state.get(&storage, &key).cloned())
        .collect()
}

fn count(rs: &Value, field: &str) -> i64 {
    rs.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Brings one Deployment's ReplicaSets and status in line with its spec.
pub fn reconcile(srv: &Arc<Server>, ns: &str, name: &str) {
    let mut state = srv.lock();
    let (Some(d_type), Some(rs_type)) = (
        state.registry.get("apps", "v1", "deployments").cloned(),
        state.registry.get("apps", "v1", "replicasets").cloned(),
    ) else {
        return;
    };
    let Some(d) = state
        .get("apps/deployments", &(ns.to_string(), name.to_string()))
        .cloned()
    else {
        return;
    };
    if d.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let uid = meta_str(&d, "uid").unwrap_or_default().to_string();
    let desired = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = template_hash(&template);

    let owned: Vec<Value> = owned_replica_sets(&state, &uid);
    let wanted = semantic(&template);
    // The real controller finds the ReplicaSet whose template equals the Deployment's, not its
    // hash: a rollback (`kubectl rollout undo`) brings an old ReplicaSet back rather than
    // creating a twin, even when the client's round trip added empty fields.
    let is_current = |rs: &Value| {
        rs.pointer(&format!("/metadata/labels/{HASH_LABEL}"))
            .and_then(Value::as_str)
            == Some(hash.as_str())
            || rs
                .pointer("/spec/template")
                .is_some_and(|t| semantic(t) == wanted)
    };

    let current = owned.iter().find(|rs| is_current(rs));
    let mut old: Vec<&Value> = owned.iter().filter(|rs| !is_current(rs)).collect();
    // Oldest first: the real controller scales old ReplicaSets down in creation order.
    old.sort_by_key(|rs| {
        (
            meta_str(rs, "creationTimestamp")
                .unwrap_or_default()
                .to_string(),
            meta_str(rs, "name").unwrap_or_default().to_string(),
        )
    });
    let old_counts: Vec<Counts> = old.iter().map(|rs| counts(rs)).collect();
    let rolling = old_counts.iter().any(|c| c.spec > 0 || c.available > 0);
    let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    // A paused rollout stays where it is; only its status is kept current.
    if !(paused && (current.is_none() || rolling)) {
        roll(
            &mut state,
            &rs_type,
            &d,
            Rolling {
                template: &template,
                hash: &hash,
                desired,
                rolling,
                current,
                old: &old,
                old_counts: &old_counts,
            },
        );
    }
    let owned: Vec<Value> = owned_replica_sets(&state, &uid);
    write_deployment_status(
        &mut state,
        &d_type,
        ns,
        name,
        d,
        desired,
        &owned,
        &is_current,
    );
}

/// What one sync of a Deployment has found: its template, the current ReplicaSet and the old
/// ones (oldest first) with their counts.
struct Rolling<'a> {
    template: &'a Value,
    hash: &'a str,
    desired: i64,
    rolling: bool,
    current: Option<&'a Value>,
    old: &'a [&'a Value],
    old_counts: &'a [Counts],
}

/// Creates or scales the current ReplicaSet and scales the old ones, one paced step.
fn roll(
    state: &mut crate::store::State,
    rs_type: &crate::registry::ResourceType,
    d: &Value,
    r: Rolling,
) {
    let Rolling {
        template,
        hash,
        desired,
        rolling,
        current,
        old,
        old_counts,
    } = r;
    let ns = meta_str(d, "namespace").unwrap_or_default().to_string();
    let name = meta_str(d, "name").unwrap_or_default().to_string();
    let uid = meta_str(d, "uid").unwrap_or_default().to_string();
    let opts = WriteOptions::default();
    let (new_size, old_sizes) = if rolling {
        rolling_plan(
            desired,
            max_surge(d, desired),
            max_unavailable(d, desired),
            d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate"),
            current.map(counts).unwrap_or(Counts {
                spec: 0,
                available: 0,
            }),
            old_counts,
        )
    } else {
        (desired, vec![0; old.len()])
    };
    let new_revision = old.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
    let annotations = current_annotations(d, current, new_revision, desired);
    match current {
        None => {
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            selector["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels[HASH_LABEL] = json!(hash);
            let rs = json!({
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "labels": labels,
                    "annotations": annotations,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": {
                    "replicas": new_size,
                    "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                    "selector": selector,
                    "template": rs_template,
                },
            });
            if let Err(e) = ops::create(state, rs_type, Some(&ns), rs, &opts) {
                tracing::warn!(
                    "simulated Deployment controller: creating the ReplicaSet of {ns}/{name}: {}",
                    e.message
                );
            }
        }
        Some(rs)
            if rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(new_size)
                || rs
                    .pointer("/metadata/annotations")
                    .and_then(Value::as_object)
                    != Some(&annotations) =>
        {
            scale(state, rs_type, &ns, rs, new_size, annotations)
        }
        Some(_) => {}
    }
    for (rs, size) in old.iter().zip(old_sizes) {
        if rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(size) {
            // As the real controller: a scaled ReplicaSet records the counts it was scaled for.
            let mut annotations = rs
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            annotations.insert(DESIRED_REPLICAS.into(), json!(desired.to_string()));
            annotations.insert(
                MAX_REPLICAS.into(),
                json!((desired + max_surge(d, desired)).to_string()),
            );
            scale(state, rs_type, &ns, rs, size, annotations);
        }
    }
}

/// Sums the ReplicaSets into the Deployment's status (and revision), written only on change.
#[allow(clippy::too_many_arguments)]
fn write_deployment_status(
    state: &mut crate::store::State,
    d_type: &crate::registry::ResourceType,
    ns: &str,
    name: &str,
    d: Value,
    desired: i64,
    owned: &[Value],
    is_current: &dyn Fn(&Value) -> bool,
) {
    let d = set_revision(state, d_type, ns, name, d, owned, is_current);
    let sum = |field: &str| owned.iter().map(|rs| count(rs, field)).sum::<i64>();
    let updated = owned
        .iter()
        .filter(|rs| is_current(rs))
        .map(|rs| count(rs, "replicas"))
        .sum::<i64>();
    let available = sum("availableReplicas");
    let now = ops::now();
    let (available_status, progress_reason) = if available >= desired && updated == sum("replicas")
    {
        ("True", "NewReplicaSetAvailable")
    } else {
        ("False", "ReplicaSetUpdated")
    };
    let status = json!({
        "observedGeneration": d.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": sum("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": (sum("replicas") - available).max(0),
        "conditions": [
            {"type": "Available", "status": available_status, "reason": if available_status == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }, "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": "True", "reason": progress_reason, "lastUpdateTime": now, "lastTransitionTime": now},
        ],
    });
    // Compare without the timestamps, or every event would rewrite the status.
    let strip = |s: Option<&Value>| {
        let mut s = s.cloned().unwrap_or(Value::Null);
        for c in s
            .get_mut("conditions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(m) = c.as_object_mut() {
                m.remove("lastUpdateTime");
                m.remove("lastTransitionTime");
            }
        }
        s
    };
    if strip(d.get("status")) != strip(Some(&status)) {
        let mut updated_d = d.clone();
        updated_d["status"] = status;
        crate::workloads::write_status(
            state,
            d_type,
            ns,
            name,
            updated_d,
            "simulated Deployment controller",
        );
    }
}

/// Writes the current ReplicaSet's revision on the Deployment; returns the Deployment as stored
/// (the status write that follows must carry its new resourceVersion).
fn set_revision(
    state: &mut crate::store::State,
    d_type: &crate::registry::ResourceType,
    ns: &str,
    name: &str,
    d: Value,
    owned: &[Value],
    is_current: &dyn Fn(&Value) -> bool,
) -> Value {
    let Some(current) = owned.iter().find(|rs| is_current(rs)).map(revision) else {
        return d;
    };
    let wanted = json!(current.to_string());
    if current == 0
        || d.pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
            == Some(&wanted)
    {
        return d;
    }
    let mut updated = d.clone();
    ops::meta_mut(&mut updated)
        .entry("annotations")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .map(|a| a.insert(REVISION.into(), wanted));
    match ops::update(
        state,
        d_type,
        Some(ns),
        name,
        updated,
        Part::Main,
        &WriteOptions::default(),
    ) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(
                "simulated Deployment controller: revision of {ns}/{name}: {}",
                e.message
            );
            d
        }
    }
}

fn scale(
    state: &mut crate::store::State,
    rs_type: &crate::registry::ResourceType,
    ns: &str,
    rs: &Value,
    replicas: i64,
    annotations: Map<String, Value>,
) {
    let mut updated = rs.clone();
    updated["spec"]["replicas"] = json!(replicas);
    ops::meta_mut(&mut updated).insert("annotations".into(), Value::Object(annotations));
    let name = meta_str(rs, "name").unwrap_or_default().to_string();
    if let Err(e) = ops::update(
        state,
        rs_type,
        Some(ns),
        &name,
        updated,
        Part::Main,
        &WriteOptions::default(),
    ) {
        tracing::warn!(
            "simulated Deployment controller: scaling {ns}/{name}: {}",
            e.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_count_up_and_remember_history() {
        let d = json!({"metadata": {"annotations": {
            "kubernetes.io/change-cause": "v2",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        }}, "spec": {"replicas": 4}});
        let fresh = current_annotations(&d, None, 1, 4);
        assert_eq!(fresh[REVISION], "1");
        assert_eq!(fresh["kubernetes.io/change-cause"], "v2");
        assert_eq!(fresh[MAX_REPLICAS], "5");
        assert!(!fresh.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        // Rolled back to: a new number, the old one in the history.
        let rs = json!({"metadata": {"annotations": {REVISION: "1"}}});
        let back = current_annotations(&d, Some(&rs), 3, 4);
        assert_eq!(
            (back[REVISION].as_str(), back[REVISION_HISTORY].as_str()),
            (Some("3"), Some("1"))
        );
        assert_eq!(percent_of("30%", 10, Round::Up), 3);
        assert_eq!(percent_of("25%", 3, Round::Up), 1);
        assert_eq!(percent_of("2", 10, Round::Up), 2);
    }

    #[test]
    fn rollouts_are_paced_by_surge_and_unavailability() {
        let c = |spec, available| Counts { spec, available };
        /// (desired, surge, unavailable, recreate, new, old) -> (new size, old sizes)
        type Case<'a> = (i64, i64, i64, bool, Counts, &'a [Counts], (i64, &'a [i64]));
        let cases: &[Case] = &[
            // Surge first: one more pod, the old ones untouched in the same step.
            (4, 1, 0, false, c(0, 0), &[c(4, 4)], (1, &[4])),
            // The surged pod is not available yet: nothing more may go.
            (4, 1, 0, false, c(1, 0), &[c(4, 4)], (1, &[4])),
            // It is: one old pod goes.
            (4, 1, 0, false, c(1, 1), &[c(4, 4)], (1, &[3])),
            // Then the new one grows again.
            (4, 1, 0, false, c(1, 1), &[c(3, 3)], (2, &[3])),
            // maxUnavailable lets old pods go before new ones are ready.
            (4, 0, 1, false, c(0, 0), &[c(4, 4)], (0, &[3])),
            (4, 0, 1, false, c(0, 0), &[c(3, 3)], (1, &[3])),
            // Both zero would never move: one unavailable is allowed.
            (2, 0, 0, false, c(0, 0), &[c(2, 2)], (0, &[1])),
            // Unavailable old pods go first, even while fewer than desired are available.
            (4, 1, 0, false, c(1, 1), &[c(4, 2)], (1, &[3])),
            // ...but not when the new ones' unready pods use up the budget.
            (4, 1, 0, false, c(1, 0), &[c(4, 2)], (1, &[4])),
            // Oldest first across several old ReplicaSets.
            (4, 0, 2, false, c(0, 0), &[c(2, 2), c(2, 2)], (0, &[0, 2])),
            // Done: the old ReplicaSet emptied.
            (3, 1, 0, false, c(3, 3), &[c(1, 1)], (3, &[0])),
            // Scaled down during a rollout: the new one shrinks at once.
            (2, 1, 0, false, c(3, 3), &[c(1, 1)], (2, &[1])),
            // Recreate: old pods gone first, then the new one at full size.
            (3, 0, 3, true, c(0, 0), &[c(3, 3)], (0, &[0])),
            (3, 0, 3, true, c(0, 0), &[c(0, 2)], (0, &[0])),
            (3, 0, 3, true, c(0, 0), &[c(0, 0)], (3, &[0])),
        ];
        for (i, (desired, surge, unavailable, recreate, new, old, want)) in cases.iter().enumerate()
        {
            let got = rolling_plan(*desired, *surge, *unavailable, *recreate, *new, old);
            assert_eq!((got.0, got.1.as_slice()), *want, "case {i}");
        }
        assert_eq!(percent_of("25%", 3, Round::Down), 0);
        assert_eq!(percent_of("50%", 5, Round::Down), 2);
    }

    #[test]
    fn templates_compare_semantically() {
        let rs = json!({"metadata": {"labels": {"app": "a", HASH_LABEL: "x"}},
                        "spec": {"containers": [{"name": "a", "image": "a:1"}]}});
        let d = json!({"metadata": {"labels": {"app": "a"}, "creationTimestamp": null},
                       "spec": {"containers": [{"name": "a", "image": "a:1", "resources": {}}]}});
        assert_eq!(semantic(&rs), semantic(&d));
        let other = json!({"spec": {"containers": [{"name": "a", "image": "a:2"}]}});
        assert_ne!(semantic(&rs), semantic(&other));
    }

    #[test]
    fn template_hash_is_stable_and_dns_safe() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}]}});
        assert_eq!(template_hash(&t), template_hash(&t.clone()));
        assert_ne!(template_hash(&t), template_hash(&json!({"spec": {}})));
        assert!(
            template_hash(&t)
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
