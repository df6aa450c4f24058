//! The steps both strategies start with, each named for what it decides: put back status
//! fields others wrote, hold an invalid spec, start the steps over for a new template or new
//! steps, retry after an abort, go back fast to a recent stable version, promote in full after
//! an abort, and number the revision. They only edit the status and plan they are handed;
//! `decide` calls them in order and hands the result ([`Begun`]) to a strategy.

use rollout_rs_crds::conditions::{INVALID_SPEC, PROGRESSING, TRAFFIC_ROUTING, reason};
use rollout_rs_crds::rollout::{CanaryStep, RolloutPhase, RolloutStatus};
use rollout_rs_crds::validation;

use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::runs::forget_runs;
use crate::rollout::decide::status::{condition, observed_counts, remove_condition, set_condition};
use crate::rollout::status_guard;

/// What the shared steps have worked out when a strategy takes over.
pub(super) struct Begun<'a> {
    pub(crate) prev: RolloutStatus,
    pub(crate) st: RolloutStatus,
    pub(crate) plan: Plan,
    pub(crate) replicas: i32,
    pub(crate) new_hash: String,
    pub(crate) new_rs: Option<&'a ReplicaSetView>,
    /// The last fully promoted template, if its ReplicaSet (or the current one) exists.
    pub(crate) stable_hash: Option<String>,
    /// The stable ReplicaSet, when it is not the current one.
    pub(crate) stable_rs: Option<&'a ReplicaSetView>,
    /// No stable version yet: the first deploy goes straight to full size.
    pub(crate) initial: bool,
    /// The current template is the stable one.
    pub(crate) promoted: bool,
    pub(crate) revision: u64,
}

/// The status as last written (`prev`, after the guard put back what others changed) and the
/// one being decided (`st`), with generation, selector and counts filled in. The guard may
/// also ask to hold the Rollout (its second value).
pub(super) fn guarded_status(
    obs: &Observed,
    plan: &mut Plan,
) -> (RolloutStatus, RolloutStatus, Option<String>) {
    let spec = &obs.rollout.spec;
    let mut prev = obs.rollout.status.clone().unwrap_or_default();
    let running: Vec<(&str, i32)> = obs
        .replica_sets
        .iter()
        .map(|r| (r.hash.as_str(), r.desired))
        .collect();
    let steps = spec
        .strategy
        .canary
        .as_ref()
        .map_or(0, |c| c.steps.len() as i32);
    let guarded = status_guard::guard(&mut prev, obs.remembered.as_ref(), steps, &running);
    if !guarded.restored.is_empty() {
        plan.events.push(event(
            true,
            "StatusRejected",
            format!(
                "only abort, pauseConditions and promoteFull are taken from outside the controller: {}",
                guarded.restored.join("; ")
            ),
        ));
    }
    let mut st = prev.clone();
    st.observed_generation = obs.rollout.metadata.generation;
    st.selector = spec.selector.match_labels.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    observed_counts(&mut st, &obs.replica_sets, None);
    (prev, st, guarded.hold)
}

/// An invalid spec, a missing object it names, or a status the guard cannot trust: nothing
/// moves, and the reason is said where users look (an InvalidSpec condition, a Warning Event
/// when it changes, a Degraded phase). Returns whether the Rollout is held.
pub(super) fn hold_invalid(
    obs: &Observed,
    prev: &RolloutStatus,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    hold: Option<String>,
) -> bool {
    let errors = validation::rollout(&obs.rollout.spec);
    let mut parts = vec![validation::summary(&errors)];
    parts.extend(obs.reference_errors.iter().cloned());
    parts.extend(hold);
    parts.retain(|p| !p.is_empty());
    if parts.is_empty() {
        // A routing failure is reported by the executor; a plan is only written once routing
        // worked.
        remove_condition(st, TRAFFIC_ROUTING);
        if condition(prev, INVALID_SPEC).is_some() {
            remove_condition(st, INVALID_SPEC);
            plan.events
                .push(event(false, "SpecValid", "the spec is valid again"));
        }
        return false;
    }
    let message = parts.join("; ");
    if condition(prev, INVALID_SPEC).and_then(|c| c.message.as_deref()) != Some(message.as_str()) {
        plan.events
            .push(event(true, reason::INVALID_SPEC, message.clone()));
    }
    set_condition(
        st,
        INVALID_SPEC,
        "True",
        reason::INVALID_SPEC,
        &message,
        obs.now,
    );
    st.phase = Some(RolloutPhase::Degraded);
    st.message = Some(format!("InvalidSpec: {message}"));
    true
}

/// A fingerprint of the steps: a change of steps starts them over, as a new template does.
pub(super) fn steps_hash(steps: &[CanaryStep]) -> String {
    let bytes = serde_json::to_vec(steps).unwrap_or_default();
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// What [`start_over`] found.
pub(super) struct Update {
    /// The template is not the one the status last recorded.
    pub(crate) new_template: bool,
    /// A template replaced an earlier one (not the first deploy): worth an Event.
    pub(crate) announce: bool,
}

/// A new template (or new steps) starts the steps again, forgetting pauses and runs; a new
/// template also ends an abort and a promote-full of the previous one.
pub(super) fn start_over(
    prev: &RolloutStatus,
    st: &mut RolloutStatus,
    new_hash: &str,
    steps: &[CanaryStep],
) -> Update {
    let new_template = prev.current_pod_hash.as_deref() != Some(new_hash);
    let steps_hash = steps_hash(steps);
    let new_steps = prev
        .current_step_hash
        .as_deref()
        .is_some_and(|h| h != steps_hash);
    if new_template || new_steps {
        st.current_step_index = Some(0);
        st.pause_conditions.clear();
        st.controller_pause = false;
        forget_runs(st);
        if new_template {
            st.abort = false;
            st.aborted_at = None;
            st.promote_full = false;
        }
    }
    st.current_pod_hash = Some(new_hash.to_string());
    st.current_step_hash = Some(steps_hash);
    Update {
        new_template,
        announce: new_template && prev.current_pod_hash.is_some(),
    }
}

/// The user set `abort` back to false after an abort: the same template starts again from
/// step 0.
pub(super) fn retry(
    prev: &RolloutStatus,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    update: &Update,
) {
    if prev.aborted_at.is_none() || st.abort || update.new_template {
        return;
    }
    st.aborted_at = None;
    st.current_step_index = Some(0);
    st.pause_conditions.clear();
    st.controller_pause = false;
    forget_runs(st);
    plan.events.push(event(
        false,
        "RolloutRetried",
        "Rollout retried from step 0",
    ));
    remove_condition(st, PROGRESSING);
}

/// The way back is fast: to a ReplicaSet still in its scale-down delay (its pods are there),
/// or to one of the last `rollbackWindow.revisions` revisions. No steps, no pause, no
/// analysis: a promote-full by the controller.
pub(super) fn fast_rollback(obs: &Observed, begun: &mut Begun<'_>, update: &Update) {
    if !update.new_template || begun.initial || begun.promoted {
        return;
    }
    let Some(why) = fast_rollback_reason(obs, begun.new_rs, begun.stable_rs) else {
        return;
    };
    begun.st.promote_full = true;
    begun.plan.events.push(event(
        false,
        "RolloutFastRollback",
        format!(
            "Rollback to template {} {why}: steps and analysis skipped",
            begun.new_hash
        ),
    ));
}

/// Why going back to `new_rs` is a fast rollback (Argo Rollouts' isFastRollback and
/// rollbackWindow), if it is.
fn fast_rollback_reason(
    obs: &Observed,
    new_rs: Option<&ReplicaSetView>,
    stable_rs: Option<&ReplicaSetView>,
) -> Option<&'static str> {
    // Only back to a version that was stable once: never to an aborted or superseded canary,
    // which never passed its steps and analysis.
    let new = new_rs.filter(|r| r.promoted)?;
    if new.desired > 0 {
        // An old stable keeps pods only while it waits out its scale-down delay.
        return Some("still within its scale-down delay");
    }
    let window = obs.rollout.spec.rollback_window.as_ref()?.revisions?;
    let stable = stable_rs?;
    if new.revision >= stable.revision {
        return None;
    }
    // The versions stable before the current one, newest first: the window is the first N.
    let mut older: Vec<u64> = obs
        .replica_sets
        .iter()
        .filter(|r| r.promoted)
        .map(|r| r.revision)
        .filter(|r| *r < stable.revision)
        .collect();
    older.sort_unstable_by(|a, b| b.cmp(a));
    older.dedup();
    older
        .iter()
        .take(window.max(0) as usize)
        .any(|r| *r == new.revision)
        .then_some("within rollbackWindow")
}

/// Promote-full after an abort (Argo Rollouts' TestCanaryPromoteFull): the user chose the new
/// version after all; the abort is over and every step is skipped. Only an abort already taken
/// (it cleared promoteFull then): a promote-full set before a new abort, or by the
/// controller's own fast rollback, never cancels it.
pub(super) fn promote_full_after_abort(begun: &mut Begun<'_>) {
    let st = &mut begun.st;
    if !(st.promote_full && st.abort && begun.prev.aborted_at.is_some() && !begun.promoted) {
        return;
    }
    st.abort = false;
    st.aborted_at = None;
    remove_condition(st, PROGRESSING);
    begun.plan.events.push(event(
        false,
        "RolloutPromotedFull",
        "Rollout promoted in full after an abort",
    ));
}

/// The revision of the current template. Going back to an older template reuses its
/// ReplicaSet under the next revision number, without the scale-down deadline it had as an old
/// one (Argo Rollouts' TestCanaryScaleDownDelay); an abort's own deadline on it stays.
pub(super) fn revision(obs: &Observed, begun: &mut Begun<'_>, update: &Update) {
    let new_rs = begun.new_rs;
    let latest_other = obs
        .replica_sets
        .iter()
        .filter(|r| new_rs.is_none_or(|n| n.name != r.name))
        .map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let plan = &mut begun.plan;
    begun.revision = match new_rs {
        Some(r) if r.revision > latest_other => r.revision,
        Some(r) => {
            plan.revisions.push((r.name.clone(), latest_other + 1));
            latest_other + 1
        }
        None => latest_other + 1,
    };
    if let Some(r) = new_rs.filter(|r| r.scale_down_at.is_some() && !begun.st.abort) {
        plan.clear_deadlines.push(r.name.clone());
    }
    if update.announce {
        plan.events.push(event(
            false,
            "RolloutUpdated",
            format!(
                "Rollout updated to revision {} (template {})",
                begun.revision, begun.new_hash
            ),
        ));
    }
}
