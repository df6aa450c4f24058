//! The create-only review APIs and the TokenRequest subresource, answered as the real server's
//! REST handlers answer them (201 with the request echoed and `status` filled in; nothing is
//! stored):
//!
//! - `authorization.k8s.io/v1` SelfSubjectAccessReview (`kubectl auth can-i`),
//!   SelfSubjectRulesReview (`kubectl auth can-i --list`), SubjectAccessReview and
//!   LocalSubjectAccessReview;
//! - `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`) and TokenReview;
//! - `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token` (`kubectl create token NAME`).
//!
//! With authorization off the server behaves as one with `--authorization-mode=AlwaysAllow`:
//! every access review is allowed and the requests' user is anonymous.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::attributes::Attributes;
use super::authn::{self, API_AUDIENCE, BoundObject, ServiceAccountClaims};
use super::{StorePolicy, UserInfo};
use crate::api::{Server, json_response};
use crate::error::{ApiError, FieldError};
use crate::registry::ResourceType;
use crate::store::State;

/// Default and bounds of a requested token's lifetime, as the real server's.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// A request on a review resource or the token subresource.
pub struct Request<'a> {
    pub rt: &'a ResourceType,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub method: &'a Method,
    pub body: &'a [u8],
    /// The authenticated user; `None` when authorization is off.
    pub user: Option<&'a UserInfo>,
}

fn is_token_request(rt: &ResourceType, sub: Option<&str>) -> bool {
    sub == Some("token") && rt.group.is_empty() && rt.plural == "serviceaccounts"
}

/// Whether this module answers requests on `rt` (and subresource `sub`).
pub fn handles(rt: &ResourceType, sub: Option<&str>) -> bool {
    rt.create_only || is_token_request(rt, sub)
}

/// Answers a request on a review resource or the token subresource.
pub fn serve(srv: &Server, req: Request<'_>) -> Response {
    match answer(srv, &req) {
        Ok(body) => json_response(StatusCode::CREATED, &body),
        Err(e) => e.into_response(),
    }
}

fn answer(srv: &Server, req: &Request<'_>) -> Result<Value, ApiError> {
    let token_request = is_token_request(req.rt, req.sub);
    let path_ok = if token_request {
        req.name.is_some()
    } else {
        req.name.is_none() && req.sub.is_none()
    };
    if req.method != Method::POST || !path_ok {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let (group, kind) = if token_request {
        ("authentication.k8s.io", "TokenRequest")
    } else {
        (req.rt.group.as_str(), req.rt.kind.as_str())
    };
    let body = parse_body(req.body, group, kind)?;
    let anonymous = UserInfo::anonymous();
    let user = req.user.unwrap_or(&anonymous);
    let enforced = req.user.is_some();
    match kind {
        "TokenRequest" => {
            let (ns, name) = (
                req.namespace.unwrap_or_default(),
                req.name.unwrap_or_default(),
            );
            token_request_answer(srv, ns, name, body)
        }
        "SelfSubjectReview" => Ok(json!({
            "kind": kind,
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "status": {"userInfo": user.to_json()},
        })),
        "TokenReview" => Ok(token_review(srv, body)),
        "SelfSubjectRulesReview" => {
            let ns = body
                .pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if ns.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            let status = if enforced {
                rules_status(&srv.lock(), user, ns)
            } else {
                always_allow_rules()
            };
            Ok(json!({
                "kind": kind,
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": status,
            }))
        }
        "SelfSubjectAccessReview" => {
            let attrs = access_attributes(&body, kind, None)?;
            Ok(access_answer(srv, body, enforced.then_some(user), &attrs))
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let subject = review_subject(&body, kind)?;
            let attrs = access_attributes(&body, kind, req.namespace)?;
            Ok(access_answer(
                srv,
                body,
                enforced.then_some(&subject),
                &attrs,
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// The request body as a JSON object of the expected kind.
fn parse_body(body: &[u8], group: &str, kind: &str) -> Result<Value, ApiError> {
    let mut obj: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        })?
    };
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body of a {kind} must be an object"
        )));
    };
    if let Some(k) = map.get("kind").and_then(Value::as_str)
        && k != kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the request body ({k}) is not {kind}"
        )));
    }
    map.insert("kind".into(), json!(kind));
    map.insert("apiVersion".into(), json!(format!("{group}/v1")));
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.entry("creationTimestamp").or_insert(Value::Null);
    }
    Ok(obj)
}

fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> ApiError {
    ApiError::invalid_fields(group, kind, name, errors)
}

/// What an access review asks about (`ResourceAttributesFrom` / `NonResourceAttributesFrom`).
/// A LocalSubjectAccessReview is about its own namespace only.
fn access_attributes(
    body: &Value,
    kind: &str,
    local_namespace: Option<&str>,
) -> Result<Attributes, ApiError> {
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let group = "authorization.k8s.io";
    match (resource, non_resource) {
        (Some(_), Some(_)) => Err(invalid(
            kind,
            group,
            "",
            &[FieldError::invalid(
                "spec.nonResourceAttributes",
                "object",
                "cannot be specified in combination with resourceAttributes",
            )],
        )),
        (None, None) => Err(invalid(
            kind,
            group,
            "",
            &[FieldError::invalid(
                "spec.resourceAttributes",
                "null",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        )),
        (None, Some(_)) if local_namespace.is_some() => Err(invalid(
            kind,
            group,
            "",
            &[FieldError::invalid(
                "spec.nonResourceAttributes",
                "object",
                "disallowed on this kind of request",
            )],
        )),
        (Some(r), None) => {
            let mut namespace = s(r, "namespace");
            if let Some(local) = local_namespace {
                if !namespace.is_empty() && namespace != local {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {local}"
                    )));
                }
                namespace = local.to_string();
            }
            Ok(Attributes {
                verb: s(r, "verb"),
                resource_request: true,
                api_group: s(r, "group"),
                api_version: s(r, "version"),
                namespace,
                resource: s(r, "resource"),
                subresource: s(r, "subresource"),
                name: s(r, "name"),
                ..Attributes::default()
            })
        }
        (None, Some(n)) => Ok(Attributes {
            verb: s(n, "verb"),
            path: s(n, "path"),
            ..Attributes::default()
        }),
    }
}

/// The user a (Local)SubjectAccessReview asks about.
fn review_subject(body: &Value, kind: &str) -> Result<UserInfo, ApiError> {
    let spec = body.get("spec").unwrap_or(&Value::Null);
    let username = spec
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let groups = crate::ops::string_list(spec.get("groups"));
    if username.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            "authorization.k8s.io",
            "",
            &[FieldError::invalid(
                "spec.user",
                "",
                "at least one of user or group must be specified",
            )],
        ));
    }
    let extra = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let values = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    (k.clone(), values)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(UserInfo {
        username,
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        groups,
        extra,
    })
}

/// The review echoed with its decision; `user` is `None` when authorization is off
/// (AlwaysAllow).
fn access_answer(
    srv: &Server,
    mut body: Value,
    user: Option<&UserInfo>,
    attrs: &Attributes,
) -> Value {
    let decision = match user {
        Some(user) => super::authorize(&srv.lock(), user, attrs),
        None => super::rbac::Decision {
            allowed: true,
            reason: String::new(),
        },
    };
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    body["status"] = status;
    body
}

/// A SelfSubjectRulesReview's status: the user's rules in the namespace. Members of
/// `system:masters` see only their bindings' rules (the privileged-group authorizer lists
/// none), as on a real server.
fn rules_status(state: &State, user: &UserInfo, namespace: &str) -> Value {
    let (rules, error) = super::rbac::rules_for(&StorePolicy(state), user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in &rules {
        let (r, n) = rule.to_json();
        resource_rules.extend(r);
        non_resource_rules.extend(n);
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if !error.is_empty() {
        status["evaluationError"] = json!(error);
    }
    status
}

fn always_allow_rules() -> Value {
    json!({
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    })
}

/// The audiences a request names, or the API server's own when it names none.
fn audiences_or_api(v: Option<&Value>) -> Vec<String> {
    let mut audiences = crate::ops::string_list(v);
    if audiences.is_empty() {
        audiences.push(API_AUDIENCE.to_string());
    }
    audiences
}

/// A TokenReview: whether the token is valid now, for whom and for which audiences.
fn token_review(srv: &Server, mut body: Value) -> Value {
    let token = body
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let wanted = audiences_or_api(body.pointer("/spec/audiences"));
    let found = {
        let state = srv.lock();
        authn::authenticate_token_for(&srv.auth, &state, &token, &wanted)
    };
    body["status"] = match found {
        Some((user, audiences)) => json!({
            "authenticated": true,
            "user": authn::with_authenticated_group(user).to_json(),
            "audiences": audiences,
        }),
        None => json!({"user": {}}),
    };
    body
}

/// `POST .../serviceaccounts/NAME/token`: a token for an existing ServiceAccount, optionally
/// bound to a Pod or Secret of its namespace.
fn token_request_answer(
    srv: &Server,
    ns: &str,
    name: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    const GROUP: &str = "authentication.k8s.io";
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = match spec.get("expirationSeconds").filter(|v| !v.is_null()) {
        None => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    let bad_duration = if expiration < MIN_EXPIRATION_SECONDS {
        Some("may not specify a duration less than 10 minutes")
    } else if expiration > MAX_EXPIRATION_SECONDS {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(detail) = bad_duration {
        return Err(ApiError::invalid_fields(
            GROUP,
            "TokenRequest",
            name,
            &[FieldError::invalid_raw(
                "spec.expirationSeconds",
                &expiration.to_string(),
                detail,
            )],
        ));
    }
    let audiences = audiences_or_api(spec.get("audiences"));
    let bound_ref = spec.get("boundObjectRef").filter(|v| !v.is_null());
    let (sa_uid, bound) = {
        let state = srv.lock();
        let sa = state
            .get("/serviceaccounts", &(ns.to_string(), name.to_string()))
            .ok_or_else(|| ApiError::not_found("serviceaccounts", name))?;
        let sa_uid = sa
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let bound = match bound_ref {
            None => None,
            Some(r) => Some(bound_object(&state, ns, r)?),
        };
        (sa_uid, bound)
    };
    let expires = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() + expiration)
        .map_err(|e| ApiError::bad_request(format!("spec.expirationSeconds: {e}")))?;
    let token = srv
        .auth
        .tokens()
        .mint_service_account(ServiceAccountClaims {
            namespace: ns.to_string(),
            name: name.to_string(),
            uid: sa_uid,
            audiences: audiences.clone(),
            expires,
            jti: String::new(),
            bound: bound.clone(),
        });
    let meta = &mut body["metadata"];
    meta["name"] = json!(name);
    meta["namespace"] = json!(ns);
    let mut bound_json = Value::Null;
    if let (Some(r), Some(b)) = (bound_ref, &bound) {
        bound_json = r.clone();
        bound_json["uid"] = json!(b.uid);
    }
    body["spec"] = json!({
        "audiences": audiences,
        "expirationSeconds": expiration,
        "boundObjectRef": bound_json,
    });
    body["status"] = json!({
        "token": token,
        "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    Ok(body)
}

/// The Pod or Secret a token is bound to; it must exist (with the uid given, if any).
fn bound_object(state: &State, ns: &str, r: &Value) -> Result<BoundObject, ApiError> {
    let kind = r.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
    let (storage_key, plural) = match kind {
        "Pod" => ("/pods", "pods"),
        "Secret" => ("/secrets", "secrets"),
        other => {
            return Err(ApiError::invalid_fields(
                "authentication.k8s.io",
                "TokenRequest",
                "",
                &[FieldError::invalid(
                    "spec.boundObjectRef.kind",
                    other,
                    "supported values: \"Pod\", \"Secret\"",
                )],
            ));
        }
    };
    let obj = state
        .get(storage_key, &(ns.to_string(), name.to_string()))
        .ok_or_else(|| ApiError::not_found(plural, name))?;
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(want) = r
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        && want != uid
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    Ok(BoundObject {
        kind: kind.to_string(),
        storage_key: storage_key.to_string(),
        namespace: ns.to_string(),
        name: name.to_string(),
        uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_review_attributes() {
        let body = json!({"spec": {"resourceAttributes": {"verb": "get", "group": "apps",
            "resource": "deployments", "subresource": "scale", "name": "web", "namespace": "a"}}});
        let attrs = access_attributes(&body, "SelfSubjectAccessReview", None).ok();
        assert_eq!(
            attrs.map(|a| (
                a.verb,
                a.api_group,
                a.resource,
                a.subresource,
                a.name,
                a.namespace
            )),
            Some((
                "get".into(),
                "apps".into(),
                "deployments".into(),
                "scale".into(),
                "web".into(),
                "a".into()
            ))
        );
        let body = json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}});
        let attrs = access_attributes(&body, "SelfSubjectAccessReview", None).ok();
        assert!(attrs.is_some_and(|a| !a.resource_request && a.path == "/healthz"));

        let neither = access_attributes(&json!({"spec": {}}), "SelfSubjectAccessReview", None);
        assert_eq!(
            neither.err().map(|e| (e.code, e.message)),
            Some((
                422,
                r#"SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#.to_string()
            ))
        );
        // A LocalSubjectAccessReview is about its own namespace.
        let body = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "b"}}});
        let other = access_attributes(&body, "LocalSubjectAccessReview", Some("a"));
        assert_eq!(other.err().map(|e| e.code), Some(400));
        let body = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}});
        let local = access_attributes(&body, "LocalSubjectAccessReview", Some("a"));
        assert_eq!(local.ok().map(|a| a.namespace), Some("a".to_string()));
    }

    #[test]
    fn review_bodies() {
        let body = parse_body(b"{}", "authorization.k8s.io", "SelfSubjectAccessReview");
        assert_eq!(
            body.ok(),
            Some(
                json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null}})
            )
        );
        for bad in [&b"[]"[..], b"nope", br#"{"kind":"Pod"}"#] {
            let e = parse_body(bad, "authorization.k8s.io", "SelfSubjectAccessReview");
            assert_eq!(e.err().map(|e| e.code), Some(400));
        }
        let subject = review_subject(&json!({"spec": {}}), "SubjectAccessReview");
        assert_eq!(subject.err().map(|e| e.code), Some(422));
    }
}
