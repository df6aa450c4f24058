//! What `decide` looks at: the Rollout, its ReplicaSets, pods (only while a restart is
//! pending), AnalysisRuns, the objects it marks, and the time. Plain data filled by the
//! reconciler's observe step; nothing here reads the cluster.

use jiff::Timestamp;
use rollout_rs_crds::ObjectMetadata;
use rollout_rs_crds::rollout::{Rollout, WorkloadScaleDown};

use crate::rollout::analysis::RunView;
use crate::rollout::status_guard::Owned;

/// A ReplicaSet of the Rollout, as observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ReplicaSetView {
    pub(crate) name: String,
    /// Its `rollouts-pod-template-hash` label.
    pub(crate) hash: String,
    /// Its `rollout-rs.io/revision` annotation.
    pub(crate) revision: u64,
    /// `spec.replicas`.
    pub(crate) desired: i32,
    /// `status.replicas`, `readyReplicas`, `availableReplicas`.
    pub(crate) replicas: i32,
    pub(crate) ready: i32,
    pub(crate) available: i32,
    /// Matches the Rollout's selector but has no controller yet: adopt it.
    pub(crate) orphan: bool,
    /// Its template was stable once (its `rollout-rs.io/promoted` annotation): going back to
    /// it may be fast.
    pub(crate) promoted: bool,
    /// Its `rollout-rs.io/scale-down-deadline` annotation: an old ReplicaSet keeps its pods
    /// until then (traffic routing), so in-flight requests finish.
    pub(crate) scale_down_at: Option<Timestamp>,
    /// Labels and annotations of its pod template.
    pub(crate) pod_metadata: ObjectMetadata,
}

/// A pod of the Rollout, observed only while a restart (`spec.restartAt`) is pending.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PodView {
    pub(crate) name: String,
    pub(crate) created: Timestamp,
    pub(crate) ready: bool,
}

/// Everything `decide` looks at.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    pub(crate) rollout: Rollout,
    pub(crate) replica_sets: Vec<ReplicaSetView>,
    /// The Rollout's pods, when a restart is pending (see [`restart_pending`]); else empty.
    pub(crate) pods: Vec<PodView>,
    /// The AnalysisRuns the Rollout owns.
    pub(crate) runs: Vec<RunView>,
    /// Services carrying this Rollout's managed-by annotation (their selector is pinned).
    pub(crate) managed_services: Vec<String>,
    /// The Deployment a workloadRef names (its template is already the Rollout's).
    pub(crate) workload: Option<Workload>,
    /// DestinationRules carrying its managed-by annotation (their subsets are pinned to
    /// hashes), as (namespace, name).
    pub(crate) managed_destination_rules: Vec<(String, String)>,
    /// The progress fields of the status as this controller last wrote them, when it
    /// remembers (not after a restart): anything else found there was written by others.
    pub(crate) remembered: Option<Owned>,
    /// Objects the spec names that are missing or invalid (analysis templates, Services),
    /// one message each: each holds the Rollout in InvalidSpec, as an invalid field would.
    pub(crate) reference_errors: Vec<String>,
    pub(crate) now: Timestamp,
}

/// Whether `spec.restartAt` asks for pods to be restarted that have not been yet.
pub(crate) fn restart_pending(ro: &Rollout) -> bool {
    let Some(at) = ro.spec.restart_at.as_ref() else {
        return false;
    };
    ro.status
        .as_ref()
        .and_then(|s| s.restarted_at.as_ref())
        .is_none_or(|done| done.0 < at.0)
}

/// A Deployment whose pod template the Rollout runs (`workloadRef`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Workload {
    pub(crate) name: String,
    pub(crate) scale_down: WorkloadScaleDown,
    /// Its `spec.replicas`.
    pub(crate) replicas: i32,
}
