//! Object names as the real API server checks them: per-kind syntax (DNS-1123 subdomain, DNS-1123
//! label, DNS-1035 label, path segment), answered with 422 Invalid and the field in the Status
//! details, whether the name comes in the body or, percent-encoded, in the URL; and names
//! generated from `generateName` cut to fit, as the API server's name generator does.

mod common;

use common::Cluster;
use serde_json::{Value, json};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

async fn post(c: &Cluster, path: &str, body: &Value) -> Result<(u16, Value)> {
    let (code, text) = c
        .http("POST", path, "application/json", &body.to_string())
        .await;
    Ok((code, serde_json::from_str(&text)?))
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
}

/// The Status of a 422 for `name` of `kind` (qualified by `group`) with one cause.
fn invalid(group: &str, kind: &str, name: &str, why: &str) -> Value {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut details = json!({
        "name": name,
        "kind": kind,
        "causes": [{
            "reason": "FieldValueInvalid",
            "message": format!("Invalid value: {name:?}: {why}"),
            "field": "metadata.name",
        }],
    });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("{qualified} {name:?} is invalid: metadata.name: Invalid value: {name:?}: {why}"),
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

#[tokio::test]
async fn invalid_names_in_bodies_are_422_invalid() -> Result {
    let c = Cluster::start().await;
    let cms = "/api/v1/namespaces/default/configmaps";

    let (code, status) = post(&c, cms, &config_map("wéb")).await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status, invalid("", "ConfigMap", "wéb", SUBDOMAIN));

    let long = "a".repeat(254);
    let (code, status) = post(&c, cms, &config_map(&long)).await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status,
        invalid(
            "",
            "ConfigMap",
            &long,
            "must be no more than 253 characters"
        )
    );
    let (code, status) = post(&c, cms, &config_map(&"a".repeat(253))).await?;
    assert_eq!(code, 201, "{status}");

    let ns =
        |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let (code, status) = post(&c, "/api/v1/namespaces", &ns("web.v1")).await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status,
        invalid("", "Namespace", "web.v1", "must not contain dots")
    );
    // Every broken rule is a cause of its own, as field errors are.
    let (code, status) = post(&c, "/api/v1/namespaces", &ns(&"A".repeat(64))).await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status["details"]["causes"].as_array().map(Vec::len),
        Some(2)
    );
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(" is invalid: [metadata.name: ")
            && message.contains("must be no more than 63 characters, metadata.name: "),
        "{message}"
    );

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}});
    let (code, status) = post(&c, "/api/v1/namespaces/default/services", &svc).await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status, invalid("", "Service", "1web", DNS1035));

    // RBAC names only have to be path segments: the system roles have colons.
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:rollout-rs:Reader"}});
    let (code, status) = post(&c, "/apis/rbac.authorization.k8s.io/v1/clusterroles", &role).await?;
    assert_eq!(code, 201, "{status}");

    c.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "-f",
            &Cluster::repo("crds/yaml/rollouts.rollout-rs.io.yaml"),
        ],
        None,
    )
    .await;
    let rollout = json!({
        "apiVersion": "rollout-rs.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "wéb"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
            "strategy": {"canary": {}},
        },
    });
    let (code, status) = post(
        &c,
        "/apis/rollout-rs.io/v1alpha1/namespaces/default/rollouts",
        &rollout,
    )
    .await?;
    assert_eq!(code, 422, "{status}");
    assert_eq!(
        status,
        invalid("rollout-rs.io", "Rollout", "wéb", SUBDOMAIN)
    );
    Ok(())
}

#[tokio::test]
async fn names_in_url_paths_are_decoded_and_checked() -> Result {
    let c = Cluster::start().await;
    let (code, status) = post(
        &c,
        "/api/v1/namespaces/default/configmaps",
        &config_map("web"),
    )
    .await?;
    assert_eq!(code, 201, "{status}");
    let (code, body) = c
        .http(
            "GET",
            "/api/v1/namespaces/default/configmaps/w%65b",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 200, "a percent-encoded path names the object: {body}");

    // A server-side apply creates the object the URL names.
    let (code, body) = c
        .http(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/w%C3%A9b?fieldManager=test",
            "application/apply-patch+yaml",
            &config_map("wéb").to_string(),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    let status: Value = serde_json::from_str(&body)?;
    assert_eq!(status, invalid("", "ConfigMap", "wéb", SUBDOMAIN));

    // Reads of a name that cannot exist are plain misses, as on a real server.
    let (code, body) = c
        .http(
            "GET",
            "/api/v1/namespaces/default/configmaps/w%C3%A9b",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 404, "{body}");
    let status: Value = serde_json::from_str(&body)?;
    assert_eq!(status["message"], "configmaps \"wéb\" not found");

    let (code, body) = c
        .http(
            "GET",
            "/api/v1/namespaces/default/configmaps/a%25b",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let status: Value = serde_json::from_str(&body)?;
    assert_eq!(
        status["message"],
        "Name parameter invalid: \"a%b\": may not contain '%'"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reports_invalid_names_as_the_api_server_does() {
    let c = Cluster::start().await;
    let (ok, out, err) = c
        .kubectl(
            &["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wéb, namespace: default}\n"),
        )
        .await;
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!(
            "The ConfigMap \"wéb\" is invalid: metadata.name: Invalid value: \"wéb\": {SUBDOMAIN}"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_names_fit_in_63_characters() -> Result {
    let c = Cluster::start().await;
    let prefix = format!("{}-", "g".repeat(70));
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": prefix}});
    let (code, created) = post(&c, "/api/v1/namespaces/default/configmaps", &cm).await?;
    assert_eq!(code, 201, "{created}");
    let name = created["metadata"]["name"].as_str().unwrap_or_default();
    assert_eq!(name.len(), 63, "{name}");
    assert!(name.starts_with(&"g".repeat(58)), "{name}");

    // The simulated ReplicaSet controller names pods the same way, so a long ReplicaSet name
    // still gets valid pods.
    let rs_name = "r".repeat(250);
    let rs = format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {rs_name}, namespace: default}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: long}}}}\n  template:\n    metadata: {{labels: {{app: long}}}}\n    spec: {{containers: [{{name: app, image: \"app:1\"}}]}}\n"
    );
    c.kubectl_ok(&["apply", "-f", "-"], Some(&rs)).await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.replicas}=2",
            "--timeout=30s",
            &format!("rs/{rs_name}"),
        ],
        None,
    )
    .await;
    let pods = c
        .jsonpath("pods", "default", "{.items[*].metadata.name}")
        .await;
    let pods: Vec<&str> = pods.split_whitespace().collect();
    assert_eq!(pods.len(), 2, "{pods:?}");
    for pod in pods {
        assert_eq!(pod.len(), 63, "{pod}");
        assert!(pod.starts_with(&rs_name[..58]), "{pod}");
    }
    Ok(())
}
