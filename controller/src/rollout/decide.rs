//! The decision of the rollout reconciler: a pure function of what was observed (the Rollout,
//! its ReplicaSets, the time) to a [`Plan`] (ReplicaSets to create, scale and delete, Service
//! selectors, the new status, Events, and when to look again). No I/O happens here, so every
//! branch is table-tested and the traffic-safety rules are held in one place.
//!
//! This covers the canary strategy without a traffic router: `setWeight` as a replica ratio,
//! timed and indefinite pauses, promote (clear the pause), promote-full, abort and retry, manual
//! pause, update mid-rollout, rollback to the stable template, invalid specs and progress
//! deadlines. `setCanaryScale` and `analysis` steps hold the rollout (they arrive with the
//! traffic routers and the analysis engine); nothing skips them. So does an update of a Rollout
//! with `trafficRouting`, at weight 0, until the routers (`routers/`) are wired in.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::rollout::{
    CanaryStep, PauseCondition, PauseReason, Rollout, RolloutPhase, RolloutStatus,
};
use rollout_rs_crds::{Condition, duration, validation};

use super::hash::pod_template_hash;
use super::replicas::{Counts, Limits, paced, weighted_counts};

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

/// A ReplicaSet to create for the current template.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReplicaSet {
    pub name: String,
    pub hash: String,
    pub revision: u64,
    pub replicas: i32,
}

/// An Event to emit.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// What to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Option<NewReplicaSet>,
    /// `(ReplicaSet name, replicas)`, only for counts that change.
    pub scale: Vec<(String, i32)>,
    /// ReplicaSets beyond `revisionHistoryLimit`.
    pub delete: Vec<String>,
    /// Orphan ReplicaSets to adopt (controller owner reference to the Rollout).
    pub adopt: Vec<String>,
    /// Pods to delete for a restart, within maxUnavailable.
    pub restart_pods: Vec<String>,
    /// `(Service name, pod-template hash)` selectors to pin.
    pub selectors: Vec<(String, String)>,
    pub status: RolloutStatus,
    pub events: Vec<PlannedEvent>,
    /// When to reconcile again at the latest (a pause's end, a progress deadline).
    pub requeue_after: Option<Duration>,
}

const DEFAULT_PROGRESS_DEADLINE: i64 = 600;
const DEFAULT_HISTORY_LIMIT: i32 = 10;

fn event(warning: bool, reason: &'static str, message: impl Into<String>) -> PlannedEvent {
    PlannedEvent {
        warning,
        reason,
        message: message.into(),
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

fn set_condition(
    status: &mut RolloutStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let time = Some(Time(now));
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.last_transition_time = time.clone();
            }
            if c.status != value
                || c.reason.as_deref() != Some(reason)
                || c.message.as_deref() != Some(message)
            {
                c.last_update_time = time;
            }
            c.status = value.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
        }
        None => status.conditions.push(Condition {
            type_: type_.into(),
            status: value.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_update_time: time.clone(),
            last_transition_time: time,
        }),
    }
}

fn remove_condition(status: &mut RolloutStatus, type_: &str) {
    status.conditions.retain(|c| c.type_ != type_);
}

fn condition<'a>(status: &'a RolloutStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn steps_hash(steps: &[CanaryStep]) -> String {
    let bytes = serde_json::to_vec(steps).unwrap_or_default();
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
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
    let prev = ro.status.clone().unwrap_or_default();
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

    // An invalid spec moves nothing, and says why where users look.
    let errors = validation::rollout(spec);
    if !errors.is_empty() {
        let message = validation::summary(&errors);
        if condition(&prev, "InvalidSpec").and_then(|c| c.message.as_deref())
            != Some(message.as_str())
        {
            plan.events
                .push(event(true, "InvalidSpec", message.clone()));
        }
        set_condition(&mut st, "InvalidSpec", "True", "InvalidSpec", &message, now);
        st.phase = Some(RolloutPhase::Degraded);
        st.message = Some(format!("InvalidSpec: {message}"));
        plan.status = st;
        return plan;
    }
    if condition(&prev, "InvalidSpec").is_some() {
        remove_condition(&mut st, "InvalidSpec");
        plan.events
            .push(event(false, "SpecValid", "the spec is valid again"));
    }
    let Some(canary) = spec.strategy.canary.as_ref() else {
        st.phase = Some(RolloutPhase::Degraded);
        st.message = Some(
            "the blueGreen strategy is not supported by this version of rollout-rs yet".into(),
        );
        plan.status = st;
        return plan;
    };

    let limits = Limits::new(
        canary.max_surge.as_ref(),
        canary.max_unavailable.as_ref(),
        replicas,
    );
    let new_hash = pod_template_hash(&spec.template);
    let steps = &canary.steps;
    let n_steps = steps.len() as i32;

    // A new template (or new steps) starts the steps again.
    let new_template = prev.current_pod_hash.as_deref() != Some(new_hash.as_str());
    let new_steps = prev
        .current_step_hash
        .as_deref()
        .is_some_and(|h| h != steps_hash(steps));
    if new_template || new_steps {
        if new_template && prev.current_pod_hash.is_some() {
            plan.events.push(event(
                false,
                "RolloutUpdated",
                format!("Rollout updated to template {new_hash}"),
            ));
        }
        st.current_step_index = Some(0);
        st.pause_conditions.clear();
        st.controller_pause = false;
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
        plan.events.push(event(
            false,
            "RolloutRetried",
            "Rollout retried from step 0",
        ));
        remove_condition(&mut st, "Progressing");
    }

    let mut index = st.current_step_index.unwrap_or(0).clamp(0, n_steps);
    let mut hold_message = None;
    let target = if initial || promoted {
        index = n_steps;
        Target::Full
    } else if st.abort {
        if st.aborted_at.is_none() {
            st.aborted_at = Some(Time(now));
            plan.events.push(event(
                true,
                "RolloutAborted",
                format!("Rollout aborted update to template {new_hash}"),
            ));
        }
        index = 0;
        st.pause_conditions.clear();
        st.controller_pause = false;
        Target::Abort
    } else if canary.traffic_routing.is_some() && !st.promote_full {
        // Shifting replicas where users configured a traffic router would move traffic the
        // way they did not ask for; until the routers are wired, an update holds at weight 0
        // (promote --full and rollback still work: they need no router).
        hold_message = Some(
            "trafficRouting is not supported by this version of rollout-rs yet: the update holds with no traffic on the canary (promote --full to proceed without steps)",
        );
        index = 0;
        Target::Weight(0)
    } else {
        if st.promote_full {
            index = n_steps;
            st.pause_conditions.clear();
            st.controller_pause = false;
        }
        let new_counts = counts(new_rs);
        let stable_counts = counts(stable_rs);
        // A manual pause freezes the steps where they are (the current weight still holds).
        while index < n_steps && !spec.paused {
            let step = &steps[index as usize];
            if let Some(w) = step.set_weight {
                let (want_new, want_stable) = weighted_counts(replicas, w, limits);
                let reached = new_counts.desired == want_new
                    && stable_counts.desired == want_stable
                    && new_rs.is_some_and(|r| r.available >= want_new);
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
                        st.pause_conditions.push(PauseCondition {
                            reason: PauseReason::CanaryPauseStep,
                            start_time: MicroTime(now),
                        });
                        st.controller_pause = true;
                        plan.events.push(event(
                            false,
                            "RolloutPaused",
                            "Rollout paused at a pause step",
                        ));
                        if let Some(d) = length {
                            plan.requeue_after = Some(d);
                        }
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
                            plan.requeue_after = (ends - now).try_into().ok();
                            break;
                        }
                    }
                }
            } else {
                hold_message = Some(if step.analysis.is_some() {
                    "analysis steps are not supported by this version of rollout-rs yet: the rollout holds here"
                } else {
                    "setCanaryScale steps need a traffic router, which this version of rollout-rs does not support yet: the rollout holds here"
                });
                break;
            }
        }
        if index >= n_steps {
            Target::Full
        } else {
            // The weight in force is that of the last setWeight step before the current one.
            let w = steps[..=index as usize]
                .iter()
                .rev()
                .find_map(|s| s.set_weight)
                .unwrap_or(0);
            Target::Weight(w)
        }
    };
    st.current_step_index = Some(index);

    // Replica counts.
    let want = match target {
        Target::Full => (replicas, 0),
        Target::Weight(w) => weighted_counts(replicas, w, limits),
        Target::Abort => (0, replicas),
    };
    // Every ReplicaSet but the current one and the stable one (a duplicate of the current
    // template included).
    let others: Vec<&ReplicaSetView> = obs
        .replica_sets
        .iter()
        .filter(|r| {
            new_rs.is_none_or(|n| n.name != r.name) && stable_rs.is_none_or(|s| s.name != r.name)
        })
        .collect();
    let other_counts = others.iter().fold(Counts::default(), |acc, r| Counts {
        desired: acc.desired + r.desired,
        available: acc.available + r.available,
    });
    let (next_new, next_stable) = paced(
        replicas,
        limits,
        counts(new_rs),
        counts(stable_rs),
        other_counts,
        want,
    );
    match new_rs {
        Some(r) if r.desired != next_new => plan.scale.push((r.name.clone(), next_new)),
        Some(_) => {}
        None => {
            let revision = obs
                .replica_sets
                .iter()
                .map(|r| r.revision)
                .max()
                .unwrap_or(0)
                + 1;
            plan.create = Some(NewReplicaSet {
                name: format!(
                    "{}-{new_hash}",
                    ro.metadata.name.clone().unwrap_or_default()
                ),
                hash: new_hash.clone(),
                revision,
                replicas: next_new,
            });
            plan.events.push(event(false, "NewReplicaSetCreated", format!("Created ReplicaSet for template {new_hash} (revision {revision}) with {next_new} replicas")));
        }
    }
    if let Some(s) = stable_rs.filter(|s| s.desired != next_stable) {
        plan.scale.push((s.name.clone(), next_stable));
    }
    // Any other ReplicaSet (an older stable, a superseded canary) goes to zero: only the
    // current template and the stable one serve.
    for r in &others {
        if r.desired != 0 {
            plan.scale.push((r.name.clone(), 0));
        }
    }
    for (name, to) in &plan.scale {
        let from = obs
            .replica_sets
            .iter()
            .find(|r| &r.name == name)
            .map_or(0, |r| r.desired);
        plan.events.push(event(
            false,
            "ScalingReplicaSet",
            format!("Scaled ReplicaSet {name} from {from} to {to}"),
        ));
    }

    // Promotion: the current template is fully available.
    let new_ready = new_rs.is_some_and(|r| r.desired == replicas && r.available >= replicas);
    if target == Target::Full && new_ready && stable_hash.as_deref() != Some(new_hash.as_str()) {
        st.stable_rs = Some(new_hash.clone());
        st.promote_full = false;
        st.pause_conditions.clear();
        st.controller_pause = false;
        plan.events.push(event(
            false,
            "RolloutCompleted",
            format!("Rollout completed: template {new_hash} is stable"),
        ));
    }

    // Services: the canary Service follows the canary, except on abort (traffic safety: it
    // goes back to stable in the same reconcile); the stable Service follows the stable.
    let serving_stable = st.stable_rs.clone().unwrap_or_else(|| new_hash.clone());
    if let Some(svc) = &canary.canary_service {
        let hash = if st.abort {
            serving_stable.clone()
        } else {
            new_hash.clone()
        };
        plan.selectors.push((svc.clone(), hash));
    }
    if let Some(svc) = &canary.stable_service {
        plan.selectors.push((svc.clone(), serving_stable.clone()));
    }

    // History: old ReplicaSets at zero beyond revisionHistoryLimit, oldest first.
    let limit = spec
        .revision_history_limit
        .unwrap_or(DEFAULT_HISTORY_LIMIT)
        .max(0) as usize;
    let mut idle: Vec<&ReplicaSetView> = others
        .iter()
        .copied()
        .filter(|r| r.desired == 0 && r.replicas == 0)
        .collect();
    idle.sort_by_key(|r| std::cmp::Reverse(r.revision));
    plan.delete = idle.iter().skip(limit).map(|r| r.name.clone()).collect();

    plan.adopt = obs
        .replica_sets
        .iter()
        .filter(|r| r.orphan)
        .map(|r| r.name.clone())
        .collect();
    let restarting = restart(obs, &mut st, &mut plan, limits);

    observed_counts(&mut st, &obs.replica_sets, Some(&new_hash));
    let hold_message = hold_message.or(restarting.then_some("rollout is restarting"));
    phase(
        &mut st,
        &prev,
        spec.paused,
        replicas,
        hold_message,
        now,
        &mut plan,
        spec.progress_deadline_seconds,
        spec.progress_deadline_abort,
    );
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
        plan.requeue_after = (at - obs.now).try_into().ok();
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

fn observed_counts(st: &mut RolloutStatus, rss: &[ReplicaSetView], new_hash: Option<&str>) {
    st.replicas = Some(rss.iter().map(|r| r.replicas).sum());
    st.ready_replicas = Some(rss.iter().map(|r| r.ready).sum());
    st.available_replicas = Some(rss.iter().map(|r| r.available).sum());
    if let Some(h) = new_hash {
        st.updated_replicas = Some(rss.iter().filter(|r| r.hash == h).map(|r| r.replicas).sum());
    }
}

/// Phase, message and conditions, in the order Argo Rollouts users know; progress deadlines.
#[allow(clippy::too_many_arguments)] // the inputs of one computation, all needed
fn phase(
    st: &mut RolloutStatus,
    prev: &RolloutStatus,
    manually_paused: bool,
    replicas: i32,
    hold: Option<&str>,
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
        || condition(prev, "Progressing").is_none();
    let deadline = i64::from(deadline_seconds.unwrap_or(DEFAULT_PROGRESS_DEADLINE as i32));
    let exceeded_before = condition(prev, "Progressing")
        .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"));
    let done = completed && updated == replicas && available >= replicas && total == updated;

    if st.abort {
        set_condition(
            st,
            "Progressing",
            "False",
            "RolloutAborted",
            "Rollout aborted",
            now,
        );
    } else if done {
        set_condition(
            st,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            "Rollout is healthy",
            now,
        );
    } else if paused {
        set_condition(
            st,
            "Progressing",
            "Unknown",
            "RolloutPaused",
            "Rollout is paused",
            now,
        );
    } else if moved {
        set_condition(
            st,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            "Rollout is progressing",
            now,
        );
        force_update_time(st, now);
    } else if !exceeded_before {
        let last = condition(st, "Progressing")
            .and_then(|c| c.last_update_time.clone())
            .map_or(now, |t| t.0);
        let ends = last + jiff::SignedDuration::from_secs(deadline);
        if now >= ends {
            set_condition(
                st,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("Rollout made no progress for {deadline}s"),
                now,
            );
            plan.events.push(event(
                true,
                "ProgressDeadlineExceeded",
                format!("Rollout made no progress for {deadline}s"),
            ));
            if deadline_abort {
                st.abort = true;
                st.aborted_at = Some(Time(now));
                plan.events.push(event(
                    true,
                    "RolloutAborted",
                    "Rollout aborted: progress deadline exceeded",
                ));
            }
        } else {
            let wait: Option<Duration> = (ends - now).try_into().ok();
            plan.requeue_after = match (plan.requeue_after, wait) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let exceeded = condition(st, "Progressing")
        .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"));

    if paused {
        set_condition(
            st,
            "Paused",
            "True",
            if manually_paused {
                "ManuallyPaused"
            } else {
                "CanaryPauseStep"
            },
            "Rollout is paused",
            now,
        );
    } else {
        remove_condition(st, "Paused");
    }
    // A Rollout is Available when all its replicas are.
    if available >= replicas {
        set_condition(
            st,
            "Available",
            "True",
            "AvailableReason",
            "Rollout has minimum availability",
            now,
        );
    } else {
        set_condition(
            st,
            "Available",
            "False",
            "AvailableReason",
            "Rollout does not have minimum availability",
            now,
        );
    }

    let (phase, message): (RolloutPhase, String) = if st.abort {
        (
            RolloutPhase::Degraded,
            format!(
                "RolloutAborted: Rollout aborted update to template {}",
                st.current_pod_hash.clone().unwrap_or_default()
            ),
        )
    } else if exceeded {
        (
            RolloutPhase::Degraded,
            "ProgressDeadlineExceeded: Rollout made no progress within progressDeadlineSeconds"
                .into(),
        )
    } else if manually_paused {
        (RolloutPhase::Paused, "manually paused".into())
    } else if !st.pause_conditions.is_empty() {
        (RolloutPhase::Paused, "CanaryPauseStep".into())
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
    } else if total > updated {
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

fn force_update_time(st: &mut RolloutStatus, now: Timestamp) {
    if let Some(c) = st.conditions.iter_mut().find(|c| c.type_ == "Progressing") {
        c.last_update_time = Some(Time(now));
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
