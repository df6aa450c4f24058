//! How every decision ends, whichever strategy made it: orphans adopted, pods restarted for
//! `spec.restartAt`, Services and DestinationRules no longer named released, counts,
//! AnalysisRun lifecycle, phase and conditions, the stable mark, and a `workloadRef`
//! Deployment's pods handed over. Strategies hand it an [`Outcome`]; they never call it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollout_rs_crds::rollout::{RolloutPhase, RolloutStatus, WorkloadScaleDown};

use crate::rollout::decide::observed::{Observed, PodView, restart_pending};
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::runs::runs_lifecycle;
use crate::rollout::decide::status::{observed_counts, phase};
use crate::rollout::replicas::Limits;

/// What a strategy decided, handed back for `conclude` to finish the plan.
pub(super) struct Outcome {
    pub(crate) prev: RolloutStatus,
    pub(crate) st: RolloutStatus,
    pub(crate) plan: Plan,
    pub(crate) limits: Limits,
    pub(crate) new_hash: String,
    pub(crate) hold: Option<String>,
    pub(crate) awaiting_analysis: bool,
    /// Pods of old ReplicaSets still receive traffic (a canary without a router): the rollout
    /// is not done until they are gone.
    pub(crate) old_take_traffic: bool,
    /// The template whose pods serve users (blue-green: the active one): its ready and
    /// available pods are the Rollout's. `None`: every ReplicaSet's count.
    pub(crate) serving: Option<String>,
}

/// What every strategy ends with: adoption, restarts, counts, AnalysisRun lifecycle, phase.
pub(super) fn conclude(obs: &Observed, end: Outcome) -> Plan {
    let Outcome {
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
