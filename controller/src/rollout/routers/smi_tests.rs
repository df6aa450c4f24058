//! The TrafficSplit for each weight and apiVersion.

use super::*;

#[test]
fn traffic_split_for_each_weight() {
    let owner = json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "name": "api", "uid": "u1", "controller": true});
    for canary in [0, 5, 50, 100] {
        let w = Weights {
            canary,
            total: 100,
            canary_service: "api-canary".into(),
            stable_service: "api-stable".into(),
        };
        assert_eq!(
            traffic_split("api", "shop", &owner, Some("api"), &w, DEFAULT_API_VERSION),
            json!({
                "apiVersion": "split.smi-spec.io/v1alpha2",
                "kind": "TrafficSplit",
                "metadata": {"name": "api", "namespace": "shop", "ownerReferences": [owner]},
                "spec": {"service": "api", "backends": [
                    {"service": "api-canary", "weight": canary},
                    {"service": "api-stable", "weight": 100 - canary},
                ]},
            }),
            "weight {canary}"
        );
    }
    let w = Weights {
        canary: 5,
        total: 100,
        canary_service: "c".into(),
        stable_service: "s".into(),
    };
    let v1 = traffic_split(
        "api",
        "shop",
        &owner,
        None,
        &w,
        "split.smi-spec.io/v1alpha1",
    );
    assert_eq!(v1["spec"]["service"], "s");
    assert_eq!(v1["spec"]["backends"][0]["weight"], "5");
}
