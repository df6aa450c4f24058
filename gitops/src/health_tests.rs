//! One live object each, and the health it must read as.

use serde_json::json;

use super::*;

fn code(v: Value) -> Option<HealthStatusCode> {
    of(Some(&v)).map(|h| h.status)
}

fn deployment(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "generation": 2}, "spec": spec, "status": status})
}

fn rollout(status: Value) -> Value {
    json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
           "metadata": {"name": "web", "generation": 3}, "spec": {}, "status": status})
}

#[test]
fn deployments() {
    let done = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
    assert_eq!(
        code(deployment(json!({"replicas": 3}), done.clone())),
        Some(HealthStatusCode::Healthy)
    );
    assert_eq!(
        code(deployment(json!({"replicas": 3, "paused": true}), done)),
        Some(HealthStatusCode::Suspended)
    );
    let old = json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
    assert_eq!(
        code(deployment(json!({"replicas": 3}), old)),
        Some(HealthStatusCode::Progressing)
    );
    let rolling = json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3});
    let h = of(Some(&deployment(json!({"replicas": 3}), rolling))).expect("a rule");
    assert_eq!(h.status, HealthStatusCode::Progressing);
    assert_eq!(
        h.message.as_deref(),
        Some("Waiting for rollout to finish: 1 old replicas are pending termination...")
    );
    let stuck = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
    assert_eq!(
        code(deployment(json!({"replicas": 3}), stuck)),
        Some(HealthStatusCode::Degraded)
    );
}

#[test]
fn rollouts_paused_are_suspended_and_aborted_are_degraded() {
    assert_eq!(
        code(rollout(
            json!({"observedGeneration": 3, "phase": "Healthy"})
        )),
        Some(HealthStatusCode::Healthy)
    );
    let paused = of(Some(&rollout(
        json!({"observedGeneration": 3, "phase": "Paused", "message": "CanaryPauseStep"}),
    )))
    .expect("a rule");
    assert_eq!(paused.status, HealthStatusCode::Suspended);
    assert_eq!(paused.message.as_deref(), Some("CanaryPauseStep"));
    assert_eq!(
        code(rollout(
            json!({"observedGeneration": 3, "phase": "Degraded", "abort": true, "message": "RolloutAborted"})
        )),
        Some(HealthStatusCode::Degraded)
    );
    assert_eq!(
        code(rollout(
            json!({"observedGeneration": 3, "phase": "Progressing"})
        )),
        Some(HealthStatusCode::Progressing)
    );
    assert_eq!(
        code(rollout(
            json!({"observedGeneration": 2, "phase": "Healthy"})
        )),
        Some(HealthStatusCode::Progressing),
        "a Healthy about the previous spec"
    );
    assert_eq!(
        code(rollout(json!({}))),
        Some(HealthStatusCode::Progressing),
        "not reconciled yet"
    );
}

#[test]
fn the_other_built_in_kinds() {
    let lb = |status: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}, "status": status});
    assert_eq!(code(lb(json!({}))), Some(HealthStatusCode::Progressing));
    assert_eq!(
        code(lb(
            json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}})
        )),
        Some(HealthStatusCode::Healthy)
    );
    assert_eq!(
        code(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}})),
        Some(HealthStatusCode::Healthy)
    );
    let ing =
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}});
    assert_eq!(code(ing), Some(HealthStatusCode::Progressing));
    let job = |conditions: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conditions}});
    assert_eq!(
        code(job(json!([{"type": "Complete", "status": "True"}]))),
        Some(HealthStatusCode::Healthy)
    );
    assert_eq!(
        code(job(
            json!([{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}])
        )),
        Some(HealthStatusCode::Degraded)
    );
    assert_eq!(code(job(json!([]))), Some(HealthStatusCode::Progressing));
    let pvc = |phase: &str| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"}, "status": {"phase": phase}});
    assert_eq!(code(pvc("Bound")), Some(HealthStatusCode::Healthy));
    assert_eq!(code(pvc("Pending")), Some(HealthStatusCode::Progressing));
    assert_eq!(code(pvc("Lost")), Some(HealthStatusCode::Degraded));
    let sts = |status: Value| json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "generation": 1}, "spec": {"replicas": 2}, "status": status});
    assert_eq!(
        code(sts(
            json!({"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "a"})
        )),
        Some(HealthStatusCode::Healthy)
    );
    assert_eq!(
        code(sts(json!({"observedGeneration": 1, "readyReplicas": 1}))),
        Some(HealthStatusCode::Progressing)
    );
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}, "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(code(ds), Some(HealthStatusCode::Progressing));
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}, "spec": {"replicas": 2},
        "status": {"availableReplicas": 0, "conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota exceeded"}]}});
    assert_eq!(code(rs), Some(HealthStatusCode::Degraded));
    let gs = json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": "g"}, "status": {"health": {"status": "Suspended"}}});
    assert_eq!(code(gs), Some(HealthStatusCode::Suspended), "app of apps");
}

#[test]
fn missing_deleting_and_kinds_without_a_rule() {
    assert_eq!(of(None).map(|h| h.status), Some(HealthStatusCode::Missing));
    let deleting = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "deletionTimestamp": "2026-11-30T12:00:00Z"}});
    assert_eq!(code(deleting), Some(HealthStatusCode::Progressing));
    assert_eq!(
        code(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
        None
    );
}

#[test]
fn the_worst_member_wins_and_is_named() {
    let h = |status, message: &str| HealthStatus {
        status,
        message: Some(message.into()),
    };
    let members = [
        (
            "Deployment/api".to_string(),
            h(HealthStatusCode::Healthy, ""),
        ),
        (
            "Rollout/web".to_string(),
            h(HealthStatusCode::Suspended, "CanaryPauseStep"),
        ),
        ("Service/web".to_string(), h(HealthStatusCode::Healthy, "")),
    ];
    let w = worst(members.iter().map(|(n, h)| (n.clone(), h)));
    assert_eq!(w.status, HealthStatusCode::Suspended);
    assert_eq!(w.message.as_deref(), Some("Rollout/web: CanaryPauseStep"));
    let degraded = h(HealthStatusCode::Degraded, "RolloutAborted");
    let missing = h(HealthStatusCode::Missing, "not found");
    let w = worst([
        ("Rollout/web".to_string(), &degraded),
        ("Service/x".to_string(), &missing),
    ]);
    assert_eq!(w.status, HealthStatusCode::Degraded);
    assert_eq!(worst(std::iter::empty()).status, HealthStatusCode::Healthy);
}
