//! Bad inputs found by probing (issue 11): objects that do not decode, Services and routing
//! objects that are missing, status fields written by others. Each gets a clear error where
//! users look, moves no traffic, and never stops the other Rollouts.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::rollouts::merge_status;
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, image_of};
use serde_json::json;

/// The controller is left to each test: one changes the CRD before it starts.
async fn start() -> Result<Env, HarnessError> {
    Env::builder("bad").without_controller().start().await
}

/// A canary Rollout `name` (pods `app=<name>`, container `app`) with one pause.
fn rollout(name: &str, image: &str, replicas: i64) -> RolloutFixture {
    RolloutFixture::canary(name)
        .container("app")
        .image(image)
        .replicas(replicas)
        .steps(json!([{"setWeight": 50}, {"pause": {}}]))
}

fn raw_api(s: &Env) -> Api<kube::api::DynamicObject> {
    let ar = kube::core::ApiResource::erase::<Rollout>(&());
    Api::namespaced_with(s.cluster.client.clone(), &s.ns, &ar)
}

/// The Rollout as plain JSON: readable even when it does not decode as a Rollout.
async fn raw(s: &Env, name: &str) -> Result<serde_json::Value, HarnessError> {
    serde_json::to_value(raw_api(s).get(name).await?)
        .map_err(|e| HarnessError::Manifest(e.to_string()))
}

/// Spec replicas of the ReplicaSets of the pods `app=<app>`, by image.
async fn replica_sets(s: &Env, app: &str) -> Result<Vec<(String, i32)>, HarnessError> {
    let mut out: Vec<(String, i32)> = s
        .replica_sets()
        .await?
        .iter()
        .filter(|rs| rs.labels().get("app").map(String::as_str) == Some(app))
        .map(|rs| {
            let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            (image_of(rs), desired)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Point 5: the CRD bounds int32 fields, so the API server refuses `replicas: 3000000000`; and
/// a Rollout that does not decode anyway (stored under an older CRD without the bound, or with
/// a pause start time that is not a time) is reported once, by name, while the other Rollouts
/// are reconciled, also after a controller restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_does_not_decode_stops_no_other() -> Result<(), HarnessError> {
    let mut s = start().await?;
    for name in ["good", "huge", "late"] {
        s.canary_services(name).await?;
    }
    let refused = s.deploy(&rollout("huge", "app:1", 3_000_000_000)).await;
    assert!(
        matches!(&refused, Err(HarnessError::Kube(kube::Error::Api(e))) if e.code == 422 && e.message.contains("spec.replicas")),
        "{refused:?}"
    );
    // An older CRD without the bounds and without date-time checks lets bad values in.
    let crds: Api<CustomResourceDefinition> = Api::all(s.cluster.client.clone());
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
    s.deploy(&rollout("huge", "app:1", 3_000_000_000)).await?;
    s.deploy(&rollout("good", "app:1", 2)).await?;
    s.cluster.start_controller();
    s.ro.healthy("good").await?;
    let note = s.wait_event("huge", "InvalidSpec", "spec.replicas").await?;
    assert!(note.contains("cannot be read"), "{note}");
    // Typed clients cannot read it either (that is the point): read it as plain JSON.
    let raw = raw(&s, "huge").await?;
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
    s.ro.set_image("good", "app", "app:2").await?;
    s.ro.paused_at("good", 1).await?;
    merge_status(
        &raw_api(&s),
        "good",
        json!({"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "not-a-time"}]}),
    )
    .await?;
    s.wait_event("good", "InvalidSpec", "status.pauseConditions[0].startTime")
        .await?;
    let reported = s
        .events(Some("huge"))
        .await?
        .into_iter()
        .filter(|(r, _)| r == "InvalidSpec")
        .count();
    assert_eq!(
        reported, 1,
        "said once, not on every reconcile (its own status patch included)"
    );
    // A restart lists every Rollout again: the unreadable ones are reported, the others run.
    s.cluster.stop_controller();
    s.cluster.start_controller();
    s.deploy(&rollout("late", "app:1", 2)).await?;
    s.ro.healthy("late").await?;
    // Fixing the object heals it.
    merge_status(
        &raw_api(&s),
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
    let mut s = start().await?;
    s.cluster.start_controller();
    s.deploy(&rollout("web", "app:1", 2)).await?;
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
    s.wait_event("web", "InvalidSpec", "Service \"web-stable\" not found")
        .await?;
    assert!(
        replica_sets(&s, "web").await?.is_empty(),
        "nothing is created"
    );
    s.canary_services("web").await?;
    s.ro.healthy("web").await?;

    s.ro.set_image("web", "app", "app:2").await?;
    s.ro.paused_at("web", 1).await?;
    let services: Api<Service> = s.api();
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
        replica_sets(&s, "web").await?,
        [("app:1".to_string(), 1), ("app:2".to_string(), 1)],
        "nothing moved while the Service was missing"
    );
    s.canary_services("web").await?;
    s.ro.healthy("web").await?;
    Ok(())
}

/// Point 7: `currentStepIndex` or `stableRS` patched by someone else does not promote an
/// unanalysed canary: the values are put back with a Warning Event, the pause holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_written_by_others_does_not_promote() -> Result<(), HarnessError> {
    let mut s = start().await?;
    s.cluster.start_controller();
    s.canary_services("web").await?;
    s.deploy(&rollout("web", "app:1", 4)).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "app", "app:2").await?;
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
            replica_sets(&s, "web").await?,
            [("app:1".to_string(), 2), ("app:2".to_string(), 2)],
            "nothing promoted after {patch}"
        );
    }
    s.wait_event(
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
    let mut s = start().await?;
    s.cluster.start_controller();
    s.canary_services("web").await?;
    let routed = rollout("web", "app:1", 2).routing(json!({"nginx": {"stableIngress": "web"}}));
    s.deploy(&routed).await?;
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
    s.wait_event("web", "TrafficRoutingFailed", "Ingress web not found")
        .await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.cluster.apply_yaml(ingress, &s.ns).await?;
    s.ro.healthy("web").await?;
    Ok(())
}
