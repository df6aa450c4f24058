//! The `get` tree as text, pinned by snapshots (`snapshots/*.txt`): a canary behind routers
//! with analysis, a blue-green rollout in preview, an aborted canary. `UPDATE_SNAPSHOTS=1`
//! rewrites them after a deliberate change; review the diff.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::routes::{self, HTTP_ROUTE, INGRESS};
use super::*;

fn now() -> Timestamp {
    "2026-11-30T12:00:00Z".parse().expect("time")
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture")
}

fn replica_set(
    name: &str,
    hash: &str,
    revision: u64,
    desired: i32,
    ready: i32,
    image: &str,
    created: &str,
) -> ReplicaSet {
    parse(json!({
        "metadata": {"name": name, "creationTimestamp": created,
                     "labels": {POD_TEMPLATE_HASH_LABEL: hash},
                     "annotations": {"rollout-rs.io/revision": revision.to_string()}},
        "spec": {"replicas": desired, "selector": {},
                 "template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
        "status": {"replicas": desired, "readyReplicas": ready, "availableReplicas": ready}
    }))
}

fn canary_rollout(status: Value) -> Rollout {
    parse(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "creationTimestamp": "2026-11-30T10:00:00Z"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}},
            "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"nginx": {"stableIngress": "web"}, "gatewayAPI": {"httpRoute": "web"}},
                "steps": [{"setWeight": 25}, {"analysis": {"templates": [{"templateName": "rate"}]}}, {"setWeight": 50}, {"pause": {}}]
            }}
        },
        "status": status
    }))
}

fn check(name: &str, view: &View) {
    let text = render(
        view,
        &Style {
            color: false,
            now: now(),
        },
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/get/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).expect("write the snapshot");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        text, want,
        "{name}: the tree changed (UPDATE_SNAPSHOTS=1 to accept)\n{text}"
    );
}

#[test]
fn a_canary_behind_routers_with_analysis() {
    let rollout = canary_rollout(json!({
        "phase": "Progressing", "message": "running analysis rate", "currentStepIndex": 1,
        "currentPodHash": "h2", "stableRS": "h1", "observedGeneration": 1,
        "replicas": 5, "updatedReplicas": 1, "readyReplicas": 5, "availableReplicas": 5,
        "canary": {"weights": {"canary": {"weight": 25}, "stable": {"weight": 75}}}
    }));
    let run: AnalysisRun = parse(json!({
        "metadata": {"name": "web-h2-2-1", "creationTimestamp": "2026-11-30T11:59:00Z",
                     "labels": {POD_TEMPLATE_HASH_LABEL: "h2"}},
        "spec": {"metrics": []},
        "status": {"phase": "Running", "metricResults": [
            {"name": "success-rate", "phase": "Running", "count": 3, "successful": 3, "failed": 0,
             "measurements": [{"phase": "Successful", "value": "0.97"}, {"phase": "Successful", "value": "0.991"}]},
            {"name": "latency-p99", "phase": "Pending", "count": 0, "successful": 0, "failed": 0, "measurements": []}
        ]}
    }));
    let ingress = json!({"metadata": {"name": "web-web-canary", "annotations": {
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "25"}}});
    let route = json!({"spec": {"rules": [{"backendRefs": [
        {"name": "web-stable", "port": 80, "weight": 75}, {"name": "web-canary", "port": 80, "weight": 25}]}]}});
    let snap = Snapshot {
        replica_sets: vec![
            replica_set("web-h2", "h2", 2, 1, 1, "web:2", "2026-11-30T11:58:00Z"),
            replica_set("web-h1", "h1", 1, 4, 4, "web:1", "2026-11-30T10:00:00Z"),
        ],
        runs: vec![run],
        routes: vec![
            routes::route(&rollout, INGRESS, "web-web-canary", Some(&ingress)),
            routes::route(&rollout, HTTP_ROUTE, "web", Some(&route)),
        ],
        rollout,
    };
    let view = View::of(&snap);
    assert_eq!(view.set_weight, Some(25));
    assert_eq!(view.actual_weight, Some(25));
    check("canary", &view);
    // The same view as data, for scripts.
    let json = serde_json::to_value(&view).expect("json");
    assert_eq!(
        json["revisions"][0]["analysisRuns"][0]["metrics"][0]["lastValue"],
        "0.991"
    );
    assert_eq!(
        json["routes"][1]["weights"],
        json!([["web-stable", 75], ["web-canary", 25]])
    );
}

#[test]
fn a_blue_green_rollout_in_preview() {
    let rollout: Rollout = parse(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "api", "namespace": "shop", "creationTimestamp": "2026-11-29T12:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}},
                 "strategy": {"blueGreen": {"activeService": "api-active", "previewService": "api-preview", "autoPromotionEnabled": false}}},
        "status": {"phase": "Paused", "message": "BlueGreenPause", "currentPodHash": "b2", "stableRS": "b1",
                   "blueGreen": {"activeSelector": "b1", "previewSelector": "b2"},
                   "replicas": 6, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    }));
    let snap = Snapshot {
        replica_sets: vec![
            replica_set("api-b2", "b2", 2, 3, 3, "api:2", "2026-11-30T11:50:00Z"),
            replica_set("api-b1", "b1", 1, 3, 3, "api:1", "2026-11-29T12:00:00Z"),
            replica_set("api-b0", "b0", 0, 0, 0, "api:0", "2026-11-28T12:00:00Z"),
        ],
        runs: vec![],
        routes: vec![],
        rollout,
    };
    check("bluegreen", &View::of(&snap));
}

#[test]
fn an_aborted_canary_with_a_failed_run_and_a_missing_route() {
    let rollout = canary_rollout(json!({
        "phase": "Degraded", "message": "RolloutAborted: metric \"success-rate\" assessed Failed",
        "abort": true, "currentStepIndex": 0, "currentPodHash": "h2", "stableRS": "h1",
        "replicas": 4, "updatedReplicas": 0, "readyReplicas": 4, "availableReplicas": 4,
        "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}}
    }));
    let run: AnalysisRun = parse(json!({
        "metadata": {"name": "web-h2-2-1", "creationTimestamp": "2026-11-30T11:59:30Z",
                     "labels": {POD_TEMPLATE_HASH_LABEL: "h2"}},
        "spec": {"metrics": []},
        "status": {"phase": "Failed", "message": "metric \"success-rate\" assessed Failed", "metricResults": [
            {"name": "success-rate", "phase": "Failed", "count": 2, "successful": 0, "failed": 2,
             "measurements": [{"phase": "Failed", "value": "0.42"}, {"phase": "Failed", "value": "0.4"}]}
        ]}
    }));
    let snap = Snapshot {
        replica_sets: vec![
            replica_set("web-h2", "h2", 2, 0, 0, "web:2", "2026-11-30T11:58:00Z"),
            replica_set("web-h1", "h1", 1, 4, 4, "web:1", "2026-11-30T10:00:00Z"),
        ],
        runs: vec![run],
        routes: vec![routes::route(&rollout, HTTP_ROUTE, "web", None)],
        rollout,
    };
    check("aborted", &View::of(&snap));
}

#[test]
fn colour_only_when_asked() {
    let snap = Snapshot {
        rollout: canary_rollout(json!({"phase": "Healthy"})),
        replica_sets: vec![],
        runs: vec![],
        routes: vec![],
    };
    let view = View::of(&snap);
    let plain = render(
        &view,
        &Style {
            color: false,
            now: now(),
        },
    );
    let coloured = render(
        &view,
        &Style {
            color: true,
            now: now(),
        },
    );
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b[32m✔ Healthy\x1b[0m"));
}
