//! Aborts, shared by both strategies: the first reconcile of one (its time and Event) and how
//! long the aborted version keeps its pods.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollout_rs_crds::conditions::{PROGRESSING, reason};
use rollout_rs_crds::rollout::RolloutStatus;

use crate::rollout::decide::observed::ReplicaSetView;
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::status::condition;

/// Default scaleDownDelaySeconds and abortScaleDownDelaySeconds.
pub(super) const DEFAULT_SCALE_DOWN_DELAY: i32 = 30;

/// The first reconcile of an abort: its time, and a Warning Event with the reason.
pub(super) fn abort_started(
    st: &mut RolloutStatus,
    plan: &mut Plan,
    new_hash: &str,
    now: Timestamp,
) {
    if st.aborted_at.is_some() {
        return;
    }
    // The abort wins over a promote-full in flight (a user's or a fast rollback's).
    st.promote_full = false;
    st.aborted_at = Some(Time(now));
    let message = condition(st, PROGRESSING)
        .filter(|c| c.reason.as_deref() == Some(reason::ROLLOUT_ABORTED))
        .and_then(|c| c.message.clone())
        .unwrap_or_else(|| format!("Rollout aborted update to template {new_hash}"));
    plan.events
        .push(event(true, reason::ROLLOUT_ABORTED, message));
}

/// Pods the aborted version (`rs`) keeps: all of them until `delay` seconds (default 30) after
/// the abort, then none (requeued at exactly that time); a delay of 0 keeps them, as Argo
/// Rollouts users expect. The deadline shows on the ReplicaSet as its scale-down-deadline
/// annotation, as an old stable's does.
pub(super) fn kept_after_abort(
    st: &RolloutStatus,
    delay: Option<i32>,
    rs: Option<&ReplicaSetView>,
    now: Timestamp,
    plan: &mut Plan,
) -> i32 {
    let current = rs.map_or(0, |r| r.desired);
    let delay = delay.unwrap_or(DEFAULT_SCALE_DOWN_DELAY);
    if delay == 0 {
        return current;
    }
    let since = st.aborted_at.as_ref().map_or(now, |t| t.0);
    let ends = since + jiff::SignedDuration::from_secs(i64::from(delay));
    if now >= ends {
        return 0;
    }
    if let Some(r) = rs.filter(|r| r.scale_down_at.is_none() && r.desired > 0) {
        plan.scale_down_deadlines.push((r.name.clone(), ends));
    }
    plan.wake_at(now, ends);
    current
}
