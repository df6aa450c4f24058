//! The decision of the rollout reconciler: a pure function of what was observed (the Rollout,
//! its ReplicaSets, the time) to a [`Plan`] (ReplicaSets to create, scale and delete, Service
//! selectors, the new status, Events, and when to look again). No I/O happens here, so every
//! branch is table-tested and the traffic-safety rules are held in one place.
//!
//! This module is the prelude both strategies share, read top to bottom in [`decide`]: status
//! fields others wrote are put back (`status_guard`), the spec and the objects it names are
//! checked, a new template or a retry starts over, a fast rollback or a promote-full skips the
//! steps; then `canary` or `bluegreen` takes over, and both end in `conclude` (adoption,
//! restarts, run lifecycle, phase). The parts: `plan` (the Plan), `status` (counts,
//! conditions, phase, progress deadlines), `replica_sets` and `runs` (what both strategies
//! move), `canary` (the step walk, pod counts, and `routed_split`, where a step's routed weight
//! is decided with `weight::next`), `bluegreen` (preview, promotion, switch).
//!
//! Traffic safety: a router weight moves toward a side only when that side's available pods
//! carry it, the canary keeps the pods its weight needs, the stable shrinks only after traffic
//! left it, on abort the weight steps back as the stable's pods allow and the canary Service
//! returns to stable once it is 0, all traffic is on the canary before the stable Service
//! switches. Analysis: a step's run must end Successful for the step to complete, the
//! background run covers the update from `startingStep` until promotion, a Failed or Errored
//! run aborts in the same plan, an Inconclusive one pauses (`InconclusiveAnalysisRun`).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::conditions::{INVALID_SPEC, PROGRESSING, TRAFFIC_ROUTING, reason};
use rollout_rs_crds::rollout::{
    CanaryStep, PauseCondition, PauseReason, Rollout, RolloutPhase, RolloutStatus,
    WorkloadScaleDown,
};
use rollout_rs_crds::{ObjectMetadata, duration, validation};

use super::analysis::{self as an, NewRun, RunKind, RunView};
use super::hash::pod_template_hash;
use super::replicas::{Counts, Limits, paced, weighted_counts};
use super::status_guard::{self, Owned};

mod bluegreen;
mod canary;
mod plan;
mod replica_sets;
mod runs;
mod status;
pub(super) use plan::event;
pub use plan::{NewReplicaSet, Plan, PlannedEvent, PodMetadataUpdate, RouterWeights};
pub(super) use replica_sets::{
    delete_history, promote, role_metadata, scale_down, scale_events, scale_new,
    within_revision_limit,
};
use runs::{BackgroundAt, background_analysis, forget_runs, runs_lifecycle};
pub(super) use runs::{abort_for_run, inconclusive_pause, recorded_run, set_run_status, start_run};
pub(super) use status::{condition, set_condition};
use status::{observed_counts, phase, remove_condition};

/// A ReplicaSet of the Rollout, as observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaSetView {
    pub name: String,
    /// Its `rollouts-pod-template-hash` label.
    pub hash: String,
    /// Its `rollout-rs.io/revision` annotation.
    pub revision: u64,
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.replicas`, `readyReplicas`, `availableReplicas`.
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    /// Matches the Rollout's selector but has no controller yet: adopt it.
    pub orphan: bool,
    /// Its template was stable once (its `rollout-rs.io/promoted` annotation): going back to
    /// it may be fast.
    pub promoted: bool,
    /// Its `rollout-rs.io/scale-down-deadline` annotation: an old ReplicaSet keeps its pods
    /// until then (traffic routing), so in-flight requests finish.
    pub scale_down_at: Option<Timestamp>,
    /// Labels and annotations of its pod template.
    pub pod_metadata: ObjectMetadata,
}

/// A pod of the Rollout, observed only while a restart (`spec.restartAt`) is pending.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    pub name: String,
    pub created: Timestamp,
    pub ready: bool,
}

/// Everything `decide` looks at.
#[derive(Clone, Debug)]
pub struct Observed {
    pub rollout: Rollout,
    pub replica_sets: Vec<ReplicaSetView>,
    /// The Rollout's pods, when a restart is pending (see [`restart_pending`]); else empty.
    pub pods: Vec<PodView>,
    /// The AnalysisRuns the Rollout owns.
    pub runs: Vec<RunView>,
    /// Services carrying this Rollout's managed-by annotation (their selector is pinned).
    pub managed_services: Vec<String>,
    /// The Deployment a workloadRef names (its template is already the Rollout's).
    pub workload: Option<Workload>,
    /// DestinationRules carrying its managed-by annotation (their subsets are pinned to
    /// hashes), as (namespace, name).
    pub managed_destination_rules: Vec<(String, String)>,
    /// The progress fields of the status as this controller last wrote them, when it
    /// remembers (not after a restart): anything else found there was written by others.
    pub remembered: Option<Owned>,
    /// Objects the spec names that are missing or invalid (analysis templates, Services),
    /// one message each: each holds the Rollout in InvalidSpec, as an invalid field would.
    pub reference_errors: Vec<String>,
    pub now: Timestamp,
}

#[cfg(test)]
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

#[cfg(test)]
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

/// Whether `spec.restartAt` asks for pods to be restarted that have not been yet.
pub fn restart_pending(ro: &Rollout) -> bool {
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
pub struct Workload {
    pub name: String,
    pub scale_down: WorkloadScaleDown,
    /// Its `spec.replicas`.
    pub replicas: i32,
}

const DEFAULT_PROGRESS_DEADLINE: i64 = 600;
/// Default scaleDownDelaySeconds and abortScaleDownDelaySeconds.
pub(super) const DEFAULT_SCALE_DOWN_DELAY: i32 = 30;
const DEFAULT_HISTORY_LIMIT: i32 = 10;

fn steps_hash(steps: &[CanaryStep]) -> String {
    let bytes = serde_json::to_vec(steps).unwrap_or_default();
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// The decision. See the module documentation.
pub fn decide(obs: &Observed) -> Plan {
    let ro = &obs.rollout;
    let spec = &ro.spec;
    let now = obs.now;
    let mut prev = ro.status.clone().unwrap_or_default();
    let running: Vec<(&str, i32)> = obs
        .replica_sets
        .iter()
        .map(|r| (r.hash.as_str(), r.desired))
        .collect();
    let guarded = status_guard::guard(
        &mut prev,
        obs.remembered.as_ref(),
        spec.strategy
            .canary
            .as_ref()
            .map_or(0, |c| c.steps.len() as i32),
        &running,
    );
    let mut st = prev.clone();
    st.observed_generation = ro.metadata.generation;
    st.selector = spec.selector.match_labels.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    let mut plan = Plan::default();
    let replicas = spec.replicas.unwrap_or(1).max(0);
    observed_counts(&mut st, &obs.replica_sets, None);

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

    // An invalid spec moves nothing, and says why where users look.
    let errors = validation::rollout(spec);
    if !errors.is_empty() || !obs.reference_errors.is_empty() || guarded.hold.is_some() {
        let mut parts = vec![validation::summary(&errors)];
        parts.extend(obs.reference_errors.iter().cloned());
        parts.extend(guarded.hold.iter().cloned());
        parts.retain(|p| !p.is_empty());
        let message = parts.join("; ");
        if condition(&prev, INVALID_SPEC).and_then(|c| c.message.as_deref())
            != Some(message.as_str())
        {
            plan.events
                .push(event(true, reason::INVALID_SPEC, message.clone()));
        }
        set_condition(
            &mut st,
            INVALID_SPEC,
            "True",
            reason::INVALID_SPEC,
            &message,
            now,
        );
        st.phase = Some(RolloutPhase::Degraded);
        st.message = Some(format!("InvalidSpec: {message}"));
        plan.status = st;
        return plan;
    }
    // A routing failure is reported by the executor; a plan is only written once routing worked.
    remove_condition(&mut st, TRAFFIC_ROUTING);
    if condition(&prev, INVALID_SPEC).is_some() {
        remove_condition(&mut st, INVALID_SPEC);
        plan.events
            .push(event(false, "SpecValid", "the spec is valid again"));
    }
    let canary = spec.strategy.canary.as_ref();
    let new_hash = pod_template_hash(&spec.template);
    let steps: &[CanaryStep] = canary.map_or(&[], |c| c.steps.as_slice());

    // A new template (or new steps) starts the steps again.
    let new_template = prev.current_pod_hash.as_deref() != Some(new_hash.as_str());
    let new_steps = prev
        .current_step_hash
        .as_deref()
        .is_some_and(|h| h != steps_hash(steps));
    let mut announce_update = false;
    if new_template || new_steps {
        announce_update = new_template && prev.current_pod_hash.is_some();
        st.current_step_index = Some(0);
        st.pause_conditions.clear();
        st.controller_pause = false;
        forget_runs(&mut st);
        if new_template {
            st.abort = false;
            st.aborted_at = None;
            st.promote_full = false;
        }
    }
    st.current_pod_hash = Some(new_hash.clone());
    st.current_step_hash = Some(steps_hash(steps));

    let find = |hash: &str| obs.replica_sets.iter().find(|r| r.hash == hash);
    let new_rs = find(&new_hash);
    let stable_hash = prev
        .stable_rs
        .clone()
        .filter(|h| find(h).is_some() || *h == new_hash);
    let stable_rs = stable_hash
        .as_deref()
        .and_then(find)
        .filter(|r| r.hash != new_hash);
    let initial = stable_hash.is_none();
    let promoted = stable_hash.as_deref() == Some(new_hash.as_str());

    // Retry: the user set abort back to false after an abort.
    if prev.aborted_at.is_some() && !st.abort && !new_template {
        st.aborted_at = None;
        st.current_step_index = Some(0);
        st.pause_conditions.clear();
        st.controller_pause = false;
        forget_runs(&mut st);
        plan.events.push(event(
            false,
            "RolloutRetried",
            "Rollout retried from step 0",
        ));
        remove_condition(&mut st, PROGRESSING);
    }
    // The way back is fast: to a ReplicaSet still in its scale-down delay (its pods are there),
    // or to one of the last `rollbackWindow.revisions` revisions. No steps, no pause, no
    // analysis: a promote-full by the controller.
    if new_template
        && !initial
        && !promoted
        && let Some(why) = fast_rollback(obs, new_rs, stable_rs)
    {
        st.promote_full = true;
        plan.events.push(event(
            false,
            "RolloutFastRollback",
            format!("Rollback to template {new_hash} {why}: steps and analysis skipped"),
        ));
    }
    // Promote-full after an abort (Argo Rollouts' TestCanaryPromoteFull): the user chose the
    // new version after all; the abort is over and every step is skipped.
    // Only an abort already taken (it cleared promoteFull then): a promote-full set before a new
    // abort, or by the controller's own fast rollback, never cancels it.
    if st.promote_full && st.abort && prev.aborted_at.is_some() && !promoted {
        st.abort = false;
        st.aborted_at = None;
        remove_condition(&mut st, PROGRESSING);
        plan.events.push(event(
            false,
            "RolloutPromotedFull",
            "Rollout promoted in full after an abort",
        ));
    }

    // Going back to an older template reuses its ReplicaSet under the next revision number,
    // without the scale-down deadline it had as an old one (Argo Rollouts'
    // TestCanaryScaleDownDelay); an abort's own deadline on it stays.
    let latest_other = obs
        .replica_sets
        .iter()
        .filter(|r| new_rs.is_none_or(|n| n.name != r.name))
        .map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let revision = match new_rs {
        Some(r) if r.revision > latest_other => r.revision,
        Some(r) => {
            plan.revisions.push((r.name.clone(), latest_other + 1));
            latest_other + 1
        }
        None => latest_other + 1,
    };
    if let Some(r) = new_rs.filter(|r| r.scale_down_at.is_some() && !st.abort) {
        plan.clear_deadlines.push(r.name.clone());
    }
    if announce_update {
        plan.events.push(event(
            false,
            "RolloutUpdated",
            format!("Rollout updated to revision {revision} (template {new_hash})"),
        ));
    }
    let begun = Begun {
        prev,
        st,
        plan,
        replicas,
        new_hash,
        new_rs,
        stable_hash,
        stable_rs,
        initial,
        promoted,
        revision,
    };
    match (canary, spec.strategy.blue_green.as_ref()) {
        (Some(c), _) => canary::decide(obs, begun, c),
        (None, Some(bg)) => bluegreen::decide(obs, begun, bg),
        // Unreachable: validation requires exactly one strategy.
        (None, None) => {
            let mut plan = begun.plan;
            plan.status = begun.st;
            plan
        }
    }
}

/// Why going back to `new_rs` is a fast rollback (Argo Rollouts' isFastRollback and
/// rollbackWindow), if it is.
fn fast_rollback(
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

/// What `decide` has worked out before the strategy takes over.
pub(super) struct Begun<'a> {
    pub prev: RolloutStatus,
    pub st: RolloutStatus,
    pub plan: Plan,
    pub replicas: i32,
    pub new_hash: String,
    pub new_rs: Option<&'a ReplicaSetView>,
    /// The last fully promoted template, if its ReplicaSet (or the current one) exists.
    pub stable_hash: Option<String>,
    /// The stable ReplicaSet, when it is not the current one.
    pub stable_rs: Option<&'a ReplicaSetView>,
    /// No stable version yet: the first deploy goes straight to full size.
    pub initial: bool,
    /// The current template is the stable one.
    pub promoted: bool,
    pub revision: u64,
}

/// What a strategy hands back to finish the plan.
pub(super) struct Ending {
    pub prev: RolloutStatus,
    pub st: RolloutStatus,
    pub plan: Plan,
    pub limits: Limits,
    pub new_hash: String,
    pub hold: Option<String>,
    pub awaiting_analysis: bool,
    /// Pods of old ReplicaSets still receive traffic (a canary without a router): the rollout
    /// is not done until they are gone.
    pub old_take_traffic: bool,
    /// The template whose pods serve users (blue-green: the active one): its ready and
    /// available pods are the Rollout's. `None`: every ReplicaSet's count.
    pub serving: Option<String>,
}

/// What every strategy ends with: adoption, restarts, counts, AnalysisRun lifecycle, phase.
pub(super) fn conclude(obs: &Observed, end: Ending) -> Plan {
    let Ending {
        prev,
        mut st,
        mut plan,
        limits,
        new_hash,
        hold,
        awaiting_analysis,
        old_take_traffic,
        serving,
    } = end;
    let spec = &obs.rollout.spec;
    plan.adopt = obs
        .replica_sets
        .iter()
        .filter(|r| r.orphan)
        .map(|r| r.name.clone())
        .collect();
    let restarting = restart(obs, &mut st, &mut plan, limits);
    // A Service the spec stopped naming (a switch of strategy) selects all the app's pods
    // again (Argo Rollouts' TestBlueGreenToCanary).
    let canary = spec.strategy.canary.as_ref();
    let named: Vec<&str> = spec.services().into_iter().map(|(_, s)| s).collect();
    plan.release_services = obs
        .managed_services
        .iter()
        .filter(|s| !named.contains(&s.as_str()))
        .cloned()
        .collect();
    // Likewise a DestinationRule once trafficRouting stops naming it (TestIstioSubsetSplit).
    // `name` or `name.namespace`, as the Istio router reads it.
    let ns = obs.rollout.metadata.namespace.clone().unwrap_or_default();
    let rule = canary
        .and_then(|c| c.traffic_routing.as_ref())
        .and_then(|t| t.istio.as_ref())
        .and_then(|i| i.destination_rule.as_ref())
        .map(|d| match d.name.split_once('.') {
            Some((name, rule_ns)) => (rule_ns.to_string(), name.to_string()),
            None => (ns.clone(), d.name.clone()),
        });
    plan.release_destination_rules = obs
        .managed_destination_rules
        .iter()
        .filter(|d| rule.as_ref() != Some(*d))
        .cloned()
        .collect();
    observed_counts(&mut st, &obs.replica_sets, Some(&new_hash));
    if let Some(h) = serving.as_deref() {
        // Argo Rollouts' blue-green counts: ready and available are the active ReplicaSet's.
        let active = obs.replica_sets.iter().filter(|r| r.hash == h);
        st.ready_replicas = Some(active.clone().map(|r| r.ready).sum());
        st.available_replicas = Some(active.map(|r| r.available).sum());
    }
    runs_lifecycle(obs, &st, &mut plan, &new_hash);
    let hold = hold
        .as_deref()
        .or(restarting.then_some("rollout is restarting"));
    phase(
        &mut st,
        &prev,
        spec.paused,
        spec.replicas.unwrap_or(1).max(0),
        hold,
        awaiting_analysis,
        old_take_traffic,
        obs.now,
        &mut plan,
        spec.progress_deadline_seconds,
        spec.progress_deadline_abort,
    );
    plan.mark_promoted = obs
        .replica_sets
        .iter()
        .find(|r| !r.promoted && st.stable_rs.as_deref() == Some(r.hash.as_str()))
        .map(|r| r.name.clone());
    plan.scale_workload = obs.workload.as_ref().and_then(|w| {
        let want = match w.scale_down {
            WorkloadScaleDown::Never => return None,
            // Its pods go as the Rollout's become available (Argo Rollouts' migration path).
            WorkloadScaleDown::Progressively => {
                (spec.replicas.unwrap_or(1).max(0) - st.available_replicas.unwrap_or(0)).max(0)
            }
            WorkloadScaleDown::OnSuccess if st.phase == Some(RolloutPhase::Healthy) => 0,
            WorkloadScaleDown::OnSuccess => return None,
        };
        // Never up: the Deployment only ever hands its pods over.
        (want < w.replicas).then(|| (w.name.clone(), want))
    });
    plan.status = st;
    plan
}

/// `spec.restartAt`: pods created before it are deleted (their ReplicaSet replaces them), at most
/// `maxUnavailable` (at least one) unavailable at a time. Returns whether a restart is running.
fn restart(obs: &Observed, st: &mut RolloutStatus, plan: &mut Plan, limits: Limits) -> bool {
    let ro = &obs.rollout;
    let Some(at) = ro.spec.restart_at.as_ref().map(|t| t.0) else {
        return false;
    };
    if !restart_pending(ro) {
        return false;
    }
    if obs.now < at {
        plan.wake_at(obs.now, at);
        return false;
    }
    let old: Vec<&PodView> = obs.pods.iter().filter(|p| p.created < at).collect();
    if old.is_empty() {
        st.restarted_at = Some(Time(at));
        plan.events
            .push(event(false, "RolloutRestarted", "every pod was restarted"));
        return false;
    }
    let unavailable = obs.pods.iter().filter(|p| !p.ready).count() as i32;
    let budget = (limits.unavailable.max(1) - unavailable).max(0) as usize;
    let mut oldest = old;
    oldest.sort_by_key(|p| p.created);
    for p in oldest.into_iter().take(budget) {
        plan.restart_pods.push(p.name.clone());
        plan.events.push(event(
            false,
            "RestartingPod",
            format!("Restarting pod {}", p.name),
        ));
    }
    true
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

#[cfg(test)]
mod tests;
