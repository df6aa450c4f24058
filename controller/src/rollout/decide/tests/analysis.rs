//! Table tests of `decide` with analysis: step runs, background runs, aborts, inconclusive
//! pauses, promotion, retries, templates and history.

use super::*;
use crate::rollout::analysis::{NewRun, RunKind, RunView};
use crate::rollout::decide::test_support::pause_reasons;
use rollout_rs_crds::analysis::AnalysisPhase::{self, *};
use rollout_rs_crds::rollout::{TrafficWeights, WeightDestination};

/// `web:1` stable, `web:2` at step 1 of [setWeight 20, analysis, setWeight 50, pause 30s]:
/// 2 canary pods.
fn at_analysis_step(status: impl FnOnce(&mut RolloutStatus)) -> Rollout {
    let mut r = updating("web:2", |_| {});
    let steps = &mut r.spec.strategy.canary.as_mut().expect("canary").steps;
    steps[1] = serde_json::from_value(
        serde_json::json!({"analysis": {"templates": [{"templateName": "rate"}]}}),
    )
    .expect("step");
    let hash = steps_hash(steps);
    let st = r.status.as_mut().expect("status");
    st.current_step_hash = Some(hash);
    st.current_step_index = Some(1);
    // The name was recorded when the run was created.
    st.canary = Some(rollout_rs_crds::rollout::CanaryStatus {
        current_step_analysis_run_status: Some(
            rollout_rs_crds::rollout::RolloutAnalysisRunStatus {
                name: step_run_name(),
                status: "Pending".into(),
                message: None,
            },
        ),
        ..Default::default()
    });
    status(st);
    r
}

fn with_background(mut r: Rollout, starting_step: i32) -> Rollout {
    r.spec.strategy.canary.as_mut().expect("canary").analysis = Some(
        serde_json::from_value(serde_json::json!({
            "templates": [{"templateName": "errors"}], "startingStep": starting_step
        }))
        .expect("background"),
    );
    r
}

fn canary_rss() -> Vec<ReplicaSetView> {
    vec![rs("web:1", 1, 8, 8), rs("web:2", 2, 2, 2)]
}

fn run(name: &str, kind: RunKind, step: Option<i32>, phase: Option<AnalysisPhase>) -> RunView {
    RunView {
        name: name.into(),
        kind,
        step,
        hash: hash_of("web:2"),
        phase,
        message: phase
            .filter(|p| *p != Successful && *p != Running)
            .map(|p| format!("metric \"rate\" assessed {p:?}: why")),
        terminate: false,
        created: now() - jiff::SignedDuration::from_secs(60),
    }
}

fn step_run_name() -> String {
    format!("web-{}-2-1", hash_of("web:2"))
}

fn decide_with(r: Rollout, rss: Vec<ReplicaSetView>, runs: Vec<RunView>) -> Plan {
    decide(&Observed {
        runs,
        ..Observed::of(r, rss, now())
    })
}

fn step_run(phase: AnalysisPhase) -> Vec<RunView> {
    vec![run(&step_run_name(), RunKind::Step, Some(1), Some(phase))]
}

#[test]
fn reaching_an_analysis_step_creates_its_run_and_holds() {
    let p = decide_with(at_analysis_step(|_| {}), canary_rss(), vec![]);
    assert_eq!(
        p.create_runs,
        vec![NewRun {
            name: step_run_name(),
            kind: RunKind::Step,
            step: Some(1),
            hash: hash_of("web:2"),
            revision: 2,
            analysis: serde_json::from_value(
                serde_json::json!({"templates": [{"templateName": "rate"}]})
            )
            .expect("analysis"),
        }]
    );
    assert_eq!(p.status.current_step_index, Some(1));
    assert_eq!(p.status.phase, Some(RolloutPhase::Progressing));
    assert_eq!(
        p.status.message.as_deref(),
        Some("waiting for the analysis of step 2")
    );
    let recorded = p
        .status
        .canary
        .as_ref()
        .and_then(|c| c.current_step_analysis_run_status.as_ref());
    assert_eq!(recorded.map(|r| r.name.clone()), Some(step_run_name()));
    assert!(p.scale.is_empty(), "the weight holds: {:?}", p.scale);
}

#[test]
fn step_analysis_outcomes() {
    // (phase of the run, next step index, aborted, phase of the rollout)
    let cases = [
        (Pending, 1, false, RolloutPhase::Progressing),
        (Running, 1, false, RolloutPhase::Progressing),
        (Successful, 2, false, RolloutPhase::Progressing),
        (Failed, 0, true, RolloutPhase::Degraded),
        (Error, 0, true, RolloutPhase::Degraded),
        (Inconclusive, 1, false, RolloutPhase::Paused),
    ];
    for (run_phase, index, aborted, phase) in cases {
        let p = decide_with(at_analysis_step(|_| {}), canary_rss(), step_run(run_phase));
        let what = format!("{run_phase:?}");
        assert!(p.create_runs.is_empty(), "{what}: no second run");
        assert_eq!(p.status.current_step_index, Some(index), "{what}");
        assert_eq!(p.status.abort, aborted, "{what}");
        assert_eq!(
            p.status.phase,
            Some(phase),
            "{what}: {:?}",
            p.status.message
        );
    }
}

#[test]
fn a_successful_analysis_moves_to_the_next_weight() {
    let p = decide_with(at_analysis_step(|_| {}), canary_rss(), step_run(Successful));
    assert_eq!(scaled(&p, "web:2"), Some(5), "setWeight 50 of 10 pods");
    assert!(reasons(&p).contains(&"RolloutStepCompleted"));
}

#[test]
fn a_failed_analysis_aborts_with_the_reason_and_stable_takes_the_traffic() {
    let p = decide_with(at_analysis_step(|_| {}), canary_rss(), step_run(Failed));
    assert!(p.status.abort);
    assert!(p.status.aborted_at.is_some());
    let message = p.status.message.clone().unwrap_or_default();
    assert!(
        message.contains("Step-based analysis phase Failed: metric \"rate\" assessed Failed: why"),
        "{message}"
    );
    let event = p
        .events
        .iter()
        .find(|e| e.reason == "RolloutAborted")
        .expect("an abort event");
    assert!(event.warning && event.message.contains("Step-based analysis phase Failed"));
    assert_eq!(
        p.selectors,
        vec![
            ("web-canary".to_string(), hash_of("web:1")),
            ("web-stable".to_string(), hash_of("web:1"))
        ],
        "the canary Service is back on stable in the same plan"
    );
    assert_eq!(scaled(&p, "web:1"), Some(10), "stable back to full");
    // The next reconcile keeps the reason.
    let mut r = at_analysis_step(|_| {});
    r.status = Some(p.status.clone());
    let again = decide_with(r, canary_rss(), step_run(Failed));
    assert_eq!(again.status.message.as_deref(), Some(message.as_str()));
}

#[test]
fn an_aborted_rollout_with_a_router_sends_weight_zero() {
    let mut r = at_analysis_step(|_| {});
    r.spec
        .strategy
        .canary
        .as_mut()
        .expect("canary")
        .traffic_routing = Some(
        serde_json::from_value(serde_json::json!({"nginx": {"stableIngress": "web"}}))
            .expect("routing"),
    );
    if let Some(c) = r.status.as_mut().and_then(|st| st.canary.as_mut()) {
        c.weights = Some(TrafficWeights {
            canary: WeightDestination {
                weight: 20,
                ..Default::default()
            },
            stable: WeightDestination {
                weight: 80,
                ..Default::default()
            },
        });
    }
    let p = decide_with(
        r,
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 2, 2)],
        step_run(Error),
    );
    assert!(p.status.abort);
    assert_eq!(p.weights.as_ref().map(|w| w.canary), Some(0));
}

#[test]
fn inconclusive_pauses_then_promote_skips_and_abort_aborts() {
    let p = decide_with(
        at_analysis_step(|_| {}),
        canary_rss(),
        step_run(Inconclusive),
    );
    assert_eq!(p.status.message.as_deref(), Some("InconclusiveAnalysisRun"));
    assert_eq!(
        pause_reasons(&p),
        vec![PauseReason::InconclusiveAnalysisRun]
    );
    assert!(p.status.controller_pause);
    let paused = condition(&p.status, "Paused").and_then(|c| c.reason.clone());
    assert_eq!(paused.as_deref(), Some("InconclusiveAnalysisRun"));
    // Still paused on the next reconcile.
    let mut r = at_analysis_step(|_| {});
    r.status = Some(p.status.clone());
    let again = decide_with(r.clone(), canary_rss(), step_run(Inconclusive));
    assert_eq!(again.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(again.status.current_step_index, Some(1));
    // Promote: the user clears the pause conditions.
    let mut promoted = r.clone();
    promoted
        .status
        .as_mut()
        .expect("status")
        .pause_conditions
        .clear();
    let p = decide_with(promoted, canary_rss(), step_run(Inconclusive));
    assert_eq!(
        p.status.current_step_index,
        Some(2),
        "the analysis step is skipped"
    );
    assert_eq!(scaled(&p, "web:2"), Some(5));
    assert!(!p.status.controller_pause);
    // Abort instead.
    let mut aborted = r;
    aborted.status.as_mut().expect("status").abort = true;
    let p = decide_with(aborted, canary_rss(), step_run(Inconclusive));
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    assert!(p.status.pause_conditions.is_empty());
    assert_eq!(scaled(&p, "web:2"), Some(0));
}

#[test]
fn retry_after_an_analysis_abort_starts_a_new_run() {
    let failed = decide_with(at_analysis_step(|_| {}), canary_rss(), step_run(Failed));
    let mut r = at_analysis_step(|_| {});
    let mut st = failed.status.clone();
    st.abort = false;
    r.status = Some(st);
    // Back at step 0 the canary is scaled again; once at step 1 a fresh run is named `.1`.
    let p = decide_with(
        r,
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 0, 0)],
        step_run(Failed),
    );
    assert_eq!(p.status.current_step_index, Some(0));
    assert!(!p.status.abort);
    assert!(
        p.status
            .canary
            .as_ref()
            .is_none_or(|c| c.current_step_analysis_run_status.is_none())
    );
    let fresh = at_analysis_step(|st| st.canary = None);
    let p = decide_with(
        fresh,
        canary_rss(),
        step_run(Failed)
            .into_iter()
            .map(|mut r| {
                r.created = now() - jiff::SignedDuration::from_secs(600);
                r
            })
            .collect(),
    );
    // Without a recorded name the failed run is not adopted: the status of the retry has none.
    assert_eq!(
        p.create_runs.first().map(|c| c.name.clone()),
        Some(format!("{}.1", step_run_name()))
    );
}

#[test]
fn background_analysis_starts_at_its_step_and_failure_aborts() {
    let bg_name = format!("web-{}-2", hash_of("web:2"));
    // Before startingStep: nothing.
    let mut early = with_background(at_analysis_step(|_| {}), 2);
    early.status.as_mut().expect("status").current_step_index = Some(0);
    let p = decide_with(
        early,
        vec![rs("web:1", 1, 10, 10), rs("web:2", 2, 0, 0)],
        vec![],
    );
    assert!(p.create_runs.iter().all(|c| c.kind != RunKind::Background));
    // From startingStep on: created once, alongside the step run.
    let r = with_background(at_analysis_step(|_| {}), 1);
    let p = decide_with(r.clone(), canary_rss(), vec![]);
    let kinds: Vec<(RunKind, String)> = p
        .create_runs
        .iter()
        .map(|c| (c.kind, c.name.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (RunKind::Step, step_run_name()),
            (RunKind::Background, bg_name.clone())
        ]
    );
    // Running: kept. Failed at any time: abort.
    let mut runs = step_run(Running);
    runs.push(run(&bg_name, RunKind::Background, None, Some(Running)));
    let p = decide_with(r.clone(), canary_rss(), runs.clone());
    assert!(
        p.create_runs.is_empty() && p.terminate_runs.is_empty(),
        "{:?}",
        p.terminate_runs
    );
    let recorded = p
        .status
        .canary
        .as_ref()
        .and_then(|c| c.current_background_analysis_run_status.clone());
    assert_eq!(recorded.map(|s| s.name), Some(bg_name.clone()));
    runs[1].phase = Some(Failed);
    runs[1].message =
        Some("metric \"errors\" assessed Failed: failed (1) > failureLimit (0)".into());
    let mut r = r;
    r.status = Some(p.status);
    let p = decide_with(r, canary_rss(), runs);
    assert!(p.status.abort);
    assert!(
        p.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Background analysis phase Failed"))
    );
    assert_eq!(
        p.terminate_runs,
        vec![step_run_name()],
        "the live step run stops too"
    );
}

#[test]
fn promotion_terminates_the_background_run() {
    let bg_name = format!("web-{}-2", hash_of("web:2"));
    let mut r = with_background(at_analysis_step(|_| {}), 0);
    let steps = r.spec.strategy.canary.as_ref().expect("canary").steps.len() as i32;
    r.status.as_mut().expect("status").current_step_index = Some(steps);
    let runs = vec![run(&bg_name, RunKind::Background, None, Some(Running))];
    // All steps done, the new ReplicaSet full: promoted in this plan, the run is terminated.
    let p = decide_with(r, vec![rs("web:1", 1, 0, 0), rs("web:2", 2, 10, 10)], runs);
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
    assert_eq!(p.terminate_runs, vec![bg_name]);
}

#[test]
fn promote_full_creates_no_run_and_stops_live_ones() {
    let r = at_analysis_step(|st| st.promote_full = true);
    let p = decide_with(r, canary_rss(), step_run(Running));
    assert!(p.create_runs.is_empty());
    assert_eq!(p.terminate_runs, vec![step_run_name()]);
    assert_eq!(p.status.current_step_index, Some(4));
}

#[test]
fn a_missing_template_is_an_invalid_spec_until_it_appears() {
    let r = at_analysis_step(|_| {});
    let p = decide(&Observed {
        reference_errors: vec!["AnalysisTemplate \"rate\" not found".into()],
        ..Observed::of(r.clone(), canary_rss(), now())
    });
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(
        condition(&p.status, "InvalidSpec")
            .and_then(|c| c.message.clone())
            .as_deref(),
        Some("AnalysisTemplate \"rate\" not found")
    );
    assert!(p.create_runs.is_empty() && p.scale.is_empty());
    let mut healed = r;
    healed.status = Some(p.status);
    let p = decide_with(healed, canary_rss(), vec![]);
    assert!(condition(&p.status, "InvalidSpec").is_none());
    assert_eq!(p.create_runs.len(), 1);
}

#[test]
fn finished_runs_beyond_the_history_limits_are_deleted() {
    let mut r = at_analysis_step(|_| {});
    r.spec.analysis = Some(
        serde_json::from_value(
            serde_json::json!({"successfulRunHistoryLimit": 2, "unsuccessfulRunHistoryLimit": 1}),
        )
        .expect("limits"),
    );
    let mut runs: Vec<RunView> = (0..4)
        .map(|i| {
            let mut v = run(
                &format!("old-ok-{i}"),
                RunKind::Step,
                Some(1),
                Some(Successful),
            );
            v.hash = "older".into();
            v.created = now() - jiff::SignedDuration::from_secs(1000 - i);
            v
        })
        .collect();
    runs.extend((0..2).map(|i| {
        let mut v = run(
            &format!("old-failed-{i}"),
            RunKind::Step,
            Some(1),
            Some(Failed),
        );
        v.hash = "older".into();
        v.created = now() - jiff::SignedDuration::from_secs(1000 - i);
        v
    }));
    runs.extend(step_run(Running));
    let p = decide_with(r, canary_rss(), runs);
    assert_eq!(p.delete_runs, vec!["old-ok-1", "old-ok-0", "old-failed-0"]);
    assert!(p.terminate_runs.is_empty());
}

#[test]
fn a_long_analysis_is_progress_not_a_deadline() {
    // The rollout last moved an hour ago; the run is still measuring.
    let r = at_analysis_step(|st| {
        st.conditions.push(rollout_rs_crds::Condition {
            type_: "Progressing".into(),
            status: "True".into(),
            reason: Some("ReplicaSetUpdated".into()),
            message: Some("Rollout is progressing".into()),
            last_update_time: Some(Time(now() - jiff::SignedDuration::from_secs(3600))),
            last_transition_time: Some(Time(now() - jiff::SignedDuration::from_secs(3600))),
        });
        st.updated_replicas = Some(2);
        st.available_replicas = Some(10);
        st.replicas = Some(10);
    });
    let p = decide_with(r, canary_rss(), step_run(Running));
    let progressing = condition(&p.status, "Progressing")
        .cloned()
        .expect("condition");
    assert_eq!(progressing.reason.as_deref(), Some("AnalysisRunning"));
    assert_eq!(p.status.phase, Some(RolloutPhase::Progressing));
    assert!(!p.status.abort);
}

/// Issue 12, point 1 (Argo Rollouts' TestCanaryInconclusiveBackgroundAnalysis): an
/// Inconclusive background run pauses the rollout; a timed pause step that ends meanwhile does
/// not move it on; promote does.
#[test]
fn inconclusive_background_analysis_holds_past_a_timed_pause() {
    let bg_name = format!("web-{}-2", hash_of("web:2"));
    // At step 3 (pause 30s, started 60s ago: over), background run Inconclusive and its pause
    // already taken.
    let held = |promoted: bool| {
        let mut r = with_background(updating("web:2", |_| {}), 0);
        let st = r.status.as_mut().expect("status");
        st.current_step_index = Some(3);
        st.controller_pause = true;
        st.pause_conditions = vec![PauseCondition {
            reason: PauseReason::CanaryPauseStep,
            start_time: MicroTime(ago(60).0),
        }];
        if !promoted {
            st.pause_conditions.push(PauseCondition {
                reason: PauseReason::InconclusiveAnalysisRun,
                start_time: MicroTime(ago(20).0),
            });
        }
        st.canary = Some(rollout_rs_crds::rollout::CanaryStatus {
            current_background_analysis_run_status: Some(
                rollout_rs_crds::rollout::RolloutAnalysisRunStatus {
                    name: bg_name.clone(),
                    status: "Inconclusive".into(),
                    message: None,
                },
            ),
            ..Default::default()
        });
        r
    };
    let runs = vec![run(&bg_name, RunKind::Background, None, Some(Inconclusive))];
    let rss = || vec![rs("web:1", 1, 5, 5), rs("web:2", 2, 5, 5)];
    let p = decide_with(held(false), rss(), runs.clone());
    assert_eq!(
        p.status.current_step_index,
        Some(3),
        "the pause's end does not move on"
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert!(p.scale.is_empty(), "{:?}", p.scale);
    assert_ne!(p.status.stable_rs, Some(hash_of("web:2")));
    // Promoted (the inconclusive pause cleared): the steps go on.
    let p = decide_with(held(true), rss(), runs);
    assert_eq!(p.status.current_step_index, Some(4));
}
