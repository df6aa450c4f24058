//! The decision of the rollout reconciler: a pure function of what was observed (the Rollout,
//! its ReplicaSets, the time) to a [`Plan`] (ReplicaSets to create, scale and delete, Service
//! selectors, the new status, Events, and when to look again). No I/O happens here, so every
//! branch is table-tested and the traffic-safety rules are held in one place.
//!
//! [`decide`] reads top to bottom: the steps both strategies start with (`begin`), then
//! `strategy::canary` or `strategy::bluegreen`, each returning an `Outcome` that `conclude`
//! finishes (adoption, restarts, run lifecycle, phase). Imports go one way: this module calls
//! its children; children use their siblings, never this module. The parts:
//! - `observed`: what `decide` looks at;
//! - `plan`: the [`Plan`], and the one deadline setter that keeps the earliest;
//! - `status`: counts, conditions, phase, progress deadlines, pauses;
//! - `replica_sets`, `runs`, `abort`: what both strategies move;
//! - `strategy::steps`: the canary step walk;
//! - `strategy::canary`: pod counts, Services, and `routed_split`, where a step's routed
//!   weight is decided (the arithmetic is `weight::next`);
//! - `strategy::bluegreen`: preview, promotion, switch.
//!
//! Traffic safety: a router weight moves toward a side only when that side's available pods
//! carry it, the canary keeps the pods its weight needs, the stable shrinks only after traffic
//! left it, on abort the weight steps back as the stable's pods allow and the canary Service
//! returns to stable once it is 0, all traffic is on the canary before the stable Service
//! switches. Analysis: a step's run must end Successful for the step to complete, the
//! background run covers the update from `startingStep` until promotion, a Failed or Errored
//! run aborts in the same plan, an Inconclusive one pauses (`InconclusiveAnalysisRun`).

mod abort;
mod begin;
mod conclude;
mod observed;
mod plan;
mod replica_sets;
mod runs;
mod status;
mod strategy;

pub(crate) use observed::{Observed, PodView, ReplicaSetView, Workload, restart_pending};
pub(crate) use plan::{NewReplicaSet, Plan, RouterWeights};
pub(crate) use status::routing_failed;

use begin::{Begun, Update};

/// The decision. See the module documentation.
pub(crate) fn decide(obs: &Observed) -> Plan {
    let spec = &obs.rollout.spec;
    let mut plan = Plan::default();
    let (prev, mut st, hold) = begin::guarded_status(obs, &mut plan);
    if begin::hold_invalid(obs, &prev, &mut st, &mut plan, hold) {
        plan.status = st;
        return plan;
    }

    let canary = spec.strategy.canary.as_ref();
    let steps = canary.map_or(&[][..], |c| c.steps.as_slice());
    let new_hash = crate::rollout::hash::pod_template_hash(&spec.template);
    let update: Update = begin::start_over(&prev, &mut st, &new_hash, steps);
    begin::retry(&prev, &mut st, &mut plan, &update);

    let find = |hash: &str| obs.replica_sets.iter().find(|r| r.hash == hash);
    // The stable template is forgotten once neither its ReplicaSet nor the current one is left.
    let stable_hash = prev
        .stable_rs
        .clone()
        .filter(|h| find(h).is_some() || *h == new_hash);
    let stable_rs = stable_hash
        .as_deref()
        .and_then(find)
        .filter(|r| r.hash != new_hash);
    let mut begun = Begun {
        replicas: spec.replicas.unwrap_or(1).max(0),
        new_rs: find(&new_hash),
        initial: stable_hash.is_none(),
        promoted: stable_hash.as_deref() == Some(new_hash.as_str()),
        stable_hash,
        stable_rs,
        new_hash,
        prev,
        st,
        plan,
        revision: 0,
    };
    begin::fast_rollback(obs, &mut begun, &update);
    begin::promote_full_after_abort(&mut begun);
    begin::revision(obs, &mut begun, &update);

    let outcome = match (canary, spec.strategy.blue_green.as_ref()) {
        (Some(c), _) => strategy::canary::decide(obs, begun, c),
        (None, Some(bg)) => strategy::bluegreen::decide(obs, begun, bg),
        // Unreachable: validation requires exactly one strategy.
        (None, None) => {
            let mut plan = begun.plan;
            plan.status = begun.st;
            return plan;
        }
    };
    conclude::conclude(obs, outcome)
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
