//! Scenarios B1-B3 of shared/scenarios.md (blue-green), plus: abort during preview, an update
//! while paused in preview, and the initial deploy going straight to active. Simulated cluster,
//! controllers in this process; the pre-promotion analysis queries the fixture exporter's JSON
//! endpoint (web provider).

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use rollout_rs_crds::rollout::{PauseReason, RolloutPhase};
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, hash_of};
use serde_json::{Value, json};

type R<T = ()> = Result<T, HarnessError>;

async fn start() -> R<Env> {
    Env::builder("bluegreen")
        .services(&["web-active", "web-preview"])
        .start()
        .await
}

/// The Rollout `web` (3 replicas) running `image` with extra `blueGreen` fields.
fn web(image: &str, extra: Value) -> RolloutFixture {
    RolloutFixture::blue_green("web")
        .replicas(3)
        .image(image)
        .strategy(json!({"previewService": "web-preview"}))
        .strategy(extra)
}

/// Spec replicas of the ReplicaSet of a template hash.
async fn desired_of(e: &Env, hash: &str) -> R<Option<i32>> {
    Ok(e.counts_by(hash_of)
        .await?
        .into_iter()
        .find(|(h, _, _)| h == hash)
        .map(|(_, d, _)| d))
}

/// (stableRS, currentPodHash) of the Rollout.
async fn hashes(e: &Env) -> R<(String, String)> {
    let st = e.ro.api.get("web").await?.status.unwrap_or_default();
    Ok((
        st.stable_rs.unwrap_or_default(),
        st.current_pod_hash.unwrap_or_default(),
    ))
}

fn paused_in_preview(ro: &Rollout) -> bool {
    ro.status.as_ref().is_some_and(|s| {
        s.phase == Some(RolloutPhase::Paused)
            && s.pause_conditions
                .iter()
                .any(|p| p.reason == PauseReason::BlueGreenPause)
    })
}

#[tokio::test]
async fn initial_deploy_goes_straight_to_active() -> R {
    let e = start().await?;
    e.deploy(&web("web:1", json!({"autoPromotionEnabled": false})))
        .await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    let st = ro.status.expect("status");
    let hash = st.current_pod_hash.clone().expect("hash");
    assert_eq!(st.stable_rs.as_deref(), Some(hash.as_str()));
    assert!(
        st.pause_conditions.is_empty(),
        "no pause on the first deploy"
    );
    assert_eq!(
        e.selects("web-active").await?.as_deref(),
        Some(hash.as_str())
    );
    assert_eq!(
        e.selects("web-preview").await?.as_deref(),
        Some(hash.as_str())
    );
    assert_eq!(
        st.blue_green.and_then(|b| b.active_selector).as_deref(),
        Some(hash.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn b1_preview_in_full_then_promote_switches_active_and_scales_the_old_down_later() -> R {
    let e = start().await?;
    let opts = json!({"autoPromotionEnabled": false, "scaleDownDelaySeconds": 2});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts)).await?;
    e.ro.wait("web", "paused in preview", paused_in_preview)
        .await?;
    let (_, new) = hashes(&e).await?;
    assert_eq!(e.counts_by(hash_of).await?.len(), 2);
    for (hash, desired, available) in e.counts_by(hash_of).await? {
        assert_eq!(
            (desired, available),
            (3, 3),
            "{hash}: both versions in full"
        );
    }
    assert_eq!(e.selects("web-preview").await?, Some(new.clone()));
    assert_eq!(e.selects("web-active").await?, Some(old.clone()));
    // Promote.
    e.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    e.ro.wait("web", "active switched", {
        let new = new.clone();
        move |ro| {
            ro.status
                .as_ref()
                .and_then(|s| s.blue_green.as_ref())
                .and_then(|b| b.active_selector.clone())
                == Some(new.clone())
        }
    })
    .await?;
    assert_eq!(e.selects("web-active").await?, Some(new.clone()));
    assert_eq!(
        desired_of(&e, &old).await?,
        Some(3),
        "the old version keeps its pods for the delay"
    );
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(ro.status.and_then(|s| s.stable_rs), Some(new));
    // Then, after scaleDownDelaySeconds, the old version goes to zero.
    let api: Api<ReplicaSet> = e.api();
    e.cluster
        .wait(
            &api,
            &format!("web-{old}"),
            e.timeout(),
            "old scaled to 0",
            |rs: Option<&ReplicaSet>| {
                rs.and_then(|r| r.spec.as_ref()).and_then(|s| s.replicas) == Some(0)
            },
        )
        .await?;
    assert_eq!(
        e.selects("web-active").await?,
        hashes(&e).await.ok().map(|h| h.1)
    );
    Ok(())
}

#[tokio::test]
async fn b2_failed_pre_promotion_analysis_degrades_then_retry_after_the_fix_promotes() -> R {
    let e = start().await?;
    let exporter = e.web_template("smoke", 0.5).await?;
    let opts = json!({"prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts)).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    let st = ro.status.expect("status");
    assert!(st.abort);
    let message = st.message.unwrap_or_default();
    assert!(
        message.contains("Blue/green pre-promotion analysis phase Failed"),
        "{message}"
    );
    let new = st.current_pod_hash.unwrap_or_default();
    assert_eq!(
        e.selects("web-active").await?,
        Some(old.clone()),
        "active still old"
    );
    assert_eq!(
        e.selects("web-preview").await?,
        Some(new.clone()),
        "preview new"
    );
    // Fix, retry.
    exporter.set_json(json!({"rate": 0.99}));
    e.ro.patch_status("web", json!({"abort": false})).await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(ro.status.and_then(|s| s.stable_rs), Some(new.clone()));
    assert_eq!(e.selects("web-active").await?, Some(new));
    Ok(())
}

#[tokio::test]
async fn b3_auto_promotion_seconds_promotes_by_itself() -> R {
    let e = start().await?;
    let opts = json!({"autoPromotionSeconds": 2, "scaleDownDelaySeconds": 0});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    e.deploy(&web("web:2", opts)).await?;
    e.ro.wait("web", "paused in preview", paused_in_preview)
        .await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    let st = ro.status.expect("status");
    assert_eq!(st.stable_rs, st.current_pod_hash, "promoted without anyone");
    assert_eq!(e.selects("web-active").await?, st.current_pod_hash);
    Ok(())
}

#[tokio::test]
async fn abort_during_preview_scales_the_preview_down_after_the_delay_with_active_untouched() -> R {
    let e = start().await?;
    let opts = json!({"autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 1});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts)).await?;
    e.ro.wait("web", "paused in preview", paused_in_preview)
        .await?;
    let (_, new) = hashes(&e).await?;
    e.ro.patch_status("web", json!({"abort": true})).await?;
    e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert_eq!(e.selects("web-active").await?, Some(old.clone()));
    // The preview goes to zero after 1 s; the active one never moves.
    let api: Api<ReplicaSet> = e.api();
    let name = format!("web-{new}");
    e.cluster
        .wait(
            &api,
            &name,
            e.timeout(),
            "preview scaled to 0",
            |rs: Option<&ReplicaSet>| {
                rs.and_then(|r| r.spec.as_ref()).and_then(|s| s.replicas) == Some(0)
            },
        )
        .await?;
    assert_eq!(desired_of(&e, &old).await?, Some(3));
    assert_eq!(e.selects("web-active").await?, Some(old));
    Ok(())
}

#[tokio::test]
async fn an_update_while_paused_in_preview_replaces_the_preview() -> R {
    let e = start().await?;
    let opts = json!({"autoPromotionEnabled": false});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts.clone())).await?;
    e.ro.wait("web", "paused in preview", paused_in_preview)
        .await?;
    let (_, v2) = hashes(&e).await?;
    e.deploy(&web("web:3", opts)).await?;
    let v2_hash = v2.clone();
    let ro =
        e.ro.wait("web", "paused in preview of web:3", move |ro| {
            paused_in_preview(ro)
                && ro
                    .status
                    .as_ref()
                    .and_then(|s| s.current_pod_hash.clone())
                    .is_some_and(|h| h != v2_hash)
        })
        .await?;
    let v3 = ro
        .status
        .and_then(|s| s.current_pod_hash)
        .unwrap_or_default();
    assert_eq!(
        desired_of(&e, &v2).await?,
        Some(0),
        "the superseded preview is gone"
    );
    assert_eq!(desired_of(&e, &v3).await?, Some(3));
    assert_eq!(e.selects("web-preview").await?, Some(v3));
    assert_eq!(e.selects("web-active").await?, Some(old));
    Ok(())
}

/// `role` label of each pod of a template hash.
async fn roles(e: &Env, hash: &str) -> R<Vec<Option<String>>> {
    let api: Api<k8s_openapi::api::core::v1::Pod> = e.api();
    let pods = api
        .list(&ListParams::default().labels(&format!("{POD_TEMPLATE_HASH_LABEL}={hash}")))
        .await?;
    Ok(pods
        .items
        .into_iter()
        .map(|p| p.metadata.labels.and_then(|mut l| l.remove("role")))
        .collect())
}

#[tokio::test]
async fn active_and_preview_pods_carry_their_role_metadata() -> R {
    let e = start().await?;
    let opts = json!({"autoPromotionEnabled": false, "scaleDownDelaySeconds": 30,
        "activeMetadata": {"labels": {"role": "active"}},
        "previewMetadata": {"labels": {"role": "preview"}}});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts)).await?;
    e.ro.wait("web", "paused in preview", paused_in_preview)
        .await?;
    let (_, new) = hashes(&e).await?;
    let some = |r: &str| vec![Some(r.to_string()); 3];
    assert_eq!(roles(&e, &new).await?, some("preview"));
    assert_eq!(roles(&e, &old).await?, some("active"));
    e.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(
        roles(&e, &new).await?,
        some("active"),
        "relabelled in place"
    );
    assert_eq!(
        roles(&e, &old).await?,
        vec![None; 3],
        "the old pods left the active role"
    );
    Ok(())
}

#[tokio::test]
async fn failed_post_promotion_analysis_switches_the_active_service_back() -> R {
    let e = start().await?;
    // Kept alive for the run: the analysis queries it.
    let _exporter = e.web_template("verify", 0.5).await?;
    let opts = json!({"postPromotionAnalysis": {"templates": [{"templateName": "verify"}]}});
    e.deploy(&web("web:1", opts.clone())).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let (old, _) = hashes(&e).await?;
    e.deploy(&web("web:2", opts)).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    let st = ro.status.expect("status");
    let message = st.message.unwrap_or_default();
    assert!(
        message.contains("Blue/green post-promotion analysis phase Failed"),
        "{message}"
    );
    let post = st
        .blue_green
        .and_then(|b| b.post_promotion_analysis_run_status)
        .expect("post run");
    assert_eq!(post.status, "Failed");
    assert_eq!(
        st.stable_rs.as_deref(),
        Some(old.as_str()),
        "never marked stable"
    );
    assert_eq!(e.selects("web-active").await?, Some(old), "switched back");
    Ok(())
}
