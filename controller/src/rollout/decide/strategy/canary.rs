//! The canary strategy: a failed run aborts, the step walk (`steps`) says how far the update
//! goes, then the pod counts of both sides (a replica ratio without a router, the weight's pods
//! behind one), the Services, and `routed_split`, where a step's routed weight is decided (the
//! arithmetic is `weight::next`). What both strategies share is in `decide`'s other parts.

use rollout_rs_crds::rollout::{
    CanaryStep, CanaryStrategy, RolloutStatus, TrafficWeights, WeightDestination,
};

use crate::rollout::analysis::{self as an, RunKind};
use crate::rollout::decide::abort::{DEFAULT_SCALE_DOWN_DELAY, abort_started, kept_after_abort};
use crate::rollout::decide::begin::Begun;
use crate::rollout::decide::conclude::Outcome;
use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::{RouterWeights, event};
use crate::rollout::decide::replica_sets::{
    delete_history, promote, role_metadata, scale_down, scale_events, scale_new,
    within_revision_limit,
};
use crate::rollout::decide::runs::{
    BackgroundAt, abort_for_run, background_analysis, forget_runs, recorded_run,
};
use crate::rollout::decide::strategy::steps::{
    self, StepWalk, counts, current_weight, routed_canary_replicas, scale_in_force,
};
use crate::rollout::replicas::{Counts, Limits, paced, weighted_counts};
use crate::rollout::weight::pods_for;

/// The canary half of the decision, after the prelude both strategies share.
pub(in crate::rollout::decide) fn decide(
    obs: &Observed,
    begun: Begun,
    canary: &CanaryStrategy,
) -> Outcome {
    let Begun {
        prev,
        mut st,
        mut plan,
        replicas,
        new_hash,
        new_rs,
        stable_hash,
        stable_rs,
        initial,
        promoted,
        revision,
    } = begun;
    let ro = &obs.rollout;
    let spec = &ro.spec;
    let now = obs.now;
    let steps: &[CanaryStep] = canary.steps.as_slice();
    let n_steps = steps.len() as i32;
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
    // `acting_at`: the step whose weight and pods this plan works toward; `index`, but for a
    // pause that ends.
    let (target, acting_at) = if initial || promoted {
        index = n_steps;
        (Target::Full, index)
    } else if st.abort {
        abort_started(&mut st, &mut plan, &new_hash, now);
        index = 0;
        st.pause_conditions.clear();
        st.controller_pause = false;
        (Target::Abort, index)
    } else {
        if st.promote_full {
            index = n_steps;
            st.pause_conditions.clear();
            st.controller_pause = false;
            // Promote-full skips analysis: its runs are not current any more.
            forget_runs(&mut st);
        }
        let walked = steps::walk(
            StepWalk {
                obs,
                canary,
                new_rs,
                stable_rs,
                replicas,
                max_weight,
                limits,
                weight_in_force,
                recorded_step: recorded_step.as_deref(),
                new_hash: &new_hash,
                revision,
            },
            index,
            &mut st,
            &mut plan,
        );
        index = walked.index;
        hold_message = walked.hold;
        awaiting_analysis = walked.awaiting_analysis;
        let acting_at = if walked.pause_ended {
            // A timed pause that ends is written on its own: the status moves to the next
            // step, and everything else holds as the pause had it for one more plan (the
            // next, which that write's own watch event brings). Behind a thousand other
            // writes, the end of a pause is then one write that waits, not all of the next
            // step's.
            index - 1
        } else {
            index
        };
        if acting_at >= n_steps {
            (Target::Full, acting_at)
        } else {
            (Target::Weight(current_weight(steps, acting_at)), acting_at)
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
            index: acting_at,
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
            index: acting_at,
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
    Outcome {
        prev,
        st,
        plan,
        limits,
        new_hash,
        hold: hold_message,
        awaiting_analysis,
        old_take_traffic: !routed,
        serving: None,
    }
}

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
    let weight = crate::rollout::weight::next(
        target_weight,
        in_force,
        crate::rollout::weight::Capacity {
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
