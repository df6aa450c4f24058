//! The status a sync writes, from what happened: the revision applied (SHA and subject), the
//! inventory with each object's health, the aggregate health, `lastSyncedAt`, and the `Ready`
//! condition; or, when the source could not be fetched or rendered or an object was refused,
//! the reason and message, with the last good revision and the inventory kept as they were.
//! Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollout_rs_crds::conditions::{READY, git_sync as reason};
use rollout_rs_crds::gitsync::{
    GitSyncStatus, HealthStatus, HealthStatusCode, ResourceStatus, SyncStatus, SyncStatusCode,
};

use crate::health;
use crate::inventory::Key;

/// A fetched revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub sha: String,
    pub subject: String,
}

fn set_ready(st: &mut GitSyncStatus, ok: bool, why: &str, message: &str, now: Timestamp) {
    let value = if ok { "True" } else { "False" };
    rollout_rs_crds::conditions::set(&mut st.conditions, READY, value, why, message, Time(now));
}

/// The status after `revision` was applied: `applied` in apply order with their live health
/// (`None`: a kind without a health rule), and what was left unpruned (prune off, or kept).
pub fn synced(
    prev: &GitSyncStatus,
    revision: &Revision,
    applied: &[(Key, Option<HealthStatus>)],
    left: &[Key],
    generation: Option<i64>,
    now: Timestamp,
) -> GitSyncStatus {
    let mut st = prev.clone();
    st.sync = Some(SyncStatus {
        status: if left.is_empty() {
            SyncStatusCode::Synced
        } else {
            SyncStatusCode::OutOfSync
        },
        revision: Some(revision.sha.clone()),
        subject: Some(revision.subject.clone()),
    });
    let mut resources: Vec<ResourceStatus> = applied
        .iter()
        .map(|(key, health)| ResourceStatus {
            status: Some(SyncStatusCode::Synced),
            health: health.clone(),
            ..key.to_status()
        })
        .collect();
    resources.extend(left.iter().map(|key| ResourceStatus {
        status: Some(SyncStatusCode::OutOfSync),
        requires_pruning: true,
        ..key.to_status()
    }));
    st.health = Some(health::worst(applied.iter().filter_map(|(k, h)| {
        Some((format!("{}/{}", k.kind, k.name), h.as_ref()?))
    })));
    st.resources = resources;
    st.last_synced_at = Some(Time(now));
    st.observed_generation = generation;
    let short = short(&revision.sha);
    let message = if left.is_empty() {
        format!(
            "applied {} objects at {short}: {}",
            applied.len(),
            revision.subject
        )
    } else {
        format!(
            "applied {} objects at {short}: {}; {} left unpruned",
            applied.len(),
            revision.subject,
            left.len()
        )
    };
    set_ready(&mut st, true, reason::SYNCED, &message, now);
    // A sync that changed nothing writes nothing: the time of the last sync that did stays.
    let mut unchanged = st.clone();
    unchanged.last_synced_at = prev.last_synced_at.clone();
    if &unchanged == prev {
        return unchanged;
    }
    st
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// The status when a sync stopped before writing (or, for a prune failure, after applying):
/// the last good revision and the inventory stay; the sync status says whether Git moved on.
pub fn failed(
    prev: &GitSyncStatus,
    why: &str,
    message: &str,
    fetched: Option<&Revision>,
    generation: Option<i64>,
    now: Timestamp,
) -> GitSyncStatus {
    let mut st = prev.clone();
    let applied = prev.sync.as_ref().and_then(|s| s.revision.clone());
    let code = match fetched {
        Some(r) if applied.as_deref() == Some(r.sha.as_str()) => prev
            .sync
            .as_ref()
            .map_or(SyncStatusCode::Unknown, |s| s.status),
        Some(_) => SyncStatusCode::OutOfSync,
        None => SyncStatusCode::Unknown,
    };
    let mut sync = prev.sync.clone().unwrap_or_default();
    sync.status = code;
    st.sync = Some(sync);
    if st.health.is_none() {
        st.health = Some(HealthStatus {
            status: HealthStatusCode::Unknown,
            message: None,
        });
    }
    st.observed_generation = generation;
    let message = match applied.as_deref() {
        Some(sha) => format!("{message} (revision {} stays applied)", short(sha)),
        None => message.to_string(),
    };
    set_ready(&mut st, false, why, &message, now);
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-30T12:00:00Z".parse().expect("time")
    }

    fn key(kind: &str, name: &str) -> Key {
        Key::of(&json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "shop"}}))
            .expect("key")
    }

    fn rev(sha: &str) -> Revision {
        Revision {
            sha: sha.into(),
            subject: "web: image 1.5.0".into(),
        }
    }

    fn ready(st: &GitSyncStatus) -> (String, String, String) {
        let c = st
            .conditions
            .iter()
            .find(|c| c.type_ == READY)
            .expect("Ready");
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    }

    #[test]
    fn a_sync_records_the_revision_inventory_and_worst_health() {
        let suspended = HealthStatus {
            status: HealthStatusCode::Suspended,
            message: Some("CanaryPauseStep".into()),
        };
        let applied = [
            (key("Service", "web"), None),
            (key("Rollout", "web"), Some(suspended)),
        ];
        let st = synced(
            &GitSyncStatus::default(),
            &rev("0123456789abcdef"),
            &applied,
            &[],
            Some(2),
            now(),
        );
        let sync = st.sync.clone().expect("sync");
        assert_eq!(sync.status, SyncStatusCode::Synced);
        assert_eq!(sync.revision.as_deref(), Some("0123456789abcdef"));
        assert_eq!(sync.subject.as_deref(), Some("web: image 1.5.0"));
        assert_eq!(st.resources.len(), 2);
        let health = st.health.clone().expect("health");
        assert_eq!(health.status, HealthStatusCode::Suspended);
        assert_eq!(
            health.message.as_deref(),
            Some("Rollout/web: CanaryPauseStep")
        );
        assert_eq!(
            ready(&st),
            (
                "True".into(),
                "Synced".into(),
                "applied 2 objects at 0123456: web: image 1.5.0".into()
            )
        );
        assert_eq!(st.observed_generation, Some(2));
    }

    #[test]
    fn a_sync_that_changed_nothing_writes_nothing() {
        let applied = [(key("Service", "web"), None)];
        let first = synced(
            &GitSyncStatus::default(),
            &rev("abc"),
            &applied,
            &[],
            None,
            now(),
        );
        let later: Timestamp = "2026-11-30T12:03:00Z".parse().expect("time");
        assert_eq!(
            synced(&first, &rev("abc"), &applied, &[], None, later),
            first
        );
        let moved = synced(&first, &rev("def"), &applied, &[], None, later);
        assert_eq!(moved.last_synced_at, Some(Time(later)));
    }

    #[test]
    fn objects_left_unpruned_keep_it_out_of_sync() {
        let st = synced(
            &GitSyncStatus::default(),
            &rev("abc"),
            &[],
            &[key("ConfigMap", "old")],
            None,
            now(),
        );
        assert_eq!(st.sync.map(|s| s.status), Some(SyncStatusCode::OutOfSync));
        assert!(st.resources[0].requires_pruning);
    }

    #[test]
    fn a_failure_keeps_the_last_good_revision_and_inventory() {
        let good = synced(
            &GitSyncStatus::default(),
            &rev("good"),
            &[(key("Service", "web"), None)],
            &[],
            None,
            now(),
        );
        let st = failed(
            &good,
            reason::RENDER_FAILED,
            "apps/web/rollout.yaml:7: did not find expected key",
            Some(&rev("bad")),
            None,
            now(),
        );
        let sync = st.sync.clone().expect("sync");
        assert_eq!(
            sync.revision.as_deref(),
            Some("good"),
            "the last good revision"
        );
        assert_eq!(sync.status, SyncStatusCode::OutOfSync, "Git moved on");
        assert_eq!(st.resources, good.resources);
        assert_eq!(
            ready(&st),
            (
                "False".into(),
                "RenderFailed".into(),
                "apps/web/rollout.yaml:7: did not find expected key (revision good stays applied)"
                    .into()
            )
        );
        let unreachable = failed(
            &good,
            reason::FETCH_FAILED,
            "repository not found",
            None,
            None,
            now(),
        );
        assert_eq!(
            unreachable.sync.map(|s| s.status),
            Some(SyncStatusCode::Unknown)
        );
    }
}
