//! Writing router weights: every routing object the Rollout refers to ([`ROUTERS`]) is read and
//! every write is planned (by the pure `routers`) before any is made, so a missing or foreign
//! object leaves all routers as they were. Each router gets the same weight, with one field
//! manager. What to write is never decided here: this module only reads and executes.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use rollout_rs_crds::Rollout;

use crate::io::{MANAGER, NOT_OURS, unless};

use super::decide::RouterWeights;
use super::routers::{Config, Desired, ROUTERS, Ref, Router, RouterError, Weights, Write, istio};

/// Why the weights could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrafficError {
    #[error("{0}: no weight was written to any router")]
    Router(RouterError),
    #[error("{action} {kind} {name}: {cause}")]
    Api {
        action: &'static str,
        kind: &'static str,
        name: String,
        cause: kube::Error,
    },
}

// The router's message is printed, not chained as a source as well (it would read twice).
impl From<RouterError> for TrafficError {
    fn from(e: RouterError) -> Self {
        TrafficError::Router(e)
    }
}

impl TrafficError {
    /// May go away by itself (the API server overloaded or unreachable): retried quietly
    /// before it is reported.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, TrafficError::Api { cause, .. } if crate::retry::transient(cause))
    }
}

fn api_error(
    action: &'static str,
    kind: &'static str,
    name: &str,
) -> impl FnOnce(kube::Error) -> TrafficError {
    let name = name.to_string();
    move |cause| TrafficError::Api {
        action,
        kind,
        name,
        cause,
    }
}

fn api(client: &Client, resource: &ApiResource, target: &Ref) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), &target.namespace, resource)
}

/// A planned write, ready to send.
enum Request {
    Apply(Box<DynamicObject>),
    Patch(json_patch::Patch),
}

/// Writes `weights` to every router of the Rollout.
pub(crate) async fn apply(
    ro: &Rollout,
    weights: &RouterWeights,
    client: &Client,
    split_api_version: &str,
    wrote: &(dyn Fn(&'static str, std::time::Duration) + Sync),
) -> Result<(), TrafficError> {
    let Some(canary) = ro.spec.strategy.canary.as_ref() else {
        return Ok(());
    };
    let want = Desired {
        weights: Weights {
            canary: weights.canary,
            total: weights.total,
            canary_service: canary.canary_service.clone().unwrap_or_default(),
            stable_service: canary.stable_service.clone().unwrap_or_default(),
        },
        canary_hash: weights.canary_hash.clone(),
        stable_hash: weights.stable_hash.clone(),
    };
    let cx = Config {
        split_api_version: split_api_version.into(),
    };

    let mut planned = Vec::new();
    for &router in ROUTERS {
        let (kind, resource) = (router.kind(), router.resource(&cx));
        let mut live = Vec::new();
        for target in router.refers_to(ro, &cx) {
            let object = api(client, &resource, &target)
                .get_opt(&target.name)
                .await
                .map_err(api_error("reading", kind, &target.name))?
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| {
                    api_error("reading", kind, &target.name)(kube::Error::SerdeError(e))
                })?;
            live.push((target, object));
        }
        for write in router.plan(ro, &cx, &want, &live)? {
            let (target, request) = match write {
                Write::Apply { target, object } => {
                    let request = serde_json::from_value(object).map(Request::Apply);
                    (target, request)
                }
                Write::Patch { target, ops } => {
                    let request = serde_json::from_value(ops).map(Request::Patch);
                    (target, request)
                }
            };
            let request = request.map_err(|e| {
                api_error("building", kind, &target.name)(kube::Error::SerdeError(e))
            })?;
            planned.push((kind, resource.clone(), target, request));
        }
    }

    let apply = PatchParams::apply(MANAGER).force();
    let patch = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    for (kind, resource, target, request) in planned {
        let api = api(client, &resource, &target);
        let start = std::time::Instant::now();
        let result = match request {
            Request::Apply(object) => api
                .patch(&target.name, &apply, &Patch::Apply(object))
                .await
                .map(|_| ()),
            Request::Patch(ops) => api
                .patch(&target.name, &patch, &Patch::Json::<()>(ops))
                .await
                .map(|_| ()),
        };
        wrote(kind, start.elapsed());
        result.map_err(api_error("writing the weight to", kind, &target.name))?;
    }
    Ok(())
}

/// Releases a DestinationRule the Rollout (`managed_by`) no longer names: its subsets lose
/// their pod-template hashes. Gone already, managed by another Rollout now, or not an Istio
/// cluster: nothing to do.
pub(crate) async fn release_destination_rule(
    client: &Client,
    ns: &str,
    name: &str,
    managed_by: &str,
) -> Result<(), TrafficError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &istio::DestinationRule.resource(&Config::default()),
    );
    let failed = |action: &'static str| {
        let name = name.to_string();
        move |source| TrafficError::Api {
            action,
            kind: "DestinationRule",
            name,
            cause: source,
        }
    };
    let Some(live) = api.get_opt(name).await.map_err(failed("reading"))? else {
        return Ok(());
    };
    let live =
        serde_json::to_value(&live).map_err(|e| failed("reading")(kube::Error::SerdeError(e)))?;
    let Some(ops) = istio::destination_rule_release(&live, managed_by) else {
        return Ok(());
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| failed("releasing")(kube::Error::SerdeError(e)))?;
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    // Gone, or its mark changed meanwhile (the test op failed): not ours to release any more.
    unless(
        api.patch(name, &params, &Patch::Json::<()>(patch)).await,
        NOT_OURS,
    )
    .map(|_| ())
    .map_err(failed("releasing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_errors_say_that_no_router_was_written() {
        let missing = RouterError::NotFound {
            kind: "Ingress",
            name: "web".into(),
            namespace: "shop".into(),
        };
        assert_eq!(
            TrafficError::from(missing).to_string(),
            "Ingress web not found in namespace shop: no weight was written to any router"
        );
        let foreign = RouterError::NotOwned {
            kind: "TrafficSplit",
            name: "web".into(),
            owner: "Rollout other".into(),
        };
        assert_eq!(
            TrafficError::from(foreign).to_string(),
            "TrafficSplit web is owned by Rollout other, not by this Rollout: refusing to change it: no weight was written to any router"
        );
    }
}
