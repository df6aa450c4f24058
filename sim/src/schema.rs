//! Admission of custom resources against their CRD's `openAPIV3Schema`, as the real API server
//! does it: null non-nullable fields dropped, unknown fields pruned (or rejected under
//! `fieldValidation=Strict`), defaults applied, then types, enums, bounds and required fields
//! checked, each error naming the field path.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// What to do with fields the schema does not declare (`?fieldValidation=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them (the real server also returns a warning header).
    #[default]
    Warn,
    /// Reject the request, naming them.
    Strict,
}

impl FieldValidation {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn, Strict, got {other:?}"
            ))),
        }
    }
}

/// Prunes, defaults and validates `obj` in place.
pub fn admit(
    schema: &JSONSchemaProps,
    obj: &mut Value,
    kind: &str,
    version: &str,
    mode: FieldValidation,
) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut errors = Vec::new();
    let mut unknown = Vec::new();
    if let (Some(map), Some(props)) = (obj.as_object_mut(), schema.properties.as_ref()) {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match props.get(&key) {
                Some(child) => {
                    if map.get(&key).is_some_and(Value::is_null) && child.nullable != Some(true) {
                        map.remove(&key);
                    } else if let Some(v) = map.get_mut(&key) {
                        walk(child, v, &key, &mut errors, &mut unknown);
                    }
                }
                None if schema.x_kubernetes_preserve_unknown_fields == Some(true) => {}
                None => {
                    unknown.push(key.clone());
                    map.remove(&key);
                }
            }
        }
        apply_defaults(schema, map);
        for req in schema.required.iter().flatten() {
            if !map.contains_key(req) {
                errors.push(format!("{req}: Required value"));
            }
        }
    }
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", ")
        )));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(kind, &name, &errors));
    }
    Ok(())
}

fn apply_defaults(schema: &JSONSchemaProps, map: &mut Map<String, Value>) {
    for (key, child) in schema.properties.iter().flatten() {
        if let Some(default) = &child.default {
            map.entry(key.clone()).or_insert_with(|| default.0.clone());
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(
    s: &JSONSchemaProps,
    v: &mut Value,
    path: &str,
    errors: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    let show = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    if v.is_null() {
        if s.nullable != Some(true) {
            errors.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}",
                s.type_.as_deref().unwrap_or("object")
            ));
        }
        return;
    }
    if s.x_kubernetes_int_or_string == Some(true) {
        if !matches!(type_name(v), "integer" | "string") {
            errors.push(format!(
                "{path}: Invalid value: {}: {path} in body must be of type integer or string",
                show(v)
            ));
        }
        return;
    }
    if let Some(ty) = s.type_.as_deref().filter(|t| !t.is_empty()) {
        let actual = type_name(v);
        let ok = actual == ty || (ty == "number" && actual == "integer");
        if !ok {
            errors.push(format!(
                "{path}: Invalid value: \"{actual}\": {path} in body must be of type {ty}: {}",
                show(v)
            ));
            return;
        }
    }
    if let Some(allowed) = &s.enum_
        && !allowed.iter().any(|a| &a.0 == v)
    {
        let list: Vec<String> = allowed.iter().map(|a| show(&a.0)).collect();
        errors.push(format!(
            "{path}: Unsupported value: {}: supported values: {}",
            show(v),
            list.join(", ")
        ));
    }
    bounds(s, v, path, errors);
    // The API server checks the formats it knows; date-time is the one our kinds use (a
    // pause's start time that is not a time would leave the object unreadable to clients).
    if s.format.as_deref() == Some("date-time")
        && let Value::String(text) = v
        && text.parse::<jiff::Timestamp>().is_err()
    {
        errors.push(format!(
            "{path}: Invalid value: {}: {path} in body must be of type date-time: {}",
            show(v),
            show(v)
        ));
    }
    match v {
        Value::Object(map) => {
            let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = format!("{path}.{key}");
                let child = s.properties.as_ref().and_then(|p| p.get(&key)).or(
                    match &s.additional_properties {
                        Some(JSONSchemaPropsOrBool::Schema(extra)) => Some(extra.as_ref()),
                        _ => None,
                    },
                );
                match child {
                    Some(child) => {
                        if map.get(&key).is_some_and(Value::is_null) && child.nullable != Some(true)
                        {
                            map.remove(&key);
                        } else if let Some(cv) = map.get_mut(&key) {
                            walk(child, cv, &child_path, errors, unknown);
                        }
                    }
                    None if preserve
                        || s.properties.is_none()
                            && s.additional_properties.is_none()
                            && s.type_.is_none() => {}
                    None => {
                        unknown.push(child_path);
                        map.remove(&key);
                    }
                }
            }
            apply_defaults(s, map);
            for req in s.required.iter().flatten() {
                if !map.contains_key(req) {
                    errors.push(format!("{path}.{req}: Required value"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items {
                for (i, iv) in items.iter_mut().enumerate() {
                    walk(item, iv, &format!("{path}[{i}]"), errors, unknown);
                }
            }
        }
        _ => {}
    }
}

fn bounds(s: &JSONSchemaProps, v: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.minimum {
            let below = if s.exclusive_minimum == Some(true) {
                n <= min
            } else {
                n < min
            };
            if below {
                errors.push(format!("{path}: Invalid value: {n}: {path} in body should be greater than or equal to {min}"));
            }
        }
        if let Some(max) = s.maximum {
            let above = if s.exclusive_maximum == Some(true) {
                n >= max
            } else {
                n > max
            };
            if above {
                errors.push(format!("{path}: Invalid value: {n}: {path} in body should be less than or equal to {max}"));
            }
        }
    }
    let len = match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    };
    if let Some(len) = len.map(|l| l as i64) {
        let (min, max) = match v {
            Value::String(_) => (s.min_length, s.max_length),
            Value::Array(_) => (s.min_items, s.max_items),
            _ => (s.min_properties, s.max_properties),
        };
        if min.is_some_and(|m| len < m) {
            errors.push(format!(
                "{path}: Invalid value: {path} in body should have at least {} items or characters",
                min.unwrap_or_default()
            ));
        }
        if max.is_some_and(|m| len > m) {
            errors.push(format!(
                "{path}: Too long: {path} in body may not have more than {} items or characters",
                max.unwrap_or_default()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> JSONSchemaProps {
        serde_json::from_value(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1, "maximum": 10},
                        "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                        "port": {"x-kubernetes-int-or-string": true},
                        "note": {"type": "string", "nullable": true},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}}
                    }
                },
                "status": {"type": "object", "properties": {
                    "phase": {"type": "string"},
                    "since": {"type": "string", "format": "date-time"}
                }}
            }
        }))
        .unwrap()
    }

    #[test]
    fn prunes_defaults_and_validates() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"size": 3, "port": "http", "bogus": 1, "free": {"any": {"thing": 1}},
                     "labels": {"a": "b"}, "items": [{"n": 1, "m": 2}], "note": null}});
        admit(&schema(), &mut obj, "X", "v1", FieldValidation::Warn).unwrap();
        assert_eq!(
            obj["spec"],
            json!({"size": 3, "mode": "a", "port": "http", "free": {"any": {"thing": 1}},
            "labels": {"a": "b"}, "items": [{"n": 1}], "note": null})
        );
    }

    #[test]
    fn date_times_must_be_times() {
        let mut obj =
            json!({"spec": {"size": 1}, "status": {"since": "2026-11-30T09:47:31.123456Z"}});
        admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap();
        let mut obj = json!({"spec": {"size": 1}, "status": {"since": "yesterday"}});
        let err = admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains(
                "status.since: Invalid value: \"yesterday\": status.since in body must be of type date-time"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn strict_rejects_unknown_fields_by_path() {
        let mut obj = json!({"spec": {"size": 3, "bogus": 1, "items": [{"m": 1}]}, "extra": true});
        let err = admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("unknown field \"spec.bogus\""),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("unknown field \"spec.items[0].m\""),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("unknown field \"extra\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn type_enum_bound_and_required_errors() {
        let mut obj = json!({"metadata": {"name": "a"}, "spec": {"size": "three", "mode": "c", "port": true, "labels": {"a": 1}}});
        let err = admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 422);
        for want in [
            "spec.size: Invalid value: \"string\": spec.size in body must be of type integer",
            "spec.mode: Unsupported value: \"c\"",
            "spec.port: Invalid value: true: spec.port in body must be of type integer or string",
            "spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string",
        ] {
            assert!(
                err.message.contains(want),
                "missing {want:?} in {}",
                err.message
            );
        }
        let mut obj = json!({"spec": {"size": 11}});
        let err = admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap_err();
        assert!(
            err.message
                .contains("spec.size in body should be less than or equal to 10"),
            "{}",
            err.message
        );
        let mut obj = json!({"spec": {}});
        let err = admit(&schema(), &mut obj, "X", "v1", FieldValidation::Strict).unwrap_err();
        assert!(
            err.message.contains("spec.size: Required value"),
            "{}",
            err.message
        );
    }
}
