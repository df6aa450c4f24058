//! The plan a decision produces: what to create, scale, delete, write and say, and when to
//! look again. Data only, plus the one way to set the next look (the earliest deadline wins).

use std::time::Duration;

use jiff::Timestamp;
use rollout_rs_crds::ObjectMetadata;
use rollout_rs_crds::rollout::RolloutStatus;

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
