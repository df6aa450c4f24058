//! Simulated Deployment controller: one ReplicaSet per pod template (`<deployment>-<hash>`,
//! labelled `pod-template-hash`), the current one scaled to `spec.replicas` and older ones to
//! zero, and Deployment status summed from its ReplicaSets. Updates replace old pods at once
//! (no maxSurge / maxUnavailable pacing): enough for manifests that carry Deployments beside
//! Rollouts, which is what the GitOps tests need.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::Server;
use crate::ops::{self, Part, WriteOptions, meta_str};

const HASH_LABEL: &str = "pod-template-hash";

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
    let opts = WriteOptions::default();

    let owned: Vec<Value> = owned_replica_sets(&state, &uid);
    let is_current = |rs: &Value| {
        rs.pointer(&format!("/metadata/labels/{HASH_LABEL}"))
            .and_then(Value::as_str)
            == Some(hash.as_str())
    };

    match owned.iter().find(|rs| is_current(rs)) {
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
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": {
                    "replicas": desired,
                    "minReadySeconds": d.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                    "selector": selector,
                    "template": rs_template,
                },
            });
            if let Err(e) = ops::create(&mut state, &rs_type, Some(ns), rs, &opts) {
                tracing::warn!(
                    "simulated Deployment controller: creating the ReplicaSet of {ns}/{name}: {}",
                    e.message
                );
            }
        }
        Some(rs) if rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(desired) => {
            scale(&mut state, &rs_type, ns, rs, desired)
        }
        Some(_) => {}
    }
    for old in owned.iter().filter(|rs| !is_current(rs)) {
        if old.pointer("/spec/replicas").and_then(Value::as_i64) != Some(0) {
            scale(&mut state, &rs_type, ns, old, 0);
        }
    }

    let owned: Vec<Value> = owned_replica_sets(&state, &uid);
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
            &mut state,
            &d_type,
            ns,
            name,
            updated_d,
            "simulated Deployment controller",
        );
    }
}

fn scale(
    state: &mut crate::store::State,
    rs_type: &crate::registry::ResourceType,
    ns: &str,
    rs: &Value,
    replicas: i64,
) {
    let mut updated = rs.clone();
    updated["spec"]["replicas"] = json!(replicas);
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
