//! SMI: a TrafficSplit owned by the Rollout, with backends canary `w` / stable `total - w`.
//! `split.smi-spec.io/v1alpha2` by default (what Linkerd's SMI extension serves); v1alpha1
//! takes its weights as quantities (strings). The TrafficSplit is created when missing, and one
//! of the same name that the Rollout does not own is never taken over.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::ApiResource;
use kube::{Resource, ResourceExt};
use rollout_rs_crds::Rollout;
use serde_json::{Value, json};

use super::router::{
    Config, Desired, Live, Ref, Router, RouterError, Weights, Write, found, home, routing,
};

/// Default TrafficSplit API version.
pub(crate) const DEFAULT_API_VERSION: &str = "split.smi-spec.io/v1alpha2";

/// The TrafficSplit to apply. `root_service` defaults to the stable Service.
pub(crate) fn traffic_split(
    name: &str,
    namespace: &str,
    owner: &Value,
    root_service: Option<&str>,
    w: &Weights,
    api_version: &str,
) -> Value {
    let weight = |n: i32| {
        if api_version.ends_with("v1alpha1") {
            json!(n.to_string())
        } else {
            json!(n)
        }
    };
    json!({
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]},
        "spec": {
            "service": root_service.unwrap_or(&w.stable_service),
            "backends": [
                {"service": w.canary_service, "weight": weight(w.canary)},
                {"service": w.stable_service, "weight": weight(w.stable())},
            ],
        },
    })
}

/// The SMI router.
pub(crate) struct TrafficSplit;

const KIND: &str = "TrafficSplit";

impl Router for TrafficSplit {
    fn kind(&self) -> &'static str {
        KIND
    }

    /// Served at the configured apiVersion (SMI has several).
    fn resource(&self, cx: &Config) -> ApiResource {
        let (group, version) = cx
            .split_api_version
            .split_once('/')
            .unwrap_or(("split.smi-spec.io", "v1alpha2"));
        super::router::resource(group, version, KIND, "trafficsplits")
    }

    fn refers_to(&self, ro: &Rollout, _: &Config) -> Vec<Ref> {
        let Some(s) = routing(ro).and_then(|t| t.smi.as_ref()) else {
            return vec![];
        };
        let name = s
            .traffic_split_name
            .clone()
            .unwrap_or_else(|| ro.name_any());
        vec![Ref::new(home(ro), name)]
    }

    /// A missing TrafficSplit is created; an existing one must be the Rollout's.
    fn plan(
        &self,
        ro: &Rollout,
        cx: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError> {
        let Some(s) = routing(ro).and_then(|t| t.smi.as_ref()) else {
            return Ok(vec![]);
        };
        let uid = ro.uid().unwrap_or_default();
        let mut writes = Vec::new();
        for target in self.refers_to(ro, cx) {
            if let Some(existing) = found(live, &target) {
                check_owner(existing, &target.name, &uid)?;
            }
            let owner = serde_json::to_value(ro.controller_owner_ref(&())).unwrap_or(Value::Null);
            let object = traffic_split(
                &target.name,
                &target.namespace,
                &owner,
                s.root_service.as_deref(),
                &want.weights,
                &cx.split_api_version,
            );
            writes.push(Write::Apply { target, object });
        }
        Ok(writes)
    }
}

/// Refuses to take over a same-named TrafficSplit that another controller (or a user) owns.
fn check_owner(existing: &Value, name: &str, rollout_uid: &str) -> Result<(), RouterError> {
    let refs = existing
        .pointer("/metadata/ownerReferences")
        .cloned()
        .unwrap_or(Value::Null);
    let refs: Option<Vec<OwnerReference>> =
        serde_json::from_value(refs).map_err(|e| RouterError::Malformed {
            kind: KIND,
            name: name.into(),
            cause: e.to_string(),
        })?;
    let refs = refs.unwrap_or_default();
    if refs
        .iter()
        .any(|o| o.uid == rollout_uid && o.controller == Some(true))
    {
        return Ok(());
    }
    let owner = refs.first().map_or(
        "nobody (it was created outside rollout-rs)".to_string(),
        |o| format!("{} {}", o.kind, o.name),
    );
    Err(RouterError::NotOwned {
        kind: KIND,
        name: name.into(),
        owner,
    })
}

#[cfg(test)]
#[path = "smi_tests.rs"]
mod tests;
