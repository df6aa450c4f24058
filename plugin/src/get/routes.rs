//! The routing objects a Rollout names and the weight each backend has in them, read off the
//! live objects: the canary Ingress's `canary-weight`, an HTTPRoute's backendRef weights, a
//! VirtualService's destination weights, a TrafficSplit's backends. Pure; `get` reads the
//! objects.

use rollout_rs_crds::Rollout;
use serde_json::Value;

use super::view::Route;

/// Where a routed kind is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    pub(crate) kind: &'static str,
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) plural: &'static str,
}

pub(crate) const INGRESS: Kind = Kind {
    kind: "Ingress",
    group: "networking.k8s.io",
    version: "v1",
    plural: "ingresses",
};
pub(crate) const HTTP_ROUTE: Kind = Kind {
    kind: "HTTPRoute",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "httproutes",
};
pub(crate) const VIRTUAL_SERVICE: Kind = Kind {
    kind: "VirtualService",
    group: "networking.istio.io",
    version: "v1",
    plural: "virtualservices",
};
pub(crate) const TRAFFIC_SPLIT: Kind = Kind {
    kind: "TrafficSplit",
    group: "split.smi-spec.io",
    version: "v1alpha2",
    plural: "trafficsplits",
};

/// An object to read: its kind, namespace and name. The canary Ingresses are found by their
/// owner instead (the controller names them), so NGINX is [`owns_ingresses`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// Whether the Rollout routes through NGINX (its canary Ingresses are the ones it owns).
pub(crate) fn owns_ingresses(ro: &Rollout) -> bool {
    routing(ro).is_some_and(|t| t.nginx.is_some())
}

fn routing(ro: &Rollout) -> Option<&rollout_rs_crds::rollout::RolloutTrafficRouting> {
    ro.spec.strategy.canary.as_ref()?.traffic_routing.as_ref()
}

/// The named routing objects (Gateway API, Istio, SMI).
pub(crate) fn targets(ro: &Rollout) -> Vec<Target> {
    let home = ro.metadata.namespace.clone().unwrap_or_default();
    let Some(t) = routing(ro) else {
        return vec![];
    };
    let mut out = Vec::new();
    if let Some(g) = &t.gateway_api {
        let ns = g.namespace.clone().unwrap_or_else(|| home.clone());
        for name in g
            .http_route
            .iter()
            .chain(g.http_routes.iter().map(|r| &r.name))
        {
            out.push(Target {
                kind: HTTP_ROUTE,
                namespace: ns.clone(),
                name: name.clone(),
            });
        }
    }
    if let Some(i) = &t.istio {
        for vs in i.virtual_service.iter().chain(&i.virtual_services) {
            let (name, ns) = vs.name.split_once('.').unwrap_or((&vs.name, &home));
            out.push(Target {
                kind: VIRTUAL_SERVICE,
                namespace: ns.to_string(),
                name: name.to_string(),
            });
        }
    }
    if let Some(s) = &t.smi {
        out.push(Target {
            kind: TRAFFIC_SPLIT,
            namespace: home.clone(),
            name: s
                .traffic_split_name
                .clone()
                .or_else(|| ro.metadata.name.clone())
                .unwrap_or_default(),
        });
    }
    out
}

fn services(ro: &Rollout) -> (String, String) {
    let c = ro.spec.strategy.canary.as_ref();
    (
        c.and_then(|c| c.canary_service.clone()).unwrap_or_default(),
        c.and_then(|c| c.stable_service.clone()).unwrap_or_default(),
    )
}

/// The route a live object makes: each backend and its weight.
pub(crate) fn route(ro: &Rollout, kind: Kind, name: &str, live: Option<&Value>) -> Route {
    let Some(live) = live else {
        return Route {
            kind: kind.kind,
            name: name.to_string(),
            weights: vec![],
            problem: Some("not found".into()),
        };
    };
    let (canary, stable) = services(ro);
    let ours = |backend: &str| backend == canary || backend == stable;
    let weights: Vec<(String, i64)> = match kind.kind {
        "Ingress" => {
            let annotations = live
                .pointer("/metadata/annotations")
                .and_then(Value::as_object);
            let find = |suffix: &str| {
                annotations.and_then(|a| {
                    a.iter()
                        .find(|(k, _)| k.ends_with(suffix))
                        .and_then(|(_, v)| v.as_str()?.parse::<i64>().ok())
                })
            };
            let total = find("/canary-weight-total").unwrap_or(100);
            let weight = find("/canary-weight").unwrap_or(0);
            vec![(canary, weight), (stable, total - weight)]
        }
        "HTTPRoute" => pairs(
            live.pointer("/spec/rules"),
            "backendRefs",
            |b| b.get("name"),
            &ours,
        ),
        "VirtualService" => pairs(
            live.pointer("/spec/http"),
            "route",
            |d| d.pointer("/destination/host"),
            &|host: &str| {
                let short = host.split('.').next().unwrap_or(host);
                ours(short)
            },
        ),
        "TrafficSplit" => live
            .pointer("/spec/backends")
            .and_then(Value::as_array)
            .map(|b| {
                b.iter()
                    .filter_map(|b| {
                        Some((
                            b.get("service")?.as_str()?.to_string(),
                            weight(b.get("weight")),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![],
    };
    Route {
        kind: kind.kind,
        name: name.to_string(),
        problem: weights
            .is_empty()
            .then(|| "routes to neither the canary nor the stable Service".to_string()),
        weights,
    }
}

/// The backends of the first rule (of `rules`) whose `list` names our Services.
fn pairs(
    rules: Option<&Value>,
    list: &str,
    backend: impl Fn(&Value) -> Option<&Value>,
    ours: &dyn Fn(&str) -> bool,
) -> Vec<(String, i64)> {
    rules
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get(list)?.as_array())
        .map(|refs| {
            refs.iter()
                .filter_map(|r| Some((backend(r)?.as_str()?.to_string(), weight(r.get("weight")))))
                .collect::<Vec<_>>()
        })
        .find(|found| found.iter().any(|(b, _)| ours(b)))
        .unwrap_or_default()
}

/// A weight as written: a number, or a quantity string (SMI v1alpha1).
fn weight(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim_end_matches('m').parse().unwrap_or(0),
        // Gateway API: a backendRef without a weight has weight 1.
        _ => 1,
    }
}
