//! The status a plan reports: observed counts, conditions, phase and message, and progress
//! deadlines (with `progressDeadlineAbort`), in the order Argo Rollouts users know. Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::Condition;
use rollout_rs_crds::conditions::{AVAILABLE, PAUSED, PROGRESSING, TRAFFIC_ROUTING, reason};
use rollout_rs_crds::rollout::{PauseCondition, PauseReason, RolloutPhase, RolloutStatus};

use crate::rollout::decide::observed::ReplicaSetView;
use crate::rollout::decide::plan::{Plan, PlannedEvent, event};

const DEFAULT_PROGRESS_DEADLINE: i64 = 600;

pub(super) fn set_condition(
    status: &mut RolloutStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    rollout_rs_crds::conditions::set(
        &mut status.conditions,
        type_,
        value,
        reason,
        message,
        Time(now),
    );
}

pub(super) fn remove_condition(status: &mut RolloutStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

pub(super) fn condition<'a>(status: &'a RolloutStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

pub(super) fn observed_counts(
    st: &mut RolloutStatus,
    rss: &[ReplicaSetView],
    new_hash: Option<&str>,
) {
    st.replicas = Some(rss.iter().map(|r| r.replicas).sum());
    st.ready_replicas = Some(rss.iter().map(|r| r.ready).sum());
    st.available_replicas = Some(rss.iter().map(|r| r.available).sum());
    if let Some(h) = new_hash {
        st.updated_replicas = Some(rss.iter().filter(|r| r.hash == h).map(|r| r.replicas).sum());
    }
}

/// Phase, message and conditions, in the order Argo Rollouts users know; progress deadlines.
#[allow(clippy::too_many_arguments)] // the inputs of one computation, all needed
pub(super) fn phase(
    st: &mut RolloutStatus,
    prev: &RolloutStatus,
    manually_paused: bool,
    replicas: i32,
    hold: Option<&str>,
    awaiting_analysis: bool,
    old_take_traffic: bool,
    now: Timestamp,
    plan: &mut Plan,
    deadline_seconds: Option<i32>,
    deadline_abort: bool,
) {
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let completed = st.stable_rs.is_some() && st.stable_rs == st.current_pod_hash;
    let paused = manually_paused || !st.pause_conditions.is_empty();

    // Progress: anything observable moved (counts, step, pause), or the rollout is paused
    // (pause time is excluded from the deadline).
    let moved = st.current_step_index != prev.current_step_index
        || st.updated_replicas != prev.updated_replicas
        || st.available_replicas != prev.available_replicas
        || st.replicas != prev.replicas
        || st.current_pod_hash != prev.current_pod_hash
        || st.pause_conditions.len() != prev.pause_conditions.len()
        || condition(prev, PROGRESSING).is_none();
    let deadline = i64::from(deadline_seconds.unwrap_or(DEFAULT_PROGRESS_DEADLINE as i32));
    let exceeded_before = condition(prev, PROGRESSING)
        .is_some_and(|c| c.reason.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED));
    // Old pods count against a basic canary (they take traffic through the shared Service);
    // behind a router or a blue-green switch they take none and only wait for their delay.
    let done = completed
        && updated == replicas
        && available >= replicas
        && (!old_take_traffic || total == updated);

    let aborted = condition(st, PROGRESSING)
        .filter(|c| c.reason.as_deref() == Some(reason::ROLLOUT_ABORTED))
        .and_then(|c| c.message.clone())
        .unwrap_or_else(|| {
            format!(
                "Rollout aborted update to template {}",
                st.current_pod_hash.clone().unwrap_or_default()
            )
        });
    if st.abort {
        set_condition(
            st,
            PROGRESSING,
            "False",
            reason::ROLLOUT_ABORTED,
            &aborted,
            now,
        );
    } else if done {
        set_condition(
            st,
            PROGRESSING,
            "True",
            reason::NEW_REPLICA_SET_AVAILABLE,
            "Rollout is healthy",
            now,
        );
    } else if paused {
        set_condition(
            st,
            PROGRESSING,
            "Unknown",
            reason::ROLLOUT_PAUSED,
            "Rollout is paused",
            now,
        );
    } else if awaiting_analysis {
        set_condition(
            st,
            PROGRESSING,
            "True",
            reason::ANALYSIS_RUNNING,
            "Rollout is waiting for its analysis",
            now,
        );
    } else if moved {
        set_condition(
            st,
            PROGRESSING,
            "True",
            reason::REPLICA_SET_UPDATED,
            "Rollout is progressing",
            now,
        );
        force_update_time(st, now);
    } else if !exceeded_before {
        let last = condition(st, PROGRESSING)
            .and_then(|c| c.last_update_time.clone())
            .map_or(now, |t| t.0);
        let ends = last + jiff::SignedDuration::from_secs(deadline);
        if now >= ends {
            set_condition(
                st,
                PROGRESSING,
                "False",
                reason::PROGRESS_DEADLINE_EXCEEDED,
                &format!("Rollout made no progress for {deadline}s"),
                now,
            );
            plan.events.push(event(
                true,
                reason::PROGRESS_DEADLINE_EXCEEDED,
                format!("Rollout made no progress for {deadline}s"),
            ));
        } else {
            plan.wake_at(now, ends);
        }
    }
    let exceeded = condition(st, PROGRESSING)
        .is_some_and(|c| c.reason.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED));
    // Checked on every reconcile, so progressDeadlineAbort turned on after the deadline
    // passed aborts too (Argo Rollouts' TestBlueGreenExceedProgressDeadlineAbort).
    if exceeded && deadline_abort && !st.abort && !completed {
        st.abort = true;
        st.promote_full = false;
        st.aborted_at = Some(Time(now));
        plan.events.push(event(
            true,
            reason::ROLLOUT_ABORTED,
            "Rollout aborted: progress deadline exceeded",
        ));
    }

    if paused {
        set_condition(
            st,
            PAUSED,
            "True",
            &if manually_paused {
                "ManuallyPaused".to_string()
            } else {
                pause_reason(st)
            },
            "Rollout is paused",
            now,
        );
    } else {
        remove_condition(st, PAUSED);
    }
    // A Rollout is Available when all its replicas are.
    if available >= replicas {
        set_condition(
            st,
            AVAILABLE,
            "True",
            reason::AVAILABLE_REASON,
            "Rollout has minimum availability",
            now,
        );
    } else {
        set_condition(
            st,
            AVAILABLE,
            "False",
            reason::AVAILABLE_REASON,
            "Rollout does not have minimum availability",
            now,
        );
    }

    let (phase, message): (RolloutPhase, String) = if st.abort {
        (RolloutPhase::Degraded, format!("RolloutAborted: {aborted}"))
    } else if exceeded {
        (
            RolloutPhase::Degraded,
            "ProgressDeadlineExceeded: Rollout made no progress within progressDeadlineSeconds"
                .into(),
        )
    } else if manually_paused {
        (RolloutPhase::Paused, "manually paused".into())
    } else if !st.pause_conditions.is_empty() {
        (RolloutPhase::Paused, pause_reason(st))
    } else if let Some(h) = hold {
        (RolloutPhase::Progressing, h.into())
    } else if updated < replicas {
        (
            RolloutPhase::Progressing,
            "more replicas need to be updated".into(),
        )
    } else if available < updated {
        (
            RolloutPhase::Progressing,
            "updated replicas are still becoming available".into(),
        )
    } else if old_take_traffic && total > updated {
        (
            RolloutPhase::Progressing,
            "old replicas are pending termination".into(),
        )
    } else if !completed {
        (
            RolloutPhase::Progressing,
            "waiting for all steps to complete".into(),
        )
    } else {
        (RolloutPhase::Healthy, String::new())
    };
    if prev.phase != Some(phase) && phase == RolloutPhase::Healthy && prev.phase.is_some() {
        plan.events
            .push(event(false, "RolloutHealthy", "Rollout is healthy"));
    }
    st.phase = Some(phase);
    st.message = (!message.is_empty()).then_some(message);
}

fn pause_reason(st: &RolloutStatus) -> String {
    st.pause_conditions.first().map_or_else(
        || "CanaryPauseStep".to_string(),
        |c| format!("{:?}", c.reason),
    )
}

fn force_update_time(st: &mut RolloutStatus, now: Timestamp) {
    if let Some(c) = st.conditions.iter_mut().find(|c| c.type_ == PROGRESSING) {
        c.last_update_time = Some(Time(now));
    }
}

/// A pause the controller takes (a pause step, an inconclusive run, a blue-green preview):
/// a user clearing `status.pauseConditions` while `controllerPause` stays set is a promote.
pub(super) fn enter_pause(
    st: &mut RolloutStatus,
    plan: &mut Plan,
    reason: PauseReason,
    now: Timestamp,
    announce: PlannedEvent,
) {
    st.pause_conditions.push(PauseCondition {
        reason,
        start_time: MicroTime(now),
    });
    st.controller_pause = true;
    plan.events.push(announce);
}

/// The status saying a plan's weights could not be written (and nothing was: every router is
/// checked before any is written), or `None` when it says so already. Degraded, where users
/// look first: a promote that cannot take effect says why. The next plan that routes clears it.
pub(crate) fn routing_failed(
    status: Option<&RolloutStatus>,
    message: &str,
    now: Timestamp,
) -> Option<RolloutStatus> {
    let mut st = status.cloned().unwrap_or_default();
    if condition(&st, TRAFFIC_ROUTING).and_then(|c| c.message.as_deref()) == Some(message) {
        return None;
    }
    set_condition(
        &mut st,
        TRAFFIC_ROUTING,
        "False",
        reason::ROUTING_FAILED,
        message,
        now,
    );
    st.phase = Some(RolloutPhase::Degraded);
    st.message = Some(format!("TrafficRoutingFailed: {message}"));
    Some(st)
}
