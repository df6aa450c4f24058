//! Authentication and RBAC authorization (`Config::authorization`) through kubectl 1.32 and raw
//! HTTP: a ServiceAccount's token lets it do what its Role allows and nothing more, with the
//! real server's 403 messages; access reviews answer yes/no for wildcards, resourceNames,
//! subresources, cluster scope, non-resource URLs, ClusterRoles bound in a namespace, group
//! subjects and default deny; tokens, whoami, impersonation, 401s; and with authorization off
//! nothing is checked.
//!
//! kubectl's typed commands (`auth can-i`, `auth whoami`, `create token`) send protobuf bodies;
//! the same checks also run with JSON bodies beside them.

mod common;

use common::{Cluster, http_with_headers};
use serde_json::{Value, json};

const NAMESPACES: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
---
apiVersion: v1
kind: Namespace
metadata:
  name: sandbox
";

/// A simulator with authorization, the repository's CRDs, three namespaces and the example
/// Rollout `shop/checkout`, set up by the admin.
async fn cluster() -> Cluster {
    let c = Cluster::start_with_auth().await;
    c.kubectl_ok(
        &["apply", "--server-side", "-f", &Cluster::repo("crds/yaml")],
        None,
    )
    .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/rollouts.rollout-rs.io",
        ],
        None,
    )
    .await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(NAMESPACES)).await;
    c.kubectl_ok(
        &[
            "apply",
            "-f",
            &Cluster::repo("examples/rollouts/canary-basic.yaml"),
        ],
        None,
    )
    .await;
    c
}

/// A ServiceAccount token from the TokenRequest subresource, with a JSON body.
async fn sa_token(c: &Cluster, ns: &str, name: &str) -> String {
    let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}/token");
    let body = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#;
    let out = c
        .kubectl_ok(&["create", "--raw", &path, "-f", "-"], Some(body))
        .await;
    let answer: Value = serde_json::from_str(&out).expect("a TokenRequest");
    answer["status"]["token"]
        .as_str()
        .expect("status.token")
        .to_string()
}

const READER: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
  namespace: shop
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rollout-getter
  namespace: shop
rules:
- apiGroups: [rollout-rs.io]
  resources: [rollouts]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: shop
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: rollout-getter
subjects:
- kind: ServiceAccount
  name: reader
";

const PATCH_DENIED: &str = r#"Error from server (Forbidden): rollouts.rollout-rs.io "checkout" is forbidden: User "system:serviceaccount:shop:reader" cannot patch resource "rollouts" in API group "rollout-rs.io" in the namespace "shop""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_may_get_but_not_patch() {
    let c = cluster().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(READER)).await;
    let token = sa_token(&c, "shop", "reader").await;
    let reader = c.kubeconfig_for("reader", Some(&token));

    let out = c
        .kubectl_with(&reader, &["get", "rollout", "checkout", "-n", "shop"], None)
        .await;
    assert!(out.0 && out.1.contains("checkout"), "{out:?}");

    let (ok, _, err) = c
        .kubectl_with(
            &reader,
            &[
                "patch",
                "rollout",
                "checkout",
                "-n",
                "shop",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"paused":true}}"#,
            ],
            None,
        )
        .await;
    assert!(!ok);
    assert_eq!(err.trim(), PATCH_DENIED);

    // A list is another verb, refused with the resource's plural and no name.
    let (ok, _, err) = c
        .kubectl_with(&reader, &["get", "rollouts", "-n", "shop"], None)
        .await;
    assert!(!ok);
    assert!(
        err.contains(r#"Error from server (Forbidden): rollouts.rollout-rs.io is forbidden: User "system:serviceaccount:shop:reader" cannot list resource "rollouts" in API group "rollout-rs.io" in the namespace "shop""#),
        "{err}"
    );
    // Nothing changed, and the refused patch is in the request log with its 403.
    let paused = c.jsonpath("ro/checkout", "shop", "{.spec.paused}").await;
    assert_ne!(paused, "true");
    let log: Value =
        serde_json::from_str(&c.kubectl_ok(&["get", "--raw", "/sim/requests"], None).await)
            .expect("the request log");
    let refused = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|r| r["verb"] == "patch" && r["resource"] == "rollouts" && r["code"] == 403);
    assert!(refused, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_unauthorized_bodies_are_the_real_servers() {
    let c = cluster().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(READER)).await;
    let token = sa_token(&c, "shop", "reader").await;
    let bearer = format!("Bearer {token}");
    let port = c.sim.port();
    let (code, body) = http_with_headers(
        port,
        "PATCH",
        "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts/checkout",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/merge-patch+json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(code, 403);
    let status: Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": PATCH_DENIED.trim_start_matches("Error from server (Forbidden): "),
            "reason": "Forbidden",
            "details": {"name": "checkout", "group": "rollout-rs.io", "kind": "rollouts"},
            "code": 403,
        })
    );

    // Cluster scope, subresources and paths.
    for (path, message) in [
        (
            "/api/v1/pods",
            r#"pods is forbidden: User "system:serviceaccount:shop:reader" cannot list resource "pods" in API group "" at the cluster scope"#,
        ),
        (
            "/api/v1/namespaces/shop/pods/web/log",
            r#"pods "web" is forbidden: User "system:serviceaccount:shop:reader" cannot get resource "pods/log" in API group "" in the namespace "shop""#,
        ),
        (
            "/metrics",
            r#"forbidden: User "system:serviceaccount:shop:reader" cannot get path "/metrics""#,
        ),
    ] {
        let (code, body) =
            http_with_headers(port, "GET", path, &[("Authorization", &bearer)], "").await;
        assert_eq!(code, 403, "{path}: {body}");
        let status: Value = serde_json::from_str(&body).expect("a Status");
        assert_eq!(status["message"], message, "{path}");
    }

    // An unknown token is 401, never anonymous.
    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    // (`Bearer  x`: an empty token before the second space, as the real server splits it.)
    for auth in ["Bearer nope", "Bearer  x"] {
        let (code, body) =
            http_with_headers(port, "GET", "/healthz", &[("Authorization", auth)], "").await;
        assert_eq!(code, 401, "{auth:?}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).ok(),
            Some(unauthorized.clone())
        );
    }
    // No token: anonymous, who may read the public health and version endpoints only.
    for (path, want) in [
        ("/healthz", 200),
        ("/version", 200),
        ("/readyz", 200),
        ("/api", 403),
        ("/api/v1/namespaces/shop/pods", 403),
    ] {
        let (code, body) = http_with_headers(port, "GET", path, &[], "").await;
        assert_eq!(code, want, "{path}: {body}");
    }
    let (_, body) =
        http_with_headers(port, "GET", "/api/v1/namespaces/shop/configmaps", &[], "").await;
    assert!(
        body.contains(r#"User \"system:anonymous\" cannot list resource \"configmaps\""#),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_token_is_unauthorized_in_kubectl() {
    let c = Cluster::start_with_auth().await;
    let bad = c.kubeconfig_for("bad", Some("not-a-token"));
    // With nothing cached, kubectl meets the 401 in discovery, and words it as it does with a
    // real server then.
    let (ok, _, err) = c.kubectl_with(&bad, &["get", "pods"], None).await;
    assert!(!ok);
    assert!(
        err.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
        "{err}"
    );
    // The admin kubeconfig works: it carries a system:masters token (and fills the discovery
    // cache, which is per server, not per user).
    c.kubectl_ok(&["get", "pods", "-A"], None).await;
    let (ok, _, err) = c.kubectl_with(&bad, &["get", "pods"], None).await;
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: You must be logged in to the server (Unauthorized)"
    );
}

const ALICE: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-special, namespace: shop}
rules:
- {apiGroups: [''], resources: [configmaps], resourceNames: [special], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-cm, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-special}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-logs, namespace: shop}
rules:
- {apiGroups: [''], resources: [pods/log], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-logs, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-logs}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rollout-editor}
rules:
- {apiGroups: [rollout-rs.io], resources: [rollouts], verbs: ['*']}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-rollouts, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rollout-editor}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scaler}
rules:
- {apiGroups: ['*'], resources: ['*/scale'], verbs: [get, update, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-scaler}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scaler}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-reader}
rules:
- {apiGroups: [''], resources: [nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-reader}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics}
rules:
- {nonResourceURLs: [/metrics, /debug/*], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics}
subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: sandbox}
rules:
- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-everything, namespace: sandbox}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: everything}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
";

/// One `kubectl auth can-i` question and its answer for alice (group `devs`).
struct Case {
    verb: &'static str,
    /// What kubectl is given: `resource`, `resource/name` or a `/path`.
    what: &'static str,
    /// The resource's API group (what kubectl finds by discovery).
    group: &'static str,
    namespace: Option<&'static str>,
    subresource: Option<&'static str>,
    allowed: bool,
}

const fn case(
    verb: &'static str,
    what: &'static str,
    group: &'static str,
    namespace: Option<&'static str>,
    subresource: Option<&'static str>,
    allowed: bool,
) -> Case {
    Case {
        verb,
        what,
        group,
        namespace,
        subresource,
        allowed,
    }
}

const SHOP: Option<&str> = Some("shop");

const CASES: &[Case] = &[
    // resourceNames: the named object only, never a list.
    case("get", "configmaps/special", "", SHOP, None, true),
    case("get", "configmaps/other", "", SHOP, None, false),
    case("list", "configmaps", "", SHOP, None, false),
    // Subresources are resources of their own.
    case("get", "pods", "", SHOP, Some("log"), true),
    case("get", "pods", "", SHOP, None, false),
    case("get", "pods", "", SHOP, Some("exec"), false),
    // A ClusterRole bound by a RoleBinding: in that namespace only; `*` verbs.
    case("patch", "rollouts", "rollout-rs.io", SHOP, None, true),
    case("delete", "rollouts", "rollout-rs.io", SHOP, None, true),
    case(
        "patch",
        "rollouts",
        "rollout-rs.io",
        Some("prod"),
        None,
        false,
    ),
    // `*/scale` in every group, through a group subject, cluster-wide.
    case(
        "update",
        "deployments",
        "apps",
        Some("prod"),
        Some("scale"),
        true,
    ),
    case("update", "deployments", "apps", Some("prod"), None, false),
    // Cluster-scoped resources.
    case("list", "nodes", "", None, None, true),
    case("delete", "nodes", "", None, None, false),
    case(
        "get",
        "clusterroles",
        "rbac.authorization.k8s.io",
        None,
        None,
        false,
    ),
    // Non-resource URLs: exact, prefix, verb; the bootstrap roles.
    case("get", "/metrics", "", None, None, true),
    case("get", "/debug/pprof/heap", "", None, None, true),
    case("post", "/metrics", "", None, None, false),
    case("get", "/healthz", "", None, None, true),
    case("get", "/logs", "", None, None, false),
    // Wildcard rules (and a wildcard question) through a group subject.
    case("create", "secrets", "", Some("sandbox"), None, true),
    case("*", "*", "", Some("sandbox"), None, true),
    case("create", "secrets", "", SHOP, None, false),
    case("*", "*", "", SHOP, None, false),
    // Every authenticated user may ask.
    case(
        "create",
        "selfsubjectaccessreviews",
        "authorization.k8s.io",
        None,
        None,
        true,
    ),
];

impl Case {
    fn kubectl_args(&self) -> Vec<String> {
        let mut args = vec![
            "auth".to_string(),
            "can-i".into(),
            self.verb.into(),
            self.what.into(),
        ];
        if let Some(ns) = self.namespace {
            args.extend(["-n".into(), ns.into()]);
        }
        if let Some(sub) = self.subresource {
            args.push(format!("--subresource={sub}"));
        }
        args
    }

    /// The SelfSubjectAccessReview kubectl sends for it.
    fn review(&self) -> Value {
        let spec = if self.what.starts_with('/') {
            json!({"nonResourceAttributes": {"path": self.what, "verb": self.verb}})
        } else {
            let (resource, name) = self.what.split_once('/').unwrap_or((self.what, ""));
            json!({"resourceAttributes": {
                "namespace": self.namespace.unwrap_or_default(),
                "verb": self.verb,
                "group": self.group,
                "resource": resource,
                "subresource": self.subresource.unwrap_or_default(),
                "name": name,
            }})
        };
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": spec})
    }
}

async fn alice(c: &Cluster) -> String {
    c.kubectl_ok(&["apply", "-f", "-"], Some(ALICE)).await;
    c.sim.token("alice", &["devs"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_answer_rbac() {
    let c = cluster().await;
    let token = alice(&c).await;
    let bearer = format!("Bearer {token}");
    assert!(CASES.len() >= 15);
    let mut wrong = Vec::new();
    for case in CASES {
        let (code, body) = http_with_headers(
            c.sim.port(),
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            &case.review().to_string(),
        )
        .await;
        assert_eq!(code, 201, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("a review");
        if answer["status"]["allowed"] != case.allowed {
            wrong.push(format!("{:?}: {answer}", case.kubectl_args()));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));

    // The reason names the binding, as the real RBAC authorizer's.
    let (_, body) = http_with_headers(
        c.sim.port(),
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        &CASES[0].review().to_string(),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).expect("a review");
    assert_eq!(
        answer["status"]["reason"],
        r#"RBAC: allowed by RoleBinding "alice-cm/shop" of Role "cm-special" to User "alice""#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i() {
    let c = cluster().await;
    let token = alice(&c).await;
    let kubeconfig = c.kubeconfig_for("alice", Some(&token));
    let mut wrong = Vec::new();
    for case in CASES {
        let args = case.kubectl_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = c.kubectl_with(&kubeconfig, &args, None).await;
        let want = if case.allowed { "yes" } else { "no" };
        // kubectl exits 0 for yes, 1 for no.
        if ok != case.allowed || out.trim() != want {
            wrong.push(format!("{args:?}: exit ok={ok}, {out}{err}"));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    let (ok, out, err) = c
        .kubectl_with(
            &kubeconfig,
            &["auth", "can-i", "--list", "-n", "shop"],
            None,
        )
        .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("configmaps") && out.contains("[special]"),
        "{out}"
    );
    assert!(out.contains("/metrics"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_review_lists_a_users_rules() {
    let c = cluster().await;
    let token = alice(&c).await;
    let kubeconfig = c.kubeconfig_for("alice", Some(&token));
    let review = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"shop"}}"#;
    let out = c
        .kubectl_with(
            &kubeconfig,
            &[
                "create",
                "--raw",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                "-f",
                "-",
            ],
            Some(review),
        )
        .await;
    assert!(out.0, "{out:?}");
    let answer: Value = serde_json::from_str(&out.1).expect("a review");
    let status = &answer["status"];
    assert_eq!(status["incomplete"], false);
    let rules = status["resourceRules"].as_array().expect("resourceRules");
    assert!(rules.contains(&json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["special"]})), "{status}");
    assert!(
        rules.contains(
            &json!({"verbs": ["*"], "apiGroups": ["rollout-rs.io"], "resources": ["rollouts"]})
        ),
        "{status}"
    );
    assert!(
        !rules.iter().any(|r| r["resources"] == json!(["*"])),
        "sandbox's rules are not shop's: {status}"
    );
    let urls = status["nonResourceRules"]
        .as_array()
        .expect("nonResourceRules");
    assert!(
        urls.contains(&json!({"verbs": ["get"], "nonResourceURLs": ["/metrics", "/debug/*"]})),
        "{status}"
    );
    // No namespace: the real server's 400.
    let out = c
        .kubectl_with(
            &kubeconfig,
            &[
                "create",
                "--raw",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                "-f",
                "-",
            ],
            Some(r#"{"spec":{}}"#),
        )
        .await;
    assert!(
        !out.0 && out.2.contains("no namespace on request"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_request_and_self_subject_review() {
    let c = cluster().await;
    // The ServiceAccounts controller's `default` ServiceAccount, in a namespace made now.
    c.kubectl_ok(
        &[
            "wait",
            "--for=create",
            "serviceaccount/default",
            "-n",
            "shop",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    let token = sa_token(&c, "shop", "default").await;
    let kubeconfig = c.kubeconfig_for("default", Some(&token));
    let out = c
        .kubectl_with(
            &kubeconfig,
            &[
                "create",
                "--raw",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                "-f",
                "-",
            ],
            Some(r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#),
        )
        .await;
    assert!(out.0, "{out:?}");
    let review: Value = serde_json::from_str(&out.1).expect("a review");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:shop:default");
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:shop",
            "system:authenticated"
        ])
    );
    let sa_uid = c
        .jsonpath("serviceaccount/default", "shop", "{.metadata.uid}")
        .await;
    assert_eq!(user["uid"], sa_uid.as_str());
    assert!(
        user["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .is_some_and(|id| id.starts_with("JTI="))
    );

    // The answer of the TokenRequest itself.
    let out = c
        .kubectl_ok(
            &["create", "--raw", "/api/v1/namespaces/shop/serviceaccounts/default/token", "-f", "-"],
            Some(r#"{"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","spec":{"expirationSeconds":7200}}"#),
        )
        .await;
    let answer: Value = serde_json::from_str(&out).expect("a TokenRequest");
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["spec"]["expirationSeconds"], 7200);
    assert_eq!(
        answer["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert!(
        answer["status"]["expirationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // A missing ServiceAccount is 404; a too short lifetime 422.
    let (ok, _, err) = c
        .kubectl(
            &[
                "create",
                "--raw",
                "/api/v1/namespaces/shop/serviceaccounts/ghost/token",
                "-f",
                "-",
            ],
            Some(r#"{"spec":{}}"#),
        )
        .await;
    assert!(
        !ok && err.contains(r#"serviceaccounts "ghost" not found"#),
        "{err}"
    );
    let (ok, _, err) = c
        .kubectl(
            &[
                "create",
                "--raw",
                "/api/v1/namespaces/shop/serviceaccounts/default/token",
                "-f",
                "-",
            ],
            Some(r#"{"spec":{"expirationSeconds":60}}"#),
        )
        .await;
    assert!(
        !ok && err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    // A token for another audience does not authenticate here.
    let out = c
        .kubectl_ok(
            &[
                "create",
                "--raw",
                "/api/v1/namespaces/shop/serviceaccounts/default/token",
                "-f",
                "-",
            ],
            Some(r#"{"spec":{"audiences":["vault"]}}"#),
        )
        .await;
    let vault: Value = serde_json::from_str(&out).expect("a TokenRequest");
    let vault = vault["status"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    let (code, _) = http_with_headers(
        c.sim.port(),
        "GET",
        "/api",
        &[("Authorization", &format!("Bearer {vault}"))],
        "",
    )
    .await;
    assert_eq!(code, 401);

    // The token dies with its ServiceAccount.
    let (code, _) = http_with_headers(
        c.sim.port(),
        "GET",
        "/api",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(code, 200);
    c.kubectl_ok(&["delete", "serviceaccount", "default", "-n", "shop"], None)
        .await;
    let (code, _) = http_with_headers(
        c.sim.port(),
        "GET",
        "/api",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
    .await;
    assert_eq!(code, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_token_and_whoami() {
    let c = cluster().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(READER)).await;
    let token = c
        .kubectl_ok(&["create", "token", "reader", "-n", "shop"], None)
        .await;
    let kubeconfig = c.kubeconfig_for("reader", Some(token.trim()));
    let (ok, out, err) = c.kubectl_with(&kubeconfig, &["auth", "whoami"], None).await;
    assert!(ok, "{err}");
    assert!(out.contains("system:serviceaccount:shop:reader"), "{out}");
    assert!(
        out.contains("[system:serviceaccounts system:serviceaccounts:shop system:authenticated]"),
        "{out}"
    );
    let (ok, _, err) = c
        .kubectl(&["create", "token", "ghost", "-n", "shop"], None)
        .await;
    assert!(
        !ok && err.contains(r#"serviceaccounts "ghost" not found"#),
        "{err}"
    );
    let admin = c
        .kubectl_ok(
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
            None,
        )
        .await;
    assert_eq!(admin, "kubernetes-admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_is_authorized() {
    let c = cluster().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(READER)).await;
    // The admin may act as anyone.
    let sa = "--as=system:serviceaccount:shop:reader";
    c.kubectl_ok(&["get", "rollout", "checkout", "-n", "shop", sa], None)
        .await;
    let (ok, _, err) = c
        .kubectl(
            &[
                "patch", "rollout", "checkout", "-n", "shop", sa, "--type", "merge", "-p", "{}",
            ],
            None,
        )
        .await;
    assert!(!ok);
    assert_eq!(err.trim(), PATCH_DENIED);
    let (ok, _, err) = c
        .kubectl(&["get", "pods", "--as=bob", "--as-group=devs"], None)
        .await;
    assert!(
        !ok && err.contains(r#"User "bob" cannot list resource "pods""#),
        "{err}"
    );
    // Someone else may not.
    let alice = c.sim.token("alice", &[]);
    let kubeconfig = c.kubeconfig_for("alice", Some(&alice));
    let (ok, _, err) = c
        .kubectl_with(&kubeconfig, &["get", "pods", "--as=bob"], None)
        .await;
    assert!(!ok);
    assert!(
        err.contains(r#"Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{err}"
    );
    // Unless a role lets her impersonate that ServiceAccount.
    let role = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: impersonate-reader, namespace: shop}
rules:
- {apiGroups: [''], resources: [serviceaccounts], resourceNames: [reader], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-impersonates, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: impersonate-reader}
subjects: [{kind: User, name: alice}]
";
    c.kubectl_ok(&["apply", "-f", "-"], Some(role)).await;
    let out = c
        .kubectl_with(
            &kubeconfig,
            &["get", "rollout", "checkout", "-n", "shop", sa],
            None,
        )
        .await;
    assert!(out.0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_roles_aggregate() {
    let c = cluster().await;
    // A CRD's owner labels a ClusterRole to extend `view` (and so `edit` and `admin`).
    let roles = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: rollouts-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: 'true'}
rules:
- {apiGroups: [rollout-rs.io], resources: [rollouts], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: carol-view, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: carol}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dan-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: User, name: dan}]
";
    c.kubectl_ok(&["apply", "-f", "-"], Some(roles)).await;
    let carol = c.kubeconfig_for("carol", Some(&c.sim.token("carol", &[])));
    let dan = c.kubeconfig_for("dan", Some(&c.sim.token("dan", &[])));
    for (who, args, allowed) in [
        (&carol, &["get", "rollouts", "-n", "shop"][..], true),
        (&carol, &["get", "pods", "-n", "shop"][..], true),
        (&carol, &["get", "secrets", "-n", "shop"][..], false),
        (&carol, &["get", "pods", "-n", "prod"][..], false),
        (
            &carol,
            &["delete", "configmap", "x", "-n", "shop"][..],
            false,
        ),
        (&dan, &["get", "rollouts", "-n", "shop"][..], true),
        (&dan, &["get", "secrets", "-n", "shop"][..], true),
        (&dan, &["get", "rolebindings", "-n", "shop"][..], false),
    ] {
        let (ok, out, err) = c.kubectl_with(who, args, None).await;
        assert_eq!(ok, allowed, "{args:?}: {out}{err}");
        if !allowed {
            assert!(
                err.contains("Error from server (Forbidden)"),
                "{args:?}: {err}"
            );
        }
    }
    // `edit` writes (`kubectl create configmap` sends protobuf: apply sends JSON).
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\n";
    let out = c.kubectl_with(&dan, &["apply", "-f", "-"], Some(cm)).await;
    assert!(out.0, "{out:?}");
    // `view` reads it, so kubectl apply finds it, but may not change it.
    let changed = format!("{cm}data: {{k: v}}\n");
    let out = c
        .kubectl_with(&carol, &["apply", "-f", "-"], Some(&changed))
        .await;
    assert!(
        !out.0 && out.2.contains("Error from server (Forbidden)"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_mints_tokens() {
    let c = Cluster::start_with_auth().await;
    let port = c.sim.port();
    let admin = format!("Bearer {}", c.sim.admin_token());
    let body = r#"{"username":"erin","groups":["qa"]}"#;
    let (code, _) = http_with_headers(port, "POST", "/sim/tokens", &[], body).await;
    assert_eq!(code, 403, "anonymous may not mint tokens");
    let (code, answer) = http_with_headers(
        port,
        "POST",
        "/sim/tokens",
        &[("Authorization", &admin)],
        body,
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(
        answer["user"]["groups"],
        json!(["qa", "system:authenticated"])
    );
    let token = answer["token"].as_str().expect("token");
    let (code, review) = http_with_headers(
        port,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(code, 201, "{review}");
    assert!(review.contains(r#""username":"erin""#), "{review}");
    let (code, _) = http_with_headers(
        port,
        "POST",
        "/sim/tokens",
        &[("Authorization", &admin)],
        r#"{"groups":[]}"#,
    )
    .await;
    assert_eq!(code, 400, "a username is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authorization_nothing_is_checked() {
    let c = Cluster::start().await;
    let kubeconfig = std::fs::read_to_string(c.dir.join("kubeconfig")).expect("kubeconfig");
    assert!(
        !kubeconfig.contains("token") && kubeconfig.contains("server: http://"),
        "{kubeconfig}"
    );
    let port = c.sim.port();
    // Any token, or none, may do anything.
    let (code, _) = http_with_headers(
        port,
        "GET",
        "/api/v1/namespaces/default/secrets",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(code, 200);
    // No bootstrap RBAC objects or ServiceAccounts were made.
    let out = c
        .kubectl_ok(
            &["get", "clusterroles,serviceaccounts", "-A", "-o", "name"],
            None,
        )
        .await;
    assert_eq!(out.trim(), "");
    // The review APIs answer as an AlwaysAllow server.
    let (code, body) = http_with_headers(
        port,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &[("Content-Type", "application/json")],
        &CASES[2].review().to_string(),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .ok()
            .map(|v| v["status"]["allowed"].clone()),
        Some(json!(true))
    );
    // Discovery lists them as create-only, as the real server does.
    let out = c
        .kubectl_ok(
            &[
                "api-resources",
                "--api-group=authorization.k8s.io",
                "-o",
                "wide",
            ],
            None,
        )
        .await;
    assert!(
        out.lines()
            .find(|l| l.starts_with("selfsubjectaccessreviews"))
            .is_some_and(|l| l.split_whitespace().any(|w| w == "create")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_access_and_token_reviews() {
    let c = cluster().await;
    alice(&c).await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(READER)).await;
    let post = |path: &'static str, body: Value| {
        let c = &c;
        async move {
            let out = c
                .kubectl_ok(
                    &["create", "--raw", path, "-f", "-"],
                    Some(&body.to_string()),
                )
                .await;
            serde_json::from_str::<Value>(&out).expect("a review")
        }
    };
    // Another user's access, as the admin asks it.
    let sar = |ns: &str| {
        json!({"spec": {"user": "alice", "groups": ["devs"],
            "resourceAttributes": {"namespace": ns, "verb": "get", "resource": "configmaps", "name": "special"}}})
    };
    let answer = post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        sar("shop"),
    )
    .await;
    assert_eq!(answer["status"]["allowed"], true, "{answer}");
    let answer = post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        sar("prod"),
    )
    .await;
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    let answer = post(
        "/apis/authorization.k8s.io/v1/namespaces/shop/localsubjectaccessreviews",
        json!({"spec": {"user": "alice", "resourceAttributes": {"verb": "get", "resource": "configmaps", "name": "special"}}}),
    )
    .await;
    assert_eq!(answer["status"]["allowed"], true, "{answer}");

    // Which user a token stands for.
    let token = sa_token(&c, "shop", "reader").await;
    let answer = post(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json!({"spec": {"token": token}}),
    )
    .await;
    assert_eq!(answer["status"]["authenticated"], true, "{answer}");
    assert_eq!(
        answer["status"]["user"]["username"],
        "system:serviceaccount:shop:reader"
    );
    assert_eq!(
        answer["status"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let answer = post(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        json!({"spec": {"token": "nope"}}),
    )
    .await;
    assert!(answer["status"]["authenticated"].is_null(), "{answer}");

    // Only who may: the ServiceAccount may not ask about others.
    let reader = c.kubeconfig_for("reader", Some(&token));
    let (ok, _, err) = c
        .kubectl_with(
            &reader,
            &[
                "create",
                "--raw",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                "-f",
                "-",
            ],
            Some(&sar("shop").to_string()),
        )
        .await;
    assert!(!ok);
    assert!(
        err.contains(r#"subjectaccessreviews.authorization.k8s.io is forbidden: User "system:serviceaccount:shop:reader" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope"#),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_closes_open_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = Cluster::start_with_auth().await;
    let mut watch = tokio::net::TcpStream::connect(("127.0.0.1", c.sim.port()))
        .await
        .expect("connect");
    let request = format!(
        "GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
        c.sim.admin_token()
    );
    watch.write_all(request.as_bytes()).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let n = watch.read(&mut buf).await.expect("the watch answers");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    c.sim.stop();
    // The watch ends: the connection is closed (EOF), not left open.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match watch.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the watch outlived the server");
}
