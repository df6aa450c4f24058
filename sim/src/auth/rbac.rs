//! The RBAC authorizer, as `plugin/pkg/auth/authorizer/rbac` decides: a request is allowed when
//! any rule of any role bound to its user allows it, and otherwise has no opinion (deny). Rules
//! come from ClusterRoleBindings (ClusterRoles, cluster-wide) and from the RoleBindings of the
//! request's namespace (a Role of that namespace or a ClusterRole, in that namespace only).
//!
//! Pure: it reads the RBAC objects through [`Policy`] and does no I/O. A ClusterRole with an
//! `aggregationRule` has the rules of every other ClusterRole its selectors match, resolved when
//! it is read (the real server's aggregation controller writes them into the object instead).

use serde_json::Value;

use super::UserInfo;
use super::attributes::Attributes;
use crate::selector::{LabelSelector, labels_of};

/// The RBAC objects, as stored (JSON).
pub trait Policy {
    fn cluster_role_bindings(&self) -> Vec<&Value>;
    fn role_bindings(&self, namespace: &str) -> Vec<&Value>;
    fn cluster_role(&self, name: &str) -> Option<&Value>;
    fn cluster_roles(&self) -> Vec<&Value>;
    fn role(&self, namespace: &str, name: &str) -> Option<&Value>;
}

/// One `PolicyRule`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    crate::ops::string_list(v.get(key))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Rule {
    pub fn from_json(v: &Value) -> Rule {
        Rule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// Whether this rule allows the request (`RuleAllows`).
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.verb_matches(&attrs.verb) {
            return false;
        }
        if !attrs.resource_request {
            return self.url_matches(&attrs.path);
        }
        let combined = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        self.api_groups
            .iter()
            .any(|g| g == "*" || *g == attrs.api_group)
            && self.resource_matches(&combined, &attrs.subresource)
            && (self.resource_names.is_empty() || self.resource_names.contains(&attrs.name))
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    /// `*`, the exact resource (`pods`, `pods/log`), or `*/<subresource>`. There is no
    /// `pods/*`: that names a subresource called `*`, as on the real server.
    fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || r == combined
                || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
        })
    }

    /// `*`, the exact path, or a prefix ending in `*`.
    fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == "*"
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
    }

    /// The rule as a review reports it (`resourceRules` / `nonResourceRules` entries).
    pub fn to_json(&self) -> (Option<Value>, Option<Value>) {
        let resource = (!self.resources.is_empty()).then(|| {
            let mut r = serde_json::json!({
                "verbs": self.verbs,
                "apiGroups": self.api_groups,
                "resources": self.resources,
            });
            if !self.resource_names.is_empty() {
                r["resourceNames"] = serde_json::json!(self.resource_names);
            }
            r
        });
        let non_resource = (!self.non_resource_urls.is_empty()).then(
            || serde_json::json!({"verbs": self.verbs, "nonResourceURLs": self.non_resource_urls}),
        );
        (resource, non_resource)
    }
}

/// The authorizer's answer: allowed, or no opinion with the reason (resolution errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// Whether a binding subject is the user (`appliesToUser`). A ServiceAccount subject without a
/// namespace means one in the binding's namespace.
fn applies_to(user: &UserInfo, subject: &Value, binding_namespace: &str) -> bool {
    let name = str_of(subject, "name");
    match str_of(subject, "kind") {
        "User" => user.username == name,
        "Group" => user.in_group(name),
        "ServiceAccount" => {
            let ns = match str_of(subject, "namespace") {
                "" => binding_namespace,
                ns => ns,
            };
            !ns.is_empty() && user.username == super::authn::service_account_username(ns, name)
        }
        _ => false,
    }
}

/// The subject as the allow reason names it (`describeSubject`).
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let kind = str_of(subject, "kind");
    let name = str_of(subject, "name");
    if kind == "ServiceAccount" {
        let ns = match str_of(subject, "namespace") {
            "" => binding_namespace,
            ns => ns,
        };
        return format!("{kind} {:?}", format!("{name}/{ns}"));
    }
    format!("{kind} {name:?}")
}

/// The rules of a ClusterRole, aggregated ones included.
fn cluster_role_rules(policy: &impl Policy, name: &str) -> Result<Vec<Rule>, String> {
    let role = policy
        .cluster_role(name)
        .ok_or_else(|| format!("clusterrole.rbac.authorization.k8s.io {name:?} not found"))?;
    let mut rules = Vec::new();
    let mut seen = vec![name.to_string()];
    collect_rules(policy, role, &mut seen, &mut rules);
    Ok(rules)
}

/// A ClusterRole's rules: its own, or, when it aggregates, those of the ClusterRoles its
/// selectors match (each of which may aggregate in turn; `seen` stops cycles).
fn collect_rules(policy: &impl Policy, role: &Value, seen: &mut Vec<String>, out: &mut Vec<Rule>) {
    let Some(selectors) = role
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    else {
        for r in role
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Rule::from_json(r));
        }
        return;
    };
    // An unparseable selector selects nothing, as the real controller skips it.
    let selectors: Vec<LabelSelector> = selectors
        .iter()
        .filter_map(|s| LabelSelector::from_json(s).ok())
        .collect();
    for other in policy.cluster_roles() {
        let name = other
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if seen.iter().any(|s| s == name) {
            continue;
        }
        let labels = labels_of(other);
        if !selectors.iter().any(|s| s.matches(&labels)) {
            continue;
        }
        seen.push(name.to_string());
        let mut rules = Vec::new();
        collect_rules(policy, other, seen, &mut rules);
        for r in rules {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
}

/// The rules a binding's `roleRef` grants (`GetRoleReferenceRules`).
fn role_ref_rules(
    policy: &impl Policy,
    binding: &Value,
    binding_namespace: &str,
) -> Result<Vec<Rule>, String> {
    let role_ref = binding.get("roleRef").unwrap_or(&Value::Null);
    let name = str_of(role_ref, "name");
    match str_of(role_ref, "kind") {
        "Role" => {
            let role = policy
                .role(binding_namespace, name)
                .ok_or_else(|| format!("role.rbac.authorization.k8s.io {name:?} not found"))?;
            Ok(role
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Rule::from_json)
                .collect())
        }
        "ClusterRole" => cluster_role_rules(policy, name),
        other => Err(format!("unsupported role reference kind: {other:?}")),
    }
}

/// What a visit sees: a rule with where it came from, or a resolution error.
enum Visit<'a> {
    Rule(&'a Rule, &'a dyn Fn() -> String),
    Error(String),
}

/// Calls `visit` with every rule that applies to `user` in `namespace` (cluster-wide ones
/// first) and every error met resolving them, until it returns false (`VisitRulesFor`).
fn visit_rules(
    policy: &impl Policy,
    user: &UserInfo,
    namespace: &str,
    visit: &mut dyn FnMut(Visit<'_>) -> bool,
) {
    let scopes: [(Vec<&Value>, &str); 2] = [
        (policy.cluster_role_bindings(), ""),
        (
            if namespace.is_empty() {
                Vec::new()
            } else {
                policy.role_bindings(namespace)
            },
            namespace,
        ),
    ];
    for (bindings, binding_ns) in scopes {
        for binding in bindings {
            let subjects = binding.get("subjects").and_then(Value::as_array);
            let Some(subject) = subjects
                .into_iter()
                .flatten()
                .find(|s| applies_to(user, s, binding_ns))
            else {
                continue;
            };
            let rules = match role_ref_rules(policy, binding, binding_ns) {
                Ok(rules) => rules,
                Err(e) => {
                    if !visit(Visit::Error(e)) {
                        return;
                    }
                    continue;
                }
            };
            let describe = || {
                let name = binding
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let role_ref = binding.get("roleRef").unwrap_or(&Value::Null);
                let (what, binding_name) = if binding_ns.is_empty() {
                    ("ClusterRoleBinding", name.to_string())
                } else {
                    ("RoleBinding", format!("{name}/{binding_ns}"))
                };
                format!(
                    "{what} {binding_name:?} of {} {:?} to {}",
                    str_of(role_ref, "kind"),
                    str_of(role_ref, "name"),
                    describe_subject(subject, binding_ns)
                )
            };
            for rule in &rules {
                if !visit(Visit::Rule(rule, &describe)) {
                    return;
                }
            }
        }
    }
}

/// Errors joined as `utilerrors.NewAggregate` prints them: one as itself, several (each once)
/// in brackets.
fn aggregate(errors: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for e in errors {
        if !unique.contains(&e.as_str()) {
            unique.push(e);
        }
    }
    match unique.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The RBAC decision on a request.
pub fn authorize(policy: &impl Policy, user: &UserInfo, attrs: &Attributes) -> Decision {
    let mut allowed_by = None;
    let mut errors = Vec::new();
    visit_rules(policy, user, &attrs.namespace, &mut |v| match v {
        Visit::Rule(rule, source) => {
            if rule.allows(attrs) {
                allowed_by = Some(format!("RBAC: allowed by {}", source()));
                return false;
            }
            true
        }
        Visit::Error(e) => {
            errors.push(e);
            true
        }
    });
    match allowed_by {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None if errors.is_empty() => Decision {
            allowed: false,
            reason: String::new(),
        },
        None => Decision {
            allowed: false,
            reason: format!("RBAC: {}", aggregate(&errors)),
        },
    }
}

/// Every rule that applies to `user` in `namespace`, and the resolution errors as one message
/// (what SelfSubjectRulesReview reports as `evaluationError`).
pub fn rules_for(policy: &impl Policy, user: &UserInfo, namespace: &str) -> (Vec<Rule>, String) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit_rules(policy, user, namespace, &mut |v| {
        match v {
            Visit::Rule(rule, _) => rules.push(rule.clone()),
            Visit::Error(e) => errors.push(e),
        }
        true
    });
    (rules, aggregate(&errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RBAC objects in memory.
    #[derive(Default)]
    struct Objects {
        cluster_roles: Vec<Value>,
        roles: Vec<Value>,
        cluster_role_bindings: Vec<Value>,
        role_bindings: Vec<Value>,
    }

    fn name_ns(v: &Value) -> (&str, &str) {
        (
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            v.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }

    impl Policy for Objects {
        fn cluster_role_bindings(&self) -> Vec<&Value> {
            self.cluster_role_bindings.iter().collect()
        }
        fn role_bindings(&self, namespace: &str) -> Vec<&Value> {
            self.role_bindings
                .iter()
                .filter(|b| name_ns(b).1 == namespace)
                .collect()
        }
        fn cluster_role(&self, name: &str) -> Option<&Value> {
            self.cluster_roles.iter().find(|r| name_ns(r).0 == name)
        }
        fn cluster_roles(&self) -> Vec<&Value> {
            self.cluster_roles.iter().collect()
        }
        fn role(&self, namespace: &str, name: &str) -> Option<&Value> {
            self.roles.iter().find(|r| name_ns(r) == (name, namespace))
        }
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
        json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
    }

    fn binding(name: &str, ns: Option<&str>, role: (&str, &str), subjects: Value) -> Value {
        let mut meta = json!({"name": name});
        if let Some(ns) = ns {
            meta["namespace"] = json!(ns);
        }
        json!({"metadata": meta, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1}, "subjects": subjects})
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        }
    }

    fn objects() -> Objects {
        let mut o = Objects::default();
        o.roles.push(
            json!({"metadata": {"name": "rollout-reader", "namespace": "shop"},
            "rules": [rule(&["get"], &["rollout-rs.io"], &["rollouts"], &[])]}),
        );
        o.roles.push(
            json!({"metadata": {"name": "special-cm", "namespace": "shop"},
            "rules": [rule(&["get", "list", "update"], &[""], &["configmaps"], &["special"])]}),
        );
        o.roles
            .push(json!({"metadata": {"name": "logs", "namespace": "shop"},
            "rules": [rule(&["get"], &[""], &["pods", "pods/log"], &[]),
                      rule(&["get", "patch"], &["*"], &["*/scale"], &[]),
                      rule(&["get"], &[""], &["services/*"], &[])]}));
        o.cluster_roles
            .push(json!({"metadata": {"name": "pod-lister"},
            "rules": [rule(&["list", "watch"], &[""], &["pods"], &[])]}));
        o.cluster_roles.push(json!({"metadata": {"name": "wild"},
            "rules": [rule(&["*"], &["*"], &["*"], &[])]}));
        o.cluster_roles.push(json!({"metadata": {"name": "metrics"},
            "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]}]}));
        // Aggregation: `agg-view` gathers every role labelled view=true; `agg-edit` gathers
        // `agg-view` (labelled edit=true) and its own part.
        o.cluster_roles.push(
            json!({"metadata": {"name": "agg-view", "labels": {"edit": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"view": "true"}}]},
            "rules": [rule(&["delete"], &["*"], &["*"], &[])]}),
        );
        o.cluster_roles.push(
            json!({"metadata": {"name": "view-secrets", "labels": {"view": "true"}},
            "rules": [rule(&["get"], &[""], &["secrets"], &[])]}),
        );
        o.cluster_roles.push(
            json!({"metadata": {"name": "edit-secrets", "labels": {"edit": "true"}},
            "rules": [rule(&["update"], &[""], &["secrets"], &[])]}),
        );
        o.cluster_roles.push(json!({"metadata": {"name": "agg-edit"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "edit", "operator": "In", "values": ["true"]}]}]}}));
        o.role_bindings.push(binding(
            "reader",
            Some("shop"),
            ("Role", "rollout-reader"),
            json!([{"kind": "ServiceAccount", "name": "reader"}]),
        ));
        o.role_bindings.push(binding(
            "special",
            Some("shop"),
            ("Role", "special-cm"),
            json!([{"kind": "User", "name": "alice"}]),
        ));
        o.role_bindings.push(binding(
            "logs",
            Some("shop"),
            ("Role", "logs"),
            json!([{"kind": "Group", "name": "devs"}]),
        ));
        o.role_bindings.push(binding(
            "pods",
            Some("shop"),
            ("ClusterRole", "pod-lister"),
            json!([{"kind": "User", "name": "bob"}]),
        ));
        o.role_bindings.push(binding(
            "broken",
            Some("shop"),
            ("Role", "gone"),
            json!([{"kind": "User", "name": "carol"}]),
        ));
        o.role_bindings.push(binding(
            "agg",
            Some("shop"),
            ("ClusterRole", "agg-edit"),
            json!([{"kind": "User", "name": "dave"}]),
        ));
        o.cluster_role_bindings.push(binding(
            "admins",
            None,
            ("ClusterRole", "wild"),
            json!([{"kind": "Group", "name": "admins"}]),
        ));
        o.cluster_role_bindings.push(binding(
            "metrics",
            None,
            ("ClusterRole", "metrics"),
            json!([{"kind": "ServiceAccount", "name": "scraper", "namespace": "mon"}]),
        ));
        o.cluster_role_bindings.push(binding(
            "no-ns-sa",
            None,
            ("ClusterRole", "wild"),
            json!([{"kind": "ServiceAccount", "name": "nobody"}]),
        ));
        o
    }

    #[test]
    fn decisions() {
        let o = objects();
        let reader = user(
            "system:serviceaccount:shop:reader",
            &["system:serviceaccounts"],
        );
        let other_reader = user("system:serviceaccount:other:reader", &[]);
        let alice = user("alice", &[]);
        let bob = user("bob", &[]);
        let dev = user("erin", &["devs"]);
        let admin = user("root", &["admins"]);
        let scraper = user("system:serviceaccount:mon:scraper", &[]);
        let dave = user("dave", &[]);
        let no_ns_sa = user("system:serviceaccount::nobody", &[]);
        let nobody = user("nobody", &[]);
        let r = |m: &str, p: &str| Attributes::from_request(m, p, None);
        let rollout = "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts/checkout";
        let cm = |name: &str| format!("/api/v1/namespaces/shop/configmaps/{name}");
        let cases: Vec<(&str, &UserInfo, Attributes, bool)> = vec![
            ("SA gets rollout", &reader, r("GET", rollout), true),
            ("SA may not patch", &reader, r("PATCH", rollout), false),
            (
                "SA may not list",
                &reader,
                r(
                    "GET",
                    "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts",
                ),
                false,
            ),
            (
                "SA of another namespace",
                &other_reader,
                r("GET", rollout),
                false,
            ),
            (
                "role only in its namespace",
                &reader,
                r(
                    "GET",
                    "/apis/rollout-rs.io/v1alpha1/namespaces/prod/rollouts/checkout",
                ),
                false,
            ),
            (
                "wrong group",
                &reader,
                r("GET", "/apis/other.io/v1/namespaces/shop/rollouts/checkout"),
                false,
            ),
            (
                "resourceName matches",
                &alice,
                r("GET", &cm("special")),
                true,
            ),
            (
                "resourceName other name",
                &alice,
                r("GET", &cm("plain")),
                false,
            ),
            (
                "resourceName never matches list",
                &alice,
                r("GET", "/api/v1/namespaces/shop/configmaps"),
                false,
            ),
            (
                "resourceName never matches create",
                &alice,
                r("POST", "/api/v1/namespaces/shop/configmaps"),
                false,
            ),
            (
                "resourceName list by field selector",
                &alice,
                Attributes::from_request(
                    "GET",
                    "/api/v1/namespaces/shop/configmaps",
                    Some("fieldSelector=metadata.name%3Dspecial"),
                ),
                true,
            ),
            (
                "subresource exact",
                &dev,
                r("GET", "/api/v1/namespaces/shop/pods/web/log"),
                true,
            ),
            (
                "subresource not granted",
                &dev,
                r("GET", "/api/v1/namespaces/shop/pods/web/exec"),
                false,
            ),
            (
                "main resource does not grant status",
                &dev,
                r("GET", "/api/v1/namespaces/shop/pods/web/status"),
                false,
            ),
            (
                "*/scale any group",
                &dev,
                r(
                    "PATCH",
                    "/apis/apps/v1/namespaces/shop/deployments/web/scale",
                ),
                true,
            ),
            (
                "*/scale is not the main resource",
                &dev,
                r("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web"),
                false,
            ),
            (
                "resource/* is literal",
                &dev,
                r("GET", "/api/v1/namespaces/shop/services/web/proxy"),
                false,
            ),
            (
                "group subject",
                &dev,
                r("GET", "/api/v1/namespaces/shop/pods/web"),
                true,
            ),
            (
                "ClusterRole via RoleBinding",
                &bob,
                r("GET", "/api/v1/namespaces/shop/pods"),
                true,
            ),
            (
                "... only in that namespace",
                &bob,
                r("GET", "/api/v1/namespaces/prod/pods"),
                false,
            ),
            (
                "... not cluster-wide",
                &bob,
                r("GET", "/api/v1/pods"),
                false,
            ),
            (
                "wildcards everywhere",
                &admin,
                r("DELETE", "/apis/x.io/v1/things"),
                true,
            ),
            (
                "wildcard covers subresources",
                &admin,
                r("PUT", "/api/v1/namespaces/a/pods/p/status"),
                true,
            ),
            (
                "resource wildcards not paths",
                &admin,
                r("GET", "/healthz"),
                false,
            ),
            ("non-resource exact", &scraper, r("GET", "/metrics"), true),
            (
                "non-resource prefix",
                &scraper,
                r("GET", "/logs/kube.log"),
                true,
            ),
            ("non-resource verb", &scraper, r("POST", "/metrics"), false),
            ("non-resource other", &scraper, r("GET", "/metricsx"), false),
            (
                "SA subject without namespace in a ClusterRoleBinding",
                &no_ns_sa,
                r("GET", "/api/v1/pods"),
                false,
            ),
            (
                "aggregated rules",
                &dave,
                r("GET", "/api/v1/namespaces/shop/secrets/s"),
                true,
            ),
            (
                "nested aggregation",
                &dave,
                r("PUT", "/api/v1/namespaces/shop/secrets/s"),
                true,
            ),
            (
                "aggregated role's own rules replaced",
                &dave,
                r("DELETE", "/api/v1/namespaces/shop/secrets/s"),
                false,
            ),
            (
                "default deny",
                &nobody,
                r("GET", "/api/v1/namespaces/shop/pods"),
                false,
            ),
        ];
        for (what, who, attrs, want) in cases {
            assert_eq!(
                authorize(&o, who, &attrs).allowed,
                want,
                "{what}: {attrs:?}"
            );
        }
    }

    #[test]
    fn reasons() {
        let o = objects();
        let reader = user("system:serviceaccount:shop:reader", &[]);
        let get = Attributes::from_request(
            "GET",
            "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts/x",
            None,
        );
        assert_eq!(
            authorize(&o, &reader, &get).reason,
            r#"RBAC: allowed by RoleBinding "reader/shop" of Role "rollout-reader" to ServiceAccount "reader/shop""#
        );
        let admin = user("root", &["admins"]);
        assert_eq!(
            authorize(&o, &admin, &get).reason,
            r#"RBAC: allowed by ClusterRoleBinding "admins" of ClusterRole "wild" to Group "admins""#
        );
        let carol = user("carol", &[]);
        assert_eq!(
            authorize(&o, &carol, &get),
            Decision {
                allowed: false,
                reason: r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#.into()
            }
        );
        assert_eq!(aggregate(&["a".into(), "b".into(), "a".into()]), "[a, b]");
    }

    #[test]
    fn rules_of_a_user() {
        let o = objects();
        let (rules, err) = rules_for(&o, &user("bob", &[]), "shop");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].verbs, ["list", "watch"]);
        assert!(err.is_empty());
        let (rules, _) = rules_for(&o, &user("bob", &[]), "prod");
        assert!(rules.is_empty());
        let (_, err) = rules_for(&o, &user("carol", &[]), "shop");
        assert_eq!(err, r#"role.rbac.authorization.k8s.io "gone" not found"#);
        let (rules, _) = rules_for(&o, &user("dave", &[]), "shop");
        assert_eq!(rules.len(), 2, "{rules:?}");
    }
}
