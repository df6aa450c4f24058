//! What every write and watch of the controllers shares: the one field manager, the scope of
//! the watched APIs, what is stripped from cached objects, and which API answers are not
//! failures (an object already gone, already created). No decisions here.

use kube::{Api, Client, Resource};

/// Field manager of every write the controllers make.
pub(crate) const MANAGER: &str = "rollout-rs";

/// Drops what the controllers never read, so the caches stay small.
pub(crate) fn strip_meta<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// An API over one namespace, or all of them.
pub(crate) fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Not found: a delete or release of something already gone.
pub(crate) const GONE: &[u16] = &[404];
/// Conflict: a create of something an earlier reconcile made.
pub(crate) const EXISTS: &[u16] = &[409];
/// A release guarded by a JSON-patch `test` (422 when it fails) of something gone or changed
/// meanwhile: no longer this controller's to release.
pub(crate) const NOT_OURS: &[u16] = &[404, 409, 422];

/// The result of a write, where the API answering one of `expected` is not a failure
/// (`None`): the state the write wanted holds already.
pub(crate) fn unless<T>(result: kube::Result<T>, expected: &[u16]) -> kube::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if expected.contains(&s.code) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_answers_are_not_failures() {
        let api = |code| {
            Err::<(), _>(kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            ))
        };
        assert!(matches!(unless(api(404), GONE), Ok(None)));
        assert!(unless(api(409), GONE).is_err());
        assert!(matches!(unless(Ok(1), EXISTS), Ok(Some(1))));
    }
}
