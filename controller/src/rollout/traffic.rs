//! Writing router weights: every routing object the Rollout names is read and every write is
//! computed (by the pure `routers`) before any is made, so a missing or foreign object leaves all
//! routers as they were. Each router gets the same weight, with one field manager.

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_crds::Rollout;
use serde_json::Value;

use crate::io::{MANAGER, NOT_OURS, unless};

use super::decide::RouterWeights;
use super::routers::{RouterError, Weights, gateway, istio, nginx, smi};

/// Why the weights could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error(
        "{kind} {name} not found in namespace {namespace}: no weight was written to any router"
    )]
    Missing {
        kind: &'static str,
        name: String,
        namespace: String,
    },
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
    pub fn is_transient(&self) -> bool {
        matches!(self, TrafficError::Api { cause, .. } if crate::retry::transient(cause))
    }
}

enum Write {
    Apply {
        api: Api<DynamicObject>,
        name: String,
        object: DynamicObject,
        kind: &'static str,
    },
    JsonPatch {
        api: Api<DynamicObject>,
        name: String,
        patch: Value,
        kind: &'static str,
    },
    Ingress {
        api: Api<Ingress>,
        name: String,
        object: Ingress,
    },
}

fn dynamic(
    client: &Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn read_err(kind: &'static str, name: &str) -> impl FnOnce(kube::Error) -> TrafficError {
    let name = name.to_string();
    move |source| TrafficError::Api {
        action: "reading",
        kind,
        name,
        cause: source,
    }
}

async fn get(
    api: &Api<DynamicObject>,
    kind: &'static str,
    name: &str,
    ns: &str,
) -> Result<Value, TrafficError> {
    let obj = api
        .get_opt(name)
        .await
        .map_err(read_err(kind, name))?
        .ok_or_else(|| TrafficError::Missing {
            kind,
            name: name.into(),
            namespace: ns.into(),
        })?;
    serde_json::to_value(&obj).map_err(|e| TrafficError::Api {
        action: "reading",
        kind,
        name: name.into(),
        cause: kube::Error::SerdeError(e),
    })
}

/// `name` or `name.namespace`, as Argo Rollouts allows for Istio objects.
fn split_name<'a>(name: &'a str, ns: &'a str) -> (&'a str, &'a str) {
    name.split_once('.').unwrap_or((name, ns))
}

/// Writes `weights` to every router of the Rollout.
pub async fn apply(
    ro: &Rollout,
    ns: &str,
    weights: &RouterWeights,
    client: &Client,
    split_api_version: &str,
) -> Result<(), TrafficError> {
    let Some(canary) = ro.spec.strategy.canary.as_ref() else {
        return Ok(());
    };
    let Some(tr) = canary.traffic_routing.as_ref() else {
        return Ok(());
    };
    let name = ro.name_any();
    let uid = ro.uid().unwrap_or_default();
    let w = Weights {
        canary: weights.canary,
        total: weights.total,
        canary_service: canary.canary_service.clone().unwrap_or_default(),
        stable_service: canary.stable_service.clone().unwrap_or_default(),
    };
    let owner = ro.controller_owner_ref(&());
    let mut writes = Vec::new();

    if let Some(n) = &tr.nginx {
        let api: Api<Ingress> = Api::namespaced(client.clone(), ns);
        let cfg = nginx::NginxConfig {
            prefix: n.annotation_prefix.as_deref(),
            additional_annotations: &n.additional_ingress_annotations,
            canary_annotations: &n.canary_ingress_annotations,
            max_weight: tr.max_traffic_weight,
        };
        for stable_name in n.stable_ingress.iter().chain(&n.stable_ingresses) {
            let stable = api
                .get_opt(stable_name)
                .await
                .map_err(read_err("Ingress", stable_name))?
                .ok_or_else(|| TrafficError::Missing {
                    kind: "Ingress",
                    name: stable_name.clone(),
                    namespace: ns.into(),
                })?;
            let canary_name = nginx::canary_name(&name, stable_name);
            if let Some(existing) = api
                .get_opt(&canary_name)
                .await
                .map_err(read_err("Ingress", &canary_name))?
            {
                nginx::check_owner(&existing, &uid)?;
            }
            let Some(owner) = owner.clone() else { continue };
            let object = nginx::canary_ingress(&name, owner, &stable, &w, &cfg)?;
            writes.push(Write::Ingress {
                api: api.clone(),
                name: canary_name,
                object,
            });
        }
    }
    if let Some(g) = &tr.gateway_api {
        let route_ns = g.namespace.as_deref().unwrap_or(ns);
        let api = dynamic(
            client,
            route_ns,
            "gateway.networking.k8s.io",
            "v1",
            "HTTPRoute",
            "httproutes",
        );
        for route in g
            .http_route
            .iter()
            .chain(g.http_routes.iter().map(|r| &r.name))
        {
            let live = get(&api, "HTTPRoute", route, route_ns).await?;
            if let Some(patch) = gateway::weight_patch(&live, &w)? {
                writes.push(Write::JsonPatch {
                    api: api.clone(),
                    name: route.clone(),
                    patch,
                    kind: "HTTPRoute",
                });
            }
        }
    }
    if let Some(i) = &tr.istio {
        let split = match &i.destination_rule {
            Some(dr) => istio::Split::Subset {
                canary: dr.canary_subset_name.clone(),
                stable: dr.stable_subset_name.clone(),
            },
            None => istio::Split::Host,
        };
        for vs in i.virtual_service.iter().chain(&i.virtual_services) {
            let (vs_name, vs_ns) = split_name(&vs.name, ns);
            let api = dynamic(
                client,
                vs_ns,
                "networking.istio.io",
                "v1",
                "VirtualService",
                "virtualservices",
            );
            let live = get(&api, "VirtualService", vs_name, vs_ns).await?;
            let sel = istio::RouteSelection {
                http: vs.routes.clone(),
                tls: vs
                    .tls_routes
                    .iter()
                    .map(|t| (t.port, t.sni_hosts.clone()))
                    .collect(),
                tcp: vs.tcp_routes.iter().map(|t| t.port).collect(),
            };
            if let Some(patch) = istio::virtual_service_patch(&live, &sel, &split, &w)? {
                writes.push(Write::JsonPatch {
                    api,
                    name: vs_name.into(),
                    patch,
                    kind: "VirtualService",
                });
            }
        }
        if let Some(dr) = &i.destination_rule {
            let (dr_name, dr_ns) = split_name(&dr.name, ns);
            let api = dynamic(
                client,
                dr_ns,
                "networking.istio.io",
                "v1",
                "DestinationRule",
                "destinationrules",
            );
            let live = get(&api, "DestinationRule", dr_name, dr_ns).await?;
            let patch = istio::destination_rule_patch(
                &live,
                &dr.canary_subset_name,
                &dr.stable_subset_name,
                &weights.canary_hash,
                &weights.stable_hash,
                &rollout_rs_crds::managed_by(ns, &ro.name_any()),
            )?;
            if let Some(patch) = patch {
                writes.push(Write::JsonPatch {
                    api,
                    name: dr_name.into(),
                    patch,
                    kind: "DestinationRule",
                });
            }
        }
    }
    if let Some(s) = &tr.smi {
        let split_name = s.traffic_split_name.clone().unwrap_or_else(|| name.clone());
        let (group, version) = split_api_version
            .split_once('/')
            .unwrap_or(("split.smi-spec.io", "v1alpha2"));
        let api = dynamic(client, ns, group, version, "TrafficSplit", "trafficsplits");
        if let Some(existing) = api
            .get_opt(&split_name)
            .await
            .map_err(read_err("TrafficSplit", &split_name))?
        {
            let ours = existing
                .owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true));
            if !ours {
                let owner = existing.owner_references().first().map_or(
                    "nobody (it was created outside rollout-rs)".to_string(),
                    |o| format!("{} {}", o.kind, o.name),
                );
                return Err(RouterError::NotOwned {
                    kind: "TrafficSplit",
                    name: split_name,
                    owner,
                }
                .into());
            }
        }
        let owner_json = serde_json::to_value(&owner).unwrap_or(Value::Null);
        let object = smi::traffic_split(
            &split_name,
            ns,
            &owner_json,
            s.root_service.as_deref(),
            &w,
            split_api_version,
        );
        let object: DynamicObject =
            serde_json::from_value(object).map_err(|e| TrafficError::Api {
                action: "building",
                kind: "TrafficSplit",
                name: split_name.clone(),
                cause: kube::Error::SerdeError(e),
            })?;
        writes.push(Write::Apply {
            api,
            name: split_name,
            object,
            kind: "TrafficSplit",
        });
    }

    let apply = PatchParams::apply(MANAGER).force();
    let patch = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    for write in writes {
        let result = match &write {
            Write::Ingress { api, name, object } => api
                .patch(name, &apply, &Patch::Apply(object))
                .await
                .map(|_| ()),
            Write::Apply {
                api, name, object, ..
            } => api
                .patch(name, &apply, &Patch::Apply(object))
                .await
                .map(|_| ()),
            Write::JsonPatch {
                api,
                name,
                patch: ops,
                ..
            } => match serde_json::from_value::<json_patch::Patch>(ops.clone()) {
                Ok(p) => api
                    .patch(name, &patch, &Patch::Json::<()>(p))
                    .await
                    .map(|_| ()),
                Err(e) => Err(kube::Error::SerdeError(e)),
            },
        };
        if let Err(source) = result {
            let (kind, name) = match &write {
                Write::Ingress { name, .. } => ("Ingress", name.clone()),
                Write::Apply { name, kind, .. } | Write::JsonPatch { name, kind, .. } => {
                    (*kind, name.clone())
                }
            };
            return Err(TrafficError::Api {
                action: "writing the weight to",
                kind,
                name,
                cause: source,
            });
        }
    }
    Ok(())
}

/// Releases a DestinationRule the Rollout (`managed_by`) no longer names: its subsets lose
/// their pod-template hashes. Gone already, managed by another Rollout now, or not an Istio
/// cluster: nothing to do.
pub async fn release_destination_rule(
    client: &Client,
    ns: &str,
    name: &str,
    managed_by: &str,
) -> Result<(), TrafficError> {
    let api = dynamic(
        client,
        ns,
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
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
