//! What the table tests of `decide` share: the time they run at, a Rollout from YAML, the
//! ReplicaSet of an image, the next reconcile's Rollout, and readers of a plan. Test-only.

use jiff::Timestamp;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::PauseReason;

use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::Plan;
use crate::rollout::hash::pod_template_hash;

/// When every table test runs.
pub(super) fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().expect("valid time")
}

/// The one Rollout in `yaml`.
pub(super) fn parse_rollout(yaml: &str) -> Rollout {
    match rollout_rs_crds::manifest::parse_all(yaml)
        .expect("YAML")
        .remove(0)
    {
        Ok(rollout_rs_crds::manifest::Object::Rollout(r)) => r,
        other => panic!("not a rollout: {other:?}"),
    }
}

/// The pod-template hash of the test Rollouts' template (`app: web`, one container `web`)
/// running `image`: both strategies' fixtures share that template.
pub(super) fn hash_of(image: &str) -> String {
    let r = parse_rollout(&format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n  strategy: {{canary: {{}}}}\n"
    ));
    pod_template_hash(&r.spec.template)
}

/// The ReplicaSet of `web` running `image`.
pub(super) fn rs(image: &str, revision: u64, desired: i32, available: i32) -> ReplicaSetView {
    ReplicaSetView::of("web", &hash_of(image), revision, desired, available)
}

/// The plan's status written back, as the next reconcile reads it.
pub(super) fn then(mut r: Rollout, p: &Plan) -> Rollout {
    r.status = Some(p.status.clone());
    r
}

/// The replicas the plan scales `image`'s ReplicaSet to.
pub(super) fn scaled(p: &Plan, image: &str) -> Option<i32> {
    let name = format!("web-{}", hash_of(image));
    p.scale.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// The reasons of the plan's Events, in order.
pub(super) fn reasons(p: &Plan) -> Vec<&'static str> {
    p.events.iter().map(|e| e.reason).collect()
}

/// The reasons of the plan's pause conditions.
pub(super) fn pause_reasons(p: &Plan) -> Vec<PauseReason> {
    p.status.pause_conditions.iter().map(|c| c.reason).collect()
}

/// The pod-template hash the plan points `svc` at.
pub(super) fn selector(p: &Plan, svc: &str) -> Option<String> {
    p.selectors
        .iter()
        .find(|(s, _)| s == svc)
        .map(|(_, h)| h.clone())
}

impl ReplicaSetView {
    /// `<rollout>-<hash>` with `desired` pods, `available` of them ready and available.
    pub(crate) fn of(
        rollout: &str,
        hash: &str,
        revision: u64,
        desired: i32,
        available: i32,
    ) -> ReplicaSetView {
        ReplicaSetView {
            name: format!("{rollout}-{hash}"),
            hash: hash.to_string(),
            revision,
            desired,
            replicas: desired,
            ready: available,
            available,
            ..Default::default()
        }
    }
}

impl Observed {
    /// A Rollout and its ReplicaSets at `now`, nothing else observed: where table tests start.
    pub(crate) fn of(
        rollout: Rollout,
        replica_sets: Vec<ReplicaSetView>,
        now: Timestamp,
    ) -> Observed {
        Observed {
            rollout,
            replica_sets,
            pods: vec![],
            runs: vec![],
            reference_errors: vec![],
            remembered: None,
            managed_services: vec![],
            managed_destination_rules: vec![],
            workload: None,
            now,
        }
    }
}
