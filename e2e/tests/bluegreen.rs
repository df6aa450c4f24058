//! Scenarios B1-B3 of shared/scenarios.md (blue-green), plus: abort during preview, an update
//! while paused in preview, and the initial deploy going straight to active. Simulated cluster,
//! controllers in this process; the pre-promotion analysis queries the fixture exporter's JSON
//! endpoint (web provider).

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams};
use rollout_rs_crds::rollout::{PauseReason, RolloutPhase};
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use rollout_rs_e2e::metrics::Exporter;
use rollout_rs_e2e::{Cluster, HarnessError, in_phase};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
type R<T = ()> = Result<T, HarnessError>;

struct Env {
    c: Cluster,
    ns: String,
    ro: Api<Rollout>,
}

impl Env {
    async fn start() -> R<Env> {
        let mut c = Cluster::start().await?;
        c.install_crds().await?;
        let ns = c.namespace("bluegreen").await?;
        c.start_controller();
        let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web-active}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web-preview}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n";
        c.apply_yaml(svc, &ns).await?;
        let ro = Api::namespaced(c.client.clone(), &ns);
        Ok(Env { c, ns, ro })
    }

    /// The Rollout `web` (3 replicas) running `image` with extra `blueGreen` fields.
    async fn rollout(&self, image: &str, extra: Value) -> R {
        let mut bg = json!({"activeService": "web-active", "previewService": "web-preview"});
        if let (Some(b), Some(extra)) = (bg.as_object_mut(), extra.as_object()) {
            b.extend(extra.clone());
        }
        let ro = json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"},
                                 "annotations": {"sim.rollout-rs.io/ready-after-ms": "20"}},
                    "spec": {"containers": [{"name": "web", "image": image}]}
                },
                "strategy": {"blueGreen": bg}
            }
        });
        self.c
            .apply_yaml(&ro.to_string(), &self.ns)
            .await
            .map(|_| ())
    }

    async fn wait(
        &self,
        what: &str,
        cond: impl Fn(&Rollout) -> bool + Send + 'static,
    ) -> R<Rollout> {
        self.c
            .wait(&self.ro, "web", T, what, move |ro: Option<&Rollout>| {
                ro.is_some_and(&cond)
            })
            .await
    }

    async fn phase(&self, phase: RolloutPhase) -> R<Rollout> {
        self.wait(&format!("phase {phase:?}"), move |ro| in_phase(ro, phase))
            .await
    }

    /// The `rollouts-pod-template-hash` a Service selects.
    async fn selects(&self, svc: &str) -> R<Option<String>> {
        let api: Api<Service> = Api::namespaced(self.c.client.clone(), &self.ns);
        Ok(api
            .get(svc)
            .await?
            .spec
            .and_then(|s| s.selector)
            .and_then(|mut s| s.remove(POD_TEMPLATE_HASH_LABEL)))
    }

    /// Hash → (spec.replicas, availableReplicas) of every ReplicaSet.
    async fn replica_sets(&self) -> R<Vec<(String, i32, i32)>> {
        let api: Api<ReplicaSet> = Api::namespaced(self.c.client.clone(), &self.ns);
        let mut out: Vec<(String, i32, i32)> = api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|rs| {
                let hash = rs
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL).cloned())
                    .unwrap_or_default();
                let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                let available = rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                (hash, desired, available)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    async fn desired_of(&self, hash: &str) -> R<Option<i32>> {
        Ok(self
            .replica_sets()
            .await?
            .into_iter()
            .find(|(h, _, _)| h == hash)
            .map(|(_, d, _)| d))
    }

    async fn status_patch(&self, patch: Value) -> R {
        self.ro
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": patch})),
            )
            .await?;
        Ok(())
    }

    /// An AnalysisTemplate `name` whose one metric passes when the exporter's JSON `rate` is
    /// at least 0.95; the exporter starts answering `rate`.
    async fn web_template(&self, name: &str, rate: f64) -> R<Exporter> {
        let exporter = Exporter::start().await?;
        exporter.set_json(json!({"rate": rate}));
        let template = json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": name},
            "spec": {"metrics": [{"name": "rate", "successCondition": "result >= 0.95",
                "provider": {"web": {"url": format!("{}/json", exporter.url()), "jsonPath": "{$.rate}"}}}]}
        });
        self.c.apply_yaml(&template.to_string(), &self.ns).await?;
        Ok(exporter)
    }

    async fn hashes(&self) -> R<(String, String)> {
        let st = self.ro.get("web").await?.status.unwrap_or_default();
        Ok((
            st.stable_rs.unwrap_or_default(),
            st.current_pod_hash.unwrap_or_default(),
        ))
    }
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
    let e = Env::start().await?;
    e.rollout("web:1", json!({"autoPromotionEnabled": false}))
        .await?;
    let ro = e.phase(RolloutPhase::Healthy).await?;
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
    let e = Env::start().await?;
    let opts = json!({"autoPromotionEnabled": false, "scaleDownDelaySeconds": 2});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts).await?;
    e.wait("paused in preview", paused_in_preview).await?;
    let (_, new) = e.hashes().await?;
    assert_eq!(e.replica_sets().await?.len(), 2);
    for (hash, desired, available) in e.replica_sets().await? {
        assert_eq!(
            (desired, available),
            (3, 3),
            "{hash}: both versions in full"
        );
    }
    assert_eq!(e.selects("web-preview").await?, Some(new.clone()));
    assert_eq!(e.selects("web-active").await?, Some(old.clone()));
    // Promote.
    e.status_patch(json!({"pauseConditions": null})).await?;
    e.wait("active switched", {
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
        e.desired_of(&old).await?,
        Some(3),
        "the old version keeps its pods for the delay"
    );
    let ro = e.phase(RolloutPhase::Healthy).await?;
    assert_eq!(ro.status.and_then(|s| s.stable_rs), Some(new));
    // Then, after scaleDownDelaySeconds, the old version goes to zero.
    let api: Api<ReplicaSet> = Api::namespaced(e.c.client.clone(), &e.ns);
    e.c.wait(
        &api,
        &format!("web-{old}"),
        T,
        "old scaled to 0",
        |rs: Option<&ReplicaSet>| {
            rs.and_then(|r| r.spec.as_ref()).and_then(|s| s.replicas) == Some(0)
        },
    )
    .await?;
    assert_eq!(
        e.selects("web-active").await?,
        e.hashes().await.ok().map(|h| h.1)
    );
    Ok(())
}

#[tokio::test]
async fn b2_failed_pre_promotion_analysis_degrades_then_retry_after_the_fix_promotes() -> R {
    let e = Env::start().await?;
    let exporter = e.web_template("smoke", 0.5).await?;
    let opts = json!({"prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts).await?;
    let ro = e.phase(RolloutPhase::Degraded).await?;
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
    e.status_patch(json!({"abort": false})).await?;
    let ro = e.phase(RolloutPhase::Healthy).await?;
    assert_eq!(ro.status.and_then(|s| s.stable_rs), Some(new.clone()));
    assert_eq!(e.selects("web-active").await?, Some(new));
    Ok(())
}

#[tokio::test]
async fn b3_auto_promotion_seconds_promotes_by_itself() -> R {
    let e = Env::start().await?;
    let opts = json!({"autoPromotionSeconds": 2, "scaleDownDelaySeconds": 0});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    e.rollout("web:2", opts).await?;
    e.wait("paused in preview", paused_in_preview).await?;
    let ro = e.phase(RolloutPhase::Healthy).await?;
    let st = ro.status.expect("status");
    assert_eq!(st.stable_rs, st.current_pod_hash, "promoted without anyone");
    assert_eq!(e.selects("web-active").await?, st.current_pod_hash);
    Ok(())
}

#[tokio::test]
async fn abort_during_preview_scales_the_preview_down_after_the_delay_with_active_untouched() -> R {
    let e = Env::start().await?;
    let opts = json!({"autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 1});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts).await?;
    e.wait("paused in preview", paused_in_preview).await?;
    let (_, new) = e.hashes().await?;
    e.status_patch(json!({"abort": true})).await?;
    e.phase(RolloutPhase::Degraded).await?;
    assert_eq!(e.selects("web-active").await?, Some(old.clone()));
    // The preview goes to zero after 1 s; the active one never moves.
    let api: Api<ReplicaSet> = Api::namespaced(e.c.client.clone(), &e.ns);
    let name = format!("web-{new}");
    e.c.wait(
        &api,
        &name,
        T,
        "preview scaled to 0",
        |rs: Option<&ReplicaSet>| {
            rs.and_then(|r| r.spec.as_ref()).and_then(|s| s.replicas) == Some(0)
        },
    )
    .await?;
    assert_eq!(e.desired_of(&old).await?, Some(3));
    assert_eq!(e.selects("web-active").await?, Some(old));
    Ok(())
}

#[tokio::test]
async fn an_update_while_paused_in_preview_replaces_the_preview() -> R {
    let e = Env::start().await?;
    let opts = json!({"autoPromotionEnabled": false});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts.clone()).await?;
    e.wait("paused in preview", paused_in_preview).await?;
    let (_, v2) = e.hashes().await?;
    e.rollout("web:3", opts).await?;
    let v2_hash = v2.clone();
    let ro = e
        .wait("paused in preview of web:3", move |ro| {
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
        e.desired_of(&v2).await?,
        Some(0),
        "the superseded preview is gone"
    );
    assert_eq!(e.desired_of(&v3).await?, Some(3));
    assert_eq!(e.selects("web-preview").await?, Some(v3));
    assert_eq!(e.selects("web-active").await?, Some(old));
    Ok(())
}

/// `role` label of each pod of a template hash.
async fn roles(e: &Env, hash: &str) -> R<Vec<Option<String>>> {
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(e.c.client.clone(), &e.ns);
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
    let e = Env::start().await?;
    let opts = json!({"autoPromotionEnabled": false, "scaleDownDelaySeconds": 30,
        "activeMetadata": {"labels": {"role": "active"}},
        "previewMetadata": {"labels": {"role": "preview"}}});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts).await?;
    e.wait("paused in preview", paused_in_preview).await?;
    let (_, new) = e.hashes().await?;
    let some = |r: &str| vec![Some(r.to_string()); 3];
    assert_eq!(roles(&e, &new).await?, some("preview"));
    assert_eq!(roles(&e, &old).await?, some("active"));
    e.status_patch(json!({"pauseConditions": null})).await?;
    e.phase(RolloutPhase::Healthy).await?;
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
    let e = Env::start().await?;
    // Kept alive for the run: the analysis queries it.
    let _exporter = e.web_template("verify", 0.5).await?;
    let opts = json!({"postPromotionAnalysis": {"templates": [{"templateName": "verify"}]}});
    e.rollout("web:1", opts.clone()).await?;
    e.phase(RolloutPhase::Healthy).await?;
    let (old, _) = e.hashes().await?;
    e.rollout("web:2", opts).await?;
    let ro = e.phase(RolloutPhase::Degraded).await?;
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
