//! The health of an object as Argo CD users read it, from the live object alone: built-in rules
//! for Deployment, StatefulSet, DaemonSet, ReplicaSet, Service, Ingress, Job, PersistentVolumeClaim,
//! the Rollout (ported from Argo CD's bundled Rollout check: paused = Suspended, aborted =
//! Degraded) and the GitSync (app of apps: its own reported health). A kind without a rule has
//! no health and does not count. The health of a set is the worst of its members. Pure.

use rollout_rs_crds::gitsync::{HealthStatus, HealthStatusCode};
use serde_json::Value;

/// Healthiest first, as Argo CD orders them: the set's health is the last one present.
const ORDER: [HealthStatusCode; 6] = [
    HealthStatusCode::Healthy,
    HealthStatusCode::Suspended,
    HealthStatusCode::Progressing,
    HealthStatusCode::Missing,
    HealthStatusCode::Degraded,
    HealthStatusCode::Unknown,
];

fn rank(code: HealthStatusCode) -> usize {
    ORDER.iter().position(|c| *c == code).unwrap_or(ORDER.len())
}

/// The worst of the members' health (Healthy for an empty set): its message says which
/// object it comes from.
pub fn worst<'a>(members: impl IntoIterator<Item = (String, &'a HealthStatus)>) -> HealthStatus {
    let mut worst = HealthStatus {
        status: HealthStatusCode::Healthy,
        message: None,
    };
    for (who, h) in members {
        if rank(h.status) > rank(worst.status) {
            worst = HealthStatus {
                status: h.status,
                message: Some(match &h.message {
                    Some(m) => format!("{who}: {m}"),
                    None => who,
                }),
            };
        }
    }
    worst
}

fn status(code: HealthStatusCode, message: impl Into<String>) -> Option<HealthStatus> {
    let message: String = message.into();
    Some(HealthStatus {
        status: code,
        message: (!message.is_empty()).then_some(message),
    })
}

fn healthy() -> Option<HealthStatus> {
    status(HealthStatusCode::Healthy, "")
}

fn progressing(message: impl Into<String>) -> Option<HealthStatus> {
    status(HealthStatusCode::Progressing, message)
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The condition `type_` of the object's status, when it is there.
fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// The spec the controller has not seen yet: what the status says is about an older one.
fn unobserved(v: &Value) -> bool {
    let generation = v.pointer("/metadata/generation").and_then(Value::as_i64);
    let observed = v
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    matches!((generation, observed), (Some(g), Some(o)) if g > o)
}

/// The health of a live object; `None` for a kind without a health rule (ConfigMap, Secret,
/// RBAC...). `None` for the object itself means it is missing.
pub fn of(live: Option<&Value>) -> Option<HealthStatus> {
    let Some(v) = live else {
        return status(HealthStatusCode::Missing, "not found in the cluster");
    };
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        return progressing("Pending deletion");
    }
    let group = text(v, "/apiVersion")
        .rsplit_once('/')
        .map_or("", |(g, _)| g);
    match (group, text(v, "/kind")) {
        ("apps", "Deployment") => deployment(v),
        ("apps", "StatefulSet") => stateful_set(v),
        ("apps", "DaemonSet") => daemon_set(v),
        ("apps", "ReplicaSet") => replica_set(v),
        ("", "Service") => service(v),
        ("networking.k8s.io", "Ingress") => load_balanced(v),
        ("batch", "Job") => job(v),
        ("", "PersistentVolumeClaim") => claim(v),
        ("rollout-rs.io", "Rollout") => rollout(v),
        ("rollout-rs.io", "GitSync") => git_sync(v),
        _ => None,
    }
}

fn deployment(v: &Value) -> Option<HealthStatus> {
    if v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return status(HealthStatusCode::Suspended, "Deployment is paused");
    }
    if unobserved(v) {
        return progressing("Waiting for rollout spec update to be observed");
    }
    if condition(v, "Progressing")
        .and_then(|c| c.get("reason"))
        .and_then(Value::as_str)
        == Some("ProgressDeadlineExceeded")
    {
        return status(
            HealthStatusCode::Degraded,
            format!(
                "Deployment {:?} exceeded its progress deadline",
                text(v, "/metadata/name")
            ),
        );
    }
    let want = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let updated = int(v, "/status/updatedReplicas");
    let current = int(v, "/status/replicas");
    let available = int(v, "/status/availableReplicas");
    if updated < want {
        return progressing(format!(
            "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
        ));
    }
    if current > updated {
        return progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            current - updated
        ));
    }
    if available < updated {
        return progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    healthy()
}

fn stateful_set(v: &Value) -> Option<HealthStatus> {
    if unobserved(v) {
        return progressing("Waiting for statefulset spec update to be observed");
    }
    let want = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let ready = int(v, "/status/readyReplicas");
    if ready < want {
        return progressing(format!("Waiting for {} pods to be ready...", want - ready));
    }
    if text(v, "/spec/updateStrategy/type") != "OnDelete"
        && text(v, "/status/updateRevision") != text(v, "/status/currentRevision")
    {
        return progressing("Waiting for the rolling update to complete");
    }
    healthy()
}

fn daemon_set(v: &Value) -> Option<HealthStatus> {
    if unobserved(v) {
        return progressing("Waiting for daemon set spec update to be observed");
    }
    let desired = int(v, "/status/desiredNumberScheduled");
    let updated = int(v, "/status/updatedNumberScheduled");
    let available = int(v, "/status/numberAvailable");
    if updated < desired {
        return progressing(format!(
            "Waiting for daemon set rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return progressing(format!(
            "Waiting for daemon set rollout to finish: {available} of {desired} updated pods are available..."
        ));
    }
    healthy()
}

fn replica_set(v: &Value) -> Option<HealthStatus> {
    if unobserved(v) {
        return progressing("Waiting for rollout spec update to be observed");
    }
    if let Some(c) = condition(v, "ReplicaFailure").filter(|c| text(c, "/status") == "True") {
        return status(HealthStatusCode::Degraded, text(c, "/message"));
    }
    let want = v
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let available = int(v, "/status/availableReplicas");
    if available < want {
        return progressing(format!(
            "Waiting for rollout to finish: {available} out of {want} replicas are available..."
        ));
    }
    healthy()
}

fn service(v: &Value) -> Option<HealthStatus> {
    if text(v, "/spec/type") == "LoadBalancer" {
        return load_balanced(v);
    }
    healthy()
}

/// A LoadBalancer Service or an Ingress is healthy once it has an address.
fn load_balanced(v: &Value) -> Option<HealthStatus> {
    let assigned = v
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if assigned {
        healthy()
    } else {
        progressing("Waiting for an address to be assigned")
    }
}

fn job(v: &Value) -> Option<HealthStatus> {
    let is_true = |type_: &str| condition(v, type_).filter(|c| text(c, "/status") == "True");
    if let Some(failed) = is_true("Failed") {
        return status(HealthStatusCode::Degraded, text(failed, "/message"));
    }
    if is_true("Complete").is_some() {
        return status(HealthStatusCode::Healthy, "Job completed");
    }
    if v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return status(HealthStatusCode::Suspended, "Job is suspended");
    }
    progressing("Job is running")
}

fn claim(v: &Value) -> Option<HealthStatus> {
    match text(v, "/status/phase") {
        "Bound" => healthy(),
        "Lost" => status(HealthStatusCode::Degraded, "the claim lost its volume"),
        _ => progressing("Waiting for the claim to be bound"),
    }
}

/// Argo CD's Rollout check: a spec not observed yet is Progressing; a pause (a `pause` step, a
/// blue-green preview, an inconclusive analysis) is Suspended, so a rollout waiting for a
/// human is not mistaken for a broken one; Degraded (an abort, an invalid spec) is Degraded.
fn rollout(v: &Value) -> Option<HealthStatus> {
    if unobserved(v) {
        return progressing("Waiting for rollout spec update to be observed");
    }
    let message = text(v, "/status/message");
    match text(v, "/status/phase") {
        "Healthy" => status(HealthStatusCode::Healthy, message),
        "Paused" => status(HealthStatusCode::Suspended, message),
        "Degraded" => status(HealthStatusCode::Degraded, message),
        "Progressing" => progressing(message),
        _ => progressing("Waiting for the rollout controller"),
    }
}

/// App of apps: a GitSync's health is what it reports about its own objects.
fn git_sync(v: &Value) -> Option<HealthStatus> {
    if unobserved(v) {
        return progressing("Waiting for the GitSync to be reconciled");
    }
    let code = match text(v, "/status/health/status") {
        "Healthy" => HealthStatusCode::Healthy,
        "Progressing" => HealthStatusCode::Progressing,
        "Degraded" => HealthStatusCode::Degraded,
        "Suspended" => HealthStatusCode::Suspended,
        "Missing" => HealthStatusCode::Missing,
        "" => return progressing("Waiting for the GitSync to be reconciled"),
        _ => HealthStatusCode::Unknown,
    };
    status(code, text(v, "/status/health/message"))
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
