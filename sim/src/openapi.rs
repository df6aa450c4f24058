//! `/openapi/v3`: the root listing each group-version, and per group-version documents with the
//! resource paths and kind schemas. kubectl 1.32 reads them to decide that the server validates
//! fields itself (the `fieldValidation` query parameter on PATCH) and then sends
//! `?fieldValidation=Strict` instead of validating client-side.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use crate::registry::{Registry, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn schema_name(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() {
        "core".to_string()
    } else {
        rt.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("{group}.{}.{}", rt.version, rt.kind)
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        param(
            "fieldManager",
            "A name associated with the actor or entity that is making these changes.",
        ),
        param(
            "fieldValidation",
            "Ignore, Warn or Strict: how to treat unknown or duplicate fields.",
        ),
    ]
}

fn operation(rt: &ResourceType, verb: &str, body_types: &[&str]) -> Value {
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    let mut op = json!({
        "operationId": format!("{verb}{}", rt.kind),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": gvk(rt),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
    });
    if !body_types.is_empty() {
        let content: serde_json::Map<String, Value> = body_types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": reference})))
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
        op["parameters"] = json!(write_params());
    }
    op
}

/// The OpenAPI v3 document of one group-version, or `None` if nothing is served there.
pub fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = registry.group_version(group, version);
    if types.is_empty() {
        return None;
    }
    // Strategic merge is not advertised: kubectl then builds such patches from its own
    // compiled-in types for built-in kinds, and merge patches for custom ones.
    let patch_types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for rt in types {
        let base = if rt.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                rt.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), rt.plural)
        };
        if rt.create_only {
            paths.insert(
                base.clone(),
                json!({"post": operation(rt, "post", &["application/json"])}),
            );
        } else {
            paths.insert(
                base.clone(),
                json!({
                    "get": operation(rt, "list", &[]),
                    "post": operation(rt, "post", &["application/json"]),
                }),
            );
            paths.insert(
                format!("{base}/{{name}}"),
                json!({
                    "get": operation(rt, "get", &[]),
                    "put": operation(rt, "put", &["application/json"]),
                    "patch": operation(rt, "patch", &patch_types),
                    "delete": operation(rt, "delete", &[]),
                }),
            );
        }
        let mut schema = rt
            .schema
            .as_deref()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        schema["x-kubernetes-group-version-kind"] = json!([gvk(rt)]);
        schemas.insert(schema_name(rt), schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// The root document: each group-version with the URL of its document (the hash lets clients
/// cache, and changes when a CRD changes the document).
pub fn root(registry: &Registry) -> Value {
    let mut paths = BTreeMap::new();
    let mut gvs: Vec<(String, String)> = registry
        .all()
        .map(|rt| (rt.group.clone(), rt.version.clone()))
        .collect();
    gvs.dedup();
    for (g, v) in gvs {
        let doc = group_version(registry, &g, &v).unwrap_or(Value::Null);
        let mut h = DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let path = gv_path(&g, &v);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}
