//! The scale subresource (`autoscaling/v1` Scale) of workloads and of CRDs that declare one,
//! which is what `kubectl scale` and an HPA read and write.

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::ops::{self, Part};
use crate::registry::ResourceType;
use crate::store::State;

fn pointer(json_path: &str) -> String {
    format!("/{}", json_path.trim_start_matches('.').replace('.', "/"))
}

/// Renders an object as a Scale.
pub fn to_scale(rt: &ResourceType, obj: &Value) -> Value {
    let Some(scale) = &rt.scale else {
        return Value::Null;
    };
    let spec = obj
        .pointer(&pointer(&scale.spec_replicas_path))
        .cloned()
        .unwrap_or(json!(0));
    let status = obj
        .pointer(&pointer(&scale.status_replicas_path))
        .cloned()
        .unwrap_or(json!(0));
    let selector = scale
        .label_selector_path
        .as_deref()
        .and_then(|p| obj.pointer(&pointer(p)))
        .cloned();
    let selector = match selector {
        // Built-in workloads keep a LabelSelector object in spec.selector, not a string.
        None | Some(Value::Null) => obj
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
            .map(|m| {
                json!(
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }),
        other => other,
    };
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut out = json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": {"replicas": status},
    });
    if let Some(sel) = selector {
        out["status"]["selector"] = sel;
    }
    out
}

/// Writes a Scale's `spec.replicas` into the object.
pub fn apply_scale(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    scale: &Value,
    opts: &ops::WriteOptions,
) -> Result<Value, ApiError> {
    let Some(paths) = &rt.scale else {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                name,
                &["spec.replicas: Invalid value: must be a non-negative integer".into()],
            )
        })?;
    let key = (ns.unwrap_or_default().to_string(), name.to_string());
    let mut obj = state
        .get(&rt.storage_key(), &key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.plural, name))?;
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        && obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            != Some(rv)
    {
        return Err(ApiError::conflict(&rt.plural, name));
    }
    let segments: Vec<String> = paths
        .spec_replicas_path
        .trim_start_matches('.')
        .split('.')
        .map(str::to_string)
        .collect();
    let mut cursor = &mut obj;
    for (i, seg) in segments.iter().enumerate() {
        if i + 1 == segments.len() {
            cursor[seg.as_str()] = json!(replicas);
        } else {
            if !cursor.get(seg.as_str()).is_some_and(Value::is_object) {
                cursor[seg.as_str()] = json!({});
            }
            cursor = &mut cursor[seg.as_str()];
        }
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    ops::update(state, rt, ns, name, obj, Part::Main, opts)
}
