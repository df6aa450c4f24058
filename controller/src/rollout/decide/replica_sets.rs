//! The ReplicaSets a plan moves, for both strategies: the current template's (created or
//! scaled, with its role metadata), old ones scaled down at their deadline within the revision
//! limit, history beyond `revisionHistoryLimit`, and the promotion of a template to stable.

use jiff::Timestamp;
use rollout_rs_crds::ObjectMetadata;
use rollout_rs_crds::rollout::RolloutStatus;

use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::{NewReplicaSet, Plan, PodMetadataUpdate, event};

const DEFAULT_HISTORY_LIMIT: i32 = 10;

/// Marks the current template stable.
pub(super) fn promote(st: &mut RolloutStatus, plan: &mut Plan, new_hash: &str) {
    st.stable_rs = Some(new_hash.to_string());
    st.promote_full = false;
    st.pause_conditions.clear();
    st.controller_pause = false;
    plan.events.push(event(
        false,
        "RolloutCompleted",
        format!("Rollout completed: template {new_hash} is stable"),
    ));
}

/// Creates the current template's ReplicaSet with `replicas` and the pods' role metadata, or
/// scales it to them and brings its role metadata up to date.
pub(super) fn scale_new(
    obs: &Observed,
    plan: &mut Plan,
    new_rs: Option<&ReplicaSetView>,
    new_hash: &str,
    revision: u64,
    replicas: i32,
    role: Option<&ObjectMetadata>,
) {
    role_metadata(obs, plan, new_rs, role);
    match new_rs {
        Some(r) if r.desired != replicas => plan.scale.push((r.name.clone(), replicas)),
        Some(_) => {}
        None => {
            plan.create = Some(NewReplicaSet {
                name: crate::rollout::names::replica_set(
                    obs.rollout.metadata.name.as_deref().unwrap_or_default(),
                    new_hash,
                ),
                hash: new_hash.to_string(),
                revision,
                replicas,
                role_metadata: role.cloned().unwrap_or_default(),
            });
            plan.events.push(event(
                false,
                "NewReplicaSetCreated",
                format!(
                    "Created ReplicaSet for template {new_hash} (revision {revision}) with {replicas} replicas"
                ),
            ));
        }
    }
}

/// Brings a ReplicaSet's pods to their role's metadata: keys of the role are set, keys that
/// neither the role nor the Rollout's template carries (an earlier role's) are removed.
pub(super) fn role_metadata(
    obs: &Observed,
    plan: &mut Plan,
    rs: Option<&ReplicaSetView>,
    role: Option<&ObjectMetadata>,
) {
    let Some(rs) = rs else { return };
    let empty = ObjectMetadata::default();
    let role = role.unwrap_or(&empty);
    let template = obs.rollout.spec.template.metadata.as_ref();
    let template_labels = template.and_then(|m| m.labels.as_ref());
    let template_annotations = template.and_then(|m| m.annotations.as_ref());
    let set_labels: std::collections::BTreeMap<String, String> = role
        .labels
        .iter()
        .filter(|(k, v)| rs.pod_metadata.labels.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let set_annotations: std::collections::BTreeMap<String, String> = role
        .annotations
        .iter()
        .filter(|(k, v)| rs.pod_metadata.annotations.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove_labels: Vec<String> = rs
        .pod_metadata
        .labels
        .keys()
        .filter(|k| {
            k.as_str() != rollout_rs_crds::POD_TEMPLATE_HASH_LABEL
                && !role.labels.contains_key(*k)
                && !template_labels.is_some_and(|t| t.contains_key(*k))
        })
        .cloned()
        .collect();
    let remove_annotations: Vec<String> = rs
        .pod_metadata
        .annotations
        .keys()
        .filter(|k| {
            !role.annotations.contains_key(*k)
                && !template_annotations.is_some_and(|t| t.contains_key(*k))
        })
        .cloned()
        .collect();
    if set_labels.is_empty()
        && set_annotations.is_empty()
        && remove_labels.is_empty()
        && remove_annotations.is_empty()
    {
        return;
    }
    plan.pod_metadata.push(PodMetadataUpdate {
        replica_set: rs.name.clone(),
        hash: rs.hash.clone(),
        set: ObjectMetadata {
            labels: set_labels,
            annotations: set_annotations,
        },
        remove_labels,
        remove_annotations,
    });
}

/// Scales `others` to zero: at once with `delay` 0, else at their scale-down deadline (set now
/// when missing), requeueing at exactly that time.
pub(super) fn scale_down(others: &[&ReplicaSetView], delay: i64, now: Timestamp, plan: &mut Plan) {
    for r in others {
        if r.desired == 0 {
            continue;
        }
        match r.scale_down_at {
            _ if delay <= 0 => plan.scale.push((r.name.clone(), 0)),
            Some(at) if now >= at => plan.scale.push((r.name.clone(), 0)),
            Some(at) => plan.wake_at(now, at),
            None => {
                let at = now + jiff::SignedDuration::from_secs(delay);
                plan.scale_down_deadlines.push((r.name.clone(), at));
                plan.wake_at(now, at);
            }
        }
    }
}

/// Old ReplicaSets, newest first, split into the `scaleDownDelayRevisionLimit` (`limit`) most
/// recent (they may wait out their scale-down delay) and the rest (scaled down now).
pub(super) fn within_revision_limit<'a>(
    others: &[&'a ReplicaSetView],
    limit: Option<i32>,
) -> (Vec<&'a ReplicaSetView>, Vec<&'a ReplicaSetView>) {
    // Only ReplicaSets that still have pods take a place within the limit (the others have
    // nothing to scale down).
    let mut old: Vec<&ReplicaSetView> = others.iter().copied().filter(|r| r.desired > 0).collect();
    old.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let keep = limit
        .map_or(old.len(), |l| l.max(0) as usize)
        .min(old.len());
    let rest = old.split_off(keep);
    (old, rest)
}

/// An Event for every planned scale.
pub(super) fn scale_events(obs: &Observed, plan: &mut Plan) {
    for (name, to) in &plan.scale {
        let from = obs
            .replica_sets
            .iter()
            .find(|r| &r.name == name)
            .map_or(0, |r| r.desired);
        plan.events.push(event(
            false,
            "ScalingReplicaSet",
            format!("Scaled ReplicaSet {name} from {from} to {to}"),
        ));
    }
}

/// Old ReplicaSets at zero beyond revisionHistoryLimit are deleted, oldest first.
pub(super) fn delete_history(limit: Option<i32>, others: &[&ReplicaSetView], plan: &mut Plan) {
    let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT).max(0) as usize;
    let mut idle: Vec<&ReplicaSetView> = others
        .iter()
        .copied()
        .filter(|r| r.desired == 0 && r.replicas == 0)
        .collect();
    idle.sort_by_key(|r| std::cmp::Reverse(r.revision));
    plan.delete = idle.iter().skip(limit).map(|r| r.name.clone()).collect();
}
