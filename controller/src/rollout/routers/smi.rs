//! SMI: a TrafficSplit owned by the Rollout, with backends canary `w` / stable `total - w`.
//! `split.smi-spec.io/v1alpha2` by default (what Linkerd's SMI extension serves); v1alpha1
//! takes its weights as quantities (strings).

use serde_json::{Value, json};

use super::Weights;

/// Default TrafficSplit API version.
pub const DEFAULT_API_VERSION: &str = "split.smi-spec.io/v1alpha2";

/// The TrafficSplit to apply. `root_service` defaults to the stable Service.
pub fn traffic_split(
    name: &str,
    namespace: &str,
    owner: &Value,
    root_service: Option<&str>,
    w: &Weights,
    api_version: &str,
) -> Value {
    let weight = |n: i32| {
        if api_version.ends_with("v1alpha1") {
            json!(n.to_string())
        } else {
            json!(n)
        }
    };
    json!({
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
        "spec": {
            "service": root_service.unwrap_or(&w.stable_service),
            "backends": [
                {"service": w.canary_service, "weight": weight(w.canary)},
                {"service": w.stable_service, "weight": weight(w.stable())},
            ],
        },
    })
}

#[cfg(test)]
mod tests {
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
}
