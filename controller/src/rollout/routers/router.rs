//! What every router is: the [`Router`] trait and the words it is spoken in (the weights, the
//! objects referred to, the planned writes, the errors), with the helpers the routers share.
//! Kept apart from the list of routers so that each router uses this sibling and never its
//! parent. No I/O here, and nothing about any one data plane.

use kube::ResourceExt;
use kube::core::{ApiResource, GroupVersionKind};
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutTrafficRouting;
use serde_json::Value;

/// What the routers are told: the canary's share out of `total` and the two Services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Weights {
    /// Share sent to the canary, 0..=total.
    pub(crate) canary: i32,
    /// `trafficRouting.maxTrafficWeight`, default 100.
    pub(crate) total: i32,
    pub(crate) canary_service: String,
    pub(crate) stable_service: String,
}

impl Weights {
    pub(crate) fn stable(&self) -> i32 {
        self.total - self.canary
    }
}

/// A routing object that cannot carry the weights.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RouterError {
    #[error("{kind} {name}: no rule routes to the stable Service {service}")]
    NoStableRoute {
        kind: &'static str,
        name: String,
        service: String,
    },
    #[error("{kind} {name}: {what}")]
    Missing {
        kind: &'static str,
        name: String,
        what: String,
    },
    #[error("{kind} {name} is owned by {owner}, not by this Rollout: refusing to change it")]
    NotOwned {
        kind: &'static str,
        name: String,
        owner: String,
    },
    /// An object the router needs does not exist.
    #[error("{kind} {name} not found in namespace {namespace}")]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
    },
    /// An object that does not decode as its kind (or a planned one that does not encode).
    #[error("{kind} {name} is malformed: {cause}")]
    Malformed {
        kind: &'static str,
        name: String,
        cause: String,
    },
}

/// Settings the routers share that do not come from the Rollout.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// `group/version` of the SMI TrafficSplits written (see [`super::smi::DEFAULT_API_VERSION`]).
    pub(crate) split_api_version: String,
}

/// An object a Rollout refers to: its namespace and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ref {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Ref {
    pub(super) fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Ref {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// What a router is asked to bring about: the weights, and for a split by Istio subset the
/// pod-template hashes each side's subset must select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Desired {
    pub(crate) weights: Weights,
    pub(crate) canary_hash: String,
    pub(crate) stable_hash: String,
}

/// One planned write. None is made until every router has planned its own, so that a missing
/// or foreign object anywhere leaves every router as it was.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Write {
    /// Server-side apply, forced, of a whole object the Rollout owns.
    Apply { target: Ref, object: Value },
    /// A JSON patch of an object the Rollout only weights; its `test` operations pin what the
    /// patch was computed from, so a concurrent edit fails the write rather than misdirect it.
    Patch { target: Ref, ops: Value },
}

/// What was read for each object a router refers to, in [`Router::refers_to`] order; `None`:
/// not found.
pub(crate) type Live = [(Ref, Option<Value>)];

/// A routed kind. Implemented by one zero-size type per kind, listed in [`super::ROUTERS`].
pub(crate) trait Router: Sync {
    /// The kind, as messages name it.
    fn kind(&self) -> &'static str;

    /// Where the kind is served.
    fn resource(&self, cx: &Config) -> ApiResource;

    /// The CRD that must be established before the kind is watched (a cluster without Istio,
    /// say, has no such API); `None` for a built-in kind.
    fn crd(&self, cx: &Config) -> Option<String> {
        let r = self.resource(cx);
        Some(format!("{}.{}", r.plural, r.group))
    }

    /// Every object of this kind the Rollout refers to: what is read before a write, and what
    /// triggers a reconcile of the Rollout when it changes. Empty when the Rollout does not
    /// route through this kind.
    fn refers_to(&self, ro: &Rollout, cx: &Config) -> Vec<Ref>;

    /// The writes that bring the objects read (`live`, for each of [`Router::refers_to`]) to
    /// `want`, or why they cannot: whether a missing object is an error is the router's call.
    /// Pure, so that every write (and every refusal) is pinned by a unit test.
    fn plan(
        &self,
        ro: &Rollout,
        cx: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError>;

    /// Whether the reconciler keeps the objects' managed-by mark in a cache (so that one a
    /// Rollout stops naming can be released).
    fn caches_managed_by(&self) -> bool {
        false
    }
}

/// The Rollout's `trafficRouting`, when it has one.
pub(super) fn routing(ro: &Rollout) -> Option<&RolloutTrafficRouting> {
    ro.spec.strategy.canary.as_ref()?.traffic_routing.as_ref()
}

/// The Rollout's namespace, where its routing objects live unless it says otherwise.
pub(super) fn home(ro: &Rollout) -> String {
    ro.namespace().unwrap_or_default()
}

pub(super) fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The object read for `target`; `None` when it was not found.
pub(super) fn found<'a>(live: &'a Live, target: &Ref) -> Option<&'a Value> {
    live.iter()
        .find(|(r, _)| r == target)
        .and_then(|(_, object)| object.as_ref())
}

/// The object read for `target`, which must exist.
pub(super) fn required<'a>(
    live: &'a Live,
    kind: &'static str,
    target: &Ref,
) -> Result<&'a Value, RouterError> {
    found(live, target).ok_or_else(|| RouterError::NotFound {
        kind,
        name: target.name.clone(),
        namespace: target.namespace.clone(),
    })
}
