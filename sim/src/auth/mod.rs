//! Authentication and authorization as kube-apiserver does them with bearer-token
//! authentication and `--authorization-mode=RBAC`. Off unless `Config::authorization` is set;
//! then every request passes [`admit`] before it is routed, as the real server's filter chain
//! authenticates, impersonates and authorizes before any handler (so a forbidden request for an
//! unknown resource is 403, not 404):
//!
//! - [`authn`]: tokens → users (static tokens minted by the simulator's owner, ServiceAccount
//!   tokens from the TokenRequest subresource), anonymous requests, 401s;
//! - [`impersonation`]: `Impersonate-*` headers, each checked with the `impersonate` verb;
//! - [`attributes`]: the request's attributes (verb, resource, namespace...) from its path;
//! - [`rbac`]: the pure RBAC evaluator over Roles, ClusterRoles and their bindings;
//! - [`bootstrap`]: the default ClusterRoles and ClusterRoleBindings;
//! - [`review`]: the review APIs (SelfSubjectAccessReview, SelfSubjectRulesReview,
//!   SelfSubjectReview, SubjectAccessReview, TokenReview) and TokenRequest.

pub(crate) mod attributes;
pub(crate) mod authn;
mod bootstrap;
mod impersonation;
pub(crate) mod rbac;
pub(crate) mod review;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::http::request::Parts;
use serde_json::Value;

use crate::api::Server;
use crate::error::ApiError;
use crate::store::State;
use attributes::Attributes;

pub(crate) use attributes::list_name;
pub use bootstrap::{bootstrap, default_service_account};

/// The group whose members every request is allowed to (the real server's privileged-group
/// authorizer runs before RBAC).
pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";

/// Who a request is from, as `user.Info` in the real server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo {
            username: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..UserInfo::default()
        }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The `userInfo` of a review's status (`authentication.k8s.io/v1` UserInfo).
    pub fn to_json(&self) -> Value {
        let mut info = serde_json::json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            info["uid"] = Value::from(self.uid.clone());
        }
        if !self.extra.is_empty() {
            info["extra"] = serde_json::json!(self.extra);
        }
        info
    }
}

/// The simulator's authentication state: whether it is enforced, the tokens it knows and the
/// admin token its kubeconfig carries.
pub struct Auth {
    /// Whether requests are authenticated and authorized. When off, the review APIs still
    /// answer (as an AlwaysAllow server would) and tokens can still be minted.
    pub enabled: bool,
    tokens: Mutex<authn::Tokens>,
    admin_token: String,
}

/// The user the simulator's own kubeconfig authenticates as, as kubeadm names its admin.
pub const ADMIN_USER: &str = "kubernetes-admin";

impl Auth {
    pub fn new(enabled: bool) -> Self {
        let mut tokens = authn::Tokens::default();
        let admin_token = tokens.mint_static(ADMIN_USER, "", &[MASTERS.to_string()]);
        Auth {
            enabled,
            tokens: Mutex::new(tokens),
            admin_token,
        }
    }

    /// A token table lock; a panic elsewhere must not wedge authentication.
    pub(crate) fn tokens(&self) -> MutexGuard<'_, authn::Tokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A new token for `username` in `groups` (`system:authenticated` is added when the token is
    /// used, as the real server's group adder does).
    pub fn mint(&self, username: &str, uid: &str, groups: &[String]) -> String {
        self.tokens().mint_static(username, uid, groups)
    }
}

/// `POST /sim/tokens` with `{"username": "alice", "groups": ["dev"], "uid": "..."}`: a new
/// token for that user, answered with the user it authenticates as.
pub fn mint_request(auth: &Auth, body: &[u8]) -> Result<Value, ApiError> {
    let req: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let username = req
        .get("username")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let uid = req.get("uid").and_then(Value::as_str).unwrap_or_default();
    let groups: Vec<String> = match req.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(groups)) => groups
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("groups must be strings"))?,
        Some(_) => return Err(ApiError::bad_request("groups must be a list of strings")),
    };
    let token = auth.mint(username, uid, &groups);
    let user = authn::with_authenticated_group(UserInfo {
        username: username.to_string(),
        uid: uid.to_string(),
        groups,
        extra: BTreeMap::new(),
    });
    Ok(serde_json::json!({"token": token, "user": user.to_json()}))
}

/// Authenticates and authorizes a request. On success the user is stored in the request's
/// extensions (the review APIs answer for it); otherwise the error is the 401 or 403 (or a 400
/// for impersonation headers that make no sense).
pub fn admit(srv: &Server, parts: &mut Parts) -> Result<(), ApiError> {
    // The simulator's `/sim/` admin endpoints are non-resource URLs like any other: minting
    // tokens needs cluster-admin (its `*` covers them), as impersonation would.
    let auth = &srv.auth;
    let path = percent_encoding::percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let state = srv.lock();
    let requestor = authn::authenticate(auth, &state, &parts.headers)?;
    let user = impersonation::apply(&state, requestor, &parts.headers)?;
    let attrs = Attributes::from_request(parts.method.as_str(), &path, parts.uri.query());
    let decision = authorize(&state, &user, &attrs);
    drop(state);
    if !decision.allowed {
        return Err(forbidden(&attrs, &user.username, &decision.reason));
    }
    parts.extensions.insert(user);
    Ok(())
}

/// The authorizer chain of a server with `--authorization-mode=RBAC`: members of
/// `system:masters` may do anything, then RBAC decides.
pub fn authorize(state: &State, user: &UserInfo, attrs: &Attributes) -> rbac::Decision {
    if user.in_group(MASTERS) {
        return rbac::Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    rbac::authorize(&StorePolicy(state), user, attrs)
}

/// The 403 of a refused request, worded as the real server's `forbiddenMessage` and
/// `NewForbidden` word it (kubectl prints the message after `Error from server (Forbidden): `).
pub fn forbidden(attrs: &Attributes, username: &str, reason: &str) -> ApiError {
    let what = if !attrs.resource_request {
        format!(
            "User {username:?} cannot {} path {:?}",
            attrs.verb, attrs.path
        )
    } else {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {:?}", attrs.namespace)
        };
        format!(
            "User {username:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            attrs.verb, attrs.api_group
        )
    };
    let what = if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    };
    // The qualified resource is the main resource (no subresource), `resource.group`.
    let qualified = match (attrs.resource.as_str(), attrs.api_group.as_str()) {
        ("", "") => String::new(),
        (r, "") => r.to_string(),
        (r, g) => format!("{r}.{g}"),
    };
    let message = match (qualified.is_empty(), attrs.name.is_empty()) {
        (true, _) => format!("forbidden: {what}"),
        (false, true) => format!("{qualified} is forbidden: {what}"),
        (false, false) => format!("{qualified} {:?} is forbidden: {what}", attrs.name),
    };
    let mut details = serde_json::Map::new();
    for (key, value) in [
        ("name", &attrs.name),
        ("group", &attrs.api_group),
        ("kind", &attrs.resource),
    ] {
        if !value.is_empty() {
            details.insert(key.into(), Value::from(value.clone()));
        }
    }
    ApiError {
        details: Some(Value::Object(details)),
        ..ApiError::new(403, "Forbidden", message)
    }
}

/// The RBAC objects of the store, as the evaluator reads them.
pub struct StorePolicy<'a>(pub &'a State);

const RBAC: &str = "rbac.authorization.k8s.io";

impl rbac::Policy for StorePolicy<'_> {
    fn cluster_role_bindings(&self) -> Vec<&Value> {
        self.0
            .list(&format!("{RBAC}/clusterrolebindings"))
            .map(|(_, o)| o)
            .collect()
    }

    fn role_bindings(&self, namespace: &str) -> Vec<&Value> {
        self.0
            .list(&format!("{RBAC}/rolebindings"))
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, o)| o)
            .collect()
    }

    fn cluster_role(&self, name: &str) -> Option<&Value> {
        self.0.get(
            &format!("{RBAC}/clusterroles"),
            &(String::new(), name.to_string()),
        )
    }

    fn cluster_roles(&self) -> Vec<&Value> {
        self.0
            .list(&format!("{RBAC}/clusterroles"))
            .map(|(_, o)| o)
            .collect()
    }

    fn role(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.0.get(
            &format!("{RBAC}/roles"),
            &(namespace.to_string(), name.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: Option<&str>) -> Attributes {
        Attributes::from_request(method, path, query)
    }

    #[test]
    fn forbidden_messages_are_the_real_servers() {
        let e = forbidden(
            &attrs(
                "PATCH",
                "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts/checkout",
                None,
            ),
            "system:serviceaccount:shop:reader",
            "",
        );
        assert_eq!(
            e.message,
            r#"rollouts.rollout-rs.io "checkout" is forbidden: User "system:serviceaccount:shop:reader" cannot patch resource "rollouts" in API group "rollout-rs.io" in the namespace "shop""#
        );
        assert_eq!(
            e.status()["details"],
            serde_json::json!({"name": "checkout", "group": "rollout-rs.io", "kind": "rollouts"})
        );
        let e = forbidden(&attrs("GET", "/api/v1/pods", None), "x", "");
        assert_eq!(
            e.message,
            r#"pods is forbidden: User "x" cannot list resource "pods" in API group "" at the cluster scope"#
        );
        let e = forbidden(
            &attrs("GET", "/api/v1/namespaces/a/pods/web/log", None),
            "x",
            "",
        );
        assert_eq!(
            e.message,
            r#"pods "web" is forbidden: User "x" cannot get resource "pods/log" in API group "" in the namespace "a""#
        );
        let e = forbidden(&attrs("GET", "/metrics", None), "x", "");
        assert_eq!(
            e.message,
            r#"forbidden: User "x" cannot get path "/metrics""#
        );
        assert_eq!(e.status()["details"], serde_json::json!({}));
        let e = forbidden(
            &attrs("GET", "/api/v1/namespaces/a/configmaps", None),
            "x",
            r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#,
        );
        assert!(
            e.message.ends_with(
                r#"in the namespace "a": RBAC: role.rbac.authorization.k8s.io "gone" not found"#
            ),
            "{}",
            e.message
        );
        assert_eq!(e.code, 403);
        assert_eq!(e.reason, "Forbidden");
    }
}
