//! The plan a decision produces: what to create, scale, delete, write and say, and when to
//! look again. Data only, plus the one way to set the next look (the earliest deadline wins).

use std::time::Duration;

use jiff::Timestamp;
use rollout_rs_crds::ObjectMetadata;
use rollout_rs_crds::rollout::RolloutStatus;

use crate::process::gate::Class;
use crate::rollout::analysis::NewRun;

/// A ReplicaSet to create for the current template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NewReplicaSet {
    pub(crate) name: String,
    pub(crate) hash: String,
    pub(crate) revision: u64,
    pub(crate) replicas: i32,
    /// The pods' role metadata (canaryMetadata, previewMetadata...), beside the template's.
    pub(crate) role_metadata: ObjectMetadata,
}

/// Role metadata (`canaryMetadata`/`stableMetadata`, `activeMetadata`/`previewMetadata`) to
/// set on a ReplicaSet's pod template and on its running pods, and keys of an earlier role to
/// remove.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PodMetadataUpdate {
    pub(crate) replica_set: String,
    pub(crate) hash: String,
    pub(crate) set: ObjectMetadata,
    pub(crate) remove_labels: Vec<String>,
    pub(crate) remove_annotations: Vec<String>,
}

/// The weight every configured router receives, and the hashes the two sides run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouterWeights {
    pub(crate) canary: i32,
    pub(crate) total: i32,
    pub(crate) canary_hash: String,
    pub(crate) stable_hash: String,
}

/// An Event to emit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlannedEvent {
    pub(crate) warning: bool,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// What to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) create: Option<NewReplicaSet>,
    /// `(ReplicaSet name, replicas)`, only for counts that change.
    pub(crate) scale: Vec<(String, i32)>,
    /// ReplicaSets beyond `revisionHistoryLimit`.
    pub(crate) delete: Vec<String>,
    /// Orphan ReplicaSets to adopt (controller owner reference to the Rollout).
    pub(crate) adopt: Vec<String>,
    /// Pods to delete for a restart, within maxUnavailable.
    pub(crate) restart_pods: Vec<String>,
    /// `(ReplicaSet, deadline)`: set the scale-down deadline annotation.
    pub(crate) scale_down_deadlines: Vec<(String, Timestamp)>,
    /// Services this Rollout pinned that its spec no longer names: selector released.
    pub(crate) release_services: Vec<String>,
    /// `(Deployment, replicas)`: the workloadRef's Deployment scaled down.
    pub(crate) scale_workload: Option<(String, i32)>,
    /// DestinationRules it pinned that its spec no longer names, as (namespace, name):
    /// subsets released.
    pub(crate) release_destination_rules: Vec<(String, String)>,
    /// ReplicaSets whose scale-down deadline no longer holds (the current template's).
    pub(crate) clear_deadlines: Vec<String>,
    /// `(ReplicaSet, revision)`: a reused ReplicaSet's new revision number.
    pub(crate) revisions: Vec<(String, u64)>,
    /// A ReplicaSet whose template just became stable: marked so.
    pub(crate) mark_promoted: Option<String>,
    /// With trafficRouting: the canary's share to write to every router, out of `total`.
    pub(crate) weights: Option<RouterWeights>,
    /// `(Service name, pod-template hash)` selectors to pin.
    pub(crate) selectors: Vec<(String, String)>,
    pub(crate) status: RolloutStatus,
    pub(crate) events: Vec<PlannedEvent>,
    /// Role metadata to bring onto ReplicaSets and their pods.
    pub(crate) pod_metadata: Vec<PodMetadataUpdate>,
    /// AnalysisRuns to create, to terminate (`spec.terminate`), and to delete (history).
    pub(crate) create_runs: Vec<NewRun>,
    pub(crate) terminate_runs: Vec<String>,
    pub(crate) delete_runs: Vec<String>,
    /// When to reconcile again at the latest (a pause's end, a progress deadline).
    pub(crate) requeue_after: Option<Duration>,
}

impl Plan {
    /// Asks to look again after `wait` at the latest: the earliest of every deadline asked
    /// for wins (a pause's end, a restart, a scale-down, a progress deadline).
    pub(in crate::rollout) fn wake_after(&mut self, wait: Option<Duration>) {
        self.requeue_after = match (self.requeue_after, wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// How soon the plan should be carried out when the API is busy, from the status the
    /// Rollout had: a step, a pause begun or ended, an abort or its retry, or traffic weights
    /// first (what users and the safety rules wait for); then what follows from them (a
    /// promotion's new stable side, a phase); then the rest (counts, scale-downs, resyncs).
    pub(crate) fn urgency(&self, before: Option<&RolloutStatus>) -> Class {
        let default = RolloutStatus::default();
        let was = before.unwrap_or(&default);
        let now = &self.status;
        let weights = |s: &RolloutStatus| s.canary.as_ref().and_then(|c| c.weights.clone());
        let active = |s: &RolloutStatus| {
            s.blue_green
                .as_ref()
                .and_then(|b| b.active_selector.clone())
        };
        if was.current_step_index != now.current_step_index
            || was.abort != now.abort
            || was.pause_conditions != now.pause_conditions
            || weights(was) != weights(now)
        {
            Class::Urgent
        } else if was.stable_rs != now.stable_rs
            || was.phase != now.phase
            || active(was) != active(now)
        {
            Class::Soon
        } else {
            Class::Bulk
        }
    }

    /// Asks to look again at `at` (at once when it has passed).
    pub(in crate::rollout) fn wake_at(&mut self, now: Timestamp, at: Timestamp) {
        self.wake_after(Some((at - now).try_into().unwrap_or(Duration::ZERO)));
    }
}

pub(in crate::rollout) fn event(
    warning: bool,
    reason: &'static str,
    message: impl Into<String>,
) -> PlannedEvent {
    PlannedEvent {
        warning,
        reason,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use rollout_rs_crds::rollout::{
        BlueGreenStatus, CanaryStatus, PauseCondition, PauseReason, RolloutPhase, TrafficWeights,
        WeightDestination,
    };

    use super::*;

    fn progressing() -> RolloutStatus {
        RolloutStatus {
            phase: Some(RolloutPhase::Progressing),
            current_step_index: Some(1),
            stable_rs: Some("aaa".into()),
            replicas: Some(3),
            ..Default::default()
        }
    }

    fn weights(canary: i32) -> Option<CanaryStatus> {
        let side = |weight| WeightDestination {
            weight,
            ..Default::default()
        };
        Some(CanaryStatus {
            weights: Some(TrafficWeights {
                canary: side(canary),
                stable: side(100 - canary),
            }),
            ..Default::default()
        })
    }

    #[test]
    fn plans_that_move_a_rollout_are_told_from_bulk_work() {
        let pause = PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                "2026-11-30T12:00:00Z".parse().unwrap(),
            ),
        };
        use Class::*;
        type Change = fn(&mut RolloutStatus, &PauseCondition);
        let cases: Vec<(&str, Change, Class)> = vec![
            ("nothing changes", |_, _| {}, Bulk),
            (
                "only counts change",
                |s, _| s.ready_replicas = Some(2),
                Bulk,
            ),
            (
                "a message changes",
                |s, _| s.message = Some("x".into()),
                Bulk,
            ),
            (
                "the next step",
                |s, _| s.current_step_index = Some(2),
                Urgent,
            ),
            (
                "a pause begins",
                |s, p| s.pause_conditions = vec![p.clone()],
                Urgent,
            ),
            ("aborted", |s, _| s.abort = true, Urgent),
            ("promoted", |s, _| s.stable_rs = Some("bbb".into()), Soon),
            (
                "healthy",
                |s, _| s.phase = Some(RolloutPhase::Healthy),
                Soon,
            ),
            ("weight moves", |s, _| s.canary = weights(0), Urgent),
            (
                "active side switched",
                |s, _| {
                    s.blue_green = Some(BlueGreenStatus {
                        active_selector: Some("bbb".into()),
                        ..Default::default()
                    })
                },
                Soon,
            ),
        ];
        for (what, change, urgent) in cases {
            let mut plan = Plan {
                status: progressing(),
                ..Default::default()
            };
            change(&mut plan.status, &pause);
            assert_eq!(plan.urgency(Some(&progressing())), urgent, "{what}");
        }
        // A pause that ends: its condition goes.
        let mut paused = progressing();
        paused.pause_conditions = vec![pause];
        let plan = Plan {
            status: progressing(),
            ..Default::default()
        };
        assert_eq!(plan.urgency(Some(&paused)), Class::Urgent, "a pause ends");
        // A new Rollout's first status sets its step.
        assert_eq!(plan.urgency(None), Class::Urgent);
        // Same weights, other counts: bulk.
        let mut routed = progressing();
        routed.canary = weights(50);
        let mut plan = Plan {
            status: routed.clone(),
            ..Default::default()
        };
        plan.status.available_replicas = Some(3);
        assert_eq!(plan.urgency(Some(&routed)), Class::Bulk);
    }
}
