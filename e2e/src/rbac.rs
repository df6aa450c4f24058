//! RBAC as the API server's authorizer decides it, for one ServiceAccount: the rules a set of
//! (Cluster)Roles and bindings grants it ([`Grants`]), whether a rule allows a request
//! (verbs, apiGroups, resources with `x/status` subresources and `*/status`, resourceNames,
//! `*`), and which requests of the simulator's log ([`Call`]) the grants do not allow
//! ([`disallowed`]). RoleBindings grant their rules in their own namespace only; a request
//! without a namespace (a cluster-wide list or watch, a cluster-scoped kind) needs a
//! ClusterRoleBinding. A server-side apply that creates its object needs `create` as well as
//! `patch`: the log says `patch` either way, so an apply is taken as a create when it was
//! answered 201 Created or when the log last saw its object missing (a `get` answered 404, or
//! a delete). The simulator answers 200 to an apply that creates: an apply of an object the
//! log never saw (the Git reconciler's first apply of a new object) counts as a patch only.
//!
//! The one place the tests evaluate RBAC: a simulator that enforces it can take over from here.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde::Deserialize;
use serde_json::Value;

/// One request of the simulator's request log (`GET /sim/requests`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub verb: String,
    #[serde(default)]
    pub group: String,
    pub resource: String,
    #[serde(default)]
    pub subresource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub code: u16,
}

impl Call {
    /// `resource` or `resource/subresource`, as rules name it.
    pub fn resource_path(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.resource_path()
        } else {
            format!("{}/{}", self.group, self.resource_path())
        }
    }
}

/// The rules one ServiceAccount holds: cluster-wide (ClusterRoleBindings) and per namespace
/// (RoleBindings, to a Role or a ClusterRole).
#[derive(Clone, Debug, Default)]
pub struct Grants {
    cluster: Vec<PolicyRule>,
    namespaced: BTreeMap<String, Vec<PolicyRule>>,
}

impl Grants {
    /// What the objects of `objects` (any kinds; the RBAC ones are read) grant the
    /// ServiceAccount `namespace/name`. A binding to a role missing from `objects` grants
    /// nothing, as on a cluster.
    pub fn of_service_account(
        objects: &[Value],
        namespace: &str,
        name: &str,
    ) -> Result<Grants, String> {
        let of_kind = |kind: &'static str| {
            objects
                .iter()
                .filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
        };
        let decode = |o: &Value| {
            let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
            format!("a {kind} that does not decode: {o}")
        };
        let mut cluster_roles = HashMap::new();
        for o in of_kind("ClusterRole") {
            let role: ClusterRole = serde_json::from_value(o.clone()).map_err(|_| decode(o))?;
            cluster_roles.insert(
                role.metadata.name.clone().unwrap_or_default(),
                role.rules.unwrap_or_default(),
            );
        }
        let mut roles = HashMap::new();
        for o in of_kind("Role") {
            let role: Role = serde_json::from_value(o.clone()).map_err(|_| decode(o))?;
            roles.insert(
                (
                    role.metadata.namespace.clone().unwrap_or_default(),
                    role.metadata.name.clone().unwrap_or_default(),
                ),
                role.rules.unwrap_or_default(),
            );
        }
        let is_us = |s: &k8s_openapi::api::rbac::v1::Subject| {
            s.kind == "ServiceAccount"
                && s.name == name
                && s.namespace.as_deref() == Some(namespace)
        };
        let mut grants = Grants::default();
        for o in of_kind("ClusterRoleBinding") {
            let b: ClusterRoleBinding = serde_json::from_value(o.clone()).map_err(|_| decode(o))?;
            if b.role_ref.kind == "ClusterRole"
                && b.subjects.iter().flatten().any(is_us)
                && let Some(rules) = cluster_roles.get(&b.role_ref.name)
            {
                grants.cluster.extend(rules.iter().cloned());
            }
        }
        for o in of_kind("RoleBinding") {
            let b: RoleBinding = serde_json::from_value(o.clone()).map_err(|_| decode(o))?;
            if !b.subjects.iter().flatten().any(is_us) {
                continue;
            }
            let ns = b.metadata.namespace.clone().unwrap_or_default();
            let rules = match b.role_ref.kind.as_str() {
                "Role" => roles.get(&(ns.clone(), b.role_ref.name.clone())),
                "ClusterRole" => cluster_roles.get(&b.role_ref.name),
                _ => None,
            };
            if let Some(rules) = rules {
                grants
                    .namespaced
                    .entry(ns)
                    .or_default()
                    .extend(rules.iter().cloned());
            }
        }
        Ok(grants)
    }

    /// Whether `verb` on what `call` names is allowed.
    pub fn allows(&self, verb: &str, call: &Call) -> bool {
        let namespaced = call
            .namespace
            .as_ref()
            .and_then(|ns| self.namespaced.get(ns))
            .into_iter()
            .flatten();
        self.cluster
            .iter()
            .chain(namespaced)
            .any(|rule| rule_allows(rule, verb, call))
    }
}

/// Whether one rule allows `verb` on the object (or collection) `call` names, as the RBAC
/// authorizer matches: verbs, apiGroups and resources by value or `*`, a subresource as
/// `resource/sub` or `*/sub`, resourceNames only for requests that name an object.
pub fn rule_allows(rule: &PolicyRule, verb: &str, call: &Call) -> bool {
    let has = |list: &[String], want: &str| list.iter().any(|v| v == "*" || v == want);
    let groups = rule.api_groups.as_deref().unwrap_or_default();
    let resources = rule.resources.as_deref().unwrap_or_default();
    let resource_ok = resources.iter().any(|r| {
        r == "*"
            || *r == call.resource_path()
            || call
                .subresource
                .as_ref()
                .is_some_and(|sub| r.strip_prefix("*/") == Some(sub.as_str()))
    });
    let names = rule.resource_names.as_deref().unwrap_or_default();
    let name_ok = names.is_empty()
        || call
            .name
            .as_ref()
            .is_some_and(|n| names.iter().any(|r| r == n));
    has(&rule.verbs, verb) && has(groups, &call.group) && resource_ok && name_ok
}

/// Whether an object exists, as far as the log has shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Present,
    Absent,
}

/// The calls of `log` that `ours` selects and `grants` do not allow, each kind of call said
/// once (verb, resource, namespace) with how often it was made and the first object it
/// named. `log` is the whole log in order: other clients' calls say which objects exist.
pub fn disallowed(grants: &Grants, log: &[Call], ours: impl Fn(&Call) -> bool) -> Vec<String> {
    let mut seen: HashMap<(String, String, Option<String>, String), Seen> = HashMap::new();
    let mut refused: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for call in log {
        let key = call
            .name
            .as_ref()
            .filter(|_| call.subresource.is_none())
            .map(|name| {
                (
                    call.group.clone(),
                    call.resource.clone(),
                    call.namespace.clone(),
                    name.clone(),
                )
            });
        let before = key.as_ref().and_then(|k| seen.get(k).copied());
        let ok = (200..300).contains(&call.code);
        if ours(call) {
            let mut verbs = vec![call.verb.as_str()];
            // A server-side apply answered 201 (as the real API server answers one that
            // creates), or of an object the log last saw missing, created it.
            if call.verb == "patch" && (call.code == 201 || ok && before == Some(Seen::Absent)) {
                verbs.push("create");
            }
            for verb in verbs {
                if !grants.allows(verb, call) {
                    let what = format!(
                        "{verb} {} {}",
                        call.group_resource(),
                        call.namespace
                            .as_deref()
                            .map_or("(cluster-wide)".to_string(), |ns| format!("in {ns}")),
                    );
                    let example = call.name.clone().unwrap_or_default();
                    refused.entry(what).or_insert((0, example)).0 += 1;
                }
            }
        }
        if let Some(key) = key {
            let after = match (call.verb.as_str(), call.code) {
                ("delete", c) if (200..300).contains(&c) => Some(Seen::Absent),
                (_, 404) => Some(Seen::Absent),
                ("get" | "create" | "patch" | "update", c) if (200..300).contains(&c) => {
                    Some(Seen::Present)
                }
                _ => None,
            };
            if let Some(after) = after {
                seen.insert(key, after);
            }
        }
    }
    refused
        .into_iter()
        .map(|(what, (n, example))| {
            if example.is_empty() {
                format!("{what} ({n}x)")
            } else {
                format!("{what} ({n}x, e.g. {example})")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(verb: &str, group: &str, resource: &str, ns: Option<&str>, name: Option<&str>) -> Call {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r.to_string(), Some(s.to_string())),
            None => (resource.to_string(), None),
        };
        Call {
            verb: verb.into(),
            group: group.into(),
            resource,
            subresource,
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            user_agent: "us".into(),
            code: 200,
        }
    }

    fn rule(v: Value) -> PolicyRule {
        serde_json::from_value(v).expect("a PolicyRule")
    }

    #[test]
    fn rules_match_as_the_rbac_authorizer_matches() {
        let status = call(
            "update",
            "rollout-rs.io",
            "rollouts/status",
            Some("a"),
            Some("web"),
        );
        let main = call(
            "update",
            "rollout-rs.io",
            "rollouts",
            Some("a"),
            Some("web"),
        );
        let lease = call(
            "update",
            "coordination.k8s.io",
            "leases",
            Some("a"),
            Some("x"),
        );
        let list = call("list", "coordination.k8s.io", "leases", Some("a"), None);
        for (r, c, want) in [
            (
                json!({"apiGroups": ["rollout-rs.io"], "resources": ["rollouts"], "verbs": ["update"]}),
                &status,
                false,
            ),
            (
                json!({"apiGroups": ["rollout-rs.io"], "resources": ["rollouts/status"], "verbs": ["update"]}),
                &status,
                true,
            ),
            (
                json!({"apiGroups": ["rollout-rs.io"], "resources": ["rollouts/status"], "verbs": ["update"]}),
                &main,
                false,
            ),
            (
                json!({"apiGroups": ["rollout-rs.io"], "resources": ["*/status"], "verbs": ["update"]}),
                &status,
                true,
            ),
            (
                json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
                &status,
                true,
            ),
            (
                json!({"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}),
                &status,
                false,
            ),
            (
                json!({"apiGroups": ["rollout-rs.io"], "resources": ["rollouts/status"], "verbs": ["patch"]}),
                &status,
                false,
            ),
            (
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["x"], "verbs": ["update"]}),
                &lease,
                true,
            ),
            (
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["y"], "verbs": ["update"]}),
                &lease,
                false,
            ),
            (
                json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["x"], "verbs": ["list"]}),
                &list,
                false,
            ),
        ] {
            assert_eq!(
                rule_allows(&rule(r.clone()), &c.verb, c),
                want,
                "{r} for {c:?}"
            );
        }
    }

    fn chart(namespaced: bool) -> Vec<Value> {
        let sa = json!([{"kind": "ServiceAccount", "name": "ctl", "namespace": "sys"}]);
        let rules = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "patch"]}]);
        if namespaced {
            vec![
                json!({"kind": "Role", "metadata": {"name": "r", "namespace": "team"}, "rules": rules}),
                json!({"kind": "RoleBinding", "metadata": {"name": "r", "namespace": "team"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": sa}),
                // Bound to someone else: grants us nothing.
                json!({"kind": "ClusterRoleBinding", "metadata": {"name": "o"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "c"},
                    "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "sys"}]}),
                json!({"kind": "ClusterRole", "metadata": {"name": "c"}, "rules": rules}),
            ]
        } else {
            vec![
                json!({"kind": "ClusterRole", "metadata": {"name": "c"}, "rules": rules}),
                json!({"kind": "ClusterRoleBinding", "metadata": {"name": "c"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "c"}, "subjects": sa}),
            ]
        }
    }

    #[test]
    fn role_bindings_grant_in_their_namespace_only() {
        let role = Grants::of_service_account(&chart(true), "sys", "ctl").expect("grants");
        let cluster = Grants::of_service_account(&chart(false), "sys", "ctl").expect("grants");
        let in_team = call("list", "", "pods", Some("team"), None);
        let elsewhere = call("list", "", "pods", Some("other"), None);
        let everywhere = call("list", "", "pods", None, None);
        assert!(role.allows("list", &in_team));
        assert!(!role.allows("list", &elsewhere));
        assert!(!role.allows("list", &everywhere));
        assert!(cluster.allows("list", &everywhere) && cluster.allows("list", &elsewhere));
        let stranger = Grants::of_service_account(&chart(false), "sys", "nobody").expect("grants");
        assert!(!stranger.allows("list", &in_team));
    }

    #[test]
    fn an_apply_of_an_object_seen_missing_needs_create() {
        let grants = Grants::of_service_account(&chart(false), "sys", "ctl").expect("grants");
        let mut missing = call("get", "", "pods", Some("team"), Some("p"));
        missing.code = 404;
        missing.user_agent = "them".into();
        let apply = call("patch", "", "pods", Some("team"), Some("p"));
        let log = [missing.clone(), apply.clone(), apply.clone()];
        assert_eq!(
            disallowed(&grants, &log, |c| c.user_agent == "us"),
            ["create pods in team (1x, e.g. p)"],
            "the first apply created the pod, the second only patched it"
        );
        // Never seen missing: a patch of something that exists.
        assert!(disallowed(&grants, std::slice::from_ref(&apply), |_| true).is_empty());
        // Answered 201 Created, as the real API server answers an apply that creates.
        let created = Call {
            code: 201,
            ..apply.clone()
        };
        assert_eq!(
            disallowed(&grants, &[created], |_| true),
            ["create pods in team (1x, e.g. p)"]
        );
        // Other clients' calls are not judged.
        let delete = call("delete", "", "pods", Some("team"), Some("p"));
        assert!(
            disallowed(&grants, std::slice::from_ref(&delete), |c| c.user_agent
                == "them")
            .is_empty()
        );
        assert_eq!(
            disallowed(&grants, &[delete.clone(), delete], |_| true),
            ["delete pods in team (2x, e.g. p)"]
        );
    }
}
