//! The RBAC objects a real API server creates at start (`bootstrappolicy`), for a simulator
//! started with authorization: `cluster-admin` (bound to `system:masters`), the user-facing
//! `admin`, `edit` and `view` (aggregated from the `system:aggregate-to-*` roles and from any
//! ClusterRole labelled `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}: "true"`),
//! `system:discovery` and `system:basic-user` (every authenticated user) and
//! `system:public-info-viewer` (everyone, anonymous included). The rule sets are those of a
//! current cluster for the kinds it serves, trimmed of kinds no simulator user would meet.
//!
//! Also the ServiceAccounts controller's part: a `default` ServiceAccount in every namespace.

use serde_json::{Value, json};

use crate::ops::{self, WriteOptions};
use crate::store::State;

const RBAC: &str = "rbac.authorization.k8s.io";
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(verbs: &[&str], group: &str, resources: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

fn metadata(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for (k, v) in extra_labels {
        labels.insert(k.to_string(), json!(v));
    }
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn aggregate_label(to: &str) -> String {
    format!("{RBAC}/aggregate-to-{to}")
}

fn aggregated(name: &str, from: &str, labels: &[(&str, &str)]) -> Value {
    json!({
        "metadata": metadata(name, labels),
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {aggregate_label(from): "true"}}]},
        "rules": [],
    })
}

fn cluster_role(name: &str, labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({"metadata": metadata(name, labels), "rules": rules})
}

fn cluster_roles() -> Vec<Value> {
    let to_admin = aggregate_label("admin");
    let to_edit = aggregate_label("edit");
    let to_view = aggregate_label("view");
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], "*", &["*"]), urls(&["*"], &["*"])],
        ),
        aggregated("admin", "admin", &[]),
        aggregated("edit", "edit", &[(&to_admin, "true")]),
        aggregated("view", "view", &[(&to_edit, "true")]),
        cluster_role(
            "system:aggregate-to-admin",
            &[(&to_admin, "true")],
            vec![
                rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["localsubjectaccessreviews"],
                ),
                rule(READ_WRITE, RBAC, &["rolebindings", "roles"]),
            ],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(&to_edit, "true")],
            vec![
                rule(&["impersonate"], "", &["serviceaccounts"]),
                rule(
                    WRITE,
                    "",
                    &[
                        "pods",
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                    ],
                ),
                rule(&["create"], "", &["pods/eviction"]),
                rule(
                    WRITE,
                    "",
                    &[
                        "configmaps",
                        "events",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                ),
                rule(&["create"], "", &["serviceaccounts/token"]),
                rule(
                    WRITE,
                    "apps",
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                ),
                rule(WRITE, "autoscaling", &["horizontalpodautoscalers"]),
                rule(WRITE, "batch", &["cronjobs", "jobs"]),
                rule(
                    WRITE,
                    "networking.k8s.io",
                    &["ingresses", "networkpolicies"],
                ),
                rule(WRITE, "policy", &["poddisruptionbudgets"]),
                rule(
                    READ,
                    "",
                    &[
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                        "secrets",
                        "services/proxy",
                    ],
                ),
            ],
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(&to_view, "true")],
            vec![
                rule(
                    READ,
                    "",
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                ),
                rule(
                    READ,
                    "",
                    &[
                        "bindings",
                        "events",
                        "limitranges",
                        "namespaces/status",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                    ],
                ),
                rule(READ, "", &["namespaces"]),
                rule(READ, "discovery.k8s.io", &["endpointslices"]),
                rule(
                    READ,
                    "apps",
                    &[
                        "controllerrevisions",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                ),
                rule(
                    READ,
                    "autoscaling",
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                ),
                rule(
                    READ,
                    "batch",
                    &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                ),
                rule(
                    READ,
                    "networking.k8s.io",
                    &["ingresses", "ingresses/status", "networkpolicies"],
                ),
                rule(
                    READ,
                    "policy",
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                ),
            ],
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["create"],
                    "authentication.k8s.io",
                    &["selfsubjectreviews"],
                ),
                rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![urls(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        cluster_role(
            "system:auth-delegator",
            &[],
            vec![
                rule(&["create"], "authentication.k8s.io", &["tokenreviews"]),
                rule(
                    &["create"],
                    "authorization.k8s.io",
                    &["subjectaccessreviews"],
                ),
            ],
        ),
    ]
}

fn cluster_role_binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": RBAC, "kind": "Group", "name": g}))
        .collect();
    json!({
        "metadata": metadata(name, &[]),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    })
}

fn cluster_role_bindings() -> Vec<Value> {
    vec![
        cluster_role_binding("cluster-admin", &[super::MASTERS]),
        cluster_role_binding("system:discovery", &[super::AUTHENTICATED]),
        cluster_role_binding("system:basic-user", &[super::AUTHENTICATED]),
        cluster_role_binding(
            "system:public-info-viewer",
            &[super::AUTHENTICATED, super::UNAUTHENTICATED],
        ),
    ]
}

/// Creates the bootstrap RBAC objects and a `default` ServiceAccount in each namespace.
pub fn bootstrap(state: &mut State) {
    for (plural, objects) in [
        ("clusterroles", cluster_roles()),
        ("clusterrolebindings", cluster_role_bindings()),
    ] {
        let Some(rt) = state.registry.get(RBAC, "v1", plural).cloned() else {
            continue;
        };
        for obj in objects {
            let _ = ops::create(state, &rt, None, obj, &WriteOptions::default());
        }
    }
    let namespaces: Vec<String> = state
        .list("/namespaces")
        .map(|((_, name), _)| name.clone())
        .collect();
    for ns in namespaces {
        default_service_account(state, &ns);
    }
}

/// The ServiceAccounts controller: every namespace has a `default` ServiceAccount.
pub fn default_service_account(state: &mut State, namespace: &str) {
    let key = (namespace.to_string(), "default".to_string());
    if state.get("/serviceaccounts", &key).is_some() {
        return;
    }
    // A namespace being deleted gets none (the real controller skips terminating ones).
    let terminating = state
        .get("/namespaces", &(String::new(), namespace.to_string()))
        .is_none_or(|ns| ns.pointer("/metadata/deletionTimestamp").is_some());
    if terminating {
        return;
    }
    let Some(rt) = state.registry.get("", "v1", "serviceaccounts").cloned() else {
        return;
    };
    let sa = json!({"metadata": {"name": "default", "namespace": namespace}});
    let _ = ops::create(state, &rt, Some(namespace), sa, &WriteOptions::default());
}
