//! The HTTPRoute weight patch for each weight, and the route it refuses.

use super::*;

fn route(stable_weight: Option<i64>, canary_weight: Option<i64>) -> Value {
    let mut stable = json!({"name": "payments-stable", "port": 80});
    let mut canary = json!({"name": "payments-canary", "port": 80});
    if let Some(w) = stable_weight {
        stable["weight"] = json!(w);
    }
    if let Some(w) = canary_weight {
        canary["weight"] = json!(w);
    }
    json!({
        "metadata": {"name": "payments"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [{"name": "api", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "filters": [{"type": "RequestHeaderModifier"}], "backendRefs": [stable, canary]}
            ]
        }
    })
}

fn weights(canary: i32) -> Weights {
    Weights {
        canary,
        total: 100,
        canary_service: "payments-canary".into(),
        stable_service: "payments-stable".into(),
    }
}

fn apply(route: &Value, patch: &Value) -> Value {
    let mut doc = route.clone();
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).expect("a JSON patch");
    json_patch::patch(&mut doc, &p).expect("applies");
    doc
}

#[test]
fn patch_for_each_weight_touches_only_the_two_weights() {
    // Weight 0 is also what an abort writes.
    for (canary, stable) in [(0, 100), (5, 95), (50, 50), (100, 0)] {
        let live = route(Some(100), Some(0));
        let patch = weight_patch(&live, &weights(canary)).expect("routes to stable");
        let after = patch.as_ref().map_or(live.clone(), |p| apply(&live, p));
        assert_eq!(
            after,
            route(Some(i64::from(stable)), Some(i64::from(canary))),
            "weight {canary}"
        );
    }
    let expected = json!([
        {"op": "test", "path": "/spec/rules/1/backendRefs/0/name", "value": "payments-stable"},
        {"op": "add", "path": "/spec/rules/1/backendRefs/0/weight", "value": 70},
        {"op": "test", "path": "/spec/rules/1/backendRefs/1/name", "value": "payments-canary"},
        {"op": "add", "path": "/spec/rules/1/backendRefs/1/weight", "value": 30},
    ]);
    assert_eq!(
        weight_patch(&route(Some(100), Some(0)), &weights(30)).expect("ok"),
        Some(expected)
    );
}

#[test]
fn no_patch_when_weights_hold_and_missing_weights_are_added() {
    assert_eq!(
        weight_patch(&route(Some(60), Some(40)), &weights(40)).expect("ok"),
        None
    );
    let live = route(None, None);
    let patch = weight_patch(&live, &weights(10))
        .expect("ok")
        .expect("a patch");
    assert_eq!(apply(&live, &patch), route(Some(90), Some(10)));
}

#[test]
fn a_route_without_the_stable_service_is_an_error_naming_it() {
    let w = Weights {
        stable_service: "nope".into(),
        ..weights(10)
    };
    assert_eq!(
        weight_patch(&route(Some(100), Some(0)), &w)
            .unwrap_err()
            .to_string(),
        "HTTPRoute payments: no rule routes to the stable Service nope"
    );
}
