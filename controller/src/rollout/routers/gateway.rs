//! Gateway API, native: the `weight` of the backendRefs that name the canary and the stable
//! Service in an HTTPRoute's rules, and nothing else. The change is a JSON patch whose `test`
//! operations pin each backendRef's name, so a concurrent edit that reorders the rules makes the
//! write fail instead of weighting the wrong backend. The routes are the user's: each must
//! exist, and none is ever created or deleted here.

use kube::core::ApiResource;
use rollout_rs_crds::Rollout;
use serde_json::{Value, json};

use super::router::{
    Config, Desired, Live, Ref, Router, RouterError, Weights, Write, home, required, routing,
};

fn is_service(backend: &Value) -> bool {
    let group_ok = backend
        .get("group")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let kind_ok = backend
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(|k| k == "Service");
    group_ok && kind_ok
}

/// The JSON patch setting the weights on `route` (an HTTPRoute as JSON), or `None` when they
/// already hold. Fails, naming the route, when no backendRef names the stable Service.
pub(crate) fn weight_patch(route: &Value, w: &Weights) -> Result<Option<Value>, RouterError> {
    let name = route
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let rules = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ops = Vec::new();
    let mut saw_stable = false;
    for (i, rule) in rules.iter().enumerate() {
        for (j, backend) in rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if !is_service(backend) {
                continue;
            }
            let service = backend
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let want = if service == w.canary_service {
                w.canary
            } else if service == w.stable_service {
                saw_stable = true;
                w.stable()
            } else {
                continue;
            };
            if backend.get("weight").and_then(Value::as_i64) == Some(i64::from(want)) {
                continue;
            }
            let at = format!("/spec/rules/{i}/backendRefs/{j}");
            ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": service}));
            ops.push(json!({"op": "add", "path": format!("{at}/weight"), "value": want}));
        }
    }
    if !saw_stable {
        return Err(RouterError::NoStableRoute {
            kind: "HTTPRoute",
            name,
            service: w.stable_service.clone(),
        });
    }
    Ok((!ops.is_empty()).then_some(Value::Array(ops)))
}

/// The Gateway API router.
pub(crate) struct HttpRoute;

const KIND: &str = "HTTPRoute";

impl Router for HttpRoute {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn resource(&self, _: &Config) -> ApiResource {
        super::router::resource("gateway.networking.k8s.io", "v1", KIND, "httproutes")
    }

    fn refers_to(&self, ro: &Rollout, _: &Config) -> Vec<Ref> {
        let Some(g) = routing(ro).and_then(|t| t.gateway_api.as_ref()) else {
            return vec![];
        };
        let ns = g.namespace.clone().unwrap_or_else(|| home(ro));
        g.http_route
            .iter()
            .chain(g.http_routes.iter().map(|r| &r.name))
            .map(|name| Ref::new(&ns, name))
            .collect()
    }

    /// Every route must exist: the user's, only weighted here.
    fn plan(
        &self,
        ro: &Rollout,
        cx: &Config,
        want: &Desired,
        live: &Live,
    ) -> Result<Vec<Write>, RouterError> {
        let mut writes = Vec::new();
        for target in self.refers_to(ro, cx) {
            if let Some(ops) = weight_patch(required(live, KIND, &target)?, &want.weights)? {
                writes.push(Write::Patch { target, ops });
            }
        }
        Ok(writes)
    }
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
