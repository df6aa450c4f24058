//! VirtualService and DestinationRule patches, and the routes and subsets they refuse.

use super::*;

fn apply(doc: &Value, patch: &Option<Value>) -> Value {
    let mut doc = doc.clone();
    if let Some(p) = patch {
        let p: json_patch::Patch = serde_json::from_value(p.clone()).expect("a JSON patch");
        json_patch::patch(&mut doc, &p).expect("applies");
    }
    doc
}

fn weights(canary: i32) -> Weights {
    Weights {
        canary,
        total: 100,
        canary_service: "reviews-canary".into(),
        stable_service: "reviews-stable".into(),
    }
}

fn host_vs(stable: i64, canary: i64) -> Value {
    json!({
        "metadata": {"name": "reviews"},
        "spec": {"hosts": ["reviews"], "http": [
            {"name": "mirror", "route": [{"destination": {"host": "other"}, "weight": 100}]},
            {"name": "primary", "retries": {"attempts": 3}, "route": [
                {"destination": {"host": "reviews-stable.bookinfo.svc.cluster.local", "port": {"number": 9080}}, "weight": stable},
                {"destination": {"host": "reviews-canary"}, "weight": canary}
            ]}
        ]}
    })
}

#[test]
fn host_level_weights_for_each_weight() {
    let sel = RouteSelection {
        http: vec!["primary".into()],
        ..Default::default()
    };
    for (canary, stable) in [(0, 100), (5, 95), (50, 50), (100, 0)] {
        let live = host_vs(100, 0);
        let patch = virtual_service_patch(&live, &sel, &Split::Host, &weights(canary)).expect("ok");
        assert_eq!(
            apply(&live, &patch),
            host_vs(stable, i64::from(canary)),
            "weight {canary}"
        );
    }
    assert_eq!(
        virtual_service_patch(&host_vs(90, 10), &sel, &Split::Host, &weights(10)).expect("ok"),
        None
    );
}

#[test]
fn subset_level_weights_and_destination_rule() {
    let vs = |stable: i64, canary: i64| {
        json!({"metadata": {"name": "reviews"}, "spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "reviews", "subset": "stable"}, "weight": stable},
            {"destination": {"host": "reviews", "subset": "canary"}, "weight": canary}
        ]}]}})
    };
    let split = Split::Subset {
        canary: "canary".into(),
        stable: "stable".into(),
    };
    // An unnamed selection works when the VirtualService has one HTTP route.
    let live = vs(100, 0);
    let patch =
        virtual_service_patch(&live, &RouteSelection::default(), &split, &weights(10)).expect("ok");
    assert_eq!(apply(&live, &patch), vs(90, 10));

    let dr = json!({"metadata": {"name": "reviews"}, "spec": {"host": "reviews", "subsets": [
        {"name": "stable", "labels": {"app": "reviews"}},
        {"name": "canary"}
    ]}});
    let patch = destination_rule_patch(&dr, "canary", "stable", "c1", "s1", "reviews").expect("ok");
    assert_eq!(
        apply(&dr, &patch),
        json!({"metadata": {"name": "reviews", "annotations": {MANAGED_BY: "reviews"}},
          "spec": {"host": "reviews", "subsets": [
            {"name": "stable", "labels": {"app": "reviews", POD_TEMPLATE_HASH_LABEL: "s1"}},
            {"name": "canary", "labels": {POD_TEMPLATE_HASH_LABEL: "c1"}}
        ]}})
    );
    assert_eq!(
        destination_rule_patch(
            &apply(&dr, &patch),
            "canary",
            "stable",
            "c1",
            "s1",
            "reviews"
        )
        .expect("ok"),
        None
    );
    // Released when the Rollout stops naming it: as it was before.
    let pinned = apply(&dr, &patch);
    assert_eq!(
        destination_rule_release(&pinned, "other/web"),
        None,
        "not ours"
    );
    let release = destination_rule_release(&pinned, "reviews");
    assert!(release.is_some());
    assert_eq!(
        apply(&pinned, &release),
        json!({"metadata": {"name": "reviews", "annotations": {}}, "spec": {"host": "reviews", "subsets": [
            {"name": "stable", "labels": {"app": "reviews"}},
            {"name": "canary", "labels": {}}
        ]}})
    );
    assert_eq!(
        destination_rule_release(&apply(&pinned, &release), "reviews"),
        None
    );
}

#[test]
fn tcp_and_tls_routes_by_port() {
    let vs = json!({"metadata": {"name": "db"}, "spec": {
        "tcp": [{"match": [{"port": 5432}], "route": [{"destination": {"host": "reviews-stable"}, "weight": 100}, {"destination": {"host": "reviews-canary"}, "weight": 0}]}],
        "tls": [{"match": [{"port": 443, "sniHosts": ["a.example.com"]}], "route": [{"destination": {"host": "reviews-stable"}, "weight": 100}, {"destination": {"host": "reviews-canary"}, "weight": 0}]}]
    }});
    let sel = RouteSelection {
        http: vec![],
        tls: vec![(Some(443), vec!["a.example.com".into()])],
        tcp: vec![Some(5432)],
    };
    let after = apply(
        &vs,
        &virtual_service_patch(&vs, &sel, &Split::Host, &weights(20)).expect("ok"),
    );
    assert_eq!(
        after.pointer("/spec/tcp/0/route/1/weight"),
        Some(&json!(20))
    );
    assert_eq!(
        after.pointer("/spec/tls/0/route/0/weight"),
        Some(&json!(80))
    );
}

#[test]
fn missing_routes_and_subsets_are_named() {
    let sel = RouteSelection {
        http: vec!["nope".into()],
        ..Default::default()
    };
    assert_eq!(
        virtual_service_patch(&host_vs(100, 0), &sel, &Split::Host, &weights(5))
            .unwrap_err()
            .to_string(),
        "VirtualService reviews: no HTTP route named nope"
    );
    let dr = json!({"metadata": {"name": "reviews"}, "spec": {"subsets": [{"name": "stable"}]}});
    assert_eq!(
        destination_rule_patch(&dr, "canary", "stable", "c", "s", "reviews")
            .unwrap_err()
            .to_string(),
        "DestinationRule reviews: no subset named canary"
    );
}
