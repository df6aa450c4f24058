//! The canary Ingress for each weight, its annotations, names and owner checks.

use super::*;

fn stable() -> Ingress {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "storefront", "namespace": "shop", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
            "rules": [
                {"host": "shop.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "storefront-stable", "port": {"name": "http"}}}},
                    {"path": "/admin", "pathType": "Prefix", "backend": {"service": {"name": "admin", "port": {"number": 80}}}}
                ]}},
                {"host": "other.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}
                ]}}
            ]
        }
    }))
    .expect("valid Ingress")
}

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "rollout-rs.io/v1alpha1".into(),
        kind: "Rollout".into(),
        name: "storefront".into(),
        uid: "u1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn weights(canary: i32) -> Weights {
    Weights {
        canary,
        total: 100,
        canary_service: "storefront-canary".into(),
        stable_service: "storefront-stable".into(),
    }
}

#[test]
fn canary_ingress_for_each_weight() {
    let extra: BTreeMap<String, String> =
        [("canary-by-header".to_string(), "X-Canary".to_string())].into();
    let none = BTreeMap::new();
    // Weight 0 is also what an abort writes.
    for w in [0, 5, 50, 100] {
        let cfg = NginxConfig {
            prefix: None,
            additional_annotations: &extra,
            canary_annotations: &none,
            max_weight: None,
        };
        let got = serde_json::to_value(
            canary_ingress("storefront", owner(), &stable(), &weights(w), &cfg)
                .expect("routes to stable"),
        )
        .expect("JSON");
        let want = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "storefront-storefront-canary",
                "namespace": "shop",
                "annotations": {
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": w.to_string(),
                    "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
                },
                "ownerReferences": [{"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "name": "storefront", "uid": "u1", "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
                "rules": [{"host": "shop.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "storefront-canary", "port": {"name": "http"}}}}
                ]}}],
            },
        });
        assert_eq!(got, want, "weight {w}");
    }
}

#[test]
fn prefix_total_and_canary_annotations_cannot_override_the_weight() {
    let none = BTreeMap::new();
    let user: BTreeMap<String, String> = [
        ("custom.io/canary-weight".to_string(), "99".to_string()),
        ("team".to_string(), "shop".to_string()),
    ]
    .into();
    let cfg = NginxConfig {
        prefix: Some("custom.io"),
        additional_annotations: &none,
        canary_annotations: &user,
        max_weight: Some(1000),
    };
    let ing = canary_ingress(
        "storefront",
        owner(),
        &stable(),
        &Weights {
            total: 1000,
            ..weights(250)
        },
        &cfg,
    )
    .expect("routes to stable");
    let a = ing.metadata.annotations.expect("annotations");
    assert_eq!(
        a.get("custom.io/canary-weight").map(String::as_str),
        Some("250")
    );
    assert_eq!(
        a.get("custom.io/canary-weight-total").map(String::as_str),
        Some("1000")
    );
    assert_eq!(a.get("team").map(String::as_str), Some("shop"));
}

#[test]
fn errors_name_the_object() {
    let none = BTreeMap::new();
    let cfg = NginxConfig {
        prefix: None,
        additional_annotations: &none,
        canary_annotations: &none,
        max_weight: None,
    };
    let w = Weights {
        stable_service: "elsewhere".into(),
        ..weights(10)
    };
    assert_eq!(
        canary_ingress("storefront", owner(), &stable(), &w, &cfg)
            .unwrap_err()
            .to_string(),
        "Ingress storefront: no rule routes to the stable Service elsewhere"
    );
    let mut foreign = stable();
    foreign.metadata.name = Some("storefront-storefront-canary".into());
    assert_eq!(
        check_owner(&foreign, "u1").unwrap_err().to_string(),
        "Ingress storefront-storefront-canary is owned by nobody (it was created outside rollout-rs), not by this Rollout: refusing to change it"
    );
    foreign.metadata.owner_references = Some(vec![owner()]);
    assert!(check_owner(&foreign, "u1").is_ok());
}

/// A DNS-1123 subdomain, as Ingress names must be.
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            l.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && l.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[test]
fn canary_names_fit_an_ingress_name() {
    assert_eq!(canary_name("web", "shop"), "web-shop-canary");
    let rollout = "r".repeat(200);
    let long = canary_name(&rollout, &"i".repeat(200));
    assert!(is_subdomain(&long), "{long} ({} chars)", long.len());
    assert!(long.ends_with("-canary"), "{long}");
    assert!(long.starts_with(&rollout), "{long}");
    assert_eq!(
        long,
        canary_name(&rollout, &"i".repeat(200)),
        "deterministic"
    );
    // Cut where a dot was, the name still makes a valid subdomain.
    for cut in 240..250 {
        let dotted = format!("{}.{}", "a".repeat(cut), "b".repeat(20));
        let name = canary_name(&dotted, "shop");
        assert!(is_subdomain(&name), "{name}");
    }
    // Two long names that differ only past the cut stay apart.
    assert_ne!(
        canary_name(&rollout, &format!("{}-a", "i".repeat(200))),
        canary_name(&rollout, &format!("{}-b", "i".repeat(200)))
    );
}
