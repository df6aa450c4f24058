//! The labels and annotations rollout-rs puts on objects, which users' scripts, dashboards
//! and tools select on (`kubectl get analysisruns -l rollout-type=Step`): one place, so none is
//! spelled twice.

/// On ReplicaSets, pods and Service selectors: the pod-template hash (Argo Rollouts' name).
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// On an AnalysisRun: what started it, `Step`, `Background`, `PrePromotion` or
/// `PostPromotion` (the values Argo Rollouts uses).
pub const RUN_TYPE_LABEL: &str = "rollout-type";

/// On a step's AnalysisRun: the step index.
pub const STEP_INDEX_LABEL: &str = "step-index";

/// On a ReplicaSet: its revision number.
pub const REVISION_ANNOTATION: &str = "rollout-rs.io/revision";

/// On a ReplicaSet whose template was stable once: going back to it may be fast.
pub const PROMOTED_ANNOTATION: &str = "rollout-rs.io/promoted";

/// On an old ReplicaSet: when it is scaled down (RFC 3339).
pub const SCALE_DOWN_ANNOTATION: &str = "rollout-rs.io/scale-down-deadline";

/// On a Service or DestinationRule whose hashes a Rollout pins: [`managed_by`] of that
/// Rollout. When its spec stops naming the object, the Rollout releases it.
pub const MANAGED_BY_ANNOTATION: &str = "rollout-rs.io/managed-by";

/// The [`MANAGED_BY_ANNOTATION`] value of the Rollout `name` in `namespace`.
pub fn managed_by(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// On every object a GitSync applies: [`tracked_by`] of that GitSync. An object is pruned only
/// when its GitSync's inventory lists it and this annotation names the same GitSync.
pub const TRACKED_BY_ANNOTATION: &str = "rollout-rs.io/tracked-by";

/// `"false"` on an object a GitSync applies: never pruned, even once it leaves Git.
pub const PRUNE_ANNOTATION: &str = "rollout-rs.io/prune";

/// The [`TRACKED_BY_ANNOTATION`] value of the GitSync `name` in `namespace`.
pub fn tracked_by(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}
