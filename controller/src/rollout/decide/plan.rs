//! The plan a decision produces: what to create, scale, delete, write and say, and when to
//! look again. Data only, plus the one way to set the next look (the earliest deadline wins).

use std::time::Duration;

use jiff::Timestamp;
use rollout_rs_crds::ObjectMetadata;
use rollout_rs_crds::rollout::RolloutStatus;

use crate::rollout::analysis::NewRun;

/// A ReplicaSet to create for the current template.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReplicaSet {
    pub name: String,
    pub hash: String,
    pub revision: u64,
    pub replicas: i32,
    /// The pods' role metadata (canaryMetadata, previewMetadata...), beside the template's.
    pub role_metadata: ObjectMetadata,
}

/// Role metadata (`canaryMetadata`/`stableMetadata`, `activeMetadata`/`previewMetadata`) to
/// set on a ReplicaSet's pod template and on its running pods, and keys of an earlier role to
/// remove.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodMetadataUpdate {
    pub replica_set: String,
    pub hash: String,
    pub set: ObjectMetadata,
    pub remove_labels: Vec<String>,
    pub remove_annotations: Vec<String>,
}

/// The weight every configured router receives, and the hashes the two sides run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterWeights {
    pub canary: i32,
    pub total: i32,
    pub canary_hash: String,
    pub stable_hash: String,
}

/// An Event to emit.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// What to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Option<NewReplicaSet>,
    /// `(ReplicaSet name, replicas)`, only for counts that change.
    pub scale: Vec<(String, i32)>,
    /// ReplicaSets beyond `revisionHistoryLimit`.
    pub delete: Vec<String>,
    /// Orphan ReplicaSets to adopt (controller owner reference to the Rollout).
    pub adopt: Vec<String>,
    /// Pods to delete for a restart, within maxUnavailable.
    pub restart_pods: Vec<String>,
    /// `(ReplicaSet, deadline)`: set the scale-down deadline annotation.
    pub scale_down_deadlines: Vec<(String, Timestamp)>,
    /// Services this Rollout pinned that its spec no longer names: selector released.
    pub release_services: Vec<String>,
    /// `(Deployment, replicas)`: the workloadRef's Deployment scaled down.
    pub scale_workload: Option<(String, i32)>,
    /// DestinationRules it pinned that its spec no longer names, as (namespace, name):
    /// subsets released.
    pub release_destination_rules: Vec<(String, String)>,
    /// ReplicaSets whose scale-down deadline no longer holds (the current template's).
    pub clear_deadlines: Vec<String>,
    /// `(ReplicaSet, revision)`: a reused ReplicaSet's new revision number.
    pub revisions: Vec<(String, u64)>,
    /// A ReplicaSet whose template just became stable: marked so.
    pub mark_promoted: Option<String>,
    /// With trafficRouting: the canary's share to write to every router, out of `total`.
    pub weights: Option<RouterWeights>,
    /// `(Service name, pod-template hash)` selectors to pin.
    pub selectors: Vec<(String, String)>,
    pub status: RolloutStatus,
    pub events: Vec<PlannedEvent>,
    /// Role metadata to bring onto ReplicaSets and their pods.
    pub pod_metadata: Vec<PodMetadataUpdate>,
    /// AnalysisRuns to create, to terminate (`spec.terminate`), and to delete (history).
    pub create_runs: Vec<NewRun>,
    pub terminate_runs: Vec<String>,
    pub delete_runs: Vec<String>,
    /// When to reconcile again at the latest (a pause's end, a progress deadline).
    pub requeue_after: Option<Duration>,
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
