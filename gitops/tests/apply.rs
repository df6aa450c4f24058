//! The applier against the simulated API server: a set that brings its own CRD and Namespace
//! is applied in order (G3), every object carries the tracking annotation and the field
//! manager, a refused object means nothing is written, and pruning deletes what it is told.

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use rollout_rs_e2e::{Cluster, HarnessError};
use rollout_rs_gitops::apply::{Applier, ApplyError, MANAGER};
use rollout_rs_gitops::inventory::Key;
use serde_json::{Value, json};

type R<T = ()> = Result<T, HarnessError>;

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    })
}

fn config_map(name: &str, namespace: Option<&str>) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    if let Some(ns) = namespace {
        cm["metadata"]["namespace"] = json!(ns);
    }
    cm
}

async fn get(cluster: &Cluster, key: &Key) -> R<Option<DynamicObject>> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&key.group, &key.version, &key.kind));
    let api: Api<DynamicObject> = match &key.namespace {
        Some(ns) => Api::namespaced_with(cluster.client.clone(), ns, &ar),
        None => Api::all_with(cluster.client.clone(), &ar),
    };
    Ok(api.get_opt(&key.name).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_crds_and_namespaces_first_then_the_rest_all_tracked() -> R {
    let cluster = Cluster::start().await?;
    let mut applier = Applier::new(cluster.client.clone());
    // Rendered in an order that would fail as written: the CR and the namespaced objects first.
    let set = [
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "namespace": "team"}, "spec": {"size": 3}}),
        config_map("in-team", Some("team")),
        config_map("defaulted", None),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
        widget_crd(),
    ];
    let keys: Vec<Key> = applier
        .apply(&set, "default", "gitops/app", &[])
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let kinds: Vec<&str> = keys.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "Namespace",
            "Widget",
            "ConfigMap",
            "ConfigMap"
        ]
    );
    assert_eq!(
        keys[4].namespace.as_deref(),
        Some("default"),
        "a namespaced object without one"
    );
    assert_eq!(keys[0].namespace, None, "a cluster-scoped object gets none");
    for key in &keys {
        let live = get(&cluster, key)
            .await?
            .unwrap_or_else(|| panic!("{} applied", key.describe()));
        assert_eq!(
            live.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("rollout-rs.io/tracked-by"))
                .map(String::as_str),
            Some("gitops/app"),
            "{}",
            key.describe()
        );
        let managers: Vec<String> = live
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect();
        assert!(managers.iter().any(|m| m == MANAGER), "{managers:?}");
    }
    // Pruning deletes what it is told, and a gone object is fine.
    applier
        .delete(&keys[4])
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    assert!(get(&cluster, &keys[4]).await?.is_none());
    applier
        .delete(&keys[4])
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_object_means_nothing_is_written() -> R {
    let mut cluster = Cluster::start().await?;
    cluster.install_crds().await?;
    let ns = cluster.namespace("gitops").await?;
    let mut applier = Applier::new(cluster.client.clone());
    let bad_rollout = json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
        "spec": {"replicas": "many", "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}},
                 "strategy": {"canary": {}}}
    });
    let set = [config_map("first", None), bad_rollout];
    let err = applier
        .apply(&set, &ns, "gitops/app", &[])
        .await
        .expect_err("refused");
    assert!(matches!(err, ApplyError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("Rollout"), "{err}");
    let first = Key::of(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first", "namespace": ns}}))
        .ok_or_else(|| HarnessError::Manifest("key".into()))?;
    assert!(
        get(&cluster, &first).await?.is_none(),
        "nothing was written"
    );

    // A kind nobody serves is named.
    let set = [
        json!({"apiVersion": "nowhere.example.com/v1", "kind": "Ghost", "metadata": {"name": "g"}}),
    ];
    let err = applier
        .apply(&set, &ns, "gitops/app", &[])
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("serves no kind Ghost"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_of_the_same_set_writes_nothing() -> R {
    let cluster = Cluster::start().await?;
    let mut applier = Applier::new(cluster.client.clone());
    let set = [config_map("same", None)];
    let keys: Vec<Key> = applier
        .apply(&set, "default", "gitops/app", &[])
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    let before = get(&cluster, &keys[0])
        .await?
        .and_then(|o| o.metadata.resource_version);
    applier
        .apply(&set, "default", "gitops/app", &[])
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let after = get(&cluster, &keys[0]).await?;
    assert_eq!(
        after
            .as_ref()
            .and_then(|o| o.metadata.resource_version.clone()),
        before,
        "{:?}",
        after.map(|o| o.metadata.managed_fields)
    );
    Ok(())
}
