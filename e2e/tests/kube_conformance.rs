//! The kube-rs client (typed and dynamic APIs, watcher, reflector, server-side apply) against
//! the cluster under test: the simulator by default, or a real cluster with
//! `ROLLOUT_RS_E2E_REAL=1` and `KUBECONFIG`, unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use rollout_rs_crds::Rollout;
use rollout_rs_e2e::{Cluster, HarnessError};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("valid ConfigMap")
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_selectors_pagination_and_conflicts() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    let ns = c.namespace("typed").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);

    let created = api
        .create(&PostParams::default(), &config_map("a", &[("app", "web")]))
        .await?;
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    for i in 0..24 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("b{i:02}"), &[("app", "batch")]),
        )
        .await?;
    }
    let web = api.list(&ListParams::default().labels("app=web")).await?;
    assert_eq!(web.items.len(), 1);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b03"))
        .await?;
    assert_eq!(by_name.items.len(), 1);

    // Pagination: limit/continue returns everything once.
    let mut names = Vec::new();
    let mut params = ListParams::default().labels("app=batch").limit(10);
    loop {
        let page = api.list(&params).await?;
        names.extend(page.items.iter().filter_map(|cm| cm.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names.len(), 24);

    // Stale update: 409.
    let mut stale = created.clone();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await?;
    stale.data = Some([("k".to_string(), "x".to_string())].into());
    let err = api
        .replace("a", &PostParams::default(), &stale)
        .await
        .expect_err("stale update");
    assert_eq!(api_code(&err), Some(409));

    // Create of an existing name: 409; get of a missing one: 404.
    let err = api
        .create(&PostParams::default(), &config_map("a", &[]))
        .await
        .expect_err("exists");
    assert_eq!(api_code(&err), Some(409));
    let err = api.get("missing").await.expect_err("missing");
    assert_eq!(api_code(&err), Some(404));

    // dryRun=All stores nothing.
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&pp, &config_map("dry", &[])).await?;
    assert!(api.get_opt("dry").await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_api_with_custom_resources() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    c.install_crds().await?;
    let ns = c.namespace("dynamic").await?;
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/rollouts/canary-basic.yaml"
    ))?
    .replace("namespace: shop", &format!("namespace: {ns}"));
    let applied = c.apply_yaml(&example, &ns).await?;
    assert_eq!(applied.len(), 2, "a Rollout and a Service");

    let gvk = GroupVersionKind::gvk("rollout-rs.io", "v1alpha1", "Rollout");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "rollouts");
    let dynamic: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), &ns, &ar);
    let obj = dynamic.get("checkout").await?;
    assert_eq!(obj.data["spec"]["replicas"], 10);

    // The typed API reads the same object; status and scale subresources work through it.
    let typed: Api<Rollout> = Api::namespaced(c.client.clone(), &ns);
    let ro = typed.get("checkout").await?;
    assert_eq!(
        ro.spec.strategy.canary.as_ref().map(|c| c.steps.len()),
        Some(6)
    );
    let status = json!({"status": {"phase": "Paused", "currentStepIndex": 1, "replicas": 10, "selector": "app=checkout"}});
    typed
        .patch_status("checkout", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let ro = typed.get("checkout").await?;
    assert_eq!(
        ro.status.as_ref().and_then(|s| s.current_step_index),
        Some(1)
    );
    assert_eq!(
        ro.metadata.generation,
        Some(1),
        "a status write does not bump generation"
    );
    let scale = typed.get_scale("checkout").await?;
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(10));
    typed
        .patch_scale(
            "checkout",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    assert_eq!(typed.get("checkout").await?.spec.replicas, Some(4));
    assert_eq!(typed.get("checkout").await?.metadata.generation, Some(2));

    // Schema admission: a wrong type is 422 naming the field.
    let err = dynamic
        .patch(
            "checkout",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": "four"}})),
        )
        .await
        .expect_err("wrong type");
    assert_eq!(api_code(&err), Some(422));
    assert!(err.to_string().contains("spec.replicas"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_ownership_and_conflicts() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    let ns = c.namespace("ssa").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}});
    api.patch("cfg", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await?;

    // Bob changes a field Alice owns: conflict, unless forced.
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "9"}});
    let err = api
        .patch("cfg", &PatchParams::apply("bob"), &Patch::Apply(&bob))
        .await
        .expect_err("conflict");
    assert_eq!(api_code(&err), Some(409));
    assert!(err.to_string().contains("alice"), "{err}");
    // Applying the same value shares ownership without conflict; force takes the rest.
    let bob_same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"b": "2"}});
    api.patch("cfg", &PatchParams::apply("bob"), &Patch::Apply(&bob_same))
        .await?;
    let bob_both = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "9", "b": "2"}});
    api.patch(
        "cfg",
        &PatchParams::apply("bob").force(),
        &Patch::Apply(&bob_both),
    )
    .await?;
    let cm = api.get("cfg").await?;
    assert_eq!(
        cm.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("9")
    );
    let managers: Vec<String> = cm
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"alice".into()) && managers.contains(&"bob".into()),
        "{managers:?}"
    );

    // Alice stops applying `b`: Bob still owns it, so it stays. Then Bob stops too: it goes.
    let alice_a_only =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}});
    api.patch(
        "cfg",
        &PatchParams::apply("alice"),
        &Patch::Apply(&alice_a_only),
    )
    .await?;
    assert!(
        api.get("cfg")
            .await?
            .data
            .unwrap_or_default()
            .contains_key("b")
    );
    api.patch("cfg", &PatchParams::apply("bob"), &Patch::Apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "9"}})))
        .await?;
    assert!(
        !api.get("cfg")
            .await?
            .data
            .unwrap_or_default()
            .contains_key("b")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_and_reflector_follow_changes() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    let ns = c.namespace("watch").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().labels("app=w")),
    )
    .applied_objects()
    .boxed();
    let events = tokio::spawn(Cluster::collect(stream, 3, T));
    reader
        .wait_until_ready()
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;

    api.create(&PostParams::default(), &config_map("one", &[("app", "w")]))
        .await?;
    api.create(
        &PostParams::default(),
        &config_map("ignored", &[("app", "other")]),
    )
    .await?;
    api.create(&PostParams::default(), &config_map("two", &[("app", "w")]))
        .await?;
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "changed"}})),
    )
    .await?;
    let seen = events
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))??;
    let names: Vec<String> = seen
        .iter()
        .filter_map(|cm| cm.metadata.name.clone())
        .collect();
    assert_eq!(names, ["one", "two", "one"]);
    let mut cached: Vec<String> = reader
        .state()
        .iter()
        .filter_map(|cm| cm.metadata.name.clone())
        .collect();
    cached.sort();
    assert_eq!(cached, ["one", "two"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_resource_version_and_410_when_too_old() -> Result<(), HarnessError> {
    let mut c = Cluster::start_with(rollout_rs_sim::Config {
        event_log_capacity: 20,
        ..Default::default()
    })
    .await?;
    let ns = c.namespace("rv").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let first = api
        .create(&PostParams::default(), &config_map("first", &[]))
        .await?;
    let rv = first.metadata.resource_version.clone().unwrap_or_default();
    api.create(&PostParams::default(), &config_map("second", &[]))
        .await?;
    // From `rv`: only what came after it.
    let stream = api.watch(&WatchParams::default(), &rv).await?.boxed();
    let events = Cluster::collect(stream, 1, T).await?;
    match &events[0] {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("second")),
        other => panic!("expected ADDED second, got {other:?}"),
    }
    // Push `rv` out of the event log (a real cluster compacts): 410 Gone.
    for i in 0..30 {
        api.create(
            &PostParams::default(),
            &config_map(&format!("filler{i}"), &[]),
        )
        .await?;
    }
    let stream = api.watch(&WatchParams::default(), &rv).await?.boxed();
    let events = Cluster::collect(stream, 1, T).await?;
    match &events[0] {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        other if c.is_real() => eprintln!("a real cluster still had {rv}: {other:?}"),
        other => panic!("expected 410, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_arrive_when_asked_for() -> Result<(), HarnessError> {
    let config = rollout_rs_sim::Config {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let mut c = Cluster::start_with(config).await?;
    let ns = c.namespace("bookmarks").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);
    let list = api.list(&ListParams::default()).await?;
    let rv = list.metadata.resource_version.unwrap_or_default();
    let params = WatchParams {
        bookmarks: true,
        ..Default::default()
    };
    let stream = api.watch(&params, &rv).await?.boxed();
    // A real API server sends bookmarks about once a minute.
    let events = Cluster::collect(stream, 1, Duration::from_secs(90)).await?;
    assert!(
        matches!(events[0], WatchEvent::Bookmark(_)),
        "{:?}",
        events[0]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_and_garbage_collection() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    let ns = c.namespace("gc").await?;
    let api: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns);

    // A finalizer holds the object with deletionTimestamp set until it is removed.
    let mut held = config_map("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await?;
    api.delete("held", &DeleteParams::default()).await?;
    let still = api.get("held").await?;
    assert!(still.metadata.deletion_timestamp.is_some());
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await?;
    c.wait_deleted(&api, "held", T).await?;

    // Owner references: background deletion removes dependents, orphan keeps them unowned.
    for policy in ["background", "orphan", "foreground"] {
        let owner = api
            .create(
                &PostParams::default(),
                &config_map(&format!("owner-{policy}"), &[]),
            )
            .await?;
        let mut dep = config_map(&format!("dep-{policy}"), &[]);
        dep.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: owner.metadata.name.clone().unwrap_or_default(),
                uid: owner.metadata.uid.clone().unwrap_or_default(),
                ..Default::default()
            },
        ]);
        api.create(&PostParams::default(), &dep).await?;
        let params = match policy {
            "background" => DeleteParams::background(),
            "orphan" => DeleteParams::orphan(),
            _ => DeleteParams::foreground(),
        };
        api.delete(&format!("owner-{policy}"), &params).await?;
        c.wait_deleted(&api, &format!("owner-{policy}"), T).await?;
        if policy == "orphan" {
            let kept = api.get(&format!("dep-{policy}")).await?;
            assert!(
                kept.metadata
                    .owner_references
                    .unwrap_or_default()
                    .is_empty()
            );
        } else {
            c.wait_deleted(&api, &format!("dep-{policy}"), T).await?;
        }
    }
    Ok(())
}

/// Pods are simulated: a ReplicaSet gets them, and they turn Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_become_available() -> Result<(), HarnessError> {
    let mut c = Cluster::start().await?;
    let ns = c.namespace("rs").await?;
    let rs_yaml = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: \"nginx:1.27\"}]}\n";
    c.apply_yaml(rs_yaml, &ns).await?;
    let api: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &ns);
    let ready = |rs: Option<&ReplicaSet>| {
        rs.and_then(|r| r.status.as_ref())
            .and_then(|s| s.available_replicas)
            == Some(2)
    };
    c.wait(
        &api,
        "web",
        Duration::from_secs(120),
        "2 available replicas",
        ready,
    )
    .await?;
    Ok(())
}
