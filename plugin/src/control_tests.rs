//! One situation each, and the write (or refusal) each command must produce for it.

use super::*;

/// A canary Rollout `web` (steps setWeight 20, pause, setWeight 50) with `status` as YAML.
fn rollout(spec_extra: &str, status: &str) -> Rollout {
    let yaml = format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web, namespace: shop, resourceVersion: \"7\"}}\nspec:\n  replicas: 4\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      initContainers: [{{name: migrate, image: \"migrate:1\"}}]\n      containers: [{{name: web, image: \"web:2\"}}, {{name: proxy, image: \"proxy:1\"}}]\n  strategy:\n    canary:\n      canaryService: web-canary\n      stableService: web-stable\n      steps: [{{setWeight: 20}}, {{pause: {{}}}}, {{setWeight: 50}}]\n{spec_extra}status:\n{status}"
    );
    serde_saphyr::from_str(&yaml).expect("a Rollout")
}

const PAUSED_AT_STEP: &str = "  phase: Paused\n  currentStepIndex: 1\n  currentPodHash: h2\n  stableRS: h1\n  pauseConditions: [{reason: CanaryPauseStep, startTime: \"2026-11-30T10:00:00.000000Z\"}]\n";
const PROGRESSING: &str =
    "  phase: Progressing\n  currentStepIndex: 2\n  currentPodHash: h2\n  stableRS: h1\n";
const ABORTED: &str = "  phase: Degraded\n  abort: true\n  currentStepIndex: 0\n  currentPodHash: h2\n  stableRS: h1\n";
const HEALTHY: &str =
    "  phase: Healthy\n  currentStepIndex: 3\n  currentPodHash: h2\n  stableRS: h2\n";

fn status_fields(p: &Patch) -> Value {
    match p {
        Patch::Status(v) => {
            assert_eq!(
                v["metadata"]["resourceVersion"], "7",
                "guarded by what was read"
            );
            v["status"].clone()
        }
        other => panic!("not a status patch: {other:?}"),
    }
}

fn spec_fields(p: &Patch) -> Value {
    match p {
        Patch::Spec(v) => {
            assert_eq!(
                v["metadata"]["resourceVersion"], "7",
                "guarded by what was read"
            );
            v["spec"].clone()
        }
        other => panic!("not a spec patch: {other:?}"),
    }
}

#[test]
fn promote_clears_the_pause_conditions_only() {
    let c = promote(&rollout("", PAUSED_AT_STEP), false).expect("promotes");
    assert_eq!(c.patches.len(), 1);
    assert_eq!(
        status_fields(&c.patches[0]),
        json!({"pauseConditions": null})
    );
    assert_eq!(
        c.summary,
        "rollout \"web\" promoted at step 1/3: CanaryPauseStep released"
    );
}

#[test]
fn promote_releases_a_manual_pause_too() {
    let c = promote(&rollout("  paused: true\n", PROGRESSING), false).expect("promotes");
    assert_eq!(c.patches.len(), 1);
    assert_eq!(spec_fields(&c.patches[0]), json!({"paused": false}));
}

#[test]
fn promote_refuses_what_is_not_paused_and_writes_nothing() {
    for (status, words) in [
        (
            PROGRESSING,
            "is not paused (Progressing at step 2/3): nothing to promote",
        ),
        (
            HEALTHY,
            "is not paused (Healthy at step 3/3): nothing to promote",
        ),
        (ABORTED, "is aborted: nothing to promote"),
    ] {
        let refused = promote(&rollout("", status), false).expect_err("refused");
        assert!(refused.contains(words), "{refused}");
    }
}

#[test]
fn promote_full_sets_promote_full_and_lifts_a_manual_pause() {
    let c = promote(&rollout("", PROGRESSING), true).expect("promotes");
    assert_eq!(status_fields(&c.patches[0]), json!({"promoteFull": true}));
    let c = promote(&rollout("  paused: true\n", ABORTED), true).expect("after an abort too");
    assert_eq!(c.patches.len(), 2);
    assert_eq!(spec_fields(&c.patches[1]), json!({"paused": false}));
    let refused = promote(&rollout("", HEALTHY), true).expect_err("nothing to promote");
    assert!(refused.contains("fully promoted"), "{refused}");
}

#[test]
fn abort_and_retry_flip_status_abort() {
    let c = abort(&rollout("", PAUSED_AT_STEP)).expect("aborts");
    assert_eq!(status_fields(&c.patches[0]), json!({"abort": true}));
    assert!(
        c.summary.contains("traffic goes back to stable"),
        "{}",
        c.summary
    );
    assert!(
        abort(&rollout("", ABORTED))
            .expect_err("again")
            .contains("already aborted")
    );
    assert!(
        abort(&rollout("", HEALTHY))
            .expect_err("idle")
            .contains("no update to abort")
    );

    let c = retry(&rollout("", ABORTED)).expect("retries");
    assert_eq!(status_fields(&c.patches[0]), json!({"abort": false}));
    assert!(
        retry(&rollout("", PROGRESSING))
            .expect_err("not aborted")
            .contains("not aborted")
    );
}

#[test]
fn pause_and_resume_flip_spec_paused() {
    let c = pause(&rollout("", PROGRESSING)).expect("pauses");
    assert_eq!(spec_fields(&c.patches[0]), json!({"paused": true}));
    assert!(pause(&rollout("  paused: true\n", PROGRESSING)).is_err());

    let c = resume(&rollout("  paused: true\n", PROGRESSING)).expect("resumes");
    assert_eq!(spec_fields(&c.patches[0]), json!({"paused": false}));
    let at_step = resume(&rollout("", PAUSED_AT_STEP)).expect_err("a pause step");
    assert!(at_step.contains("`promote` continues"), "{at_step}");
}

#[test]
fn restart_sets_restart_at_to_now() {
    let now: Timestamp = "2026-11-30T12:00:00Z".parse().expect("time");
    let c = restart(&rollout("", HEALTHY), now);
    assert_eq!(
        spec_fields(&c.patches[0]),
        json!({"restartAt": "2026-11-30T12:00:00Z"})
    );
}

fn revision(number: u64, hash: &str, image: &str) -> Revision {
    let template: PodTemplateSpec = serde_json::from_value(json!({
        "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}},
        "spec": {"containers": [{"name": "web", "image": image}]}
    }))
    .expect("template");
    Revision {
        number,
        hash: hash.into(),
        template,
    }
}

#[test]
fn undo_goes_back_to_the_previous_revision_or_the_one_asked() {
    let revisions = [
        revision(1, "h0", "web:0"),
        revision(2, "h1", "web:1"),
        revision(3, "h2", "web:2"),
    ];
    let ro = rollout("", HEALTHY);
    let c = undo(&ro, &revisions, None).expect("undo");
    let Patch::Json(ops) = &c.patches[0] else {
        panic!("a JSON patch")
    };
    assert_eq!(
        ops[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"})
    );
    assert_eq!(ops[1]["path"], "/spec/template");
    assert_eq!(ops[1]["value"]["spec"]["containers"][0]["image"], "web:1");
    assert_eq!(
        ops[1]["value"]["metadata"]["labels"],
        json!({"app": "web"}),
        "the hash label is the controller's"
    );
    assert!(c.summary.contains("revision 2 (web:1)"), "{}", c.summary);

    let c = undo(&ro, &revisions, Some(1)).expect("to revision 1");
    let Patch::Json(ops) = &c.patches[0] else {
        panic!("a JSON patch")
    };
    assert_eq!(ops[1]["value"]["spec"]["containers"][0]["image"], "web:0");

    let missing = undo(&ro, &revisions, Some(9)).expect_err("no such revision");
    assert_eq!(
        missing,
        "rollout \"web\" has no revision 9 (revisions: 1, 2, 3)"
    );
    let same = undo(&ro, &revisions, Some(3)).expect_err("current");
    assert!(same.contains("already runs revision 3"), "{same}");
    let first = undo(&ro, &revisions[2..], None).expect_err("nothing before");
    assert!(first.contains("no revision before 3"), "{first}");
}

#[test]
fn set_image_patches_the_named_container_at_its_index() {
    let ro = rollout("", HEALTHY);
    let c = set_image(&ro, "proxy", "proxy:2").expect("sets");
    let Patch::Json(ops) = &c.patches[0] else {
        panic!("a JSON patch")
    };
    assert_eq!(
        ops,
        &json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "proxy"},
            {"op": "add", "path": "/spec/template/spec/containers/1/image", "value": "proxy:2"},
        ])
    );
    let c = set_image(&ro, "migrate", "migrate:2").expect("init containers too");
    let Patch::Json(ops) = &c.patches[0] else {
        panic!("a JSON patch")
    };
    assert_eq!(ops[2]["path"], "/spec/template/spec/initContainers/0/image");
    let c = set_image(&ro, "*", "all:9").expect("every container");
    let Patch::Json(ops) = &c.patches[0] else {
        panic!("a JSON patch")
    };
    assert_eq!(ops.as_array().map(Vec::len), Some(7));
}

#[test]
fn set_image_names_the_containers_there_are_and_skips_a_no_op() {
    let ro = rollout("", HEALTHY);
    let unknown = set_image(&ro, "api", "api:2").expect_err("no such container");
    assert_eq!(
        unknown,
        "rollout \"web\" has no container \"api\"; its containers: web, proxy, migrate"
    );
    let same = set_image(&ro, "web", "web:2").expect("already");
    assert!(same.patches.is_empty());
    assert!(same.summary.contains("nothing changed"), "{}", same.summary);
}
