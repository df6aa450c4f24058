//! Apply order, marks and the prune decision, one situation each.

use serde_json::json;

use super::*;

fn key(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = namespace {
        obj["metadata"]["namespace"] = json!(ns);
    }
    Key::of(&obj).expect("a key")
}

fn deployment(name: &str) -> Key {
    key("apps/v1", "Deployment", Some("shop"), name)
}

const US: &str = "gitops/shop";

fn ours() -> Option<LiveMarks> {
    Some(LiveMarks {
        tracked_by: Some(US.into()),
        prune: None,
    })
}

#[test]
fn keys_read_group_version_and_scope() {
    let k = key("apps/v1", "Deployment", Some("shop"), "web");
    assert_eq!((k.group.as_str(), k.version.as_str()), ("apps", "v1"));
    let core = key("v1", "Namespace", None, "shop");
    assert_eq!((core.group.as_str(), core.namespace), ("", None));
    assert_eq!(Key::from_status(&k.to_status()), k);
    assert_eq!(k.describe(), "Deployment/shop/web");
    assert!(Key::of(&json!({"kind": "X", "metadata": {"name": "a"}})).is_none());
}

#[test]
fn crds_then_namespaces_then_the_rest_in_render_order() {
    let keys = [
        deployment("a"),
        key("example.com/v1", "Widget", Some("shop"), "w"),
        key("v1", "Namespace", None, "shop"),
        key(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "widgets.example.com",
        ),
        deployment("b"),
    ];
    assert_eq!(apply_order(&keys), [3, 2, 0, 1, 4]);
}

#[test]
fn prepare_marks_and_fills_the_namespace_only_when_unset() {
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a": "b"}}});
    prepare(&mut obj, US, Some("shop"));
    assert_eq!(obj["metadata"]["namespace"], "shop");
    assert_eq!(
        obj["metadata"]["annotations"],
        json!({"a": "b", TRACKED_BY_ANNOTATION: US})
    );
    let mut elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}});
    prepare(&mut elsewhere, US, Some("shop"));
    assert_eq!(elsewhere["metadata"]["namespace"], "other");
    let mut cluster_scoped =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    prepare(&mut cluster_scoped, US, None);
    assert!(cluster_scoped["metadata"].get("namespace").is_none());
}

#[test]
fn only_what_left_git_and_is_still_ours_is_pruned() {
    let inventory = [
        deployment("a"),
        deployment("b"),
        deployment("c"),
        deployment("d"),
    ];
    let rendered = [deployment("a")];
    let live = |k: &Key| match k.name.as_str() {
        // Someone else took it over: its annotation names another GitSync.
        "b" => Some(LiveMarks {
            tracked_by: Some("other/gs".into()),
            prune: None,
        }),
        "c" => Some(LiveMarks {
            tracked_by: Some(US.into()),
            prune: Some("false".into()),
        }),
        _ => ours(),
    };
    let p = prune(&inventory, &rendered, live, US, false).expect("prunes");
    assert_eq!(p.delete, [deployment("d")]);
    assert_eq!(p.kept, [deployment("c")]);
    assert_eq!(p.released, [deployment("b")]);
}

#[test]
fn an_object_without_our_annotation_is_never_pruned() {
    let inventory = [deployment("a")];
    let p = prune(
        &inventory,
        &[deployment("x")],
        |_| Some(LiveMarks::default()),
        US,
        false,
    )
    .expect("decides");
    assert!(p.delete.is_empty());
    assert_eq!(p.released, [deployment("a")]);
}

#[test]
fn gone_objects_and_version_bumps_are_not_pruned() {
    let inventory = [deployment("a"), deployment("gone")];
    let bumped = key("apps/v2", "Deployment", Some("shop"), "a");
    let live = |k: &Key| (k.name != "gone").then(ours).flatten();
    let p = prune(&inventory, &[bumped], live, US, false).expect("decides");
    assert!(p.delete.is_empty(), "{p:?}");
}

#[test]
fn an_empty_render_prunes_nothing_unless_allowed() {
    let inventory = [deployment("a"), key("v1", "Namespace", None, "shop")];
    let refused = prune(&inventory, &[], |_| ours(), US, false).expect_err("guarded");
    assert_eq!(refused, EmptyRender { managed: 2 });
    assert!(refused.to_string().contains("allowEmpty"));
    let p = prune(&inventory, &[], |_| ours(), US, true).expect("allowed");
    assert_eq!(
        p.delete,
        [deployment("a"), key("v1", "Namespace", None, "shop")],
        "namespaces last"
    );
}
