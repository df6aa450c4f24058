//! The canary step walk: from the current step, every step whose condition holds is completed
//! in this plan (a setWeight whose pods and weight are there, a pause that was promoted, a
//! setCanaryScale whose pods are there, an analysis that succeeded), until one holds the
//! rollout or a timed pause ends (that end is a plan of its own: see `Walked::pause_ended`).
//! Also what a step asks for: the weight and the setCanaryScale in force, and the canary pods
//! a routed weight needs. Pure, like the rest of `decide`.

use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::conditions::reason;
use rollout_rs_crds::duration;
use rollout_rs_crds::rollout::{
    CanaryStep, CanaryStrategy, PauseReason, RolloutStatus, SetCanaryScale,
};

use crate::rollout::analysis::{self as an, NewRun, RunKind};
use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::runs::{inconclusive_pause, set_run_status, start_run};
use crate::rollout::decide::status::enter_pause;
use crate::rollout::replicas::{Counts, Limits, weighted_counts};
use crate::rollout::weight::pods_for;

/// What the walk looks at besides the status it moves.
pub(super) struct StepWalk<'a> {
    pub obs: &'a Observed,
    pub canary: &'a CanaryStrategy,
    pub new_rs: Option<&'a ReplicaSetView>,
    pub stable_rs: Option<&'a ReplicaSetView>,
    pub replicas: i32,
    pub max_weight: i32,
    pub limits: Limits,
    /// The weight the routers carry to the current template's pods.
    pub weight_in_force: Option<i32>,
    /// The step AnalysisRun the status records.
    pub recorded_step: Option<&'a str>,
    pub new_hash: &'a str,
    pub revision: u64,
}

/// Where the walk stopped.
pub(super) struct Walked {
    pub index: i32,
    /// Why the rollout holds at `index`, when it is not a pause.
    pub hold: Option<String>,
    /// Waiting on a step's analysis is progress: the deadline does not run meanwhile.
    pub awaiting_analysis: bool,
    /// A timed pause ended at `index - 1`: the walk stops there, so that the plan moves the
    /// step on and nothing else.
    pub pause_ended: bool,
}

/// Completes every step from `index` whose condition holds; Events, pauses, runs to start and
/// wake-ups go into `st` and `plan`.
pub(super) fn walk(
    w: StepWalk<'_>,
    mut index: i32,
    st: &mut RolloutStatus,
    plan: &mut Plan,
) -> Walked {
    let StepWalk {
        obs,
        canary,
        new_rs,
        stable_rs,
        replicas,
        max_weight,
        limits,
        weight_in_force,
        recorded_step,
        new_hash,
        revision,
    } = w;
    let spec = &obs.rollout.spec;
    let now = obs.now;
    let steps: &[CanaryStep] = canary.steps.as_slice();
    let n_steps = steps.len() as i32;
    let routed = canary.traffic_routing.is_some();
    let mut hold_message: Option<String> = None;
    let mut awaiting_analysis = false;
    let mut pause_ended = false;
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
                let want_new =
                    routed_canary_replicas(replicas, w, max_weight, scale_in_force(steps, index));
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
                        st,
                        plan,
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
                        pause_ended = true;
                        break;
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
            if !(new_counts.desired == want_new && new_rs.is_some_and(|r| r.available >= want_new))
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
                recorded_step,
                RunKind::Step,
                Some(index),
                new_hash,
            );
            let Some(run) = run else {
                start_run(
                    obs,
                    st,
                    plan,
                    NewRun {
                        name: String::new(),
                        kind: RunKind::Step,
                        step: Some(index),
                        hash: new_hash.to_string(),
                        revision,
                        analysis: analysis.clone(),
                    },
                );
                hold_message = Some(format!("waiting for the analysis of step {}", index + 1));
                awaiting_analysis = true;
                break;
            };
            set_run_status(st, RunKind::Step, Some(run));
            match run.phase {
                Some(AnalysisPhase::Successful) => {
                    set_run_status(st, RunKind::Step, None);
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
                    if inconclusive_pause(st, plan, now, &run.name) {
                        // A user promoted past the inconclusive analysis: skip the step.
                        set_run_status(st, RunKind::Step, None);
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
    Walked {
        index,
        hold: hold_message,
        awaiting_analysis,
        pause_ended,
    }
}

/// The weight of the last setWeight step at or before `index` (0 before any).
pub(super) fn current_weight(steps: &[CanaryStep], index: i32) -> i32 {
    let end = (index.max(0) as usize + 1).min(steps.len());
    steps[..end]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

/// The setCanaryScale in force at `index`: the last one at or before it, unless it says
/// matchTrafficWeight.
pub(super) fn scale_in_force(steps: &[CanaryStep], index: i32) -> Option<&SetCanaryScale> {
    let end = (index.max(0) as usize + 1).min(steps.len());
    steps[..end]
        .iter()
        .rev()
        .find_map(|s| s.set_canary_scale.as_ref())
        .filter(|s| !s.match_traffic_weight)
}

/// Canary pods for a routed weight: `ceil(replicas * weight / total)`, or what setCanaryScale says.
pub(super) fn routed_canary_replicas(
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

pub(super) fn counts(rs: Option<&ReplicaSetView>) -> Counts {
    rs.map_or(Counts::default(), |r| Counts {
        desired: r.desired,
        available: r.available,
    })
}
