//! Scenarios C1-C8 of shared/scenarios.md (canary without a traffic router), plus abort and
//! retry, a controller restart mid-rollout, spec.restartAt and the adoption of an orphan
//! ReplicaSet, against the cluster under test with the controller running in this process.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use rollout_rs_crds::POD_TEMPLATE_HASH_LABEL;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::fixture::NEVER_READY;
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture};
use serde_json::json;

fn two_step() -> RolloutFixture {
    RolloutFixture::canary("web")
        .replicas(10)
        .steps(json!([{"setWeight": 20}, {"pause": {}}]))
}

/// C1: basic canary. Update => (2, 8), Paused at step 1; promote => (10, 0), Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_basic_canary_pause_and_promote() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.deploy(&two_step().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.wait_counts(&[("web:1", 10, 10)]).await?;

    s.ro.set_image("web", "web", "web:2").await?;
    let ro = s.ro.paused_at("web", 1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let st = ro.status.clone().unwrap_or_default();
    assert_eq!(s.selects("web-canary").await?, st.current_pod_hash);
    assert_eq!(s.selects("web-stable").await?, st.stable_rs);

    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    let ro = s.ro.healthy("web").await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 10, 10)]).await?;
    assert_eq!(s.selects("web-stable").await?, st.stable_rs);
    let notes = s.event_notes("web").await?;
    for reason in [
        "RolloutUpdated",
        "NewReplicaSetCreated",
        "ScalingReplicaSet",
        "RolloutStepCompleted",
        "RolloutPaused",
        "RolloutResumed",
        "RolloutCompleted",
    ] {
        assert!(
            notes.iter().any(|n| n.starts_with(reason)),
            "no {reason} Event in {notes:#?}"
        );
    }
    Ok(())
}

/// C2: a timed pause ends by itself, without polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_timed_pause_completes_by_itself() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 50}, {"pause": {"duration": "2s"}}]));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    let ro = s.ro.healthy("web").await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 4, 4)]).await?;
    Ok(())
}

/// A timed pause ends at its start plus its duration even when writing the status that began
/// it took long (an API server answering slowly, or a wait for a turn to write): the next look
/// counts from the decision, not from when the write returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_pause_ends_on_time_after_a_slow_status_write() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let spec = RolloutFixture::canary("web")
        .replicas(2)
        .steps(json!([{"setWeight": 50}, {"pause": {"duration": "3s"}}]));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    // Every status write of a Rollout now takes 2 s to answer.
    let faults = json!({"verbs": {"update": {"latencyMs": 2000, "resource": "rollouts"}}});
    s.cluster.sim_admin("PUT", "/sim/faults", faults).await?;
    s.ro.set_image("web", "web", "web:2").await?;
    let paused = s.ro.paused_at("web", 1).await?;
    let started = paused
        .status
        .as_ref()
        .and_then(|st| st.pause_conditions.first())
        .map(|p| p.start_time.0)
        .ok_or_else(|| HarnessError::Manifest("no pause condition".into()))?;
    let resumed =
        s.ro.wait("web", "past the pause", |ro| {
            ro.status
                .as_ref()
                .is_some_and(|st| st.current_step_index == Some(2))
        })
        .await?;
    let seen = jiff::Timestamp::now();
    // On time: the pause's 3 s, then the 2 s the write that ends it takes. Counting the 3 s
    // from when the write that began it returned would add its 2 s again.
    let late = seen.duration_since(started) - jiff::SignedDuration::from_secs(5);
    assert!(
        late < jiff::SignedDuration::from_millis(1500),
        "the pause ended {late:?} after its start + 3 s + one 2 s write; status {:?}",
        resumed.status
    );
    Ok(())
}

/// C3: promote --full at step 0 goes straight to Healthy without running the other steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_promote_full_skips_the_steps() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"pause": {}}, {"setWeight": 50}, {"pause": {}}]));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 0).await?;
    s.ro.patch_status("web", json!({"promoteFull": true}))
        .await?;
    let ro = s.ro.healthy("web").await?;
    assert!(!ro.status.unwrap_or_default().promote_full);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 4, 4)]).await?;
    let notes = s.event_notes("web").await?;
    assert!(
        !notes.iter().any(|n| n.contains("setWeight: 50")),
        "an intermediate step ran: {notes:#?}"
    );
    Ok(())
}

/// C4: spec.paused stops the steps ("manually paused"); resuming continues where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_manual_pause_and_resume() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.deploy(&two_step().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.patch_spec("web", json!({"paused": true})).await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let ro =
        s.ro.wait("web", "manually paused", |ro| {
            ro.status.as_ref().and_then(|s| s.message.as_deref()) == Some("manually paused")
        })
        .await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(
        (st.phase, st.current_step_index),
        (Some(RolloutPhase::Paused), Some(0)),
        "the steps do not advance"
    );
    s.ro.patch_spec("web", json!({"paused": false})).await?;
    s.ro.paused_at("web", 1).await?;
    Ok(())
}

/// C5: a new update mid-rollout replaces the canary; the stable keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_update_mid_rollout() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.deploy(&two_step().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.set_image("web", "web", "web:3").await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 0, 0), ("web:3", 2, 2)])
        .await?;
    let ro = s.ro.paused_at("web", 1).await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(s.selects("web-canary").await?, st.current_pod_hash);
    assert_ne!(st.stable_rs, st.current_pod_hash);
    Ok(())
}

/// C6: reverting to the stable template runs no steps and scales the canary down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_rollback_to_stable() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.deploy(&two_step().image("web:1")).await?;
    let stable =
        s.ro.healthy("web")
            .await?
            .status
            .unwrap_or_default()
            .stable_rs;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.set_image("web", "web", "web:1").await?;
    let ro = s.ro.healthy("web").await?;
    assert_eq!(ro.status.unwrap_or_default().stable_rs, stable);
    s.wait_counts(&[("web:1", 10, 10), ("web:2", 0, 0)]).await?;
    Ok(())
}

/// C7: pods that never become ready exceed the progress deadline: Degraded; with
/// progressDeadlineAbort also aborted and the canary scaled down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c7_progress_deadline() -> Result<(), HarnessError> {
    for abort in [false, true] {
        let s = Env::canary("canary").await?;
        let healthy = RolloutFixture::canary("web")
            .replicas(4)
            .steps(json!([{"setWeight": 50}, {"pause": {}}]))
            .spec(json!({"progressDeadlineSeconds": 5, "progressDeadlineAbort": abort}));
        s.deploy(&healthy.clone().image("web:1")).await?;
        s.ro.healthy("web").await?;
        let broken = healthy.pod_annotations(json!({NEVER_READY: "true"}));
        s.deploy(&broken.image("web:2")).await?;
        let ro =
            s.ro.wait("web", "ProgressDeadlineExceeded", |ro| {
                ro.status.as_ref().is_some_and(|s| {
                    s.conditions.iter().any(|c| {
                        c.type_ == "Progressing"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                    }) || s.abort
                })
            })
            .await?;
        assert_eq!(
            ro.status.as_ref().and_then(|s| s.phase),
            Some(RolloutPhase::Degraded)
        );
        if abort {
            s.ro.wait("web", "aborted", |ro| {
                ro.status.as_ref().is_some_and(|s| s.abort)
            })
            .await?;
            s.wait_counts(&[("web:1", 4, 4), ("web:2", 0, 0)]).await?;
        }
    }
    Ok(())
}

/// C8: an invalid spec is reported (InvalidSpec, Degraded) and nothing is scaled; fixing heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c8_invalid_spec_then_fixed() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let bad = RolloutFixture::canary("web")
        .replicas(3)
        .steps(json!([{"setWeight": 150}, {"pause": {}}]));
    s.deploy(&bad.clone().image("web:1")).await?;
    let ro =
        s.ro.wait("web", "InvalidSpec", |ro| {
            ro.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "InvalidSpec"))
        })
        .await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(st.phase, Some(RolloutPhase::Degraded));
    let cond = st
        .conditions
        .iter()
        .find(|c| c.type_ == "InvalidSpec")
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        cond.contains("spec.strategy.canary.steps[0].setWeight: must be <= 100"),
        "{cond}"
    );
    assert!(
        s.counts().await?.is_empty(),
        "nothing is scaled for an invalid spec"
    );
    s.deploy(
        &bad.steps(json!([{"setWeight": 50}, {"pause": {}}]))
            .image("web:1"),
    )
    .await?;
    let ro = s.ro.healthy("web").await?;
    assert!(
        ro.status
            .unwrap_or_default()
            .conditions
            .iter()
            .all(|c| c.type_ != "InvalidSpec")
    );
    Ok(())
}

/// Abort scales the canary to 0 at once and points the canary Service at stable; retry
/// restarts from step 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_then_retry() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.deploy(&two_step().image("web:1")).await?;
    let stable =
        s.ro.healthy("web")
            .await?
            .status
            .unwrap_or_default()
            .stable_rs;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"abort": true})).await?;
    s.wait_counts(&[("web:1", 10, 10), ("web:2", 0, 0)]).await?;
    let ro =
        s.ro.wait("web", "Degraded", |ro| {
            ro.status.as_ref().and_then(|s| s.phase) == Some(RolloutPhase::Degraded)
        })
        .await?;
    assert!(
        ro.status
            .unwrap_or_default()
            .message
            .unwrap_or_default()
            .starts_with("RolloutAborted")
    );
    assert_eq!(
        s.selects("web-canary").await?,
        stable,
        "the canary Service is back on stable"
    );

    s.ro.patch_status("web", json!({"abort": false})).await?;
    s.ro.paused_at("web", 1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    Ok(())
}

/// A controller killed mid-rollout and started again continues from the same step, scaling
/// each ReplicaSet once for the next step (no flap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_rollout_continues_without_flap() -> Result<(), HarnessError> {
    let mut s = Env::canary("canary").await?;
    let spec = RolloutFixture::canary("web")
        .replicas(10)
        .steps(json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {}}]));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let generations = |rss: Vec<ReplicaSet>| {
        rss.iter()
            .map(|rs| (rs.name_any(), rs.meta().generation.unwrap_or(0)))
            .collect::<BTreeMap<_, _>>()
    };
    let before = generations(s.replica_sets().await?);

    s.cluster.stop_controller();
    s.cluster.start_controller();
    // The restarted controller must find step 1 again, not start over.
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.paused_at("web", 3).await?;
    s.wait_counts(&[("web:1", 6, 6), ("web:2", 4, 4)]).await?;
    let after = generations(s.replica_sets().await?);
    for (name, g) in &before {
        assert_eq!(
            after.get(name),
            Some(&(g + 1)),
            "{name} was scaled more than once: {before:?} -> {after:?}"
        );
    }
    Ok(())
}

/// spec.restartAt: every pod created before it is replaced, within maxUnavailable, then
/// status.restartedAt records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_at_replaces_every_pod() -> Result<(), HarnessError> {
    use k8s_openapi::api::core::v1::Pod;
    let s = Env::canary("canary").await?;
    s.deploy(
        &RolloutFixture::canary("web")
            .replicas(4)
            .steps(json!([{"setWeight": 50}, {"pause": {}}]))
            .image("web:1"),
    )
    .await?;
    s.ro.healthy("web").await?;
    // A second from now, so every current pod is strictly older (timestamps have seconds).
    let at = jiff::Timestamp::now().as_second() + 1;
    let at = jiff::Timestamp::from_second(at).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    s.ro.patch_spec(
        "web",
        json!({"restartAt": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}),
    )
    .await?;
    let ro =
        s.ro.wait("web", "restartedAt", |ro| {
            ro.status.as_ref().is_some_and(|s| s.restarted_at.is_some())
        })
        .await?;
    assert_eq!(
        ro.status.and_then(|s| s.restarted_at).map(|t| t.0),
        Some(at)
    );
    s.ro.healthy("web").await?;
    let pods: Api<Pod> = s.api();
    let list = pods.list(&ListParams::default().labels("app=web")).await?;
    let live: Vec<_> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(live.len(), 4);
    for p in live {
        let created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        assert!(
            created.is_some_and(|c| c >= at),
            "pod {} was not restarted",
            p.name_any()
        );
    }
    Ok(())
}

/// An existing ReplicaSet with the template's hash and the Rollout's labels, owned by nobody,
/// is adopted instead of a second one being created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_replica_set_is_adopted() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let spec = two_step().image("web:1");
    let ro = match rollout_rs_crds::manifest::parse_value(0, spec.to_value()) {
        Ok(rollout_rs_crds::manifest::Object::Rollout(r)) => r,
        other => return Err(HarnessError::Manifest(format!("not a Rollout: {other:?}"))),
    };
    let hash = rollout_rs_controller::pod_template_hash(&ro.spec.template);
    let mut template = serde_json::to_value(&ro.spec.template)
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-legacy", "labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "web", POD_TEMPLATE_HASH_LABEL: hash}}, "template": template},
    });
    s.apply(&rs).await?;
    s.deploy(&spec).await?;
    s.ro.healthy("web").await?;
    let list = s.replica_sets().await?;
    assert_eq!(list.len(), 1, "no second ReplicaSet");
    let owner = list[0]
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.name.clone());
    assert_eq!(owner.as_deref(), Some("web"));
    Ok(())
}
