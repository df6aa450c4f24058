//! The decision of the rollout reconciler: a pure function of what was observed (the Rollout,
//! its ReplicaSets, the time) to a [`Plan`] (ReplicaSets to create, scale and delete, Service
//! selectors, the new status, Events, and when to look again). No I/O happens here, so every
//! branch is table-tested and the traffic-safety rules are held in one place.
//!
//! What both strategies share lives here: validation, a new template or a retry starting over,
//! the ReplicaSet bookkeeping (create, scale, scale-down deadlines, history, adoption, role
//! metadata), restarts, the AnalysisRun lifecycle, phase, conditions and progress deadlines.
//! The blue-green specifics are in `bluegreen`; the canary ones follow here.
//!
//! The canary strategy: `setWeight` as a replica ratio without a router, or as an
//! exact weight for every configured router (with `setCanaryScale`, scale-down and abort
//! scale-down delays), timed and indefinite pauses, promote, promote-full, abort and retry,
//! manual pause, restarts, update mid-rollout, rollback to the stable template, invalid specs and
//! progress deadlines. Traffic safety lives here (with the arithmetic in `weight` and
//! `replicas`): a router weight moves toward a side only when that side's available pods carry
//! it, the canary keeps the pods its weight needs, the stable shrinks only after traffic left
//! it, on abort the weight steps back as the stable's pods allow and the canary Service returns
//! to stable once it is 0, all traffic is on the canary before the stable Service switches.
//! `status_guard` runs first: progress fields written by others are never trusted. Analysis: a step's run must end Successful for the step to complete,
//! the background run covers the update from `startingStep` until promotion, a Failed or Errored
//! run aborts in the same plan, an Inconclusive one pauses (`InconclusiveAnalysisRun`).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::conditions::{INVALID_SPEC, PROGRESSING, TRAFFIC_ROUTING, reason};
use rollout_rs_crds::rollout::{
    CanaryStep, PauseCondition, PauseReason, Rollout, RolloutPhase, RolloutStatus, SetCanaryScale,
    TrafficWeights, WeightDestination, WorkloadScaleDown,
};
use rollout_rs_crds::{ObjectMetadata, duration, validation};

use super::analysis::{self as an, NewRun, RunKind, RunView};
use super::hash::pod_template_hash;
use super::replicas::{Counts, Limits, paced, weighted_counts};
use super::status_guard::{self, Owned};

mod bluegreen;
mod plan;
mod replica_sets;
mod runs;
mod status;
use super::weight::pods_for;
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

/// What the replica counts aim at.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// Everything on the current template.
    Full,
    /// A canary weight (percent of pods).
    Weight(i32),
    /// Canary to zero, stable to full.
    Abort,
}

fn steps_hash(steps: &[CanaryStep]) -> String {
    let bytes = serde_json::to_vec(steps).unwrap_or_default();
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// The weight of the last setWeight step at or before `index` (0 before any).
fn current_weight(steps: &[CanaryStep], index: i32) -> i32 {
    let end = (index.max(0) as usize + 1).min(steps.len());
    steps[..end]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

/// The setCanaryScale in force at `index`: the last one at or before it, unless it says
/// matchTrafficWeight.
fn scale_in_force(steps: &[CanaryStep], index: i32) -> Option<&SetCanaryScale> {
    let end = (index.max(0) as usize + 1).min(steps.len());
    steps[..end]
        .iter()
        .rev()
        .find_map(|s| s.set_canary_scale.as_ref())
        .filter(|s| !s.match_traffic_weight)
}

/// Canary pods for a routed weight: `ceil(replicas * weight / total)`, or what setCanaryScale says.
fn routed_canary_replicas(
    replicas: i32,
    weight: i32,
    total: i32,
    scale: Option<&SetCanaryScale>,
) -> i32 {
    match scale {
        Some(SetCanaryScale {
            replicas: Some(n), ..
        }) => (*n).max(0),
        Some(SetCanaryScale {
            weight: Some(w), ..
        }) => pods_for(replicas, *w, 100),
        _ => pods_for(replicas, weight, total),
    }
}

fn counts(rs: Option<&ReplicaSetView>) -> Counts {
    rs.map_or(Counts::default(), |r| Counts {
        desired: r.desired,
        available: r.available,
    })
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
    let n_steps = steps.len() as i32;

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
    let Some(canary) = canary else {
        let Some(bg) = spec.strategy.blue_green.as_ref() else {
            // Unreachable: validation requires exactly one strategy.
            plan.status = st;
            return plan;
        };
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
        return bluegreen::decide(obs, begun, bg);
    };
    let limits = Limits::new(
        canary.max_surge.as_ref(),
        canary.max_unavailable.as_ref(),
        replicas,
    );
    let recorded_step = recorded_run(&st, RunKind::Step);
    let recorded_background = recorded_run(&st, RunKind::Background);
    // A failed or errored run aborts: traffic goes back to stable in this same plan.
    let analysing = !initial && !promoted && !st.abort && !st.promote_full;
    if analysing {
        let at = st.current_step_index.unwrap_or(0);
        let step_run = steps
            .get(at.max(0) as usize)
            .filter(|s| s.analysis.is_some())
            .and_then(|_| {
                an::current(
                    &obs.runs,
                    recorded_step.as_deref(),
                    RunKind::Step,
                    Some(at),
                    &new_hash,
                )
            });
        let background_run = canary.analysis.as_ref().and_then(|_| {
            an::current(
                &obs.runs,
                recorded_background.as_deref(),
                RunKind::Background,
                None,
                &new_hash,
            )
        });
        if !abort_for_run(&mut st, step_run, "Step-based", &new_hash, now) {
            abort_for_run(&mut st, background_run, "Background", &new_hash, now);
        }
    }

    let mut index = st.current_step_index.unwrap_or(0).clamp(0, n_steps);
    let mut hold_message: Option<String> = None;
    // Waiting on a step's analysis is progress: the deadline does not run meanwhile.
    let mut awaiting_analysis = false;
    let routed = canary.traffic_routing.is_some();
    let max_weight = canary
        .traffic_routing
        .as_ref()
        .and_then(|t| t.max_traffic_weight)
        .unwrap_or(100);
    let written = prev.canary.as_ref().and_then(|c| c.weights.as_ref());
    let written_hash = written.and_then(|w| w.canary.pod_template_hash.clone());
    // The weight the routers carry to the current template's pods.
    let weight_in_force = written
        .filter(|_| written_hash.as_deref().is_none_or(|h| h == new_hash))
        .map(|w| w.canary.weight);
    let target = if initial || promoted {
        index = n_steps;
        Target::Full
    } else if st.abort {
        abort_started(&mut st, &mut plan, &new_hash, now);
        index = 0;
        st.pause_conditions.clear();
        st.controller_pause = false;
        Target::Abort
    } else {
        if st.promote_full {
            index = n_steps;
            st.pause_conditions.clear();
            st.controller_pause = false;
            // Promote-full skips analysis: its runs are not current any more.
            forget_runs(&mut st);
        }
        let new_counts = counts(new_rs);
        let stable_counts = counts(stable_rs);
        // A manual pause freezes the steps where they are (the current weight still holds), and
        // so does an inconclusive analysis until promoted: a timed pause ending meanwhile does
        // not move on (Argo Rollouts' TestCanaryInconclusiveBackgroundAnalysis).
        let inconclusive = st
            .pause_conditions
            .iter()
            .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun);
        while index < n_steps && !spec.paused && !inconclusive {
            let step = &steps[index as usize];
            if let Some(w) = step.set_weight {
                let reached = if routed {
                    // With a router the step is done when the canary pods are there and the
                    // routers carry the weight (written by an earlier reconcile).
                    let want_new = routed_canary_replicas(
                        replicas,
                        w,
                        max_weight,
                        scale_in_force(steps, index),
                    );
                    new_counts.desired == want_new
                        && new_rs.is_some_and(|r| r.available >= want_new)
                        && weight_in_force == Some(w)
                } else {
                    let (want_new, want_stable) = weighted_counts(replicas, w, limits);
                    new_counts.desired == want_new
                        && stable_counts.desired == want_stable
                        && new_rs.is_some_and(|r| r.available >= want_new)
                };
                if !reached {
                    break;
                }
                plan.events.push(event(
                    false,
                    "RolloutStepCompleted",
                    format!(
                        "Rollout step {}/{n_steps} completed (setWeight: {w})",
                        index + 1
                    ),
                ));
                index += 1;
            } else if let Some(pause) = &step.pause {
                let held = st
                    .pause_conditions
                    .iter()
                    .find(|c| c.reason == PauseReason::CanaryPauseStep)
                    .cloned();
                let length = pause
                    .duration
                    .as_ref()
                    .and_then(|d| duration::from_int_or_string(d).ok());
                match held {
                    None if st.controller_pause => {
                        // The controller paused here and a user cleared the pause: promote.
                        st.controller_pause = false;
                        plan.events
                            .push(event(false, "RolloutResumed", "Rollout resumed"));
                        plan.events.push(event(
                            false,
                            "RolloutStepCompleted",
                            format!("Rollout step {}/{n_steps} completed (pause)", index + 1),
                        ));
                        index += 1;
                    }
                    None => {
                        enter_pause(
                            &mut st,
                            &mut plan,
                            PauseReason::CanaryPauseStep,
                            now,
                            event(
                                false,
                                reason::ROLLOUT_PAUSED,
                                "Rollout paused at a pause step",
                            ),
                        );
                        plan.wake_after(length);
                        break;
                    }
                    Some(c) => {
                        let Some(d) = length else { break };
                        let ends =
                            c.start_time.0 + jiff::SignedDuration::try_from(d).unwrap_or_default();
                        if now >= ends {
                            st.pause_conditions
                                .retain(|p| p.reason != PauseReason::CanaryPauseStep);
                            st.controller_pause = false;
                            plan.events.push(event(
                                false,
                                "RolloutStepCompleted",
                                format!(
                                    "Rollout step {}/{n_steps} completed (pause: {d:?})",
                                    index + 1
                                ),
                            ));
                            index += 1;
                        } else {
                            plan.wake_at(now, ends);
                            break;
                        }
                    }
                }
            } else if step.set_canary_scale.is_some() && routed {
                let w = current_weight(steps, index);
                let want_new =
                    routed_canary_replicas(replicas, w, max_weight, scale_in_force(steps, index));
                if !(new_counts.desired == want_new
                    && new_rs.is_some_and(|r| r.available >= want_new))
                {
                    break;
                }
                plan.events.push(event(
                    false,
                    "RolloutStepCompleted",
                    format!(
                        "Rollout step {}/{n_steps} completed (setCanaryScale)",
                        index + 1
                    ),
                ));
                index += 1;
            } else if let Some(analysis) = &step.analysis {
                let run = an::current(
                    &obs.runs,
                    recorded_step.as_deref(),
                    RunKind::Step,
                    Some(index),
                    &new_hash,
                );
                let Some(run) = run else {
                    start_run(
                        obs,
                        &mut st,
                        &mut plan,
                        NewRun {
                            name: String::new(),
                            kind: RunKind::Step,
                            step: Some(index),
                            hash: new_hash.clone(),
                            revision,
                            analysis: analysis.clone(),
                        },
                    );
                    hold_message = Some(format!("waiting for the analysis of step {}", index + 1));
                    awaiting_analysis = true;
                    break;
                };
                set_run_status(&mut st, RunKind::Step, Some(run));
                match run.phase {
                    Some(AnalysisPhase::Successful) => {
                        set_run_status(&mut st, RunKind::Step, None);
                        plan.events.push(event(
                            false,
                            "RolloutStepCompleted",
                            format!(
                                "Rollout step {}/{n_steps} completed (analysis {} Successful)",
                                index + 1,
                                run.name
                            ),
                        ));
                        index += 1;
                    }
                    Some(AnalysisPhase::Inconclusive) => {
                        if inconclusive_pause(&mut st, &mut plan, now, &run.name) {
                            // A user promoted past the inconclusive analysis: skip the step.
                            set_run_status(&mut st, RunKind::Step, None);
                            plan.events.push(event(
                                false,
                                "RolloutStepCompleted",
                                format!(
                                    "Rollout step {}/{n_steps} skipped (analysis {} Inconclusive, promoted)",
                                    index + 1,
                                    run.name
                                ),
                            ));
                            index += 1;
                        } else {
                            break;
                        }
                    }
                    _ => {
                        hold_message = Some(format!(
                            "waiting for the analysis of step {}: AnalysisRun {} is {:?}",
                            index + 1,
                            run.name,
                            run.phase.unwrap_or(AnalysisPhase::Pending)
                        ));
                        awaiting_analysis = true;
                        break;
                    }
                }
            } else {
                hold_message =
                    Some("setCanaryScale steps need trafficRouting: the rollout holds here".into());
                break;
            }
        }
        if index >= n_steps {
            Target::Full
        } else {
            Target::Weight(current_weight(steps, index))
        }
    };
    st.current_step_index = Some(index);
    let background_active = analysing && !st.abort;
    background_analysis(
        obs,
        &mut st,
        &mut plan,
        BackgroundAt {
            active: background_active,
            index,
            hash: &new_hash,
            revision,
            recorded: recorded_background.as_deref(),
        },
    );

    // Replica counts.
    let want = match target {
        Target::Full => (replicas, 0),
        Target::Weight(w) => weighted_counts(replicas, w, limits),
        Target::Abort => (0, replicas),
    };
    // Promotion: the current template is fully available (and, with a router, already takes
    // all the traffic, so switching the stable Service moves nothing).
    let new_ready = new_rs.is_some_and(|r| r.desired == replicas && r.available >= replicas);
    let traffic_moved = !routed || stable_rs.is_none() || weight_in_force == Some(max_weight);
    if target == Target::Full
        && new_ready
        && traffic_moved
        && stable_hash.as_deref() != Some(new_hash.as_str())
    {
        promote(&mut st, &mut plan, &new_hash);
    }
    let serving_stable = st.stable_rs.clone().unwrap_or_else(|| new_hash.clone());

    // With a router: the weight this plan writes, and the pods behind it.
    let routing = routed.then(|| {
        routed_split(RoutedInput {
            obs,
            st: &st,
            target,
            steps,
            index,
            replicas,
            max_weight,
            written: written.map(|w| (w.canary.weight, written_hash.clone())),
            weight_in_force,
            new_rs,
            stable_rs,
            new_hash: &new_hash,
            already_promoted: promoted,
            dynamic: canary.dynamic_stable_scale,
        })
    });
    // Every ReplicaSet but the current one and the stable one (a duplicate of the current
    // template included). An earlier canary that still carries weight keeps its pods.
    let draining = routing.as_ref().and_then(|r| r.draining.clone());
    let others: Vec<&ReplicaSetView> = obs
        .replica_sets
        .iter()
        .filter(|r| {
            new_rs.is_none_or(|n| n.name != r.name) && stable_rs.is_none_or(|s| s.name != r.name)
        })
        .collect();
    let (next_new, next_stable) = match &routing {
        Some(split) => {
            let new = match target {
                Target::Abort => kept_after_abort(
                    &st,
                    canary.abort_scale_down_delay_seconds,
                    new_rs,
                    now,
                    &mut plan,
                )
                .max(split.canary_pods),
                _ => split.canary_pods,
            };
            (new, split.stable_pods)
        }
        None => {
            let other_counts: Vec<Counts> = others.iter().map(|r| counts(Some(r))).collect();
            let moved = paced(
                replicas,
                limits,
                counts(new_rs),
                counts(stable_rs),
                &other_counts,
                want,
            );
            for (r, n) in others.iter().zip(&moved.others) {
                if r.desired != *n {
                    plan.scale.push((r.name.clone(), *n));
                }
            }
            (moved.canary, moved.stable)
        }
    };
    let new_role = if st.stable_rs.as_deref() == Some(new_hash.as_str()) || initial {
        canary.stable_metadata.as_ref()
    } else {
        canary.canary_metadata.as_ref()
    };
    scale_new(
        obs, &mut plan, new_rs, &new_hash, revision, next_new, new_role,
    );
    if let Some(s) = stable_rs.filter(|s| s.desired != next_stable) {
        plan.scale.push((s.name.clone(), next_stable));
    }
    role_metadata(obs, &mut plan, stable_rs, canary.stable_metadata.as_ref());
    // Behind a router any other ReplicaSet (an older stable, a superseded canary) takes no
    // traffic: it keeps its pods until its scale-down deadline, so requests in flight finish.
    if routed {
        let delay = i64::from(
            canary
                .scale_down_delay_seconds
                .unwrap_or(DEFAULT_SCALE_DOWN_DELAY),
        );
        let idle: Vec<&ReplicaSetView> = others
            .iter()
            .copied()
            .filter(|r| draining.as_deref() != Some(r.hash.as_str()))
            .collect();
        let (delayed, beyond) =
            within_revision_limit(&idle, canary.scale_down_delay_revision_limit);
        scale_down(&delayed, delay, now, &mut plan);
        scale_down(&beyond, 0, now, &mut plan);
    }
    scale_events(obs, &mut plan);

    // Services: the canary Service follows the canary; on abort it goes back to stable once
    // no weight is left on the canary (at once without a router); the stable Service follows
    // the stable.
    if let Some(svc) = &canary.canary_service {
        let hash = match &routing {
            Some(split) => split.canary_service_hash.clone(),
            None if st.abort => serving_stable.clone(),
            None => new_hash.clone(),
        };
        plan.selectors.push((svc.clone(), hash));
    }
    if let Some(svc) = &canary.stable_service {
        plan.selectors.push((svc.clone(), serving_stable.clone()));
    }
    if let Some(split) = routing {
        let before = written.map_or(0, |w| w.canary.weight);
        if split.weight != before {
            plan.events.push(event(
                false,
                "TrafficWeightUpdated",
                format!(
                    "Traffic weight updated from {before} to {} (of {max_weight})",
                    split.weight
                ),
            ));
        }
        if split.weight > 0 && st.stable_rs.as_deref() == Some(new_hash.as_str()) {
            // Promoted in this plan: Healthy once the routers are back at 0 (the next plan).
            hold_message = Some("waiting for the router weights to return to the stable".into());
        }
        plan.weights = Some(RouterWeights {
            canary: split.weight,
            total: max_weight,
            canary_hash: split.canary_service_hash.clone(),
            stable_hash: serving_stable.clone(),
        });
        let destination = |weight, hash: &str, service: &Option<String>| WeightDestination {
            weight,
            pod_template_hash: Some(hash.to_string()),
            service_name: service.clone(),
        };
        st.canary.get_or_insert_with(Default::default).weights = Some(TrafficWeights {
            canary: destination(
                split.weight,
                &split.canary_service_hash,
                &canary.canary_service,
            ),
            stable: destination(
                max_weight - split.weight,
                &serving_stable,
                &canary.stable_service,
            ),
        });
    }

    delete_history(spec.revision_history_limit, &others, &mut plan);
    conclude(
        obs,
        Ending {
            prev,
            st,
            plan,
            limits,
            new_hash,
            hold: hold_message,
            awaiting_analysis,
            old_take_traffic: !routed,
            serving: None,
        },
    )
}

/// What the routed half of a canary plan is worked out from.
struct RoutedInput<'a> {
    obs: &'a Observed,
    st: &'a RolloutStatus,
    target: Target,
    steps: &'a [CanaryStep],
    index: i32,
    replicas: i32,
    max_weight: i32,
    /// The weight the routers carry, and the canary hash it was written for.
    written: Option<(i32, Option<String>)>,
    /// That weight, when it was written for the current template.
    weight_in_force: Option<i32>,
    new_rs: Option<&'a ReplicaSetView>,
    stable_rs: Option<&'a ReplicaSetView>,
    new_hash: &'a str,
    /// The current template was the stable one before this plan.
    already_promoted: bool,
    dynamic: bool,
}

/// The routed split a plan writes and the pods behind it.
struct RoutedSplit {
    /// The canary weight to write.
    weight: i32,
    /// The template the canary Service (and a subset-level canary subset) selects.
    canary_service_hash: String,
    /// An earlier canary's hash while it still carries weight (it drains first).
    draining: Option<String>,
    /// Pods for the current template's ReplicaSet and for the stable one.
    canary_pods: i32,
    stable_pods: i32,
}

/// Traffic safety behind a router: the weight moves toward a side only when that side's
/// available pods can carry it (see `weight`), the canary keeps the pods its weight needs,
/// the stable shrinks (dynamicStableScale) only after traffic has left it, and traffic still
/// on an earlier canary drains to the stable before a new canary gets any.
fn routed_split(i: RoutedInput<'_>) -> RoutedSplit {
    let find = |hash: &str| i.obs.replica_sets.iter().find(|r| r.hash == hash);
    let stable_hash = i.stable_rs.map(|r| r.hash.as_str());
    let (written, written_hash) = i.written.clone().unwrap_or((0, None));
    let draining = written_hash
        .filter(|h| written > 0 && h != i.new_hash && Some(h.as_str()) != stable_hash)
        .filter(|h| find(h).is_some());
    // The weight on the pods the canary Service selects now.
    let in_force = if draining.is_some() {
        written
    } else {
        i.weight_in_force.unwrap_or(0)
    };
    let subset_level = i
        .obs
        .rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref())
        .and_then(|t| t.istio.as_ref())
        .is_some_and(|istio| istio.destination_rule.is_some());
    let scale = scale_in_force(i.steps, i.index);
    // The new canary's pods come before any traffic: they grow even while an earlier canary
    // drains.
    let want_canary = match i.target {
        Target::Full => i.replicas,
        Target::Weight(w) => routed_canary_replicas(i.replicas, w, i.max_weight, scale),
        Target::Abort => 0,
    };
    let target_weight = match i.target {
        _ if i.st.abort || i.already_promoted || draining.is_some() => 0,
        Target::Full => i.max_weight,
        Target::Weight(w) => w,
        Target::Abort => 0,
    };
    let canary_side = draining.as_deref().and_then(find).or(i.new_rs);
    let canary_ready = i.new_rs.is_some_and(|r| {
        r.desired == want_canary
            && r.available >= want_canary
            && (!subset_level || r.available >= r.desired)
    });
    let weight = super::weight::next(
        target_weight,
        in_force,
        super::weight::Capacity {
            replicas: i.replicas,
            total: i.max_weight,
            canary_available: canary_side.map_or(0, |r| r.available),
            canary_ready,
            // Rolled back to the stable template: the current ReplicaSet is the stable one.
            stable_available: i
                .stable_rs
                .or(i.new_rs.filter(|_| i.already_promoted))
                .map_or(0, |r| r.available),
            scaled_by_user: scale.is_some() && draining.is_none(),
        },
    );
    // Promoted in this plan: the stable Service switches first; the weight goes to 0 in the
    // next plan, when both Services select the same pods.
    let promoted_now = !i.already_promoted && i.st.stable_rs.as_deref() == Some(i.new_hash);
    let weight = if promoted_now {
        in_force
    } else if draining.is_none() && (i.already_promoted || i.stable_rs.is_none()) {
        // Both Services select the same pods: the weight moves nothing.
        0
    } else {
        weight
    };
    let canary_service_hash = match &draining {
        Some(h) if weight > 0 => h.clone(),
        _ if i.st.abort && weight == 0 => {
            i.st.stable_rs
                .clone()
                .unwrap_or_else(|| i.new_hash.to_string())
        }
        _ => i.new_hash.to_string(),
    };
    let carried = pods_for(i.replicas, weight, i.max_weight);
    let canary_pods = match i.target {
        Target::Full => i.replicas,
        // setCanaryScale sizes the canary as the user asked, whatever its weight.
        Target::Weight(_) if scale.is_some() => want_canary,
        // Never fewer canary pods than the weight on them needs.
        _ if draining.is_none() => want_canary.max(carried),
        _ => want_canary,
    };
    let stable_pods = match (i.stable_rs, i.target) {
        (None, _) => 0,
        (Some(_), Target::Abort) => i.replicas,
        (Some(_), _) if i.dynamic => {
            // The stable keeps what the weight the routers carried before this plan, the one it
            // writes and the step's leave it: it shrinks one reconcile after the weight moved.
            let least = weight.min(target_weight).min(in_force);
            pods_for(i.replicas, i.max_weight - least, i.max_weight)
        }
        (Some(_), _) => i.replicas,
    };
    RoutedSplit {
        weight,
        canary_service_hash,
        draining: draining.filter(|_| weight > 0),
        canary_pods,
        stable_pods,
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
