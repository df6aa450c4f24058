//! Bad inputs found by probing (issue 11): objects that do not decode, Services and routing
//! objects that are missing, status fields written by others. Each gets a clear error where
//! users look, moves no traffic, and never stops the other Rollouts.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use rollout_rs_e2e::rollouts::Rollouts;
use rollout_rs_e2e::{Cluster, HarnessError, image_of};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

struct Setup {
    c: Cluster,
    ns: String,
    ro: Rollouts,
}

impl Setup {
    async fn start() -> Result<Setup, HarnessError> {
        let mut c = Cluster::start().await?;
        c.install_crds().await?;
        let ns = c.namespace("bad").await?;
        let ro = Rollouts::new(&c.client, &ns, T);
        Ok(Setup { c, ns, ro })
    }

    fn services(name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}-canary}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}-stable}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n"
        )
    }

    fn rollout(name: &str, image: &str, replicas: u64, extra: &str) -> String {
        format!(
            "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"20\"}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\"}}]}}\n  strategy:\n    canary:\n      canaryService: {name}-canary\n      stableService: {name}-stable\n      steps: [{{setWeight: 50}}, {{pause: {{}}}}]\n{extra}"
        )
    }

    async fn set_image(&self, name: &str, image: &str) -> Result<(), HarnessError> {
        self.ro.set_image(name, "app", image).await
    }

    fn raw_api(&self) -> Api<kube::api::DynamicObject> {
        let ar = kube::core::ApiResource::erase::<Rollout>(&());
        Api::namespaced_with(self.c.client.clone(), &self.ns, &ar)
    }

    /// The Rollout as plain JSON: readable even when it does not decode as a Rollout.
    async fn raw(&self, name: &str) -> Result<serde_json::Value, HarnessError> {
        serde_json::to_value(self.raw_api().get(name).await?)
            .map_err(|e| HarnessError::Manifest(e.to_string()))
    }

    async fn raw_patch_status(
        &self,
        name: &str,
        status: serde_json::Value,
    ) -> Result<(), HarnessError> {
        self.raw_api()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await?;
        Ok(())
    }

    /// `reason: note` of the Events about the object `name`.
    async fn events(&self, name: &str) -> Result<Vec<(String, String)>, HarnessError> {
        let api: Api<Event> = Api::namespaced(self.c.client.clone(), &self.ns);
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect())
    }

    /// Waits for an Event about `name` with `reason` whose note contains `text`.
    async fn event(&self, name: &str, reason: &str, text: &str) -> Result<String, HarnessError> {
        let api: Api<Event> = Api::namespaced(self.c.client.clone(), &self.ns);
        let watch = kube::runtime::watcher(api, Default::default());
        let mut stream = Box::pin(kube::runtime::WatchStreamExt::default_backoff(watch));
        let found = async {
            use futures::StreamExt;
            loop {
                if let Some((_, note)) = self
                    .events(name)
                    .await?
                    .into_iter()
                    .find(|(r, n)| r == reason && n.contains(text))
                {
                    return Ok::<_, HarnessError>(note);
                }
                stream.next().await;
            }
        };
        tokio::time::timeout(T, found).await.map_err(|_| {
            HarnessError::Timeout(T, format!("a {reason} Event about {name} with {text:?}"))
        })?
    }

    /// Spec replicas of the Rollout's ReplicaSets, by image.
    async fn replica_sets(&self, app: &str) -> Result<Vec<(String, i32)>, HarnessError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.c.client.clone(), &self.ns);
        let mut out: Vec<(String, i32)> = api
            .list(&ListParams::default().labels(&format!("app={app},{POD_TEMPLATE_HASH_LABEL}")))
            .await?
            .items
            .into_iter()
            .map(|rs| {
                let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
                (image_of(&rs), desired)
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Point 5: the CRD bounds int32 fields, so the API server refuses `replicas: 3000000000`; and
/// a Rollout that does not decode anyway (stored under an older CRD without the bound, or with
/// a pause start time that is not a time) is reported once, by name, while the other Rollouts
/// are reconciled, also after a controller restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_does_not_decode_stops_no_other() -> Result<(), HarnessError> {
    let mut s = Setup::start().await?;
    for name in ["good", "huge", "late"] {
        s.c.apply_yaml(&Setup::services(name), &s.ns).await?;
    }
    let refused =
        s.c.apply_yaml(&Setup::rollout("huge", "app:1", 3_000_000_000, ""), &s.ns)
            .await;
    assert!(
        matches!(&refused, Err(HarnessError::Kube(kube::Error::Api(e))) if e.code == 422 && e.message.contains("spec.replicas")),
        "{refused:?}"
    );
    // An older CRD without the bounds and without date-time checks lets bad values in.
    let crds: Api<CustomResourceDefinition> = Api::all(s.c.client.clone());
    let mut crd = crds.get("rollouts.rollout-rs.io").await?;
    let mut schema = serde_json::to_value(&crd.spec.versions[0].schema)
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let root = "/openAPIV3Schema/properties";
    for (path, key) in [
        (format!("{root}/spec/properties/replicas"), "maximum"),
        (
            format!("{root}/status/properties/pauseConditions/items/properties/startTime"),
            "format",
        ),
    ] {
        if let Some(obj) = schema.pointer_mut(&path).and_then(|v| v.as_object_mut()) {
            obj.remove(key);
        }
    }
    crd.spec.versions[0].schema =
        serde_json::from_value(schema).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    crd.metadata.managed_fields = None;
    crds.replace("rollouts.rollout-rs.io", &PostParams::default(), &crd)
        .await?;
    s.c.apply_yaml(&Setup::rollout("huge", "app:1", 3_000_000_000, ""), &s.ns)
        .await?;
    s.c.apply_yaml(&Setup::rollout("good", "app:1", 2, ""), &s.ns)
        .await?;
    s.c.start_controller();
    s.ro.healthy("good").await?;
    let note = s.event("huge", "InvalidSpec", "spec.replicas").await?;
    assert!(note.contains("cannot be read"), "{note}");
    // Typed clients cannot read it either (that is the point): read it as plain JSON.
    let raw = s.raw("huge").await?;
    assert_eq!(
        raw.pointer("/status/phase"),
        Some(&json!("Degraded")),
        "{raw}"
    );
    assert_eq!(
        raw.pointer("/status/conditions/0/type"),
        Some(&json!("InvalidSpec")),
        "{raw}"
    );

    // A pause start time that is not a time: that Rollout is reported, the others proceed.
    s.set_image("good", "app:2").await?;
    s.ro.paused_at("good", 1).await?;
    s.raw_patch_status(
        "good",
        json!({"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "not-a-time"}]}),
    )
    .await?;
    s.event("good", "InvalidSpec", "status.pauseConditions[0].startTime")
        .await?;
    let reported = s
        .events("huge")
        .await?
        .into_iter()
        .filter(|(r, _)| r == "InvalidSpec")
        .count();
    assert_eq!(
        reported, 1,
        "said once, not on every reconcile (its own status patch included)"
    );
    // A restart lists every Rollout again: the unreadable ones are reported, the others run.
    s.c.stop_controller();
    s.c.start_controller();
    s.c.apply_yaml(&Setup::rollout("late", "app:1", 2, ""), &s.ns)
        .await?;
    s.ro.healthy("late").await?;
    // Fixing the object heals it.
    s.raw_patch_status(
        "good",
        json!({"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]}),
    )
    .await?;
    s.ro.paused_at("good", 1).await?;
    Ok(())
}

/// Point 6: a canaryService or stableService that does not exist holds the Rollout in
/// InvalidSpec with a Warning Event naming it (nothing is created or scaled), and the Rollout
/// proceeds when the Service appears; a stable Service deleted mid-rollout stops it Degraded
/// instead of letting it end Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_services_hold_the_rollout_and_say_so() -> Result<(), HarnessError> {
    let mut s = Setup::start().await?;
    s.c.start_controller();
    s.c.apply_yaml(&Setup::rollout("web", "app:1", 2, ""), &s.ns)
        .await?;
    let ro =
        s.ro.wait("web", "InvalidSpec", |ro| {
            ro.status.as_ref().and_then(|st| st.phase) == Some(RolloutPhase::Degraded)
        })
        .await?;
    let message = ro.status.and_then(|st| st.message).unwrap_or_default();
    assert!(
        message.contains("spec.strategy.canary.canaryService: Service \"web-canary\" not found"),
        "{message}"
    );
    s.event("web", "InvalidSpec", "Service \"web-stable\" not found")
        .await?;
    assert!(
        s.replica_sets("web").await?.is_empty(),
        "nothing is created"
    );
    s.c.apply_yaml(&Setup::services("web"), &s.ns).await?;
    s.ro.healthy("web").await?;

    s.set_image("web", "app:2").await?;
    s.ro.paused_at("web", 1).await?;
    let services: Api<Service> = Api::namespaced(s.c.client.clone(), &s.ns);
    services.delete("web-stable", &Default::default()).await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    let ro =
        s.ro.wait("web", "Degraded naming the stable Service", |ro| {
            ro.status.as_ref().is_some_and(|st| {
                st.phase == Some(RolloutPhase::Degraded)
                    && st
                        .message
                        .as_deref()
                        .is_some_and(|m| m.contains("Service \"web-stable\" not found"))
            })
        })
        .await?;
    assert_ne!(ro.status.and_then(|st| st.stable_rs), None);
    assert_eq!(
        s.replica_sets("web").await?,
        [("app:1".to_string(), 1), ("app:2".to_string(), 1)],
        "nothing moved while the Service was missing"
    );
    s.c.apply_yaml(&Setup::services("web"), &s.ns).await?;
    s.ro.healthy("web").await?;
    Ok(())
}

/// Point 7: `currentStepIndex` or `stableRS` patched by someone else does not promote an
/// unanalysed canary: the values are put back with a Warning Event, the pause holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_written_by_others_does_not_promote() -> Result<(), HarnessError> {
    let mut s = Setup::start().await?;
    s.c.start_controller();
    s.c.apply_yaml(&Setup::services("web"), &s.ns).await?;
    s.c.apply_yaml(&Setup::rollout("web", "app:1", 4, ""), &s.ns)
        .await?;
    s.ro.healthy("web").await?;
    s.set_image("web", "app:2").await?;
    let before = s.ro.paused_at("web", 1).await?.status.unwrap_or_default();
    for patch in [
        json!({"currentStepIndex": 99}),
        json!({"stableRS": "0000000000"}),
        json!({"currentStepIndex": 2, "stableRS": "0000000000"}),
    ] {
        s.ro.patch_status("web", patch.clone()).await?;
        let ro =
            s.ro.wait("web", "the status put back", |ro| {
                ro.status.as_ref().is_some_and(|st| {
                    st.current_step_index == Some(1)
                        && st.stable_rs.as_deref() != Some("0000000000")
                })
            })
            .await?;
        let st = ro.status.unwrap_or_default();
        assert_eq!(st.stable_rs, before.stable_rs, "after {patch}");
        assert_eq!(st.phase, Some(RolloutPhase::Paused), "after {patch}");
        assert_eq!(
            s.replica_sets("web").await?,
            [("app:1".to_string(), 2), ("app:2".to_string(), 2)],
            "nothing promoted after {patch}"
        );
    }
    s.event(
        "web",
        "StatusRejected",
        "currentStepIndex Some(99) put back to Some(1)",
    )
    .await?;
    // The control surface is still the user's: promote continues.
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
    Ok(())
}

/// Point 6: a stable Ingress missing when the Rollout is created: phase Degraded with a
/// message naming it (not an empty phase), no canary Ingress with weight, and the Rollout
/// proceeds once the Ingress appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_object_missing_at_creation_is_named() -> Result<(), HarnessError> {
    let mut s = Setup::start().await?;
    s.c.start_controller();
    s.c.apply_yaml(&Setup::services("web"), &s.ns).await?;
    let routing = "      trafficRouting: {nginx: {stableIngress: web}}\n";
    s.c.apply_yaml(&Setup::rollout("web", "app:1", 2, routing), &s.ns)
        .await?;
    s.ro.wait("web", "Degraded naming the Ingress", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Degraded)
                && st
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("Ingress web not found"))
        })
    })
    .await?;
    s.event("web", "TrafficRoutingFailed", "Ingress web not found")
        .await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.c.apply_yaml(ingress, &s.ns).await?;
    s.ro.healthy("web").await?;
    Ok(())
}
