//! The condition types and reasons of the kinds' status, and the one setter of a condition.
//! Users' scripts and tools (Argo CD health checks, `kubectl wait --for=condition=...`) read
//! them, so each is spelled once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::common::Condition;

/// Sets the condition `type_` in `conditions` (added when absent): its transition time moves
/// only when its status changes, its update time when anything of it changes, as Kubernetes
/// controllers keep them.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Time,
) {
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(now.clone());
            }
            if c.status != status
                || c.reason.as_deref() != Some(reason)
                || c.message.as_deref() != Some(message)
            {
                c.last_update_time = Some(now);
            }
            c.status = status.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(now),
        }),
    }
}

/// `True` while an update moves; `False` with [`reason::ROLLOUT_ABORTED`] or
/// [`reason::PROGRESS_DEADLINE_EXCEEDED`].
pub const PROGRESSING: &str = "Progressing";
/// `True` when all the Rollout's replicas are available.
pub const AVAILABLE: &str = "Available";
/// `True` while paused (by a step, an inconclusive analysis, a preview, or by hand).
pub const PAUSED: &str = "Paused";
/// Present while the spec (or an object it names) is invalid; nothing moves meanwhile.
pub const INVALID_SPEC: &str = "InvalidSpec";
/// `False` while a router cannot be written.
pub const TRAFFIC_ROUTING: &str = "TrafficRouting";

/// Reasons of the conditions above (several are Event reasons too).
pub mod reason {
    pub const ROLLOUT_ABORTED: &str = "RolloutAborted";
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
    pub const ROLLOUT_PAUSED: &str = "RolloutPaused";
    pub const ANALYSIS_RUNNING: &str = "AnalysisRunning";
    pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
    pub const AVAILABLE_REASON: &str = "AvailableReason";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const ROUTING_FAILED: &str = "RoutingFailed";
}

/// The condition of a GitSync's status: `True` when the latest revision of its source is
/// applied (reason [`git_sync::SYNCED`]), `False` with the reason it is not. `kubectl wait
/// --for=condition=Ready gitsync/NAME` waits for a sync.
pub const READY: &str = "Ready";

/// Reasons of a GitSync's [`READY`] condition.
pub mod git_sync {
    pub const SYNCED: &str = "Synced";
    /// The source could not be fetched: nothing was applied or pruned.
    pub const FETCH_FAILED: &str = "FetchFailed";
    /// The revision could not be rendered (the message names the file and line): nothing
    /// was applied or pruned.
    pub const RENDER_FAILED: &str = "RenderFailed";
    /// An object was refused: nothing was applied or pruned.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// The render had no objects and `allowEmpty` is off: nothing was pruned.
    pub const EMPTY_RENDER: &str = "EmptyRender";
    /// No automated sync: the revision is reported, not applied.
    pub const OUT_OF_SYNC: &str = "OutOfSync";
    pub const SUSPENDED: &str = "Suspended";
}
