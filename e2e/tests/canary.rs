//! Scenarios C1-C8 of shared/scenarios.md (canary without a traffic router), plus abort and
//! retry, and a controller restart mid-rollout, against the cluster under test with the
//! controller running in this process.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use rollout_rs_e2e::{Cluster, HarnessError, in_phase};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

struct Scenario {
    c: Cluster,
    ns: String,
    api: Api<Rollout>,
}

/// Options of the test Rollout `web`.
#[derive(Default)]
struct Spec<'a> {
    replicas: u32,
    steps: &'a str,
    /// Extra lines under `spec:` (indented by two spaces).
    extra: &'a str,
    /// Extra pod-template annotations, as `k: v` YAML flow entries.
    annotations: &'a str,
    /// `trafficRouting` as a YAML flow mapping, e.g. `{nginx: {stableIngress: web}}`.
    routing: &'a str,
}

impl Scenario {
    async fn start() -> Result<Scenario, HarnessError> {
        let mut c = Cluster::start().await?;
        c.install_crds().await?;
        let ns = c.namespace("canary").await?;
        c.start_controller();
        let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web-canary}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web-stable}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n";
        c.apply_yaml(svc, &ns).await?;
        let api = Api::namespaced(c.client.clone(), &ns);
        Ok(Scenario { c, ns, api })
    }

    fn manifest(&self, image: &str, s: &Spec<'_>) -> String {
        let annotations = if s.annotations.is_empty() {
            "sim.rollout-rs.io/ready-after-ms: \"20\"".to_string()
        } else {
            s.annotations.to_string()
        };
        format!(
            "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\nspec:\n  replicas: {}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}, annotations: {{{annotations}}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n{}  strategy:\n    canary:\n      canaryService: web-canary\n      stableService: web-stable\n      steps: {}\n{}",
            s.replicas,
            s.extra,
            s.steps,
            if s.routing.is_empty() {
                String::new()
            } else {
                format!("      trafficRouting: {}\n", s.routing)
            }
        )
    }

    async fn apply(&self, image: &str, s: &Spec<'_>) -> Result<(), HarnessError> {
        self.c
            .apply_yaml(&self.manifest(image, s), &self.ns)
            .await
            .map(|_| ())
    }

    async fn wait(
        &self,
        what: &str,
        cond: impl Fn(&Rollout) -> bool + Send + 'static,
    ) -> Result<Rollout, HarnessError> {
        self.c
            .wait(&self.api, "web", T, what, move |ro: Option<&Rollout>| {
                ro.is_some_and(&cond)
            })
            .await
    }

    async fn healthy(&self) -> Result<Rollout, HarnessError> {
        self.wait("phase Healthy", |ro| in_phase(ro, RolloutPhase::Healthy))
            .await
    }

    async fn paused_at(&self, index: i32) -> Result<Rollout, HarnessError> {
        self.wait(&format!("paused at step {index}"), move |ro| {
            ro.status.as_ref().is_some_and(|s| {
                s.phase == Some(RolloutPhase::Paused) && s.current_step_index == Some(index)
            })
        })
        .await
    }

    /// Image → (spec.replicas, availableReplicas) of the Rollout's ReplicaSets.
    async fn counts(&self) -> Result<BTreeMap<String, (i32, i32)>, HarnessError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.c.client.clone(), &self.ns);
        let list = api
            .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
            .await?;
        Ok(list
            .items
            .iter()
            .map(|rs| {
                let image = rs
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .and_then(|t| t.spec.as_ref())
                    .and_then(|p| p.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                let available = rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                (image, (desired, available))
            })
            .collect())
    }

    /// Waits until the ReplicaSets of the images have exactly these (desired, available) counts.
    async fn wait_counts(&self, want: &[(&str, i32, i32)]) -> Result<(), HarnessError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.c.client.clone(), &self.ns);
        let want: BTreeMap<String, (i32, i32)> = want
            .iter()
            .map(|(i, d, a)| (i.to_string(), (*d, *a)))
            .collect();
        let watch = kube::runtime::watcher(
            api,
            kube::runtime::watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
        );
        let mut stream = Box::pin(kube::runtime::WatchStreamExt::default_backoff(watch));
        let check = async {
            use futures::StreamExt;
            loop {
                if self.counts().await? == want {
                    return Ok::<(), HarnessError>(());
                }
                // Any ReplicaSet change: look again.
                if stream.next().await.is_none() {
                    return Err(HarnessError::Manifest("ReplicaSet watch ended".into()));
                }
            }
        };
        match tokio::time::timeout(T, check).await {
            Ok(r) => r,
            Err(_) => Err(HarnessError::Timeout(
                T,
                format!(
                    "ReplicaSet counts {want:?}, last {:?}",
                    self.counts().await?
                ),
            )),
        }
    }

    async fn set_image(&self, image: &str) -> Result<(), HarnessError> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
        self.api
            .patch("web", &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    async fn patch_status(&self, status: serde_json::Value) -> Result<(), HarnessError> {
        self.api
            .patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
        Ok(())
    }

    async fn patch_spec(&self, spec: serde_json::Value) -> Result<(), HarnessError> {
        self.api
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await?;
        Ok(())
    }

    async fn selector(&self, svc: &str) -> Result<Option<String>, HarnessError> {
        let api: Api<Service> = Api::namespaced(self.c.client.clone(), &self.ns);
        let s = api.get(svc).await?;
        Ok(s.spec
            .and_then(|s| s.selector)
            .and_then(|m| m.get(POD_TEMPLATE_HASH_LABEL).cloned()))
    }

    async fn event_notes(&self) -> Result<Vec<String>, HarnessError> {
        let api: Api<Event> = Api::namespaced(self.c.client.clone(), &self.ns);
        let list = api.list(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web"))
            .map(|e| {
                format!(
                    "{}: {}",
                    e.reason.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default()
                )
            })
            .collect())
    }
}

fn two_step<'a>() -> Spec<'a> {
    Spec {
        replicas: 10,
        steps: "[{setWeight: 20}, {pause: {}}]",
        ..Default::default()
    }
}

/// C1: basic canary. Update => (2, 8), Paused at step 1; promote => (10, 0), Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_basic_canary_pause_and_promote() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.apply("web:1", &two_step()).await?;
    s.healthy().await?;
    s.wait_counts(&[("web:1", 10, 10)]).await?;

    s.set_image("web:2").await?;
    let ro = s.paused_at(1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let st = ro.status.clone().unwrap_or_default();
    assert_eq!(s.selector("web-canary").await?, st.current_pod_hash);
    assert_eq!(s.selector("web-stable").await?, st.stable_rs);

    s.patch_status(json!({"pauseConditions": null})).await?;
    let ro = s.healthy().await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 10, 10)]).await?;
    assert_eq!(s.selector("web-stable").await?, st.stable_rs);
    let notes = s.event_notes().await?;
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
    let s = Scenario::start().await?;
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 50}, {pause: {duration: 2s}}]",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    let ro = s.healthy().await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(st.stable_rs, st.current_pod_hash);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 4, 4)]).await?;
    Ok(())
}

/// C3: promote --full at step 0 goes straight to Healthy without running the other steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_promote_full_skips_the_steps() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    let spec = Spec {
        replicas: 4,
        steps: "[{pause: {}}, {setWeight: 50}, {pause: {}}]",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(0).await?;
    s.patch_status(json!({"promoteFull": true})).await?;
    let ro = s.healthy().await?;
    assert!(!ro.status.unwrap_or_default().promote_full);
    s.wait_counts(&[("web:1", 0, 0), ("web:2", 4, 4)]).await?;
    let notes = s.event_notes().await?;
    assert!(
        !notes.iter().any(|n| n.contains("setWeight: 50")),
        "an intermediate step ran: {notes:#?}"
    );
    Ok(())
}

/// C4: spec.paused stops the steps ("manually paused"); resuming continues where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_manual_pause_and_resume() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.apply("web:1", &two_step()).await?;
    s.healthy().await?;
    s.patch_spec(json!({"paused": true})).await?;
    s.set_image("web:2").await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let ro = s
        .wait("manually paused", |ro| {
            ro.status.as_ref().and_then(|s| s.message.as_deref()) == Some("manually paused")
        })
        .await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(
        (st.phase, st.current_step_index),
        (Some(RolloutPhase::Paused), Some(0)),
        "the steps do not advance"
    );
    s.patch_spec(json!({"paused": false})).await?;
    s.paused_at(1).await?;
    Ok(())
}

/// C5: a new update mid-rollout replaces the canary; the stable keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_update_mid_rollout() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.apply("web:1", &two_step()).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    s.set_image("web:3").await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 0, 0), ("web:3", 2, 2)])
        .await?;
    let ro = s.paused_at(1).await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(s.selector("web-canary").await?, st.current_pod_hash);
    assert_ne!(st.stable_rs, st.current_pod_hash);
    Ok(())
}

/// C6: reverting to the stable template runs no steps and scales the canary down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_rollback_to_stable() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.apply("web:1", &two_step()).await?;
    let stable = s.healthy().await?.status.unwrap_or_default().stable_rs;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    s.set_image("web:1").await?;
    let ro = s.healthy().await?;
    assert_eq!(ro.status.unwrap_or_default().stable_rs, stable);
    s.wait_counts(&[("web:1", 10, 10), ("web:2", 0, 0)]).await?;
    Ok(())
}

/// C7: pods that never become ready exceed the progress deadline: Degraded; with
/// progressDeadlineAbort also aborted and the canary scaled down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c7_progress_deadline() -> Result<(), HarnessError> {
    for abort in [false, true] {
        let s = Scenario::start().await?;
        let extra = format!("  progressDeadlineSeconds: 5\n  progressDeadlineAbort: {abort}\n");
        let healthy = Spec {
            replicas: 4,
            steps: "[{setWeight: 50}, {pause: {}}]",
            extra: &extra,
            ..Default::default()
        };
        s.apply("web:1", &healthy).await?;
        s.healthy().await?;
        let broken = Spec {
            annotations: "sim.rollout-rs.io/never-ready: \"true\"",
            ..healthy
        };
        s.apply("web:2", &broken).await?;
        let ro = s
            .wait("ProgressDeadlineExceeded", |ro| {
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
            s.wait("aborted", |ro| ro.status.as_ref().is_some_and(|s| s.abort))
                .await?;
            s.wait_counts(&[("web:1", 4, 4), ("web:2", 0, 0)]).await?;
        }
    }
    Ok(())
}

/// C8: an invalid spec is reported (InvalidSpec, Degraded) and nothing is scaled; fixing heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c8_invalid_spec_then_fixed() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    let bad = Spec {
        replicas: 3,
        steps: "[{setWeight: 150}, {pause: {}}]",
        ..Default::default()
    };
    s.apply("web:1", &bad).await?;
    let ro = s
        .wait("InvalidSpec", |ro| {
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
    s.apply(
        "web:1",
        &Spec {
            steps: "[{setWeight: 50}, {pause: {}}]",
            ..bad
        },
    )
    .await?;
    let ro = s.healthy().await?;
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
    let s = Scenario::start().await?;
    s.apply("web:1", &two_step()).await?;
    let stable = s.healthy().await?.status.unwrap_or_default().stable_rs;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    s.patch_status(json!({"abort": true})).await?;
    s.wait_counts(&[("web:1", 10, 10), ("web:2", 0, 0)]).await?;
    let ro = s
        .wait("Degraded", |ro| {
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
        s.selector("web-canary").await?,
        stable,
        "the canary Service is back on stable"
    );

    s.patch_status(json!({"abort": false})).await?;
    s.paused_at(1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    Ok(())
}

/// A controller killed mid-rollout and started again continues from the same step, scaling
/// each ReplicaSet once for the next step (no flap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_rollout_continues_without_flap() -> Result<(), HarnessError> {
    let mut s = Scenario::start().await?;
    let spec = Spec {
        replicas: 10,
        steps: "[{setWeight: 20}, {pause: {}}, {setWeight: 40}, {pause: {}}]",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    s.wait_counts(&[("web:1", 8, 8), ("web:2", 2, 2)]).await?;
    let rs_api: Api<ReplicaSet> = Api::namespaced(s.c.client.clone(), &s.ns);
    let generations = || async {
        let list = rs_api
            .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
            .await?;
        Ok::<_, HarnessError>(
            list.items
                .iter()
                .map(|rs| (rs.name_any(), rs.meta().generation.unwrap_or(0)))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let before = generations().await?;

    s.c.stop_controller();
    s.c.start_controller();
    // The restarted controller must find step 1 again, not start over.
    s.patch_status(json!({"pauseConditions": null})).await?;
    s.paused_at(3).await?;
    s.wait_counts(&[("web:1", 6, 6), ("web:2", 4, 4)]).await?;
    let after = generations().await?;
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
    let s = Scenario::start().await?;
    s.apply(
        "web:1",
        &Spec {
            replicas: 4,
            steps: "[{setWeight: 50}, {pause: {}}]",
            ..Default::default()
        },
    )
    .await?;
    s.healthy().await?;
    // A second from now, so every current pod is strictly older (timestamps have seconds).
    let at = jiff::Timestamp::now().as_second() + 1;
    let at = jiff::Timestamp::from_second(at).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    s.patch_spec(json!({"restartAt": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}))
        .await?;
    let ro = s
        .wait("restartedAt", |ro| {
            ro.status.as_ref().is_some_and(|s| s.restarted_at.is_some())
        })
        .await?;
    assert_eq!(
        ro.status.and_then(|s| s.restarted_at).map(|t| t.0),
        Some(at)
    );
    s.healthy().await?;
    let pods: Api<Pod> = Api::namespaced(s.c.client.clone(), &s.ns);
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
    let s = Scenario::start().await?;
    let spec = two_step();
    let manifest = s.manifest("web:1", &spec);
    let ro = match rollout_rs_crds::manifest::parse_all(&manifest)
        .map_err(|e| HarnessError::Manifest(e.to_string()))?
        .remove(0)
    {
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
    s.c.apply_yaml(&rs.to_string(), &s.ns).await?;
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    let api: Api<ReplicaSet> = Api::namespaced(s.c.client.clone(), &s.ns);
    let list = api
        .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
        .await?;
    assert_eq!(list.items.len(), 1, "no second ReplicaSet");
    let owner = list.items[0]
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.name.clone());
    assert_eq!(owner.as_deref(), Some("web"));
    Ok(())
}

async fn install_fixture_crds(s: &Scenario) -> Result<(), HarnessError> {
    s.c.install_router_crds().await
}

async fn get_json(
    s: &Scenario,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    name: &str,
) -> Result<serde_json::Value, HarnessError> {
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(group, version, kind),
        plural,
    );
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(s.c.client.clone(), &s.ns, &ar);
    serde_json::to_value(api.get(name).await?).map_err(|e| HarnessError::Manifest(e.to_string()))
}

/// nginx routing with a one-second scale-down delay for the old stable, to keep tests short.
const SHORT_DELAY_NGINX: &str = "{nginx: {stableIngress: web}}\n      scaleDownDelaySeconds: 1";

/// T1: NGINX. A canary Ingress owned by the Rollout, rules copied for the stable Service with the
/// backend renamed, canary-weight 5 then 50, and 0 after promotion; the stable Ingress untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_nginx_canary_ingress() -> Result<(), HarnessError> {
    use k8s_openapi::api::networking::v1::Ingress;
    let s = Scenario::start().await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.c.apply_yaml(ingress, &s.ns).await?;
    let ingresses: Api<Ingress> = Api::namespaced(s.c.client.clone(), &s.ns);
    let stable_before = ingresses.get("web").await?.metadata.resource_version;
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 5}, {pause: {}}, {setWeight: 50}, {pause: {}}]",
        routing: SHORT_DELAY_NGINX,
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    let weight = || async {
        let ing = ingresses.get("web-web-canary").await?;
        Ok::<_, HarnessError>(
            ing.metadata
                .annotations
                .unwrap_or_default()
                .get("nginx.ingress.kubernetes.io/canary-weight")
                .cloned(),
        )
    };
    assert_eq!(weight().await?.as_deref(), Some("5"));
    let canary = ingresses.get("web-web-canary").await?;
    assert_eq!(
        canary
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("nginx.ingress.kubernetes.io/canary"))
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        canary.owner_references().first().map(|o| o.name.as_str()),
        Some("web")
    );
    let backend = canary
        .spec
        .as_ref()
        .and_then(|s| s.rules.as_ref())
        .and_then(|r| r[0].http.as_ref())
        .and_then(|h| h.paths[0].backend.service.as_ref())
        .map(|b| b.name.clone());
    assert_eq!(backend.as_deref(), Some("web-canary"));
    s.wait_counts(&[("web:1", 4, 4), ("web:2", 1, 1)]).await?;

    s.patch_status(json!({"pauseConditions": null})).await?;
    s.paused_at(3).await?;
    assert_eq!(weight().await?.as_deref(), Some("50"));
    s.patch_status(json!({"pauseConditions": null})).await?;
    s.healthy().await?;
    assert_eq!(weight().await?.as_deref(), Some("0"));
    assert_eq!(
        ingresses.get("web").await?.metadata.resource_version,
        stable_before,
        "the stable Ingress is never modified"
    );
    Ok(())
}

/// T2: Gateway API. The HTTPRoute's backendRef weights go 70/30 at setWeight 30 and 100/0 after
/// promotion; nothing else of the route changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_gateway_api_weights() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    install_fixture_crds(&s).await?;
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  hostnames: [web.example.com]\n  parentRefs: [{name: public}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n    backendRefs:\n    - {name: web-stable, port: 80, weight: 100}\n    - {name: web-canary, port: 80, weight: 0}\n";
    s.c.apply_yaml(route, &s.ns).await?;
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 30}, {pause: {}}]",
        routing: "{gatewayAPI: {httpRoute: web}}\n      scaleDownDelaySeconds: 1",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    let weights = |v: &serde_json::Value| {
        (
            v.pointer("/spec/rules/0/backendRefs/0/weight").cloned(),
            v.pointer("/spec/rules/0/backendRefs/1/weight").cloned(),
        )
    };
    let live = get_json(
        &s,
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        "web",
    )
    .await?;
    assert_eq!(weights(&live), (Some(json!(70)), Some(json!(30))));

    // Someone edits the weights by hand mid-rollout: the next reconcile puts them back.
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    );
    let routes: Api<kube::api::DynamicObject> =
        Api::namespaced_with(s.c.client.clone(), &s.ns, &ar);
    let edit = json!([{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 50}, {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 50}]);
    let edit: json_patch::Patch =
        serde_json::from_value(edit).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    routes
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(edit))
        .await?;
    s.c.wait(
        &routes,
        "web",
        T,
        "weights corrected",
        |r: Option<&kube::api::DynamicObject>| {
            r.is_some_and(|r| {
                r.data.pointer("/spec/rules/0/backendRefs/1/weight") == Some(&json!(30))
            })
        },
    )
    .await?;
    s.patch_status(json!({"pauseConditions": null})).await?;
    s.healthy().await?;
    let after = get_json(
        &s,
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        "web",
    )
    .await?;
    assert_eq!(weights(&after), (Some(json!(100)), Some(json!(0))));
    assert_eq!(
        after.pointer("/spec/hostnames"),
        live.pointer("/spec/hostnames")
    );
    assert_eq!(
        after.pointer("/spec/rules/0/matches"),
        live.pointer("/spec/rules/0/matches")
    );
    Ok(())
}

/// A routing object that does not exist: a condition names it, no weight is written anywhere,
/// and the rollout recovers once it appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_routing_object_is_reported_and_recovers() -> Result<(), HarnessError> {
    use k8s_openapi::api::networking::v1::Ingress;
    let s = Scenario::start().await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.c.apply_yaml(ingress, &s.ns).await?;
    let spec = Spec {
        replicas: 2,
        steps: "[{setWeight: 50}, {pause: {}}]",
        routing: "{nginx: {stableIngress: web}}",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    let ingresses: Api<Ingress> = Api::namespaced(s.c.client.clone(), &s.ns);
    ingresses.delete("web", &Default::default()).await?;
    s.set_image("web:2").await?;
    let ro = s
        .wait("TrafficRouting condition", |ro| {
            ro.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "TrafficRouting" && c.status == "False")
            })
        })
        .await?;
    let message = ro
        .status
        .clone()
        .unwrap_or_default()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "TrafficRouting")
        .and_then(|c| c.message)
        .unwrap_or_default();
    assert!(message.contains("Ingress web not found"), "{message}");
    // Where users look first, and what a promote that cannot act shows.
    let st = ro.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Some(RolloutPhase::Degraded));
    assert!(
        st.message
            .as_deref()
            .is_some_and(|m| m.starts_with("TrafficRoutingFailed: Ingress web not found")),
        "{:?}",
        st.message
    );
    assert!(
        s.event_notes()
            .await?
            .iter()
            .any(|n| n.starts_with("TrafficRoutingFailed: Ingress web not found")),
        "a Warning Event names the missing Ingress"
    );
    let canary = ingresses.get("web-web-canary").await?;
    let weight = canary
        .metadata
        .annotations
        .unwrap_or_default()
        .get("nginx.ingress.kubernetes.io/canary-weight")
        .cloned();
    assert_eq!(
        weight.as_deref(),
        Some("0"),
        "no weight was written while the stable Ingress was missing"
    );
    s.c.apply_yaml(ingress, &s.ns).await?;
    s.paused_at(1).await?;
    Ok(())
}

const PLAIN_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";

async fn canary_ingress_weight(s: &Scenario) -> Result<Option<String>, HarnessError> {
    use k8s_openapi::api::networking::v1::Ingress;
    let api: Api<Ingress> = Api::namespaced(s.c.client.clone(), &s.ns);
    let ing = api.get_opt("web-web-canary").await?;
    Ok(ing
        .and_then(|i| i.metadata.annotations)
        .and_then(|a| a.get("nginx.ingress.kubernetes.io/canary-weight").cloned()))
}

/// T3: Istio subset-level. The DestinationRule's canary subset carries the new hash, the
/// VirtualService goes 90/10 at setWeight 10, and after promotion 100/0 with both subsets on
/// the new hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t3_istio_subset_level() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    install_fixture_crds(&s).await?;
    let objects = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - name: primary\n    route:\n    - {destination: {host: web, subset: stable}, weight: 100}\n    - {destination: {host: web, subset: canary}, weight: 0}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n  subsets:\n  - {name: stable, labels: {app: web}}\n  - {name: canary, labels: {app: web}}\n";
    s.c.apply_yaml(objects, &s.ns).await?;
    let routing = "{istio: {virtualService: {name: web, routes: [primary]}, destinationRule: {name: web, canarySubsetName: canary, stableSubsetName: stable}}}\n      scaleDownDelaySeconds: 1";
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 10}, {pause: {}}]",
        routing,
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    let stable = s.healthy().await?.status.unwrap_or_default().stable_rs;
    s.set_image("web:2").await?;
    let current = s
        .paused_at(1)
        .await?
        .status
        .unwrap_or_default()
        .current_pod_hash;
    let vs = get_json(
        &s,
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
        "web",
    )
    .await?;
    let weights = |v: &serde_json::Value| {
        (
            v.pointer("/spec/http/0/route/0/weight").cloned(),
            v.pointer("/spec/http/0/route/1/weight").cloned(),
        )
    };
    assert_eq!(weights(&vs), (Some(json!(90)), Some(json!(10))));
    let dr = get_json(
        &s,
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
        "web",
    )
    .await?;
    let label = |v: &serde_json::Value, i: usize| {
        v.pointer(&format!(
            "/spec/subsets/{i}/labels/{POD_TEMPLATE_HASH_LABEL}"
        ))
        .and_then(|h| h.as_str())
        .map(str::to_string)
    };
    assert_eq!((label(&dr, 0), label(&dr, 1)), (stable, current.clone()));
    s.patch_status(json!({"pauseConditions": null})).await?;
    s.healthy().await?;
    let vs = get_json(
        &s,
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
        "web",
    )
    .await?;
    assert_eq!(weights(&vs), (Some(json!(100)), Some(json!(0))));
    let dr = get_json(
        &s,
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
        "web",
    )
    .await?;
    assert_eq!((label(&dr, 0), label(&dr, 1)), (current.clone(), current));
    Ok(())
}

/// T4: SMI. The TrafficSplit is created and owned by the Rollout, backends canary w / stable 100-w.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_smi_traffic_split() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    install_fixture_crds(&s).await?;
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 25}, {pause: {}}]",
        routing: "{smi: {rootService: web}}\n      scaleDownDelaySeconds: 1",
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    let ts = get_json(
        &s,
        "split.smi-spec.io",
        "v1alpha2",
        "TrafficSplit",
        "trafficsplits",
        "web",
    )
    .await?;
    assert_eq!(ts.pointer("/spec/service"), Some(&json!("web")));
    assert_eq!(
        ts.pointer("/spec/backends"),
        Some(
            &json!([{"service": "web-canary", "weight": 25}, {"service": "web-stable", "weight": 75}])
        )
    );
    assert_eq!(
        ts.pointer("/metadata/ownerReferences/0/name"),
        Some(&json!("web"))
    );
    Ok(())
}

/// T5: abort at 40%: weight 0 and the canary Service back on stable, then the canary ReplicaSet
/// scaled down after abortScaleDownDelaySeconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5_abort_with_a_router() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.c.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let routing = "{nginx: {stableIngress: web}}\n      scaleDownDelaySeconds: 1\n      abortScaleDownDelaySeconds: 2";
    let spec = Spec {
        replicas: 5,
        steps: "[{setWeight: 40}, {pause: {}}]",
        routing,
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    let stable = s.healthy().await?.status.unwrap_or_default().stable_rs;
    s.set_image("web:2").await?;
    s.paused_at(1).await?;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("40"));
    s.patch_status(json!({"abort": true})).await?;
    let ro = s
        .wait("aborted", |ro| {
            ro.status
                .as_ref()
                .is_some_and(|st| st.phase == Some(RolloutPhase::Degraded))
        })
        .await?;
    let weights = ro
        .status
        .and_then(|st| st.canary)
        .and_then(|c| c.weights)
        .map(|w| w.canary.weight);
    assert_eq!(weights, Some(0));
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    assert_eq!(s.selector("web-canary").await?, stable);
    s.wait_counts(&[("web:1", 5, 5), ("web:2", 0, 0)]).await?;
    Ok(())
}

/// T6: a canary with no available pod never receives weight, whatever the step says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_no_weight_without_available_canary_pods() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    s.c.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let healthy = Spec {
        replicas: 4,
        steps: "[{setWeight: 50}, {pause: {}}]",
        routing: SHORT_DELAY_NGINX,
        ..Default::default()
    };
    s.apply("web:1", &healthy).await?;
    s.healthy().await?;
    let broken = Spec {
        annotations: "sim.rollout-rs.io/never-ready: \"true\"",
        ..healthy
    };
    s.apply("web:2", &broken).await?;
    // The canary pods exist (2 of them) but never become available.
    let api: Api<ReplicaSet> = Api::namespaced(s.c.client.clone(), &s.ns);
    let watch = kube::runtime::watcher(
        api,
        kube::runtime::watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
    );
    let mut stream = Box::pin(kube::runtime::WatchStreamExt::default_backoff(watch));
    let wait_pods = async {
        use futures::StreamExt;
        loop {
            let counts = s.counts().await?;
            if counts.get("web:2").is_some_and(|(d, _)| *d == 2) {
                let rs: Api<ReplicaSet> = Api::namespaced(s.c.client.clone(), &s.ns);
                let list = rs
                    .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
                    .await?;
                if list.items.iter().any(|r| {
                    r.status.as_ref().is_some_and(|st| {
                        st.replicas == 2 && st.available_replicas.unwrap_or(0) == 0
                    })
                }) {
                    return Ok::<(), HarnessError>(());
                }
            }
            stream.next().await;
        }
    };
    tokio::time::timeout(T, wait_pods)
        .await
        .map_err(|_| HarnessError::Timeout(T, "2 unavailable canary pods".into()))??;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    // The ReplicaSet is created before the status is written: wait for the status of this
    // update, then check that the step did not complete.
    let ro = s
        .wait("the update observed", |ro| {
            ro.status.as_ref().is_some_and(|st| {
                st.observed_generation == ro.metadata.generation && st.updated_replicas == Some(2)
            })
        })
        .await?;
    assert_eq!(
        ro.status.and_then(|st| st.current_step_index),
        Some(0),
        "the setWeight step does not complete"
    );
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    Ok(())
}

/// T7: two routers at once (NGINX and SMI) get the same weight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t7_two_routers_same_weight() -> Result<(), HarnessError> {
    let s = Scenario::start().await?;
    install_fixture_crds(&s).await?;
    s.c.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let routing =
        "{nginx: {stableIngress: web}, smi: {rootService: web}}\n      scaleDownDelaySeconds: 1";
    let spec = Spec {
        replicas: 4,
        steps: "[{setWeight: 30}, {pause: {}}, {setWeight: 60}, {pause: {}}]",
        routing,
        ..Default::default()
    };
    s.apply("web:1", &spec).await?;
    s.healthy().await?;
    s.set_image("web:2").await?;
    for (index, weight) in [(1, 30), (3, 60)] {
        s.paused_at(index).await?;
        assert_eq!(canary_ingress_weight(&s).await?, Some(weight.to_string()));
        let ts = get_json(
            &s,
            "split.smi-spec.io",
            "v1alpha2",
            "TrafficSplit",
            "trafficsplits",
            "web",
        )
        .await?;
        assert_eq!(ts.pointer("/spec/backends/0/weight"), Some(&json!(weight)));
        s.patch_status(json!({"pauseConditions": null})).await?;
    }
    s.healthy().await?;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    Ok(())
}
