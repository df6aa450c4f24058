//! Istio: weights of the VirtualService destinations that send to the stable and canary sides,
//! in the HTTP routes named by the Rollout (and TLS / TCP routes selected by port), and, for a
//! subset-level split, the `rollouts-pod-template-hash` label of the DestinationRule's two
//! subsets. Changes are JSON patches guarded by `test` operations, touching nothing else.
//! Both objects are the user's: they must exist, and are never created or deleted here.

use kube::ResourceExt;
use kube::core::ApiResource;
use rollout_rs_crds::rollout::IstioTrafficRouting;
use rollout_rs_crds::{MANAGED_BY_ANNOTATION as MANAGED_BY, POD_TEMPLATE_HASH_LABEL, Rollout};
use serde_json::{Value, json};

use super::router::{
    Config, Desired, Live, Ref, Router, RouterError, Weights, Write, home, required, routing,
};

/// How the two sides are told apart in the VirtualService's destinations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// By host: the canary and stable Services (compared by their first DNS label).
    Host,
    /// By subset of one host: the DestinationRule's subset names.
    Subset { canary: String, stable: String },
}

/// Which routes of the VirtualService carry the weights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RouteSelection {
    /// HTTP route names; empty means "the only HTTP route" (when there are no TLS/TCP routes).
    pub(crate) http: Vec<String>,
    /// TLS routes, by (port, sniHosts).
    pub(crate) tls: Vec<(Option<i64>, Vec<String>)>,
    /// TCP routes, by port.
    pub(crate) tcp: Vec<Option<i64>>,
}

fn first_label(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

fn side(dest: &Value, w: &Weights, split: &Split) -> Option<i32> {
    match split {
        Split::Host => {
            let host = first_label(dest.pointer("/destination/host")?.as_str()?);
            if host == w.canary_service {
                Some(w.canary)
            } else if host == w.stable_service {
                Some(w.stable())
            } else {
                None
            }
        }
        Split::Subset { canary, stable } => {
            let subset = dest.pointer("/destination/subset")?.as_str()?;
            if subset == canary {
                Some(w.canary)
            } else if subset == stable {
                Some(w.stable())
            } else {
                None
            }
        }
    }
}

fn port_matches(route: &Value, port: Option<i64>) -> bool {
    let Some(port) = port else { return true };
    route
        .get("match")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter()
                .any(|m| m.get("port").and_then(Value::as_i64) == Some(port))
        })
}

fn sni_matches(route: &Value, hosts: &[String]) -> bool {
    hosts.is_empty()
        || route
            .get("match")
            .and_then(Value::as_array)
            .is_some_and(|ms| {
                ms.iter().any(|m| {
                    let sni: Vec<&str> = m
                        .get("sniHosts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    hosts.iter().all(|h| sni.contains(&h.as_str()))
                })
            })
}

/// The JSON patch setting the weights in `vs` (a VirtualService as JSON), or `None` when they
/// already hold.
pub(crate) fn virtual_service_patch(
    vs: &Value,
    sel: &RouteSelection,
    split: &Split,
    w: &Weights,
) -> Result<Option<Value>, RouterError> {
    let name = vs
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let missing = |what: String| RouterError::Missing {
        kind: "VirtualService",
        name: name.clone(),
        what,
    };
    let http = vs
        .pointer("/spec/http")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut selected: Vec<(String, usize)> = Vec::new();
    if sel.http.is_empty() && sel.tls.is_empty() && sel.tcp.is_empty() {
        if http.len() != 1 {
            return Err(missing(format!(
                "{} HTTP routes: name the one to weight in trafficRouting.istio",
                http.len()
            )));
        }
        selected.push(("http".into(), 0));
    }
    for route in &sel.http {
        let i = http
            .iter()
            .position(|r| r.get("name").and_then(Value::as_str) == Some(route.as_str()))
            .ok_or_else(|| missing(format!("no HTTP route named {route}")))?;
        selected.push(("http".into(), i));
    }
    let tls = vs
        .pointer("/spec/tls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (port, hosts) in &sel.tls {
        let i = tls
            .iter()
            .position(|r| port_matches(r, *port) && sni_matches(r, hosts))
            .ok_or_else(|| {
                missing(format!(
                    "no TLS route for port {port:?} and SNI hosts {hosts:?}"
                ))
            })?;
        selected.push(("tls".into(), i));
    }
    let tcp = vs
        .pointer("/spec/tcp")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for port in &sel.tcp {
        let i = tcp
            .iter()
            .position(|r| port_matches(r, *port))
            .ok_or_else(|| missing(format!("no TCP route for port {port:?}")))?;
        selected.push(("tcp".into(), i));
    }

    let mut ops = Vec::new();
    for (kind, i) in selected {
        let route = vs
            .pointer(&format!("/spec/{kind}/{i}"))
            .cloned()
            .unwrap_or(Value::Null);
        let dests = route
            .get("route")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !dests.iter().any(|d| side(d, w, split).is_some()) {
            return Err(RouterError::NoStableRoute {
                kind: "VirtualService",
                name: name.clone(),
                service: w.stable_service.clone(),
            });
        }
        for (j, dest) in dests.iter().enumerate() {
            let Some(want) = side(dest, w, split) else {
                continue;
            };
            if dest.get("weight").and_then(Value::as_i64) == Some(i64::from(want)) {
                continue;
            }
            let at = format!("/spec/{kind}/{i}/route/{j}");
            ops.push(json!({"op": "test", "path": format!("{at}/destination"), "value": dest.get("destination")}));
            ops.push(json!({"op": "add", "path": format!("{at}/weight"), "value": want}));
        }
    }
    Ok((!ops.is_empty()).then_some(Value::Array(ops)))
}

/// The JSON patch pointing the DestinationRule's canary and stable subsets at their hashes and
/// marking it managed by the Rollout `rollout` (so it is released when the Rollout stops
/// naming it), or `None` when all that holds already.
pub(crate) fn destination_rule_patch(
    dr: &Value,
    canary_subset: &str,
    stable_subset: &str,
    canary_hash: &str,
    stable_hash: &str,
    rollout: &str,
) -> Result<Option<Value>, RouterError> {
    let name = dr
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let subsets = dr
        .pointer("/spec/subsets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ops = Vec::new();
    for (subset, hash) in [(canary_subset, canary_hash), (stable_subset, stable_hash)] {
        let i = subsets
            .iter()
            .position(|s| s.get("name").and_then(Value::as_str) == Some(subset))
            .ok_or_else(|| RouterError::Missing {
                kind: "DestinationRule",
                name: name.clone(),
                what: format!("no subset named {subset}"),
            })?;
        let current = subsets[i]
            .pointer(&format!("/labels/{POD_TEMPLATE_HASH_LABEL}"))
            .and_then(Value::as_str);
        if current == Some(hash) {
            continue;
        }
        ops.push(json!({"op": "test", "path": format!("/spec/subsets/{i}/name"), "value": subset}));
        if subsets[i].get("labels").is_some_and(Value::is_object) {
            ops.push(json!({"op": "add", "path": format!("/spec/subsets/{i}/labels/{POD_TEMPLATE_HASH_LABEL}"), "value": hash}));
        } else {
            ops.push(json!({"op": "add", "path": format!("/spec/subsets/{i}/labels"), "value": {POD_TEMPLATE_HASH_LABEL: hash}}));
        }
    }
    let annotations = dr.pointer("/metadata/annotations");
    if annotations
        .and_then(|a| a.get(MANAGED_BY))
        .and_then(Value::as_str)
        != Some(rollout)
    {
        if annotations.is_some_and(Value::is_object) {
            ops.push(json!({"op": "add", "path": format!("/metadata/annotations/{}", MANAGED_BY.replace('/', "~1")), "value": rollout}));
        } else {
            ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {MANAGED_BY: rollout}}));
        }
    }
    Ok((!ops.is_empty()).then_some(Value::Array(ops)))
}

/// The JSON patch releasing a DestinationRule the Rollout (`managed_by`) no longer names: no
/// subset keeps a pod-template hash (each selects all the app's pods again) and the mark goes.
/// `None` when another Rollout manages it now; the patch tests the mark, so it applies only
/// while it still holds.
pub(crate) fn destination_rule_release(dr: &Value, managed_by: &str) -> Option<Value> {
    let mark = format!("/metadata/annotations/{}", MANAGED_BY.replace('/', "~1"));
    if dr.pointer(&mark).and_then(Value::as_str) != Some(managed_by) {
        return None;
    }
    let label = POD_TEMPLATE_HASH_LABEL.replace('/', "~1");
    let mut ops = vec![json!({"op": "test", "path": mark, "value": managed_by})];
    ops.extend(
        dr.pointer("/spec/subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, s)| s.pointer(&format!("/labels/{label}")).is_some())
            .map(|(i, _)| json!({"op": "remove", "path": format!("/spec/subsets/{i}/labels/{label}")})),
    );
    ops.push(json!({"op": "remove", "path": mark}));
    Some(Value::Array(ops))
}

fn istio(ro: &Rollout) -> Option<&IstioTrafficRouting> {
    routing(ro)?.istio.as_ref()
}

/// `name` or `name.namespace`, as Argo Rollouts allows for Istio objects.
fn istio_ref(ro: &Rollout, name: &str) -> Ref {
    match name.split_once('.') {
        Some((name, ns)) => Ref::new(ns, name),
        None => Ref::new(home(ro), name),
    }
}

/// The Istio router's VirtualServices.
pub(crate) struct VirtualService;

/// The Istio router's DestinationRule, for a split by subset.
pub(crate) struct DestinationRule;

const VS: &str = "VirtualService";
const DR: &str = "DestinationRule";

impl Router for VirtualService {
    fn kind(&self) -> &'static str {
        VS
    }

    fn resource(&self, _: &Config) -> ApiResource {
        super::router::resource("networking.istio.io", "v1", VS, "virtualservices")
    }

    fn refers_to(&self, ro: &Rollout, _: &Config) -> Vec<Ref> {
        let Some(i) = istio(ro) else { return vec![] };
        i.virtual_service
            .iter()
            .chain(&i.virtual_services)
            .map(|vs| istio_ref(ro, &vs.name))
            .collect()
    }

    fn plan(
        &self,
        ro: &Rollout,
        _: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError> {
        let Some(i) = istio(ro) else {
            return Ok(vec![]);
        };
        let split = match &i.destination_rule {
            Some(dr) => Split::Subset {
                canary: dr.canary_subset_name.clone(),
                stable: dr.stable_subset_name.clone(),
            },
            None => Split::Host,
        };
        let mut writes = Vec::new();
        for vs in i.virtual_service.iter().chain(&i.virtual_services) {
            let target = istio_ref(ro, &vs.name);
            let sel = RouteSelection {
                http: vs.routes.clone(),
                tls: vs
                    .tls_routes
                    .iter()
                    .map(|t| (t.port, t.sni_hosts.clone()))
                    .collect(),
                tcp: vs.tcp_routes.iter().map(|t| t.port).collect(),
            };
            let live = required(live, VS, &target)?;
            if let Some(ops) = virtual_service_patch(live, &sel, &split, &want.weights)? {
                writes.push(Write::Patch { target, ops });
            }
        }
        Ok(writes)
    }
}

impl Router for DestinationRule {
    fn kind(&self) -> &'static str {
        DR
    }

    fn resource(&self, _: &Config) -> ApiResource {
        super::router::resource("networking.istio.io", "v1", DR, "destinationrules")
    }

    fn refers_to(&self, ro: &Rollout, _: &Config) -> Vec<Ref> {
        istio(ro)
            .and_then(|i| i.destination_rule.as_ref())
            .map(|dr| istio_ref(ro, &dr.name))
            .into_iter()
            .collect()
    }

    fn plan(
        &self,
        ro: &Rollout,
        _: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError> {
        let Some(dr) = istio(ro).and_then(|i| i.destination_rule.as_ref()) else {
            return Ok(vec![]);
        };
        let target = istio_ref(ro, &dr.name);
        let patch = destination_rule_patch(
            required(live, DR, &target)?,
            &dr.canary_subset_name,
            &dr.stable_subset_name,
            &want.canary_hash,
            &want.stable_hash,
            &rollout_rs_crds::managed_by(&home(ro), &ro.name_any()),
        )?;
        Ok(patch
            .map(|ops| Write::Patch { target, ops })
            .into_iter()
            .collect())
    }

    /// The mark tells which DestinationRules a Rollout still holds subsets of, to release
    /// those it stops naming.
    fn caches_managed_by(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "istio_tests.rs"]
mod tests;
