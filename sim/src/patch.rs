//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch for
//! built-in kinds (lists merged by the keys the real API server uses), and apply patches.

use axum::body::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::registry::ResourceType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            other => Err(unsupported(other)),
        }
    }
}

fn unsupported(ct: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format ({ct}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        ),
    )
}

fn parse(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))
}

/// Applies a non-apply patch to `doc` and returns the result.
pub fn apply(
    kind: PatchKind,
    rt: &ResourceType,
    mut doc: Value,
    body: &Bytes,
) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Merge => {
            let p = parse(body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is invalid: {e}")))?;
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?;
            Ok(doc)
        }
        PatchKind::Strategic => {
            if rt.crd.is_some() {
                return Err(unsupported("application/strategic-merge-patch+json"));
            }
            let p = parse(body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(&mut doc, &p);
            Ok(doc)
        }
        PatchKind::Apply => Err(ApiError::bad_request(
            "apply patches are handled by server-side apply",
        )),
    }
}

/// The merge key of a list field of a built-in kind, chosen from the field name and, for
/// `ports`, the items (container ports merge on containerPort, Service ports on port).
pub(crate) fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if items.iter().any(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        _ => return None,
    })
}

/// Strategic merge patch: like a merge patch, except that keyed lists merge item by item,
/// `finalizers` merge as a set, and the `$patch`, `$deleteFromPrimitiveList/` and
/// `$setElementOrder/` directives are honoured.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = Value::Object(without_directives(p));
            return;
        }
        Some("delete") => {
            *target = Value::Object(Map::new());
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (k, v) in p {
        if k == "$patch" || k.starts_with("$setElementOrder/") || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(remove)) =
                (t.get_mut(field).and_then(Value::as_array_mut), v.as_array())
            {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) => {
                let existing = t.get_mut(k).and_then(Value::as_array_mut);
                match (existing, merge_key(k, items)) {
                    (Some(list), Some(key)) => merge_list(list, items, key),
                    (Some(list), None) if k == "finalizers" => {
                        for item in items {
                            if !list.contains(item) {
                                list.push(item.clone());
                            }
                        }
                    }
                    _ => {
                        let cleaned: Vec<Value> = items
                            .iter()
                            .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                            .cloned()
                            .collect();
                        t.insert(k.clone(), Value::Array(cleaned));
                    }
                }
            }
            Value::Object(_) => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
}

fn without_directives(p: &Map<String, Value>) -> Map<String, Value> {
    p.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_list(list: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut list[i], item),
            (None, true) => {}
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item);
                list.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ], "finalizers": ["x"]}});
        let patch = json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "c:1"}
        ], "finalizers": ["y"]}});
        strategic_merge(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "c", "image": "c:1"}
        ], "finalizers": ["x", "y"]}})
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}}, "spec": {"args": ["1"]}});
        let patch = json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"x": null}},
            "spec": {"args": ["2", "3"], "$setElementOrder/args": ["2", "3"]}
        });
        strategic_merge(&mut doc, &patch);
        assert_eq!(
            doc,
            json!({"metadata": {"finalizers": ["b"], "labels": {"y": "2"}}, "spec": {"args": ["2", "3"]}})
        );
        let mut doc = json!({"spec": {"selector": {"a": "1"}}});
        strategic_merge(
            &mut doc,
            &json!({"spec": {"selector": {"$patch": "replace", "b": "2"}}}),
        );
        assert_eq!(doc, json!({"spec": {"selector": {"b": "2"}}}));
    }
}
