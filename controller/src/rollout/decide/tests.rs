//! Table tests of `decide`: one observed situation each, and the plan it must produce.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::rollout::{PauseCondition, PauseReason, Rollout, RolloutPhase, RolloutStatus};

use super::*;
use crate::rollout::decide::begin::steps_hash;
use crate::rollout::decide::status::condition;
use crate::rollout::decide::test_support::{hash_of, now, parse_rollout, reasons, rs, scaled};
use crate::rollout::status_guard;

fn ago(secs: i64) -> Time {
    Time(now() - jiff::SignedDuration::from_secs(secs))
}

/// A canary Rollout (10 replicas, steps setWeight 20 / pause {} / setWeight 50 / pause 30s)
/// running `image`.
fn rollout(image: &str) -> Rollout {
    let yaml = format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web, namespace: default, generation: 1}}\nspec:\n  replicas: 10\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n  strategy:\n    canary:\n      canaryService: web-canary\n      stableService: web-stable\n      steps: [{{setWeight: 20}}, {{pause: {{}}}}, {{setWeight: 50}}, {{pause: {{duration: 30s}}}}]\n"
    );
    parse_rollout(&yaml)
}

/// A rollout whose stable is `web:1` (10 pods), now updated to `image`, with `status`.
fn updating(image: &str, status: impl FnOnce(&mut RolloutStatus)) -> Rollout {
    let mut r = rollout(image);
    let mut st = RolloutStatus {
        stable_rs: Some(hash_of("web:1")),
        current_pod_hash: Some(hash_of(image)),
        current_step_index: Some(0),
        ..Default::default()
    };
    st.current_step_hash = Some(steps_hash(
        &r.spec.strategy.canary.as_ref().expect("canary").steps,
    ));
    status(&mut st);
    r.status = Some(st);
    r
}

fn plan(rollout: Rollout, rss: Vec<ReplicaSetView>) -> Plan {
    decide(&Observed::of(rollout, rss, now()))
}

#[test]
fn initial_deploy_skips_steps_and_goes_to_full_size() {
    let p = plan(rollout("web:1"), vec![]);
    let create = p.create.as_ref().expect("a ReplicaSet is created");
    assert_eq!((create.replicas, create.revision), (10, 1));
    assert_eq!(
        p.status.current_step_index,
        Some(4),
        "the initial deploy skips steps"
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Progressing));
    // Once available, the template becomes stable and the rollout Healthy.
    let mut r = rollout("web:1");
    r.status = Some(p.status.clone());
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    assert_eq!(p.status.stable_rs, Some(hash_of("web:1")));
    assert_eq!(p.status.phase, Some(RolloutPhase::Healthy));
    assert!(reasons(&p).contains(&"RolloutCompleted"));
    assert_eq!(
        p.selectors,
        vec![
            ("web-canary".into(), hash_of("web:1")),
            ("web-stable".into(), hash_of("web:1"))
        ]
    );
}

#[test]
fn update_creates_the_canary_at_the_first_weight() {
    let mut r = rollout("web:2");
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:1")),
        current_pod_hash: Some(hash_of("web:1")),
        current_step_index: Some(4),
        ..Default::default()
    });
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    assert_eq!(
        p.create.as_ref().map(|c| (c.replicas, c.revision)),
        Some((2, 2))
    );
    assert_eq!(scaled(&p, "web:1"), Some(8));
    assert_eq!(p.status.current_step_index, Some(0));
    assert!(reasons(&p).contains(&"RolloutUpdated"));
    // Traffic safety: the stable Service stays on stable, the canary Service on the canary.
    assert_eq!(
        p.selectors,
        vec![
            ("web-canary".into(), hash_of("web:2")),
            ("web-stable".into(), hash_of("web:1"))
        ]
    );
}

#[test]
fn set_weight_completes_when_counts_are_reached_then_pauses() {
    let r = updating("web:2", |_| {});
    let p = plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]);
    assert_eq!(p.status.current_step_index, Some(1));
    assert_eq!(p.status.pause_conditions.len(), 1);
    assert!(p.status.controller_pause);
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.status.message.as_deref(), Some("CanaryPauseStep"));
    assert!(p.scale.is_empty(), "{:?}", p.scale);
    assert_eq!(reasons(&p), ["RolloutStepCompleted", "RolloutPaused"]);

    // Canary pods not yet available: the step waits.
    let p = plan(
        updating("web:2", |_| {}),
        vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 1)],
    );
    assert_eq!(p.status.current_step_index, Some(0));
}

#[test]
fn indefinite_pause_holds_until_promoted() {
    let paused = |s: &mut RolloutStatus| {
        s.current_step_index = Some(1);
        s.controller_pause = true;
        s.pause_conditions = vec![PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: MicroTime(ago(3600).0),
        }];
    };
    let rss = || vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)];
    let p = plan(updating("web:2", paused), rss());
    assert_eq!(p.status.current_step_index, Some(1));
    assert_eq!(p.requeue_after, None, "an indefinite pause needs no timer");
    // Promote: a user cleared the pause conditions.
    let p = plan(
        updating("web:2", |s| {
            paused(s);
            s.pause_conditions.clear();
        }),
        rss(),
    );
    assert_eq!(p.status.current_step_index, Some(2));
    assert!(!p.status.controller_pause);
    assert_eq!(scaled(&p, "web:2"), Some(5), "setWeight 50 follows at once");
    assert!(reasons(&p).contains(&"RolloutResumed"));
}

#[test]
fn timed_pause_requeues_at_its_end_and_then_completes() {
    let at = |since: i64| {
        move |s: &mut RolloutStatus| {
            s.current_step_index = Some(3);
            s.controller_pause = true;
            s.pause_conditions = vec![PauseCondition {
                reason: PauseReason::CanaryPauseStep,
                start_time: MicroTime(ago(since).0),
            }];
        }
    };
    let rss = || vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 5, 5)];
    let p = plan(updating("web:2", at(10)), rss());
    assert_eq!(p.status.current_step_index, Some(3));
    assert_eq!(
        p.requeue_after,
        Some(Duration::from_secs(20)),
        "exactly at the pause's end"
    );
    // The end is a plan of its own: the step moves on and nothing else yet, so that the end
    // is one write, however many others wait for their turn. That write's watch event brings
    // the next plan.
    let p = plan(updating("web:2", at(30)), rss());
    assert_eq!(p.status.current_step_index, Some(4));
    assert!(p.status.pause_conditions.is_empty());
    assert!(!p.status.controller_pause);
    assert_eq!(p.scale, [], "nothing scales with the pause's end");
    assert_eq!(reasons(&p), ["RolloutStepCompleted"]);
    // The next plan, on that status, does the next step's work.
    let p = plan(updating("web:2", |s| s.current_step_index = Some(4)), rss());
    assert_eq!(p.status.current_step_index, Some(4));
    assert_eq!(
        scaled(&p, "web:2"),
        Some(8),
        "full promotion starts, within surge"
    );
}

#[test]
fn entering_a_timed_pause_sets_the_timer() {
    let p = plan(
        updating("web:2", |s| s.current_step_index = Some(2)),
        vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 5, 5)],
    );
    assert_eq!(p.status.current_step_index, Some(3));
    assert_eq!(p.requeue_after, Some(Duration::from_secs(30)));
}

#[test]
fn promote_full_skips_remaining_steps() {
    let p = plan(
        updating("web:2", |s| s.promote_full = true),
        vec![rs("web:1", 1, 10, 10)],
    );
    assert_eq!(p.status.current_step_index, Some(4));
    assert_eq!(
        p.create.as_ref().map(|c| c.replicas),
        Some(3),
        "full size within maxSurge 3"
    );
    // Once fully available: stable, promoteFull cleared.
    let p = plan(
        updating("web:2", |s| {
            s.promote_full = true;
            s.current_step_index = Some(4)
        }),
        vec![rs("web:1", 1, 0, 0), rs("web:2", 2, 10, 10)],
    );
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
    assert!(!p.status.promote_full);
}

#[test]
fn abort_scales_the_canary_to_zero_and_points_the_canary_service_at_stable() {
    let p = plan(
        updating("web:2", |s| {
            s.abort = true;
            s.current_step_index = Some(2)
        }),
        vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 5, 5)],
    );
    // The stable grows within maxSurge (3) and the canary loses only the available pods
    // maxUnavailable (2) allows: (5, 5) -> (3, 8), not (0, 10) with 5 pods starting.
    assert_eq!(scaled(&p, "web:2"), Some(3));
    assert_eq!(scaled(&p, "web:1"), Some(8));
    assert_eq!(
        p.selectors,
        vec![
            ("web-canary".into(), hash_of("web:1")),
            ("web-stable".into(), hash_of("web:1"))
        ]
    );
    assert_eq!(p.status.current_step_index, Some(0));
    assert!(p.status.aborted_at.is_some());
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    assert!(
        p.status
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("RolloutAborted"))
    );
    assert!(reasons(&p).contains(&"RolloutAborted"));
    // Once the stable's new pods are available the canary goes.
    let p = plan(
        updating("web:2", |s| {
            s.abort = true;
            s.aborted_at = Some(ago(1));
        }),
        vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 3, 3)],
    );
    assert_eq!(
        (scaled(&p, "web:2"), scaled(&p, "web:1")),
        (Some(0), Some(10))
    );
}

#[test]
fn retry_restarts_from_step_zero() {
    let p = plan(
        updating("web:2", |s| {
            s.abort = false;
            s.aborted_at = Some(ago(60));
            s.current_step_index = Some(0)
        }),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 0, 0)],
    );
    assert!(p.status.aborted_at.is_none());
    assert_eq!(p.status.current_step_index, Some(0));
    assert_eq!(scaled(&p, "web:2"), Some(2));
    assert!(reasons(&p).contains(&"RolloutRetried"));
}

#[test]
fn manual_pause_stops_steps() {
    let mut r = updating("web:2", |s| s.current_step_index = Some(1));
    r.spec.paused = true;
    let p = plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]);
    assert_eq!(p.status.current_step_index, Some(1));
    assert!(
        p.status.pause_conditions.is_empty(),
        "a manual pause adds no step pause"
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.status.message.as_deref(), Some("manually paused"));
}

#[test]
fn manual_pause_holds_the_current_weight_without_advancing() {
    let mut r = updating("web:2", |_| {});
    r.spec.paused = true;
    let p = plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]);
    assert_eq!(
        p.status.current_step_index,
        Some(0),
        "a reached setWeight does not complete while paused"
    );
    assert!(p.scale.is_empty());
}

#[test]
fn update_mid_rollout_replaces_the_canary() {
    // web:2 is the canary at 20%; web:3 arrives.
    let mut r = rollout("web:3");
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:1")),
        current_pod_hash: Some(hash_of("web:2")),
        current_step_index: Some(1),
        ..Default::default()
    });
    let p = plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]);
    assert_eq!(
        scaled(&p, "web:2"),
        Some(0),
        "the superseded canary is scaled down"
    );
    assert_eq!(p.create.as_ref().map(|c| c.revision), Some(3));
    assert_eq!(p.status.current_step_index, Some(0));
    assert_eq!(scaled(&p, "web:1"), None, "stable keeps serving");
}

#[test]
fn rollback_to_the_stable_template_runs_no_steps() {
    // web:2 is the canary; the template goes back to web:1 (the stable).
    let mut r = rollout("web:1");
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:1")),
        current_pod_hash: Some(hash_of("web:2")),
        current_step_index: Some(1),
        ..Default::default()
    });
    let p = plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]);
    assert_eq!(scaled(&p, "web:2"), Some(0));
    assert_eq!(scaled(&p, "web:1"), Some(10));
    assert_eq!(p.status.current_step_index, Some(4));
    assert!(p.status.pause_conditions.is_empty());
    assert!(p.create.is_none());
}

#[test]
fn invalid_spec_moves_nothing_and_heals() {
    let mut r = updating("web:2", |_| {});
    r.spec.strategy.canary.as_mut().expect("canary").steps[0].set_weight = Some(150);
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    assert!(p.create.is_none() && p.scale.is_empty() && p.selectors.is_empty());
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    let c = p
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .expect("InvalidSpec condition");
    assert_eq!(
        c.message.as_deref(),
        Some("spec.strategy.canary.steps[0].setWeight: must be <= 100, got 150")
    );
    // Fixed: the condition goes and the rollout proceeds.
    let mut fixed = updating("web:2", |_| {});
    fixed.status.as_mut().expect("status").conditions = p.status.conditions.clone();
    let p = plan(fixed, vec![rs("web:1", 1, 10, 10)]);
    assert!(p.status.conditions.iter().all(|c| c.type_ != "InvalidSpec"));
    assert!(p.create.is_some());
}

#[test]
fn progress_deadline_degrades_and_may_abort() {
    let stuck = |abort: bool| {
        let mut r = updating("web:2", |s| {
            s.replicas = Some(10);
            s.updated_replicas = Some(2);
            s.available_replicas = Some(8);
            s.ready_replicas = Some(8);
            s.conditions = vec![rollout_rs_crds::Condition {
                type_: "Progressing".into(),
                status: "True".into(),
                reason: Some("ReplicaSetUpdated".into()),
                message: None,
                last_update_time: Some(ago(11)),
                last_transition_time: Some(ago(11)),
            }];
        });
        r.spec.progress_deadline_seconds = Some(10);
        r.spec.progress_deadline_abort = abort;
        plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 0)])
    };
    let p = stuck(false);
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    let c = p
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .expect("Progressing");
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
    assert!(!p.status.abort);
    let p = stuck(true);
    assert!(p.status.abort, "progressDeadlineAbort aborts");
}

#[test]
fn history_limit_deletes_the_oldest_idle_replica_sets() {
    let mut r = rollout("web:9");
    r.spec.revision_history_limit = Some(1);
    let hash = hash_of("web:9");
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash.clone()),
        current_pod_hash: Some(hash),
        current_step_index: Some(4),
        ..Default::default()
    });
    let p = plan(
        r,
        vec![
            rs("web:1", 1, 0, 0),
            rs("web:2", 2, 0, 0),
            rs("web:3", 3, 0, 0),
            rs("web:9", 4, 10, 10),
        ],
    );
    let mut deleted = p.delete.clone();
    deleted.sort();
    let mut want = vec![
        format!("web-{}", hash_of("web:1")),
        format!("web-{}", hash_of("web:2")),
    ];
    want.sort();
    assert_eq!(deleted, want);
    assert_eq!(p.status.phase, Some(RolloutPhase::Healthy));
}

#[test]
fn set_canary_scale_without_a_router_holds_the_rollout() {
    let mut r = updating("web:2", |_| {});
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .steps
        .insert(
            0,
            serde_json::from_value(serde_json::json!({"setCanaryScale": {"replicas": 2}}))
                .expect("step"),
        );
    r.status.as_mut().expect("status").current_step_hash = None;
    let p = plan(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 0, 0)]);
    assert_eq!(p.status.current_step_index, Some(0));
    assert!(
        p.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("setCanaryScale")),
        "{:?}",
        p.status.message
    );
}

#[test]
fn orphans_matching_the_selector_are_adopted() {
    let mut orphan = rs("web:1", 1, 10, 10);
    orphan.orphan = true;
    let p = plan(rollout("web:1"), vec![orphan.clone()]);
    assert_eq!(p.adopt, vec![orphan.name.clone()]);
    assert!(
        p.create.is_none(),
        "the adopted ReplicaSet serves the template"
    );
}

#[test]
fn restart_deletes_old_pods_within_max_unavailable() {
    let hash = hash_of("web:1");
    let mut r = rollout("web:1");
    r.spec.restart_at = Some(ago(10));
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash.clone()),
        current_pod_hash: Some(hash),
        current_step_index: Some(4),
        ..Default::default()
    });
    let pod = |name: &str, age: i64, ready: bool| PodView {
        name: name.into(),
        created: ago(age).0,
        ready,
    };
    let obs = |pods: Vec<PodView>, status: Option<RolloutStatus>| {
        let mut r = r.clone();
        if let Some(s) = status {
            r.status = Some(s);
        }
        decide(&Observed {
            pods,
            ..Observed::of(r, vec![rs("web:1", 1, 10, 10)], now())
        })
    };
    // maxUnavailable 25% of 10 = 2: the two oldest go first.
    let old: Vec<PodView> = (0..10)
        .map(|i| pod(&format!("p{i}"), 100 + i, true))
        .collect();
    let p = obs(old.clone(), None);
    assert_eq!(p.restart_pods, ["p9", "p8"]);
    assert_eq!(p.status.message.as_deref(), Some("rollout is restarting"));
    // One replacement not ready yet: only one more may go.
    let mut some_new = old[..8].to_vec();
    some_new.push(pod("n1", 1, false));
    some_new.push(pod("n2", 1, true));
    assert_eq!(obs(some_new, None).restart_pods.len(), 1);
    // All pods newer than restartAt: done.
    let p = obs(
        (0..10).map(|i| pod(&format!("n{i}"), 1, true)).collect(),
        None,
    );
    assert!(p.restart_pods.is_empty());
    assert_eq!(p.status.restarted_at, r.spec.restart_at);
    assert!(!restart_pending(&Rollout {
        status: Some(p.status.clone()),
        ..r.clone()
    }));
}

fn routed(image: &str, status: impl FnOnce(&mut RolloutStatus)) -> Rollout {
    let mut r = updating(image, status);
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .traffic_routing = Some(
        serde_json::from_value(serde_json::json!({"nginx": {"stableIngress": "web"}}))
            .expect("routing"),
    );
    r
}

fn with_weight(s: &mut RolloutStatus, canary: i32) {
    s.canary = Some(rollout_rs_crds::rollout::CanaryStatus {
        weights: Some(rollout_rs_crds::rollout::TrafficWeights {
            canary: rollout_rs_crds::rollout::WeightDestination {
                weight: canary,
                ..Default::default()
            },
            stable: rollout_rs_crds::rollout::WeightDestination {
                weight: 100 - canary,
                ..Default::default()
            },
        }),
        ..Default::default()
    });
}

fn planned_weight(p: &Plan) -> Option<i32> {
    p.weights.as_ref().map(|w| w.canary)
}

#[test]
fn routed_weight_is_exact_and_never_reaches_a_canary_without_pods() {
    // setWeight 20 of 10 replicas: 2 canary pods, the stable keeps all 10.
    let p = plan(routed("web:2", |_| {}), vec![rs("web:1", 1, 10, 10)]);
    assert_eq!(p.create.as_ref().map(|c| c.replicas), Some(2));
    assert_eq!(scaled(&p, "web:1"), None, "the stable is not scaled down");
    assert_eq!(
        planned_weight(&p),
        Some(0),
        "no weight before a canary pod is available"
    );
    // Pods available: the routers get 20.
    let p = plan(
        routed("web:2", |_| {}),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)],
    );
    assert_eq!(planned_weight(&p), Some(20));
    let w = p
        .status
        .canary
        .as_ref()
        .and_then(|c| c.weights.clone())
        .expect("status weights");
    assert_eq!((w.canary.weight, w.stable.weight), (20, 80));
    assert_eq!(w.canary.pod_template_hash, Some(hash_of("web:2")));
    assert_eq!(
        p.status.current_step_index,
        Some(0),
        "done only once the routers carry it"
    );
    // Written: the step completes and the pause follows.
    let p = plan(
        routed("web:2", |s| with_weight(s, 20)),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)],
    );
    assert_eq!(p.status.current_step_index, Some(1));
    assert_eq!(
        planned_weight(&p),
        Some(20),
        "the weight holds during the pause"
    );
}

#[test]
fn a_timed_pause_that_ends_moves_the_step_on_before_the_next_weight_moves() {
    // setWeight 20, pause 10s, setWeight 50; the pause began 30 s ago at weight 20.
    let at = |index: i32, paused: bool| {
        let mut r = routed("web:2", |s| with_weight(s, 20));
        let canary = r.spec.strategy.canary.as_mut().expect("canary");
        canary.steps = serde_json::from_value(serde_json::json!(
            [{"setWeight": 20}, {"pause": {"duration": "10s"}}, {"setWeight": 50}]
        ))
        .expect("steps");
        let hash = steps_hash(&canary.steps);
        let st = r.status.as_mut().expect("status");
        st.current_step_hash = Some(hash);
        st.current_step_index = Some(index);
        if paused {
            st.controller_pause = true;
            st.pause_conditions = vec![PauseCondition {
                reason: PauseReason::CanaryPauseStep,
                start_time: MicroTime(ago(30).0),
            }];
        }
        r
    };
    let rss = || vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)];
    let p = plan(at(1, true), rss());
    assert_eq!(p.status.current_step_index, Some(2));
    assert!(p.status.pause_conditions.is_empty());
    assert_eq!(
        planned_weight(&p),
        Some(20),
        "the weight holds for this write"
    );
    assert_eq!(p.scale, [], "no pods move with the pause's end");
    // Written: the next plan works toward setWeight 50, pods first.
    let p = plan(at(2, false), rss());
    assert_eq!(p.status.current_step_index, Some(2));
    assert_eq!(scaled(&p, "web:2"), Some(5));
    assert_eq!(planned_weight(&p), Some(20), "no weight before its pods");
}

#[test]
fn routed_abort_zeroes_the_weight_at_once_and_scales_down_later() {
    let aborted = |since: i64| {
        move |s: &mut RolloutStatus| {
            s.abort = true;
            s.aborted_at = Some(ago(since));
            with_weight(s, 20);
        }
    };
    let rss = || vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)];
    let p = plan(routed("web:2", aborted(5)), rss());
    assert_eq!(planned_weight(&p), Some(0));
    assert_eq!(
        p.selectors[0],
        ("web-canary".into(), hash_of("web:1")),
        "canary Service back on stable"
    );
    assert_eq!(
        scaled(&p, "web:2"),
        None,
        "the canary keeps its pods for abortScaleDownDelaySeconds"
    );
    assert_eq!(p.requeue_after, Some(Duration::from_secs(25)));
    let p = plan(routed("web:2", aborted(30)), rss());
    assert_eq!(scaled(&p, "web:2"), Some(0));
}

#[test]
fn routed_promotion_shifts_all_traffic_before_switching_and_delays_the_old_stable() {
    let full = |w: i32| {
        move |s: &mut RolloutStatus| {
            s.current_step_index = Some(4);
            with_weight(s, w);
        }
    };
    // All steps done, canary at full size: the routers get 100 first.
    let p = plan(
        routed("web:2", full(50)),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 10, 10)],
    );
    assert_eq!(planned_weight(&p), Some(100));
    assert_eq!(
        p.status.stable_rs,
        Some(hash_of("web:1")),
        "not switched before the traffic moved"
    );
    // Traffic moved: the stable Service switches while the weight holds (it would otherwise
    // send everything to the old stable for a moment)...
    let p = plan(
        routed("web:2", full(100)),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 10, 10)],
    );
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
    assert_eq!(planned_weight(&p), Some(100));
    assert!(
        p.selectors
            .contains(&("web-stable".into(), hash_of("web:2")))
    );
    // ...and goes back to 0 in the next plan, both Services selecting the new pods.
    let mut next = routed("web:2", full(100));
    next.status = Some(p.status.clone());
    let p = plan(next, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 10, 10)]);
    assert_eq!(planned_weight(&p), Some(0));
    // The old stable keeps its pods until its scale-down deadline.
    let old = rs("web:1", 1, 10, 10);
    let mut promoted = routed("web:2", |s| {
        s.current_step_index = Some(4);
        s.stable_rs = Some(hash_of("web:2"));
    });
    promoted.status.as_mut().expect("status").current_pod_hash = Some(hash_of("web:2"));
    let p = plan(promoted.clone(), vec![old.clone(), rs("web:2", 2, 10, 10)]);
    assert_eq!(
        p.scale_down_deadlines
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&old.name)
    );
    assert_eq!(scaled(&p, "web:1"), None);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(30)));
    let due = ReplicaSetView {
        scale_down_at: Some(now()),
        ..old
    };
    let p = plan(promoted, vec![due, rs("web:2", 2, 10, 10)]);
    assert_eq!(scaled(&p, "web:1"), Some(0));
}

#[test]
fn set_canary_scale_overrides_the_canary_size() {
    let mut r = routed("web:2", |s| {
        s.current_step_index = Some(1);
        with_weight(s, 20);
    });
    r.spec.strategy.canary.as_mut().expect("canary").steps =
        serde_json::from_value(serde_json::json!([
            {"setWeight": 20}, {"setCanaryScale": {"replicas": 5}}, {"pause": {}}
        ]))
        .expect("steps");
    r.status.as_mut().expect("status").current_step_hash = None;
    let p = plan(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)]);
    assert_eq!(scaled(&p, "web:2"), Some(5));
    assert_eq!(planned_weight(&p), Some(20), "the weight does not change");
}

#[test]
fn dynamic_stable_scale_shrinks_the_stable_with_its_weight() {
    let mut r = routed("web:2", |s| with_weight(s, 20));
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .dynamic_stable_scale = true;
    let p = plan(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)]);
    assert_eq!(scaled(&p, "web:1"), Some(8));
}

#[test]
fn subset_level_split_waits_for_a_fully_available_canary() {
    let mut r = routed("web:2", |_| {});
    r.spec.strategy.canary.as_mut().expect("canary").traffic_routing = Some(
        serde_json::from_value(serde_json::json!({"istio": {
            "virtualService": {"name": "web"},
            "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
        .expect("routing"),
    );
    let p = plan(
        r.clone(),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 1)],
    );
    assert_eq!(
        planned_weight(&p),
        Some(0),
        "1 of 2 canary pods available: no weight yet"
    );
    let p = plan(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)]);
    assert_eq!(planned_weight(&p), Some(20));
}

mod analysis;

#[test]
fn canary_and_stable_pods_carry_their_role_metadata() {
    let mut r = updating("web:2", |_| {});
    let canary = r.spec.strategy.canary.as_mut().expect("canary");
    canary.canary_metadata =
        serde_json::from_value(serde_json::json!({"labels": {"role": "canary"}})).expect("meta");
    canary.stable_metadata =
        serde_json::from_value(serde_json::json!({"labels": {"role": "stable"}})).expect("meta");
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    let create = p.create.clone().expect("the canary ReplicaSet");
    assert_eq!(
        create.role_metadata.labels.get("role").map(String::as_str),
        Some("canary")
    );
    let stable = p
        .pod_metadata
        .iter()
        .find(|u| u.hash == hash_of("web:1"))
        .expect("stable");
    assert_eq!(
        stable.set.labels.get("role").map(String::as_str),
        Some("stable")
    );
}

fn dynamic(mut r: Rollout) -> Rollout {
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .dynamic_stable_scale = true;
    r
}

fn weight_on(s: &mut RolloutStatus, canary: i32, image: &str) {
    with_weight(s, canary);
    if let Some(w) = s.canary.as_mut().and_then(|c| c.weights.as_mut()) {
        w.canary.pod_template_hash = Some(hash_of(image));
    }
}

fn canary_selector(p: &Plan) -> Option<String> {
    p.selectors
        .iter()
        .find(|(svc, _)| svc == "web-canary")
        .map(|(_, h)| h.clone())
}

/// Issue 11, point 1: replicas 5, setWeight 60 needs 3 canary pods; with 1 of them available
/// the routers keep the previous weight.
#[test]
fn routed_weight_waits_for_the_canary_pods_of_its_step() {
    let mut r = routed("web:2", |s| weight_on(s, 20, "web:2"));
    r.spec.replicas = Some(5);
    r.spec.strategy.canary.as_mut().expect("canary").steps =
        serde_json::from_value(serde_json::json!([{"setWeight": 60}, {"pause": {}}]))
            .expect("steps");
    r.status.as_mut().expect("status").current_step_hash = None;
    for (available, want) in [(1, 20), (2, 20), (3, 60)] {
        let p = plan(
            r.clone(),
            vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 3, available)],
        );
        assert_eq!(
            planned_weight(&p),
            Some(want),
            "{available} of 3 canary pods"
        );
        assert_eq!(
            scaled(&p, "web:2"),
            None,
            "the canary already has its 3 pods"
        );
    }
    // A lower weight in force (none yet) holds the same way.
    let mut fresh = r.clone();
    fresh.status.as_mut().expect("status").canary = None;
    let p = plan(fresh, vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 3, 2)]);
    assert_eq!(planned_weight(&p), Some(0));
}

/// Issue 11, point 3: with dynamicStableScale the stable keeps the pods for the weight in
/// force; it shrinks only once the traffic has left it.
#[test]
fn dynamic_stable_scale_keeps_the_stable_until_the_weight_moves() {
    let rss = |canary_available| vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, canary_available)];
    let p = plan(
        dynamic(routed("web:2", |s| weight_on(s, 0, "web:2"))),
        rss(1),
    );
    assert_eq!(planned_weight(&p), Some(0));
    assert_eq!(
        scaled(&p, "web:1"),
        None,
        "weight still 0: the stable keeps 10 pods"
    );
    // Canary ready: 20 is written; the stable keeps its pods until the routers carry it...
    let p = plan(
        dynamic(routed("web:2", |s| weight_on(s, 0, "web:2"))),
        rss(2),
    );
    assert_eq!(planned_weight(&p), Some(20));
    assert_eq!(scaled(&p, "web:1"), None);
    // ...and shrinks to 8 once they do.
    let p = plan(
        dynamic(routed("web:2", |s| weight_on(s, 20, "web:2"))),
        rss(2),
    );
    assert_eq!(scaled(&p, "web:1"), Some(8));
}

/// Issue 11, point 3 (Argo Rollouts' TestCanaryDynamicStableScale): an abort with the stable
/// shrunk steps the weight down only as stable pods become available, the canary keeps the
/// pods its remaining weight needs, and the canary Service moves once the weight is 0.
#[test]
fn dynamic_stable_scale_abort_steps_the_weight_down_with_the_stable() {
    let aborted = |w: i32| {
        dynamic({
            let mut r = routed("web:2", move |s| {
                s.abort = true;
                s.aborted_at = Some(ago(60));
                s.current_step_index = Some(2);
                weight_on(s, w, "web:2");
            });
            r.spec.replicas = Some(4);
            r
        })
    };
    let rss = |stable_desired, stable_available| {
        vec![
            rs("web:1", 1, stable_desired, stable_available),
            rs("web:2", 2, 3, 3),
        ]
    };
    // 1 of 4 stable pods: nothing moves yet, the stable grows.
    let p = plan(aborted(75), rss(1, 1));
    assert_eq!(planned_weight(&p), Some(75));
    assert_eq!(scaled(&p, "web:1"), Some(4));
    assert_eq!(scaled(&p, "web:2"), None, "the canary still carries 75");
    assert_eq!(canary_selector(&p), Some(hash_of("web:2")));
    // 3 of 4: down to 25, the canary keeps the 1 pod 25% needs.
    let p = plan(aborted(75), rss(4, 3));
    assert_eq!(planned_weight(&p), Some(25));
    assert_eq!(scaled(&p, "web:2"), Some(1));
    assert_eq!(canary_selector(&p), Some(hash_of("web:2")));
    // 4 of 4: weight 0, then the canary Service goes back to stable.
    let p = plan(aborted(25), rss(4, 4));
    assert_eq!(planned_weight(&p), Some(0));
    assert_eq!(canary_selector(&p), Some(hash_of("web:1")));
    assert_eq!(scaled(&p, "web:2"), Some(0));
}

/// An update while an earlier canary carries weight and the stable is shrunk: the earlier
/// canary keeps its pods and its traffic until the stable can take it back; the new
/// canary's pods start meanwhile.
#[test]
fn traffic_on_a_superseded_canary_drains_to_the_stable_first() {
    let r = dynamic(routed("web:3", |s| weight_on(s, 50, "web:2")));
    let rss = |stable_available| vec![rs("web:1", 1, 10, stable_available), rs("web:2", 2, 5, 5)];
    let p = plan(r.clone(), rss(5));
    assert_eq!(planned_weight(&p), Some(50));
    assert_eq!(canary_selector(&p), Some(hash_of("web:2")));
    assert_eq!(
        p.weights.as_ref().map(|w| w.canary_hash.clone()),
        Some(hash_of("web:2"))
    );
    assert!(p.scale_down_deadlines.is_empty() && scaled(&p, "web:2").is_none());
    assert_eq!(
        p.create.as_ref().map(|c| c.replicas),
        Some(2),
        "the new canary's pods start"
    );
    // The stable is back: the weight leaves web:2 and the canary Service moves to web:3.
    let p = plan(r, rss(10));
    assert_eq!(planned_weight(&p), Some(0));
    assert_eq!(canary_selector(&p), Some(hash_of("web:3")));
}

/// A canary scaling up for its next step is never dropped to weight 0 (subset-level too).
#[test]
fn a_canary_scaling_up_keeps_its_weight() {
    let mut r = routed("web:2", |s| {
        s.current_step_index = Some(2);
        weight_on(s, 20, "web:2");
    });
    r.spec.strategy.canary.as_mut().expect("canary").traffic_routing = Some(
        serde_json::from_value(serde_json::json!({"istio": {
            "virtualService": {"name": "web"},
            "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
        .expect("routing"),
    );
    let p = plan(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 5, 2)]);
    assert_eq!(planned_weight(&p), Some(20));
}

#[test]
fn a_long_rollout_name_gives_a_replica_set_name_that_fits() {
    let mut r = rollout("web:1");
    let long = "w".repeat(253);
    r.metadata.name = Some(long.clone());
    let p = plan(r, vec![]);
    let create = p.create.as_ref().expect("a ReplicaSet is created");
    let hash = hash_of("web:1");
    assert!(create.name.len() <= 253, "{} chars", create.name.len());
    assert!(
        create.name.ends_with(&format!("-{hash}")),
        "{}",
        create.name
    );
    assert!(create.name.starts_with(&long[..200]), "{}", create.name);
    assert_eq!(
        plan(rollout("web:1"), vec![]).create.map(|c| c.name),
        Some(format!("web-{hash}")),
        "short names are not touched"
    );
}

/// Issue 11, point 7: a status patch of currentStepIndex or stableRS does not promote.
#[test]
fn status_fields_written_by_others_do_not_promote() {
    let rss = || vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)];
    let paused = |s: &mut RolloutStatus| {
        s.current_step_index = Some(1);
        s.controller_pause = true;
        s.pause_conditions = vec![PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: MicroTime(ago(10).0),
        }];
    };
    let ours = status_guard::Owned::of(updating("web:2", paused).status.as_ref().expect("status"));
    // Someone patched currentStepIndex to 99: put back, announced, the pause holds.
    let tampered = updating("web:2", |s| {
        paused(s);
        s.current_step_index = Some(99);
    });
    let p = decide(&Observed {
        remembered: Some(ours),
        ..Observed::of(tampered.clone(), rss(), now())
    });
    assert_eq!(p.status.current_step_index, Some(1));
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert!(p.scale.is_empty() && p.create.is_none(), "{:?}", p.scale);
    assert!(reasons(&p).contains(&"StatusRejected"), "{:?}", reasons(&p));
    // After a restart (nothing remembered) 99 is no step: the steps start over.
    let p = plan(tampered, rss());
    assert_eq!(
        p.status.current_step_index,
        Some(1),
        "step 0 is done, the pause comes again"
    );
    assert_eq!(p.status.stable_rs, Some(hash_of("web:1")));
    // An unknown stableRS while the stable runs: nothing moves.
    let p = plan(
        updating("web:2", |s| {
            paused(s);
            s.stable_rs = Some("0000000000".into());
        }),
        rss(),
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    assert!(p.scale.is_empty() && p.create.is_none());
    assert_eq!(p.status.stable_rs.as_deref(), Some("0000000000"));
}

/// Argo Rollouts' TestCanaryDynamicStableScaleRollbackToStable: going back to the stable
/// template while a canary carries 25% and the stable was shrunk keeps that weight (and the
/// canary's pods and Service) until the stable has the pods to take it back.
#[test]
fn rollback_with_dynamic_stable_scale_waits_for_the_stable() {
    let back = || {
        let mut r = dynamic(routed("web:1", |s| {
            s.current_step_index = Some(1);
            weight_on(s, 25, "web:2");
        }));
        r.spec.replicas = Some(4);
        let st = r.status.as_mut().expect("status");
        st.current_pod_hash = Some(hash_of("web:2"));
        r
    };
    let p = plan(back(), vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 1, 1)]);
    assert_eq!(
        planned_weight(&p),
        Some(25),
        "3 of 4 stable pods carry 75, not 100"
    );
    assert_eq!(canary_selector(&p), Some(hash_of("web:2")));
    assert_eq!(scaled(&p, "web:1"), Some(4));
    assert_eq!(
        scaled(&p, "web:2"),
        None,
        "the canary keeps its pod while it has traffic"
    );
    assert!(p.scale_down_deadlines.is_empty());
    assert_ne!(p.status.phase, Some(RolloutPhase::Healthy));
    let mut next = back();
    next.status = Some(RolloutStatus {
        current_pod_hash: Some(hash_of("web:1")),
        ..p.status.clone()
    });
    let p = plan(next, vec![rs("web:1", 1, 4, 4), rs("web:2", 2, 1, 1)]);
    assert_eq!(planned_weight(&p), Some(0));
    assert_eq!(canary_selector(&p), Some(hash_of("web:1")));
}

/// Issue 12, point 10: a restart due later does not postpone a running timed pause; the
/// earliest deadline wins.
#[test]
fn a_later_restart_does_not_postpone_a_timed_pause() {
    let mut r = updating("web:2", |s| {
        s.current_step_index = Some(3);
        s.controller_pause = true;
        s.pause_conditions = vec![PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: MicroTime(ago(10).0),
        }];
    });
    r.spec.restart_at = Some(Time(now() + jiff::SignedDuration::from_secs(3600)));
    let p = plan(r, vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 5, 5)]);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(20)));
}

/// Issue 12, point 2 (Argo Rollouts' TestCanaryPromoteFull): promote-full after an abort ends
/// the abort and takes the new version to full size.
#[test]
fn promote_full_after_an_abort_promotes() {
    let p = plan(
        updating("web:2", |s| {
            s.abort = true;
            s.aborted_at = Some(ago(60));
            s.promote_full = true;
        }),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 0, 0)],
    );
    assert!(!p.status.abort && p.status.aborted_at.is_none());
    assert_eq!(p.status.current_step_index, Some(4));
    assert_eq!(
        scaled(&p, "web:2"),
        Some(3),
        "towards full size, within maxSurge"
    );
    assert_ne!(p.status.phase, Some(RolloutPhase::Degraded));
    assert!(reasons(&p).contains(&"RolloutPromotedFull"));
    let p = plan(
        updating("web:2", |s| {
            s.current_step_index = Some(4);
            s.promote_full = true;
        }),
        vec![rs("web:1", 1, 0, 0), rs("web:2", 2, 10, 10)],
    );
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
}

/// Issue 12, point 3 (Argo Rollouts' TestBlueGreenExceedProgressDeadlineAbort): turning on
/// progressDeadlineAbort after the deadline has passed aborts at the next reconcile.
#[test]
fn progress_deadline_abort_turned_on_later_aborts() {
    let exceeded = |abort: bool| {
        let mut r = updating("web:2", |s| {
            s.replicas = Some(10);
            s.updated_replicas = Some(2);
            s.available_replicas = Some(8);
            s.ready_replicas = Some(8);
            s.conditions = vec![rollout_rs_crds::Condition {
                type_: "Progressing".into(),
                status: "False".into(),
                reason: Some("ProgressDeadlineExceeded".into()),
                message: Some("Rollout made no progress for 10s".into()),
                last_update_time: Some(ago(60)),
                last_transition_time: Some(ago(60)),
            }];
        });
        r.spec.progress_deadline_seconds = Some(10);
        r.spec.progress_deadline_abort = abort;
        plan(r, vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 0)])
    };
    assert!(!exceeded(false).status.abort);
    let p = exceeded(true);
    assert!(p.status.abort, "the deadline had passed: abort now");
    assert!(reasons(&p).contains(&"RolloutAborted"));
}

/// Issue 12, point 7 (Argo Rollouts' TestCanaryScaleDownDelay): going back to an older
/// template reuses its ReplicaSet under the next revision, without its stale deadline; old
/// ReplicaSets beyond scaleDownDelayRevisionLimit go at once.
#[test]
fn canary_scale_down_delay_revision_limit_and_reuse() {
    let with_deadline = |image, revision, desired| ReplicaSetView {
        scale_down_at: Some(now() + jiff::SignedDuration::from_secs(20)),
        ..rs(image, revision, desired, desired)
    };
    // web:3 promoted; web:2 and web:1 wait out their delays; the limit keeps one.
    let mut r = routed("web:3", |s| {
        s.stable_rs = Some(hash_of("web:3"));
        s.current_step_index = Some(4);
    });
    r.status.as_mut().expect("status").current_pod_hash = Some(hash_of("web:3"));
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .scale_down_delay_revision_limit = Some(1);
    let p = plan(
        r,
        vec![
            with_deadline("web:1", 1, 10),
            with_deadline("web:2", 2, 10),
            rs("web:3", 3, 10, 10),
        ],
    );
    assert_eq!(scaled(&p, "web:1"), Some(0), "beyond the revision limit");
    assert_eq!(
        scaled(&p, "web:2"),
        None,
        "within it: waits for its deadline"
    );
    // Back to web:2: its ReplicaSet is reused as revision 4, its deadline gone.
    let mut back = routed("web:2", |s| {
        s.stable_rs = Some(hash_of("web:3"));
        s.current_step_index = Some(4);
    });
    back.status.as_mut().expect("status").current_pod_hash = Some(hash_of("web:3"));
    let p = plan(
        back,
        vec![
            rs("web:1", 1, 0, 0),
            with_deadline("web:2", 2, 10),
            rs("web:3", 3, 10, 10),
        ],
    );
    let name = format!("web-{}", hash_of("web:2"));
    assert_eq!(p.revisions, vec![(name.clone(), 4)]);
    assert_eq!(p.clear_deadlines, vec![name]);
    assert!(p.create.is_none(), "reused, not created");
}

/// Issue 12, point 7 (Argo Rollouts' TestIstioAbortUpdateDeleteAllCanaryPods): an abort puts
/// the scale-down deadline on the canary ReplicaSet.
#[test]
fn an_abort_shows_the_canary_deadline_on_its_replica_set() {
    let p = plan(
        routed("web:2", |s| {
            s.abort = true;
            s.aborted_at = Some(ago(5));
            with_weight(s, 20);
        }),
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)],
    );
    assert_eq!(
        p.scale_down_deadlines,
        vec![(
            format!("web-{}", hash_of("web:2")),
            now() + jiff::SignedDuration::from_secs(25)
        )]
    );
    assert!(p.clear_deadlines.is_empty(), "not cleared while aborted");
}

/// Issue 12, point 5 (Argo Rollouts' TestBlueGreenToCanary): a Service the Rollout pinned and
/// its spec no longer names is released.
#[test]
fn services_the_spec_stops_naming_are_released() {
    let p = decide(&Observed {
        managed_services: vec!["web-canary".into(), "web-active".into()],
        ..Observed::of(
            updating("web:2", |_| {}),
            vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)],
            now(),
        )
    });
    assert_eq!(p.release_services, vec!["web-active".to_string()]);
}

/// Issue 12, point 13: a workloadRef's Deployment hands its pods over as its scaleDown says.
#[test]
fn a_referenced_deployment_is_scaled_down_as_asked() {
    let with = |scale_down, rss: Vec<ReplicaSetView>, status: Option<RolloutStatus>| {
        let mut r = rollout("web:1");
        r.status = status;
        decide(&Observed {
            workload: Some(Workload {
                name: "web".into(),
                scale_down,
                replicas: 10,
            }),
            ..Observed::of(r, rss, now())
        })
    };
    use rollout_rs_crds::rollout::WorkloadScaleDown::*;
    let first = with(Progressively, vec![], None);
    assert_eq!(first.scale_workload, None, "no Rollout pod available yet");
    let p = with(Progressively, vec![rs("web:1", 1, 10, 4)], None);
    assert_eq!(p.scale_workload, Some(("web".into(), 6)));
    let p = with(OnSuccess, vec![rs("web:1", 1, 10, 4)], None);
    assert_eq!(p.scale_workload, None, "not Healthy yet");
    let healthy = with(OnSuccess, vec![rs("web:1", 1, 10, 10)], None);
    let p = with(
        OnSuccess,
        vec![rs("web:1", 1, 10, 10)],
        Some(healthy.status.clone()),
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(p.scale_workload, Some(("web".into(), 0)));
    let p = with(Never, vec![rs("web:1", 1, 10, 10)], Some(healthy.status));
    assert_eq!(p.scale_workload, None);
}

/// Issue 19 (Argo Rollouts' TestRollbackAnalysisWithinWindow): going back to one of the last
/// `rollbackWindow.revisions` revisions skips the steps; an older one goes through them.
#[test]
fn a_rollback_within_the_window_skips_the_steps() {
    let back_to = |image: &str| {
        let mut r = rollout(image);
        r.spec.rollback_window =
            serde_json::from_value(serde_json::json!({"revisions": 1})).expect("window");
        r.status = Some(RolloutStatus {
            stable_rs: Some(hash_of("web:3")),
            current_pod_hash: Some(hash_of("web:3")),
            current_step_index: Some(4),
            ..Default::default()
        });
        let was_stable = |image, revision, n| ReplicaSetView {
            promoted: true,
            ..rs(image, revision, n, n)
        };
        plan(
            r,
            vec![
                was_stable("web:1", 1, 0),
                was_stable("web:2", 2, 0),
                was_stable("web:3", 3, 10),
            ],
        )
    };
    let p = back_to("web:2");
    assert!(p.status.promote_full, "within the window");
    assert_eq!(p.status.current_step_index, Some(4));
    assert!(reasons(&p).contains(&"RolloutFastRollback"));
    assert_eq!(
        p.revisions,
        vec![(format!("web-{}", hash_of("web:2")), 4)],
        "the reused ReplicaSet is the next revision"
    );
    let p = back_to("web:1");
    assert!(!p.status.promote_full, "outside the window: the steps run");
    assert_eq!(p.status.current_step_index, Some(0));
}

/// Issue 19 (Argo Rollouts' TestBlueGreenAnalysis, rollback part, and isFastRollback for
/// canaries): going back to a ReplicaSet still within its scale-down delay is a promote-full.
#[test]
fn a_rollback_to_pods_still_running_is_fast() {
    let mut r = rollout("web:1");
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:2")),
        current_pod_hash: Some(hash_of("web:2")),
        current_step_index: Some(4),
        ..Default::default()
    });
    let delayed = ReplicaSetView {
        scale_down_at: Some(now() + jiff::SignedDuration::from_secs(20)),
        promoted: true,
        ..rs("web:1", 1, 10, 10)
    };
    let p = plan(r.clone(), vec![delayed.clone(), rs("web:2", 2, 10, 10)]);
    assert_eq!(
        p.status.stable_rs,
        Some(hash_of("web:1")),
        "its pods are all there: promoted at once"
    );
    assert!(reasons(&p).contains(&"RolloutFastRollback"));
    assert!(p.status.pause_conditions.is_empty());
    assert_eq!(p.clear_deadlines, vec![format!("web-{}", hash_of("web:1"))]);
    // Past its delay (scaled down): an ordinary update.
    let gone = ReplicaSetView {
        scale_down_at: Some(now() - jiff::SignedDuration::from_secs(1)),
        desired: 0,
        replicas: 0,
        available: 0,
        ready: 0,
        ..delayed.clone()
    };
    let p = plan(r.clone(), vec![gone, rs("web:2", 2, 10, 10)]);
    assert!(!p.status.promote_full);
    assert!(!reasons(&p).contains(&"RolloutFastRollback"));
    // An aborted canary re-applied while it waits out its abort delay was never stable: its
    // steps and analysis run.
    let aborted = ReplicaSetView {
        promoted: false,
        ..delayed
    };
    let p = plan(r, vec![aborted, rs("web:2", 2, 10, 10)]);
    assert!(!reasons(&p).contains(&"RolloutFastRollback"));
    assert_ne!(p.status.stable_rs, Some(hash_of("web:1")));
}

/// An abort during a promote-full (a user's, or a fast rollback's) wins: promoteFull is
/// cleared; only a promote-full set after the abort was taken promotes.
#[test]
fn an_abort_during_a_promote_full_wins() {
    let p = plan(
        updating("web:2", |s| {
            s.promote_full = true;
            s.abort = true;
        }),
        vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)],
    );
    assert!(p.status.abort && !p.status.promote_full);
    assert!(p.status.aborted_at.is_some());
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
}

/// A template that becomes stable has its ReplicaSet marked: only those are fast rollbacks.
#[test]
fn a_replica_set_becoming_stable_is_marked() {
    let mut r = rollout("web:1");
    r.status = Some(plan(rollout("web:1"), vec![]).status);
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    assert_eq!(p.status.stable_rs, Some(hash_of("web:1")));
    assert_eq!(p.mark_promoted, Some(format!("web-{}", hash_of("web:1"))));
}

/// A DestinationRule named `name.namespace` is the one the Rollout pins, not one to release;
/// one it no longer names is released.
#[test]
fn destination_rules_are_released_only_when_no_longer_named() {
    let mut r = updating("web:2", |_| {});
    r.spec.strategy.canary.as_mut().expect("canary").traffic_routing = Some(
        serde_json::from_value(serde_json::json!({"istio": {
            "virtualService": {"name": "web"},
            "destinationRule": {"name": "reviews.prod", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
        .expect("routing"),
    );
    let p = decide(&Observed {
        managed_destination_rules: vec![
            ("prod".into(), "reviews".into()),
            ("default".into(), "old".into()),
        ],
        ..Observed::of(r, vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)], now())
    });
    assert_eq!(
        p.release_destination_rules,
        vec![("default".to_string(), "old".to_string())]
    );
}

#[test]
fn a_routing_failure_degrades_once_per_message() {
    let before = updating("web:2", |_| {}).status;
    let failed = routing_failed(before.as_ref(), "Ingress web not found", now()).expect("new");
    let c = condition(&failed, "TrafficRouting").expect("condition");
    assert_eq!(c.status, "False");
    assert_eq!(c.reason.as_deref(), Some("RoutingFailed"));
    assert_eq!(failed.phase, Some(RolloutPhase::Degraded));
    assert_eq!(
        failed.message.as_deref(),
        Some("TrafficRoutingFailed: Ingress web not found")
    );
    // Said already: nothing to write, no second Event.
    assert_eq!(
        routing_failed(Some(&failed), "Ingress web not found", now()),
        None
    );
    // Another reason is news.
    let other = routing_failed(Some(&failed), "HTTPRoute web not found", now()).expect("new");
    assert_eq!(
        condition(&other, "TrafficRouting").and_then(|c| c.message.as_deref()),
        Some("HTTPRoute web not found")
    );
    // The next plan that routes clears it.
    let mut r = updating("web:2", |_| {});
    r.status = Some(other);
    let p = plan(r, vec![rs("web:1", 1, 10, 10)]);
    assert!(condition(&p.status, "TrafficRouting").is_none());
}
