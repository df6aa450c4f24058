//! Property test: no request, however malformed, makes the simulator fail (5xx) or stop
//! answering. Methods, paths, content types, query strings and bodies (arbitrary JSON, JSON
//! with the wrong shapes, and arbitrary bytes) are generated.

mod common;

use common::Cluster;
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "[a-z/~.$:{}\\[\\] -]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("metadata".to_string()),
            Just("name".to_string()),
            Just("namespace".to_string()),
            Just("spec".to_string()),
            Just("status".to_string()),
            Just("kind".to_string()),
            Just("apiVersion".to_string()),
            Just("finalizers".to_string()),
            Just("ownerReferences".to_string()),
            Just("labels".to_string()),
            Just("op".to_string()),
            Just("path".to_string()),
            Just("value".to_string()),
            Just("$patch".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        json_value().prop_map(|v| serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": v}).to_string()),
        json_value().prop_map(|v| serde_json::json!({"metadata": v, "spec": {"replicas": 1}}).to_string()),
        json_value().prop_map(|v| serde_json::json!([{"op": "add", "path": "/metadata/labels", "value": v}]).to_string()),
        "\\PC{0,64}",
    ]
}

fn request() -> impl Strategy<Value = (String, String, String, String)> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("PATCH"),
        Just("DELETE")
    ]
    .prop_map(String::from);
    let path = prop_oneof![
        Just("/api/v1/namespaces/default/configmaps".to_string()),
        Just("/api/v1/namespaces/default/configmaps/x".to_string()),
        Just("/api/v1/namespaces/default/configmaps/x/status".to_string()),
        Just("/apis/apps/v1/namespaces/default/replicasets/x".to_string()),
        Just("/apis/apps/v1/namespaces/default/deployments/x/scale".to_string()),
        Just("/api/v1/namespaces/x".to_string()),
        Just("/apis/apiextensions.k8s.io/v1/customresourcedefinitions".to_string()),
        Just("/openapi/v3/apis/apps/v1".to_string()),
        "/[a-z0-9/._-]{0,40}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        Just("?fieldManager=fuzz".to_string()),
        Just("?fieldManager=fuzz&force=true".to_string()),
        Just("?dryRun=All".to_string()),
        Just("?fieldValidation=Strict".to_string()),
        Just("?labelSelector=a%20in%20(b".to_string()),
        Just("?limit=1&continue=zz".to_string()),
        Just("?propagationPolicy=Foreground".to_string()),
        "\\?[a-zA-Z=&%0-9]{0,20}",
    ];
    let content_type = prop_oneof![
        Just("application/json"),
        Just("application/merge-patch+json"),
        Just("application/json-patch+json"),
        Just("application/strategic-merge-patch+json"),
        Just("application/apply-patch+yaml"),
        Just("text/plain"),
    ]
    .prop_map(String::from);
    (
        method,
        (path, query).prop_map(|(p, q)| format!("{p}{q}")),
        content_type,
        body(),
    )
}

/// Credentials and impersonation headers, valid and not.
fn auth_headers(admin: String) -> impl Strategy<Value = Vec<(String, String)>> {
    let authorization = prop_oneof![
        Just(None),
        Just(Some(format!("Bearer {admin}"))),
        Just(Some("Bearer nope".to_string())),
        Just(Some("Bearer".to_string())),
        Just(Some("Basic YTpi".to_string())),
        "[ -~]{0,20}".prop_map(Some),
    ];
    let impersonation = prop_oneof![
        Just(vec![]),
        Just(vec![("Impersonate-User".to_string(), "alice".to_string())]),
        Just(vec![("Impersonate-Group".to_string(), "devs".to_string())]),
        Just(vec![
            (
                "Impersonate-User".to_string(),
                "system:serviceaccount:default:x".to_string()
            ),
            ("Impersonate-Extra-scopes%2Fa".to_string(), "v".to_string()),
            ("Impersonate-Uid".to_string(), "1".to_string()),
        ]),
        "[ -~]{0,12}".prop_map(|v| vec![("Impersonate-User".to_string(), v)]),
    ];
    (authorization, impersonation).prop_map(|(a, mut i)| {
        i.extend(a.map(|a| ("Authorization".to_string(), a)));
        i
    })
}

#[test]
fn no_request_breaks_the_server_with_authorization() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let c = rt.block_on(Cluster::start_with_auth());
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let admin = c.sim.admin_token().to_string();
    proptest!(config, |((method, path, content_type, body) in request(), headers in auth_headers(admin.clone()))| {
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.push(("Content-Type", &content_type));
        let (code, resp) = rt.block_on(common::http_with_headers(c.sim.port(), &method, &path, &all, &body));
        prop_assert!((200..500).contains(&code), "{method} {path} {headers:?} ({content_type}) {body:?} -> {code}: {resp}");
    });
}

#[test]
fn no_request_breaks_the_server() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let c = rt.block_on(Cluster::start());
    let config = ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |((method, path, content_type, body) in request())| {
        let (code, resp) = rt.block_on(c.http(&method, &path, &content_type, &body));
        prop_assert!((200..500).contains(&code), "{method} {path} ({content_type}) {body:?} -> {code}: {resp}");
    });
    let (code, _) = rt.block_on(c.http(
        "GET",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "",
    ));
    assert_eq!(code, 200, "the server still answers");
}
