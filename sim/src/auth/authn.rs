//! Authentication: `Authorization: Bearer <token>` → a user, as the real server's token
//! authenticators, group adder and anonymous authenticator do it together.
//!
//! Tokens are opaque random strings the simulator remembers (not signed JWTs): static tokens
//! minted for any user and groups (`Handle::token`, `POST /sim/tokens`), and ServiceAccount
//! tokens from the TokenRequest subresource. A ServiceAccount token is checked at every use as
//! the real ServiceAccount token authenticator checks its claims: not expired, meant for this
//! server's audience, its ServiceAccount (and bound object, if any) still there with the same
//! uid.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use axum::http::{HeaderMap, header};

use super::{AUTHENTICATED, UNAUTHENTICATED, UserInfo};
use crate::error::ApiError;
use crate::store::State;

/// The audience of tokens this server accepts (kubeadm's and kind's `--api-audiences`).
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The object a ServiceAccount token is bound to: the token dies with it.
#[derive(Clone, Debug)]
pub struct BoundObject {
    pub kind: String,
    pub storage_key: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// The claims of a ServiceAccount token.
#[derive(Clone, Debug)]
pub struct ServiceAccountClaims {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub audiences: Vec<String>,
    pub expires: jiff::Timestamp,
    /// The token's id, reported as the user's `authentication.kubernetes.io/credential-id`.
    pub jti: String,
    pub bound: Option<BoundObject>,
}

#[derive(Clone, Debug)]
enum Credential {
    Static(UserInfo),
    ServiceAccount(ServiceAccountClaims),
}

/// Every token the server has issued.
#[derive(Default)]
pub struct Tokens {
    by_token: HashMap<String, Credential>,
    issued: u64,
    /// Per-process random keys: tokens cannot be guessed from the order they were issued in.
    seed: RandomState,
}

impl Tokens {
    fn fresh(&mut self) -> String {
        self.issued += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let a = self.seed.hash_one((self.issued, now, 'a'));
        let b = self.seed.hash_one((self.issued, now, 'b'));
        let c = self.seed.hash_one((self.issued, now, 'c'));
        format!("sim.{a:016x}{b:016x}{c:016x}")
    }

    /// A token for a user with fixed groups.
    pub fn mint_static(&mut self, username: &str, uid: &str, groups: &[String]) -> String {
        let token = self.fresh();
        let user = UserInfo {
            username: username.to_string(),
            uid: uid.to_string(),
            groups: groups.to_vec(),
            extra: BTreeMap::new(),
        };
        self.by_token
            .insert(token.clone(), Credential::Static(user));
        token
    }

    /// A ServiceAccount token; the claims' `jti` is filled in here.
    pub fn mint_service_account(&mut self, mut claims: ServiceAccountClaims) -> String {
        let token = self.fresh();
        claims.jti = format!("{:016x}", self.seed.hash_one(&token));
        self.by_token
            .insert(token.clone(), Credential::ServiceAccount(claims));
        token
    }

    fn forget(&mut self, token: &str) {
        self.by_token.remove(token);
    }
}

/// The username of a ServiceAccount.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// `(namespace, name)` of a ServiceAccount username.
pub fn split_service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups of every ServiceAccount in a namespace.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// The user of a request: its bearer token's, or anonymous without one. A bearer token the
/// server does not accept is 401, never anonymous (the real server fails on an error before
/// it would try the anonymous authenticator).
pub fn authenticate(
    auth: &super::Auth,
    state: &State,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(UserInfo::anonymous());
    };
    let value = value.to_str().map_err(|_| unauthorized())?.trim();
    if value.is_empty() {
        return Ok(UserInfo::anonymous());
    }
    let parts: Vec<&str> = value.splitn(3, ' ').collect();
    if parts.len() < 2 || !parts[0].eq_ignore_ascii_case("bearer") {
        // Not a bearer token: no authenticator here handles it (basic auth is gone from
        // Kubernetes), so the request is anonymous.
        return Ok(UserInfo::anonymous());
    }
    let token = parts[1];
    if token.is_empty() {
        return Err(unauthorized());
    }
    let user = authenticate_token(auth, state, token).ok_or_else(unauthorized)?;
    Ok(with_authenticated_group(user))
}

/// The user a token stands for, if the server accepts it now for its own audience (no group
/// added).
pub fn authenticate_token(auth: &super::Auth, state: &State, token: &str) -> Option<UserInfo> {
    authenticate_token_for(auth, state, token, &[API_AUDIENCE.to_string()]).map(|(u, _)| u)
}

/// The user a token stands for and which of `audiences` it is valid for, if any (what
/// TokenReview answers). Static tokens are valid for any audience, as the real server's
/// audience-unaware authenticators are.
pub fn authenticate_token_for(
    auth: &super::Auth,
    state: &State,
    token: &str,
    audiences: &[String],
) -> Option<(UserInfo, Vec<String>)> {
    let credential = auth.tokens().by_token.get(token).cloned()?;
    match credential {
        Credential::Static(user) => Some((user, audiences.to_vec())),
        Credential::ServiceAccount(claims) => {
            if claims.expires <= jiff::Timestamp::now() {
                // Expired tokens stay invalid; drop them so the table does not grow forever.
                auth.tokens().forget(token);
                return None;
            }
            let matched: Vec<String> = audiences
                .iter()
                .filter(|a| claims.audiences.contains(a))
                .cloned()
                .collect();
            if matched.is_empty() {
                return None;
            }
            let sa_uid = uid_of(state, "/serviceaccounts", &claims.namespace, &claims.name)?;
            if sa_uid != claims.uid {
                return None;
            }
            if let Some(bound) = &claims.bound
                && uid_of(state, &bound.storage_key, &bound.namespace, &bound.name)
                    .is_none_or(|uid| uid != bound.uid)
            {
                return None;
            }
            Some((service_account_user(&claims), matched))
        }
    }
}

fn uid_of(state: &State, storage_key: &str, namespace: &str, name: &str) -> Option<String> {
    let obj = state.get(storage_key, &(namespace.to_string(), name.to_string()))?;
    Some(
        obj.pointer("/metadata/uid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string(),
    )
}

/// The user of a valid ServiceAccount token, with the extras the real authenticator sets.
fn service_account_user(claims: &ServiceAccountClaims) -> UserInfo {
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/credential-id".to_string(),
        vec![format!("JTI={}", claims.jti)],
    );
    if let Some(bound) = claims.bound.as_ref().filter(|b| b.kind == "Pod") {
        extra.insert(
            "authentication.kubernetes.io/pod-name".to_string(),
            vec![bound.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".to_string(),
            vec![bound.uid.clone()],
        );
    }
    UserInfo {
        username: service_account_username(&claims.namespace, &claims.name),
        uid: claims.uid.clone(),
        groups: service_account_groups(&claims.namespace),
        extra,
    }
}

/// Adds `system:authenticated` unless the user already names either all-users group, as the
/// real server's `AuthenticatedGroupAdder`.
pub fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user.in_group(AUTHENTICATED) && !user.in_group(UNAUTHENTICATED) {
        user.groups.push(AUTHENTICATED.to_string());
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names() {
        assert_eq!(
            split_service_account("system:serviceaccount:shop:reader"),
            Some(("shop", "reader"))
        );
        assert_eq!(split_service_account("system:serviceaccount:shop"), None);
        assert_eq!(split_service_account("system:serviceaccount::x"), None);
        assert_eq!(split_service_account("alice"), None);
        assert_eq!(
            service_account_username("shop", "reader"),
            "system:serviceaccount:shop:reader"
        );
    }

    #[test]
    fn tokens_are_distinct_and_opaque() {
        let mut t = Tokens::default();
        let a = t.mint_static("a", "", &[]);
        let b = t.mint_static("a", "", &[]);
        assert_ne!(a, b);
        assert!(a.len() > 40 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    }

    #[test]
    fn authenticated_group_is_added_once() {
        let u = with_authenticated_group(UserInfo {
            username: "a".into(),
            groups: vec!["dev".into()],
            ..UserInfo::default()
        });
        assert_eq!(u.groups, ["dev", AUTHENTICATED]);
        assert_eq!(with_authenticated_group(u.clone()).groups, u.groups);
    }
}
