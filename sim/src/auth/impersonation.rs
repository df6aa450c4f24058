//! Impersonation (`kubectl --as=USER --as-group=GROUP`): the `Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>` headers, each checked as
//! the real impersonation filter checks them, with the `impersonate` verb on `users`,
//! `serviceaccounts` (for `system:serviceaccount:NS:NAME`), `groups`, `uids` or
//! `userextras/<key>`; the first one refused is the request's 403.

use axum::http::HeaderMap;

use super::attributes::Attributes;
use super::authn::{service_account_groups, split_service_account};
use super::{ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo};
use crate::error::ApiError;
use crate::store::State;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// One thing a request asks to act as.
#[derive(Debug, PartialEq)]
enum Wanted {
    User(String),
    ServiceAccount(String, String),
    Group(String),
    Uid(String),
    Extra(String, String),
}

impl Wanted {
    /// What the requestor must be allowed to `impersonate` for this.
    fn attributes(&self) -> Attributes {
        let (group, resource, namespace, name, subresource) = match self {
            Wanted::User(name) => ("", "users", "", name.as_str(), ""),
            Wanted::ServiceAccount(ns, name) => {
                ("", "serviceaccounts", ns.as_str(), name.as_str(), "")
            }
            Wanted::Group(name) => ("", "groups", "", name.as_str(), ""),
            Wanted::Uid(uid) => ("authentication.k8s.io", "uids", "", uid.as_str(), ""),
            Wanted::Extra(key, value) => (
                "authentication.k8s.io",
                "userextras",
                "",
                value.as_str(),
                key.as_str(),
            ),
        };
        Attributes {
            verb: "impersonate".into(),
            resource_request: true,
            api_group: group.into(),
            namespace: namespace.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            ..Attributes::default()
        }
    }
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// What the headers ask to impersonate, in the order the real filter checks it.
fn wanted(headers: &HeaderMap) -> Result<Vec<Wanted>, ApiError> {
    let mut out = Vec::new();
    let user = header_values(headers, USER)
        .next()
        .filter(|u| !u.is_empty());
    if let Some(user) = &user {
        out.push(match split_service_account(user) {
            Some((ns, name)) => Wanted::ServiceAccount(ns.into(), name.into()),
            None => Wanted::User(user.clone()),
        });
    }
    out.extend(header_values(headers, GROUP).map(Wanted::Group));
    let mut extras: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            // Extra keys are percent-encoded in header names (they may hold '/').
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_lowercase();
            extras.push((key, String::from_utf8_lossy(value.as_bytes()).into_owned()));
        }
    }
    extras.sort();
    out.extend(extras.into_iter().map(|(k, v)| Wanted::Extra(k, v)));
    if let Some(uid) = header_values(headers, UID).next().filter(|u| !u.is_empty()) {
        out.push(Wanted::Uid(uid));
    }
    if user.is_none() && !out.is_empty() {
        // The real server answers this with an internal error; a Status 400 says the same
        // without looking like a simulator failure.
        return Err(ApiError::bad_request(
            "requested uid, groups or user-extra without impersonating a user",
        ));
    }
    Ok(out)
}

/// The user a request acts as: the authenticated one, or the one it impersonates if the
/// authenticated one may.
pub fn apply(
    state: &State,
    requestor: UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let wanted = wanted(headers)?;
    if wanted.is_empty() {
        return Ok(requestor);
    }
    let groups_given = wanted.iter().any(|w| matches!(w, Wanted::Group(_)));
    let mut user = UserInfo::default();
    for w in &wanted {
        let attrs = w.attributes();
        let decision = super::authorize(state, &requestor, &attrs);
        if !decision.allowed {
            return Err(super::forbidden(
                &attrs,
                &requestor.username,
                &decision.reason,
            ));
        }
        match w {
            Wanted::User(name) => user.username = name.clone(),
            Wanted::ServiceAccount(ns, name) => {
                user.username = super::authn::service_account_username(ns, name);
                if !groups_given {
                    user.groups.extend(service_account_groups(ns));
                }
            }
            Wanted::Group(g) => user.groups.push(g.clone()),
            Wanted::Uid(uid) => user.uid = uid.clone(),
            Wanted::Extra(k, v) => user.extra.entry(k.clone()).or_default().push(v.clone()),
        }
    }
    if user.username == ANONYMOUS {
        if !user.in_group(UNAUTHENTICATED) {
            user.groups.push(UNAUTHENTICATED.into());
        }
    } else if !user.in_group(AUTHENTICATED) && !user.in_group(UNAUTHENTICATED) {
        user.groups.push(AUTHENTICATED.into());
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn headers_name_what_is_impersonated() {
        let mut h = HeaderMap::new();
        h.insert(
            USER,
            HeaderValue::from_static("system:serviceaccount:shop:bot"),
        );
        h.append(GROUP, HeaderValue::from_static("dev"));
        h.append(GROUP, HeaderValue::from_static("ops"));
        h.insert("impersonate-extra-scopes", HeaderValue::from_static("view"));
        assert_eq!(
            wanted(&h).ok(),
            Some(vec![
                Wanted::ServiceAccount("shop".into(), "bot".into()),
                Wanted::Group("dev".into()),
                Wanted::Group("ops".into()),
                Wanted::Extra("scopes".into(), "view".into()),
            ])
        );
        let attrs = Wanted::ServiceAccount("shop".into(), "bot".into()).attributes();
        assert_eq!(
            (
                attrs.resource.as_str(),
                attrs.namespace.as_str(),
                attrs.name.as_str()
            ),
            ("serviceaccounts", "shop", "bot")
        );
        let mut only_group = HeaderMap::new();
        only_group.insert(GROUP, HeaderValue::from_static("dev"));
        assert_eq!(wanted(&only_group).map_err(|e| e.code), Err(400));
        assert_eq!(wanted(&HeaderMap::new()).ok(), Some(vec![]));
    }
}
