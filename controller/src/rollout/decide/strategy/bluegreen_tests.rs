//! Table tests of the blue-green decision: one observed situation each, and the plan it must
//! produce.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::{
    BlueGreenStatus, PauseCondition, PauseReason, RolloutAnalysisRunStatus, RolloutPhase,
    RolloutStatus,
};

use crate::rollout::analysis::{RunKind, RunView};
use crate::rollout::decide::test_support::{
    hash_of, now, parse_rollout, pause_reasons, reasons, rs, scaled, selector, then,
};
use crate::rollout::decide::{Observed, Plan, ReplicaSetView, decide};
use rollout_rs_crds::analysis::AnalysisPhase::{self, *};

fn secs(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(n)
}

/// A blue-green Rollout (3 replicas, active `web-active`, preview `web-preview`) running
/// `image`, with extra `blueGreen` fields.
fn rollout(image: &str, extra: &str) -> Rollout {
    let yaml = format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web, namespace: default, generation: 1}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n  strategy:\n    blueGreen:\n      activeService: web-active\n      previewService: web-preview\n{extra}"
    );
    parse_rollout(&yaml)
}

/// `web:1` stable and active (3 pods), the template now `web:2`, with `status` changes.
fn updating(extra: &str, status: impl FnOnce(&mut RolloutStatus)) -> Rollout {
    let mut r = rollout("web:2", extra);
    let mut st = RolloutStatus {
        stable_rs: Some(hash_of("web:1")),
        current_pod_hash: Some(hash_of("web:2")),
        blue_green: Some(BlueGreenStatus {
            active_selector: Some(hash_of("web:1")),
            preview_selector: Some(hash_of("web:1")),
            ..Default::default()
        }),
        ..Default::default()
    };
    status(&mut st);
    r.status = Some(st);
    r
}

fn plan(rollout: Rollout, rss: Vec<ReplicaSetView>, runs: Vec<RunView>) -> Plan {
    plan_at(rollout, rss, runs, now())
}

fn plan_at(rollout: Rollout, rss: Vec<ReplicaSetView>, runs: Vec<RunView>, at: Timestamp) -> Plan {
    decide(&Observed {
        runs,
        ..Observed::of(rollout, rss, at)
    })
}

fn run(kind: RunKind, phase: AnalysisPhase) -> RunView {
    RunView {
        name: format!(
            "web-{}-2-{}",
            hash_of("web:2"),
            if kind == RunKind::PrePromotion {
                "pre"
            } else {
                "post"
            }
        ),
        kind,
        step: None,
        hash: hash_of("web:2"),
        phase: Some(phase),
        message: (phase != Successful && phase != Running)
            .then(|| "metric \"m\" assessed it".into()),
        terminate: false,
        created: now() - secs(10),
    }
}

const MANUAL: &str = "      autoPromotionEnabled: false\n";

#[test]
fn initial_deploy_goes_straight_to_active() {
    let r = rollout("web:1", MANUAL);
    let p = plan(r.clone(), vec![], vec![]);
    let create = p.create.as_ref().expect("a ReplicaSet");
    assert_eq!(create.replicas, 3);
    assert!(
        p.selectors.is_empty(),
        "nothing pinned before a pod is available: {:?}",
        p.selectors
    );
    // Once all pods are available: both Services select it, it is stable, no pause.
    let p = plan(then(r, &p), vec![rs("web:1", 1, 3, 3)], vec![]);
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(selector(&p, "web-preview"), Some(hash_of("web:1")));
    assert_eq!(p.status.stable_rs, Some(hash_of("web:1")));
    assert!(p.status.pause_conditions.is_empty());
    assert_eq!(p.status.phase, Some(RolloutPhase::Healthy));
    let bg = p.status.blue_green.clone().unwrap_or_default();
    assert_eq!(bg.active_selector, Some(hash_of("web:1")));
    assert_eq!(p.status.current_step_index, None);
}

#[test]
fn b1_update_runs_the_preview_in_full_beside_the_active_one() {
    let r = updating(MANUAL, |_| {});
    let p = plan(r.clone(), vec![rs("web:1", 1, 3, 3)], vec![]);
    assert_eq!(p.create.as_ref().map(|c| c.replicas), Some(3));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(
        selector(&p, "web-preview"),
        Some(hash_of("web:1")),
        "preview waits for its pods"
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Progressing));
    // Preview ready: preview Service switches, the rollout pauses; active untouched.
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let p = plan(then(r, &p), rss.clone(), vec![]);
    assert_eq!(selector(&p, "web-preview"), Some(hash_of("web:2")));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.status.message.as_deref(), Some("BlueGreenPause"));
    assert_eq!(pause_reasons(&p), vec![PauseReason::BlueGreenPause]);
    assert!(p.scale.is_empty());
    // Promote (clear the pause): the active Service switches, the new version is stable.
    let mut promoted = then(updating(MANUAL, |_| {}), &p);
    promoted
        .status
        .as_mut()
        .expect("status")
        .pause_conditions
        .clear();
    let p = plan(promoted.clone(), rss.clone(), vec![]);
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
    assert!(reasons(&p).contains(&"SwitchService"));
    assert!(reasons(&p).contains(&"RolloutCompleted"));
    assert_eq!(
        scaled(&p, "web:1"),
        None,
        "the old pods stay for the scale-down delay"
    );
    // The old ReplicaSet gets its deadline (default 30 s), then goes to zero.
    let p = plan(then(promoted.clone(), &p), rss.clone(), vec![]);
    let deadline = p
        .scale_down_deadlines
        .first()
        .map(|(n, at)| (n.clone(), *at));
    assert_eq!(
        deadline,
        Some((format!("web-{}", hash_of("web:1")), now() + secs(30)))
    );
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(30)));
    let mut old = rs("web:1", 1, 3, 3);
    old.scale_down_at = Some(now() + secs(30));
    let p = plan_at(
        then(promoted, &p),
        vec![old, rs("web:2", 2, 3, 3)],
        vec![],
        now() + secs(30),
    );
    assert_eq!(scaled(&p, "web:1"), Some(0));
}

#[test]
fn the_active_service_never_selects_a_partly_available_replica_set() {
    // previewReplicaCount 1: promotion scales the new ReplicaSet to full first.
    let extra = "      autoPromotionEnabled: false\n      previewReplicaCount: 1\n";
    let r = updating(extra, |_| {});
    let p = plan(r.clone(), vec![rs("web:1", 1, 3, 3)], vec![]);
    assert_eq!(p.create.as_ref().map(|c| c.replicas), Some(1));
    let p = plan(
        then(r, &p),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 1, 1)],
        vec![],
    );
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    let mut promoted = then(updating(extra, |_| {}), &p);
    promoted
        .status
        .as_mut()
        .expect("status")
        .pause_conditions
        .clear();
    let p = plan(
        promoted.clone(),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 1, 1)],
        vec![],
    );
    assert_eq!(scaled(&p, "web:2"), Some(3));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert!(
        p.status
            .blue_green
            .as_ref()
            .is_some_and(|b| b.scale_up_preview_check_point)
    );
    // 2 of 3 available: still the old one.
    let r = then(promoted, &p);
    let p = plan(
        r.clone(),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 2)],
        vec![],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert!(
        p.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("cutover pending")),
        "{:?}",
        p.status.message
    );
    // All 3: switch.
    let p = plan(
        then(r, &p),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)],
        vec![],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
}

#[test]
fn b3_auto_promotion_seconds_promotes_by_itself() {
    let extra = "      autoPromotionSeconds: 2\n";
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let p = plan(updating(extra, |_| {}), rss.clone(), vec![]);
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(2)));
    let r = then(updating(extra, |_| {}), &p);
    let p = plan_at(
        r.clone(),
        rss.clone(),
        vec![],
        now() + jiff::SignedDuration::from_millis(1500),
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_millis(500)));
    let p = plan_at(r, rss, vec![], now() + secs(2));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
}

#[test]
fn default_auto_promotion_switches_once_the_preview_is_ready() {
    let p = plan(
        updating("", |_| {}),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)],
        vec![],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    assert!(p.status.pause_conditions.is_empty());
}

const PRE: &str = "      prePromotionAnalysis: {templates: [{templateName: smoke}]}\n";
const POST: &str = "      postPromotionAnalysis: {templates: [{templateName: smoke}]}\n";

#[test]
fn b2_pre_promotion_analysis_gates_the_switch() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    // Preview ready: the run starts; nothing switches.
    let p = plan(updating(PRE, |_| {}), rss.clone(), vec![]);
    assert_eq!(p.create_runs.len(), 1);
    assert_eq!(p.create_runs[0].kind, RunKind::PrePromotion);
    assert_eq!(
        p.create_runs[0].name,
        format!("web-{}-2-pre", hash_of("web:2"))
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    let r = then(updating(PRE, |_| {}), &p);
    // (run phase, switched, aborted)
    for (phase, switched, aborted) in [
        (Running, false, false),
        (Successful, true, false),
        (Failed, false, true),
        (Error, false, true),
    ] {
        let p = plan(
            r.clone(),
            rss.clone(),
            vec![run(RunKind::PrePromotion, phase)],
        );
        let active = if switched {
            hash_of("web:2")
        } else {
            hash_of("web:1")
        };
        assert_eq!(selector(&p, "web-active"), Some(active), "{phase:?}");
        assert_eq!(p.status.abort, aborted, "{phase:?}");
        if aborted {
            assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
            assert!(
                p.status
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("Blue/green pre-promotion analysis phase")),
                "{:?}",
                p.status.message
            );
            assert_eq!(
                selector(&p, "web-preview"),
                Some(hash_of("web:2")),
                "preview still shows the new version"
            );
        }
    }
}

#[test]
fn manual_pause_and_pre_analysis_both_hold() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let extra = format!("{MANUAL}{PRE}");
    let p = plan(updating(&extra, |_| {}), rss.clone(), vec![]);
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.create_runs.len(), 1, "the analysis runs during the pause");
    // Promoted while the analysis still runs: wait for it.
    let mut r = then(updating(&extra, |_| {}), &p);
    r.status.as_mut().expect("status").pause_conditions.clear();
    let p = plan(
        r.clone(),
        rss.clone(),
        vec![run(RunKind::PrePromotion, Running)],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    let p = plan(
        then(r, &p),
        rss,
        vec![run(RunKind::PrePromotion, Successful)],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
}

#[test]
fn post_promotion_failure_switches_back_and_aborts() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let p = plan(updating(POST, |_| {}), rss.clone(), vec![]);
    assert_eq!(
        selector(&p, "web-active"),
        Some(hash_of("web:2")),
        "switched"
    );
    assert_eq!(
        p.create_runs.first().map(|c| c.kind),
        Some(RunKind::PostPromotion)
    );
    assert_eq!(
        p.status.stable_rs,
        Some(hash_of("web:1")),
        "not stable before the analysis"
    );
    let r = then(updating(POST, |_| {}), &p);
    let running = plan(
        r.clone(),
        rss.clone(),
        vec![run(RunKind::PostPromotion, Running)],
    );
    assert_eq!(selector(&running, "web-active"), Some(hash_of("web:2")));
    assert_eq!(
        scaled(&running, "web:1"),
        None,
        "the old version keeps its pods"
    );
    let ok = plan(
        r.clone(),
        rss.clone(),
        vec![run(RunKind::PostPromotion, Successful)],
    );
    assert_eq!(ok.status.stable_rs, Some(hash_of("web:2")));
    let failed = plan(r, rss, vec![run(RunKind::PostPromotion, Failed)]);
    assert!(failed.status.abort);
    assert_eq!(
        selector(&failed, "web-active"),
        Some(hash_of("web:1")),
        "switched back"
    );
    assert!(
        failed
            .status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("post-promotion"))
    );
}

#[test]
fn abort_during_preview_keeps_active_and_scales_the_preview_down_after_the_delay() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let paused = plan(updating(MANUAL, |_| {}), rss.clone(), vec![]);
    let mut r = then(updating(MANUAL, |_| {}), &paused);
    r.status.as_mut().expect("status").abort = true;
    let p = plan(r.clone(), rss.clone(), vec![]);
    assert_eq!(p.status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(
        scaled(&p, "web:2"),
        None,
        "kept for abortScaleDownDelaySeconds"
    );
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(30)));
    assert!(p.status.pause_conditions.is_empty());
    let p = plan_at(then(r, &p), rss.clone(), vec![], now() + secs(30));
    assert_eq!(scaled(&p, "web:2"), Some(0));
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    // abortScaleDownDelaySeconds 0 keeps the preview pods.
    let extra = format!("{MANUAL}      abortScaleDownDelaySeconds: 0\n");
    let p = plan(
        updating(&extra, |st| {
            st.abort = true;
            st.aborted_at = Some(Time(now() - secs(600)));
        }),
        rss,
        vec![],
    );
    assert_eq!(scaled(&p, "web:2"), None);
}

#[test]
fn an_update_while_paused_in_preview_replaces_the_preview() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let paused = plan(updating(MANUAL, |_| {}), rss.clone(), vec![]);
    let mut r = rollout("web:3", MANUAL);
    r.status = Some(paused.status.clone());
    let p = plan(r, rss, vec![]);
    assert_eq!(
        p.create.as_ref().map(|c| (c.hash.clone(), c.replicas)),
        Some((hash_of("web:3"), 3))
    );
    assert_eq!(
        scaled(&p, "web:2"),
        Some(0),
        "the superseded preview never served: no delay"
    );
    assert!(p.status.pause_conditions.is_empty());
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(
        selector(&p, "web-preview"),
        Some(hash_of("web:1")),
        "not the superseded preview, which is going away"
    );
    assert_eq!(p.status.current_pod_hash, Some(hash_of("web:3")));
}

#[test]
fn promote_full_skips_the_pause_and_the_analysis() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let extra = format!("{MANUAL}{PRE}");
    let p = plan(updating(&extra, |st| st.promote_full = true), rss, vec![]);
    assert!(p.create_runs.is_empty());
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    assert_eq!(p.status.stable_rs, Some(hash_of("web:2")));
}

#[test]
fn the_revision_limit_bounds_old_replica_sets_kept_during_the_delay() {
    let extra = "      scaleDownDelayRevisionLimit: 1\n";
    let mut r = rollout("web:3", extra);
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:3")),
        current_pod_hash: Some(hash_of("web:3")),
        blue_green: Some(BlueGreenStatus {
            active_selector: Some(hash_of("web:3")),
            ..Default::default()
        }),
        ..Default::default()
    });
    let p = plan(
        r,
        vec![
            rs("web:1", 1, 3, 3),
            rs("web:2", 2, 3, 3),
            rs("web:3", 3, 3, 3),
        ],
        vec![],
    );
    assert_eq!(scaled(&p, "web:1"), Some(0), "beyond the limit: now");
    assert_eq!(
        scaled(&p, "web:2"),
        None,
        "within the limit: after the delay"
    );
    assert_eq!(p.scale_down_deadlines.len(), 1);
}

#[test]
fn an_inconclusive_pre_promotion_run_pauses_and_promote_switches() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let r = updating(PRE, |st| {
        st.blue_green
            .get_or_insert_with(Default::default)
            .pre_promotion_analysis_run_status = Some(RolloutAnalysisRunStatus {
            name: format!("web-{}-2-pre", hash_of("web:2")),
            status: "Running".into(),
            message: None,
        });
    });
    let p = plan(
        r.clone(),
        rss.clone(),
        vec![run(RunKind::PrePromotion, Inconclusive)],
    );
    assert_eq!(p.status.message.as_deref(), Some("InconclusiveAnalysisRun"));
    let mut promoted = then(r, &p);
    promoted
        .status
        .as_mut()
        .expect("status")
        .pause_conditions
        .clear();
    let p = plan(
        promoted,
        rss,
        vec![run(RunKind::PrePromotion, Inconclusive)],
    );
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    let _ = PauseCondition {
        reason: PauseReason::BlueGreenPause,
        start_time: MicroTime(now()),
    };
}

#[test]
fn pods_carry_the_metadata_of_their_role() {
    let extra = "      activeMetadata: {labels: {role: active}}\n      previewMetadata: {labels: {role: preview}, annotations: {note: preview}}\n";
    // A new preview is created with the preview metadata.
    let p = plan(updating(extra, |_| {}), vec![rs("web:1", 1, 3, 3)], vec![]);
    let create = p.create.clone().expect("a ReplicaSet");
    assert_eq!(
        create.role_metadata.labels.get("role").map(String::as_str),
        Some("preview")
    );
    // The active ReplicaSet gets the active metadata.
    let update = p
        .pod_metadata
        .iter()
        .find(|u| u.hash == hash_of("web:1"))
        .expect("active metadata for the stable ReplicaSet");
    assert_eq!(
        update.set.labels.get("role").map(String::as_str),
        Some("active")
    );
    // After the switch: the new pods become active, the preview keys go, the old ones lose
    // the active role.
    let mut new_rs = rs("web:2", 2, 3, 3);
    new_rs.pod_metadata.labels = [
        ("app".to_string(), "web".to_string()),
        ("role".to_string(), "preview".to_string()),
        (
            rollout_rs_crds::POD_TEMPLATE_HASH_LABEL.to_string(),
            hash_of("web:2"),
        ),
    ]
    .into();
    new_rs.pod_metadata.annotations = [("note".to_string(), "preview".to_string())].into();
    let mut old_rs = rs("web:1", 1, 3, 3);
    old_rs.pod_metadata.labels = [
        ("app".to_string(), "web".to_string()),
        ("role".to_string(), "active".to_string()),
    ]
    .into();
    let p = plan(updating(extra, |_| {}), vec![old_rs, new_rs], vec![]);
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:2")));
    let new_update = p
        .pod_metadata
        .iter()
        .find(|u| u.hash == hash_of("web:2"))
        .expect("new");
    assert_eq!(
        new_update.set.labels.get("role").map(String::as_str),
        Some("active")
    );
    assert_eq!(new_update.remove_annotations, vec!["note".to_string()]);
    assert!(
        new_update.remove_labels.is_empty(),
        "app and the hash stay: {:?}",
        new_update.remove_labels
    );
    let old_update = p
        .pod_metadata
        .iter()
        .find(|u| u.hash == hash_of("web:1"))
        .expect("old");
    assert_eq!(old_update.remove_labels, vec!["role".to_string()]);
}

#[test]
fn a_manual_pause_holds_the_switch() {
    let rss = vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)];
    let mut r = updating("", |_| {});
    r.spec.paused = true;
    let p = plan(r, rss, vec![]);
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(p.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(p.status.message.as_deref(), Some("manually paused"));
}

/// Issue 12, point 4 (Argo Rollouts' TestBlueGreenUpdate): ready and available are the active
/// ReplicaSet's, not the sum over every ReplicaSet.
#[test]
fn ready_and_available_are_the_active_replica_sets() {
    let p = plan(
        updating(MANUAL, |_| {}),
        vec![rs("web:1", 1, 3, 3), rs("web:2", 2, 3, 3)],
        vec![],
    );
    assert_eq!(p.status.replicas, Some(6), "every pod that runs");
    assert_eq!(p.status.updated_replicas, Some(3));
    assert_eq!(
        (p.status.ready_replicas, p.status.available_replicas),
        (Some(3), Some(3)),
        "the active's"
    );
}

/// Issue 12, point 4 (Argo Rollouts' TestBlueGreenScaleDownDelay): an update while an older
/// ReplicaSet waits out its scale-down delay leaves it its pods until the deadline (within
/// scaleDownDelayRevisionLimit); a superseded preview goes at once.
#[test]
fn an_update_keeps_old_replica_sets_until_their_delay_ends() {
    let waiting = ReplicaSetView {
        scale_down_at: Some(now() + secs(20)),
        ..rs("web:0", 1, 3, 3)
    };
    let superseded = rs("web:9", 3, 3, 3);
    let r = {
        let mut r = updating(MANUAL, |_| {});
        // web:1 (revision 2) is the stable; web:0 (revision 1) its predecessor; web:9 a preview
        // that web:2 replaced.
        r.status.as_mut().expect("status").stable_rs = Some(hash_of("web:1"));
        r
    };
    let p = plan(
        r.clone(),
        vec![
            waiting.clone(),
            rs("web:1", 2, 3, 3),
            superseded.clone(),
            rs("web:2", 4, 0, 0),
        ],
        vec![],
    );
    assert_eq!(scaled(&p, "web:0"), None, "still within its delay");
    assert_eq!(
        scaled(&p, "web:9"),
        Some(0),
        "a superseded preview goes now"
    );
    assert!(
        p.requeue_after
            .is_some_and(|d| d <= std::time::Duration::from_secs(20))
    );
    // Its deadline passed: it goes.
    let due = ReplicaSetView {
        scale_down_at: Some(now()),
        ..waiting
    };
    let p = plan(
        r,
        vec![due, rs("web:1", 2, 3, 3), rs("web:2", 4, 0, 0)],
        vec![],
    );
    assert_eq!(scaled(&p, "web:0"), Some(0));
}

/// Issue 19 (Argo Rollouts' TestBlueGreenAnalysis, rollback part): back to the previous
/// version while its ReplicaSet waits out its scale-down delay: Healthy at once, no pause, no
/// pre-promotion run.
#[test]
fn a_fast_rollback_skips_the_pause_and_the_analysis() {
    let extra = "      autoPromotionEnabled: false\n      prePromotionAnalysis: {templates: [{templateName: rate}]}\n";
    let mut r = rollout("web:1", extra);
    r.status = Some(RolloutStatus {
        stable_rs: Some(hash_of("web:2")),
        current_pod_hash: Some(hash_of("web:2")),
        blue_green: Some(BlueGreenStatus {
            active_selector: Some(hash_of("web:2")),
            preview_selector: Some(hash_of("web:2")),
            ..Default::default()
        }),
        ..Default::default()
    });
    let delayed = ReplicaSetView {
        scale_down_at: Some(now() + secs(20)),
        promoted: true,
        ..rs("web:1", 1, 3, 3)
    };
    let rss = || vec![delayed.clone(), rs("web:2", 2, 3, 3)];
    let p = plan(r.clone(), rss(), vec![]);
    assert!(
        p.create_runs.is_empty(),
        "no pre-promotion run: {:?}",
        p.create_runs
    );
    assert!(p.status.pause_conditions.is_empty());
    assert!(reasons(&p).contains(&"RolloutFastRollback"));
    let p = plan(then(r, &p), rss(), vec![]);
    assert_eq!(selector(&p, "web-active"), Some(hash_of("web:1")));
    assert_eq!(p.status.stable_rs, Some(hash_of("web:1")));
}
