//! Scenarios T1-T7 of shared/scenarios.md (canary behind a traffic router: NGINX, Gateway API,
//! Istio, SMI, two at once) and a routing object that goes missing, against the cluster under
//! test with the controller running in this process.

use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use rollout_rs_crds::POD_TEMPLATE_HASH_LABEL;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::fixture::NEVER_READY;
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, image_of};
use serde_json::{Value, json};

/// (group, version, kind, plural) of the routers' objects these scenarios read.
const HTTP_ROUTE: [&str; 4] = ["gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"];
const VIRTUAL_SERVICE: [&str; 4] = [
    "networking.istio.io",
    "v1",
    "VirtualService",
    "virtualservices",
];
const DESTINATION_RULE: [&str; 4] = [
    "networking.istio.io",
    "v1",
    "DestinationRule",
    "destinationrules",
];
const TRAFFIC_SPLIT: [&str; 4] = [
    "split.smi-spec.io",
    "v1alpha2",
    "TrafficSplit",
    "trafficsplits",
];

/// The router object `web` of a kind, as plain JSON.
async fn router_object(
    s: &Env,
    [group, version, kind, plural]: [&str; 4],
) -> Result<Value, HarnessError> {
    s.get_json(group, version, kind, plural, "web").await
}

/// nginx routing with a one-second scale-down delay for the old stable, to keep tests short.
fn short_delay_nginx(rollout: RolloutFixture) -> RolloutFixture {
    rollout
        .routing(json!({"nginx": {"stableIngress": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1}))
}

/// T1: NGINX. A canary Ingress owned by the Rollout, rules copied for the stable Service with the
/// backend renamed, canary-weight 5 then 50, and 0 after promotion; the stable Ingress untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_nginx_canary_ingress() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  ingressClassName: nginx\n  rules:\n  - host: web.example.com\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.cluster.apply_yaml(ingress, &s.ns).await?;
    let ingresses: Api<Ingress> = s.api();
    let stable_before = ingresses.get("web").await?.metadata.resource_version;
    let spec = short_delay_nginx(
        RolloutFixture::canary("web")
            .replicas(4)
            .steps(json!([{"setWeight": 5}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}])),
    );
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
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

    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.paused_at("web", 3).await?;
    assert_eq!(weight().await?.as_deref(), Some("50"));
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
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
    let s = Env::canary("canary").await?;
    s.cluster.install_router_crds().await?;
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  hostnames: [web.example.com]\n  parentRefs: [{name: public}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /}}]\n    backendRefs:\n    - {name: web-stable, port: 80, weight: 100}\n    - {name: web-canary, port: 80, weight: 0}\n";
    s.cluster.apply_yaml(route, &s.ns).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 30}, {"pause": {}}]))
        .routing(json!({"gatewayAPI": {"httpRoute": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1}));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    let weights = |v: &serde_json::Value| {
        (
            v.pointer("/spec/rules/0/backendRefs/0/weight").cloned(),
            v.pointer("/spec/rules/0/backendRefs/1/weight").cloned(),
        )
    };
    let live = router_object(&s, HTTP_ROUTE).await?;
    assert_eq!(weights(&live), (Some(json!(70)), Some(json!(30))));

    // Someone edits the weights by hand mid-rollout: the next reconcile puts them back.
    let [group, version, kind, plural] = HTTP_ROUTE;
    let routes = s.dynamic_api(group, version, kind, plural);
    let edit = json!([{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 50}, {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 50}]);
    let edit: json_patch::Patch =
        serde_json::from_value(edit).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    routes
        .patch("web", &PatchParams::default(), &Patch::Json::<()>(edit))
        .await?;
    s.cluster
        .wait(
            &routes,
            "web",
            s.timeout(),
            "weights corrected",
            |r: Option<&kube::api::DynamicObject>| {
                r.is_some_and(|r| {
                    r.data.pointer("/spec/rules/0/backendRefs/1/weight") == Some(&json!(30))
                })
            },
        )
        .await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
    let after = router_object(&s, HTTP_ROUTE).await?;
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
    let s = Env::canary("canary").await?;
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    s.cluster.apply_yaml(ingress, &s.ns).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(2)
        .steps(json!([{"setWeight": 50}, {"pause": {}}]))
        .routing(json!({"nginx": {"stableIngress": "web"}}));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    let ingresses: Api<Ingress> = s.api();
    ingresses.delete("web", &Default::default()).await?;
    s.ro.set_image("web", "web", "web:2").await?;
    let ro =
        s.ro.wait("web", "TrafficRouting condition", |ro| {
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
    // The Event follows the status write: waited for, not read once.
    let note = s
        .wait_event("web", "TrafficRoutingFailed", "Ingress web not found")
        .await?;
    assert!(note.starts_with("Ingress web not found"), "{note}");
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
    s.cluster.apply_yaml(ingress, &s.ns).await?;
    s.ro.paused_at("web", 1).await?;
    Ok(())
}

const PLAIN_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";

async fn canary_ingress_weight(s: &Env) -> Result<Option<String>, HarnessError> {
    let api: Api<Ingress> = s.api();
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
    let s = Env::canary("canary").await?;
    s.cluster.install_router_crds().await?;
    let objects = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - name: primary\n    route:\n    - {destination: {host: web, subset: stable}, weight: 100}\n    - {destination: {host: web, subset: canary}, weight: 0}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n  subsets:\n  - {name: stable, labels: {app: web}}\n  - {name: canary, labels: {app: web}}\n";
    s.cluster.apply_yaml(objects, &s.ns).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 10}, {"pause": {}}]))
        .routing(json!({"istio": {
            "virtualService": {"name": "web", "routes": ["primary"]},
            "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
        .strategy(json!({"scaleDownDelaySeconds": 1}));
    s.deploy(&spec.image("web:1")).await?;
    let stable =
        s.ro.healthy("web")
            .await?
            .status
            .unwrap_or_default()
            .stable_rs;
    s.ro.set_image("web", "web", "web:2").await?;
    let current =
        s.ro.paused_at("web", 1)
            .await?
            .status
            .unwrap_or_default()
            .current_pod_hash;
    let vs = router_object(&s, VIRTUAL_SERVICE).await?;
    let weights = |v: &serde_json::Value| {
        (
            v.pointer("/spec/http/0/route/0/weight").cloned(),
            v.pointer("/spec/http/0/route/1/weight").cloned(),
        )
    };
    assert_eq!(weights(&vs), (Some(json!(90)), Some(json!(10))));
    let dr = router_object(&s, DESTINATION_RULE).await?;
    let label = |v: &serde_json::Value, i: usize| {
        v.pointer(&format!(
            "/spec/subsets/{i}/labels/{POD_TEMPLATE_HASH_LABEL}"
        ))
        .and_then(|h| h.as_str())
        .map(str::to_string)
    };
    assert_eq!((label(&dr, 0), label(&dr, 1)), (stable, current.clone()));
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
    let vs = router_object(&s, VIRTUAL_SERVICE).await?;
    assert_eq!(weights(&vs), (Some(json!(100)), Some(json!(0))));
    let dr = router_object(&s, DESTINATION_RULE).await?;
    assert_eq!((label(&dr, 0), label(&dr, 1)), (current.clone(), current));
    Ok(())
}

/// T4: SMI. The TrafficSplit is created and owned by the Rollout, backends canary w / stable 100-w.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_smi_traffic_split() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.cluster.install_router_crds().await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 25}, {"pause": {}}]))
        .routing(json!({"smi": {"rootService": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1}));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    let ts = router_object(&s, TRAFFIC_SPLIT).await?;
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
    let s = Env::canary("canary").await?;
    s.cluster.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(5)
        .steps(json!([{"setWeight": 40}, {"pause": {}}]))
        .routing(json!({"nginx": {"stableIngress": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1, "abortScaleDownDelaySeconds": 2}));
    s.deploy(&spec.image("web:1")).await?;
    let stable =
        s.ro.healthy("web")
            .await?
            .status
            .unwrap_or_default()
            .stable_rs;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("40"));
    s.ro.patch_status("web", json!({"abort": true})).await?;
    let ro =
        s.ro.wait("web", "aborted", |ro| {
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
    assert_eq!(s.selects("web-canary").await?, stable);
    s.wait_counts(&[("web:1", 5, 5), ("web:2", 0, 0)]).await?;
    Ok(())
}

/// T6: a canary with no available pod never receives weight, whatever the step says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_no_weight_without_available_canary_pods() -> Result<(), HarnessError> {
    let s = Env::canary("canary").await?;
    s.cluster.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let healthy = short_delay_nginx(
        RolloutFixture::canary("web")
            .replicas(4)
            .steps(json!([{"setWeight": 50}, {"pause": {}}])),
    );
    s.deploy(&healthy.clone().image("web:1")).await?;
    s.ro.healthy("web").await?;
    let broken = healthy.pod_annotations(json!({NEVER_READY: "true"}));
    s.deploy(&broken.image("web:2")).await?;
    // The canary pods exist (2 of them) but never become available.
    s.replica_sets_until("2 unavailable canary pods", |rss| {
        rss.iter().any(|r| {
            image_of(r) == "web:2" && r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) == 2
        }) && rss.iter().any(|r| {
            r.status
                .as_ref()
                .is_some_and(|st| st.replicas == 2 && st.available_replicas.unwrap_or(0) == 0)
        })
    })
    .await?;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    // The ReplicaSet is created before the status is written: wait for the status of this
    // update, then check that the step did not complete.
    let ro =
        s.ro.wait("web", "the update observed", |ro| {
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
    let s = Env::canary("canary").await?;
    s.cluster.install_router_crds().await?;
    s.cluster.apply_yaml(PLAIN_INGRESS, &s.ns).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 30}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]))
        .routing(json!({"nginx": {"stableIngress": "web"}, "smi": {"rootService": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1}));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    for (index, weight) in [(1, 30), (3, 60)] {
        s.ro.paused_at("web", index).await?;
        assert_eq!(canary_ingress_weight(&s).await?, Some(weight.to_string()));
        let ts = router_object(&s, TRAFFIC_SPLIT).await?;
        assert_eq!(ts.pointer("/spec/backends/0/weight"), Some(&json!(weight)));
        s.ro.patch_status("web", json!({"pauseConditions": null}))
            .await?;
    }
    s.ro.healthy("web").await?;
    assert_eq!(canary_ingress_weight(&s).await?.as_deref(), Some("0"));
    Ok(())
}
