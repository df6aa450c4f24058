//! NGINX Ingress: a canary Ingress `<rollout>-<stableIngress>-canary` beside the stable one,
//! weighted by annotation. The stable Ingress is only read, never written; the canary Ingress is
//! the Rollout's own, and one of the same name that it does not own is never taken over.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::core::ApiResource;
use kube::{Resource, ResourceExt};
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::NginxTrafficRouting;
use serde_json::Value;

use super::router::{
    Config, Desired, Live, Ref, Router, RouterError, Weights, Write, found, home, required, routing,
};

/// Default annotation prefix of ingress-nginx.
pub(crate) const DEFAULT_PREFIX: &str = "nginx.ingress.kubernetes.io";

/// Name of the canary Ingress for a stable Ingress (cut to fit an Ingress name when long).
pub(crate) fn canary_name(rollout: &str, stable_ingress: &str) -> String {
    crate::rollout::names::canary_ingress(rollout, stable_ingress)
}

/// Settings of the nginx router.
#[derive(Clone, Debug)]
pub(crate) struct NginxConfig<'a> {
    pub(crate) prefix: Option<&'a str>,
    pub(crate) additional_annotations: &'a BTreeMap<String, String>,
    pub(crate) canary_annotations: &'a BTreeMap<String, String>,
    /// `maxTrafficWeight`, when set, is written as `canary-weight-total`.
    pub(crate) max_weight: Option<i32>,
}

fn retarget(backend: &mut IngressBackend, stable: &str, canary: &str) -> bool {
    match backend.service.as_mut() {
        Some(svc) if svc.name == stable => {
            svc.name = canary.to_string();
            true
        }
        _ => false,
    }
}

/// The canary Ingress for `stable`: its class and TLS, and only the rules (and paths) that route
/// to the stable Service, with that backend renamed to the canary Service; annotations `canary`
/// and `canary-weight` (and `canary-weight-total` with maxTrafficWeight) always win over
/// user-supplied ones.
pub(crate) fn canary_ingress(
    rollout: &str,
    owner: OwnerReference,
    stable: &Ingress,
    w: &Weights,
    cfg: &NginxConfig<'_>,
) -> Result<Ingress, RouterError> {
    let stable_name = stable.metadata.name.clone().unwrap_or_default();
    let spec = stable.spec.clone().unwrap_or_default();
    let mut rules = Vec::new();
    for mut rule in spec.rules.clone().unwrap_or_default() {
        let Some(http) = rule.http.as_mut() else {
            continue;
        };
        http.paths
            .retain_mut(|p| retarget(&mut p.backend, &w.stable_service, &w.canary_service));
        if !http.paths.is_empty() {
            rules.push(rule);
        }
    }
    let mut default_backend = spec.default_backend.clone();
    let default_routes_stable = default_backend
        .as_mut()
        .is_some_and(|b| retarget(b, &w.stable_service, &w.canary_service));
    if rules.is_empty() && !default_routes_stable {
        return Err(RouterError::NoStableRoute {
            kind: "Ingress",
            name: stable_name,
            service: w.stable_service.clone(),
        });
    }
    let prefix = cfg.prefix.unwrap_or(DEFAULT_PREFIX);
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in cfg.additional_annotations {
        let key = if k.contains('/') {
            k.clone()
        } else {
            format!("{prefix}/{k}")
        };
        annotations.insert(key, v.clone());
    }
    annotations.extend(cfg.canary_annotations.clone());
    annotations.insert(format!("{prefix}/canary"), "true".into());
    annotations.insert(format!("{prefix}/canary-weight"), w.canary.to_string());
    if let Some(total) = cfg.max_weight {
        annotations.insert(format!("{prefix}/canary-weight-total"), total.to_string());
    }
    Ok(Ingress {
        metadata: ObjectMeta {
            name: Some(canary_name(rollout, &stable_name)),
            namespace: stable.metadata.namespace.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: spec.ingress_class_name.clone(),
            tls: spec.tls.clone(),
            rules: (!rules.is_empty()).then_some(rules),
            default_backend: default_backend.filter(|_| default_routes_stable),
        }),
        status: None,
    })
}

/// Refuses to take over a same-named Ingress that another controller (or a user) owns.
pub(crate) fn check_owner(existing: &Ingress, rollout_uid: &str) -> Result<(), RouterError> {
    let owned = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == rollout_uid && o.controller == Some(true));
    if owned {
        return Ok(());
    }
    let owner = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map_or_else(
            || "nobody (it was created outside rollout-rs)".to_string(),
            |o| format!("{} {}", o.kind, o.name),
        );
    Err(RouterError::NotOwned {
        kind: "Ingress",
        name: existing.metadata.name.clone().unwrap_or_default(),
        owner,
    })
}

/// The NGINX router: the kind it writes is Ingress.
pub(crate) struct Nginx;

const KIND: &str = "Ingress";

fn nginx(ro: &Rollout) -> Option<&NginxTrafficRouting> {
    routing(ro)?.nginx.as_ref()
}

/// Each stable Ingress the Rollout names, with the canary Ingress written beside it.
fn pairs(ro: &Rollout) -> Vec<(Ref, Ref)> {
    let Some(n) = nginx(ro) else { return vec![] };
    let ns = home(ro);
    let rollout = ro.name_any();
    n.stable_ingress
        .iter()
        .chain(&n.stable_ingresses)
        .map(|stable| {
            (
                Ref::new(&ns, stable),
                Ref::new(&ns, canary_name(&rollout, stable)),
            )
        })
        .collect()
}

fn decode(object: &Value, name: &str) -> Result<Ingress, RouterError> {
    serde_json::from_value(object.clone()).map_err(|e| RouterError::Malformed {
        kind: KIND,
        name: name.into(),
        cause: e.to_string(),
    })
}

impl Router for Nginx {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn resource(&self, _: &Config) -> ApiResource {
        ApiResource::erase::<Ingress>(&())
    }

    fn crd(&self, _: &Config) -> Option<String> {
        None
    }

    /// Both Ingresses of each pair: a stable one that appears lets a waiting Rollout proceed,
    /// and a canary one edited by hand is corrected.
    fn refers_to(&self, ro: &Rollout, _: &Config) -> Vec<Ref> {
        pairs(ro).into_iter().flat_map(|(s, c)| [s, c]).collect()
    }

    /// A missing stable Ingress is an error; a missing canary Ingress is created.
    fn plan(
        &self,
        ro: &Rollout,
        _: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError> {
        let (Some(n), Some(tr)) = (nginx(ro), routing(ro)) else {
            return Ok(vec![]);
        };
        let cfg = NginxConfig {
            prefix: n.annotation_prefix.as_deref(),
            additional_annotations: &n.additional_ingress_annotations,
            canary_annotations: &n.canary_ingress_annotations,
            max_weight: tr.max_traffic_weight,
        };
        let rollout = ro.name_any();
        let uid = ro.uid().unwrap_or_default();
        let owner = ro.controller_owner_ref(&());
        let mut writes = Vec::new();
        for (stable, canary) in pairs(ro) {
            let stable_ingress = decode(required(live, KIND, &stable)?, &stable.name)?;
            if let Some(existing) = found(live, &canary) {
                check_owner(&decode(existing, &canary.name)?, &uid)?;
            }
            // Without an owner reference (a Rollout not yet stored) the canary Ingress would
            // be nobody's: it is written once the Rollout can own it.
            let Some(owner) = owner.clone() else { continue };
            let object = canary_ingress(&rollout, owner, &stable_ingress, &want.weights, &cfg)?;
            let object = serde_json::to_value(&object).map_err(|e| RouterError::Malformed {
                kind: KIND,
                name: canary.name.clone(),
                cause: e.to_string(),
            })?;
            writes.push(Write::Apply {
                target: canary,
                object,
            });
        }
        Ok(writes)
    }
}

#[cfg(test)]
#[path = "nginx_tests.rs"]
mod tests;
