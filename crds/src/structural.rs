//! Structural-schema check for CRD `openAPIV3Schema`s: the rules a real kube-apiserver applies
//! before it accepts a CRD (every node typed, nothing but value restrictions inside `anyOf` /
//! `allOf` / `oneOf` / `not`, no `$ref`, and so on). Used on our own generated CRDs, and by the
//! simulated cluster on every CRD it is given.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

/// One way a schema is not structural, at a path such as `spec.steps[*].pause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "<root>"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Calls `f` on each direct sub-schema that describes data: properties, items and
/// additionalProperties. Logical junctors are not visited (they only restrict values).
pub fn for_each_child(schema: &mut JSONSchemaProps, f: &mut impl FnMut(&mut JSONSchemaProps)) {
    if let Some(props) = schema.properties.as_mut() {
        props.values_mut().for_each(&mut *f);
    }
    match schema.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => f(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(&mut *f),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        f(extra);
    }
}

/// Checks a CRD version's `openAPIV3Schema`. An empty result means structural.
pub fn check(root: &JSONSchemaProps) -> Vec<Violation> {
    let mut out = Vec::new();
    if root.type_.as_deref() != Some("object") {
        push(&mut out, "", "the root must have type object");
    }
    if let Some(meta) = root.properties.as_ref().and_then(|p| p.get("metadata")) {
        check_root_metadata(meta, &mut out);
    }
    check_node(root, "", &mut out);
    out
}

fn push(out: &mut Vec<Violation>, path: &str, message: impl Into<String>) {
    out.push(Violation {
        path: path.to_string(),
        message: message.into(),
    });
}

fn join(path: &str, child: &str) -> String {
    if path.is_empty() {
        child.to_string()
    } else {
        format!("{path}.{child}")
    }
}

/// Root `metadata` may only be `type: object` and restrict `name` / `generateName`.
fn check_root_metadata(meta: &JSONSchemaProps, out: &mut Vec<Violation>) {
    if meta.type_.as_deref() != Some("object") {
        push(out, "metadata", "must have type object");
    }
    for key in meta.properties.iter().flat_map(|p| p.keys()) {
        if key != "name" && key != "generateName" {
            push(
                out,
                "metadata",
                format!("only name and generateName may be restricted, not {key}"),
            );
        }
    }
}

fn check_node(s: &JSONSchemaProps, path: &str, out: &mut Vec<Violation>) {
    let int_or_string = s.x_kubernetes_int_or_string == Some(true);
    let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);

    const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];
    match s.type_.as_deref().filter(|t| !t.is_empty()) {
        None if !int_or_string && !preserve => push(
            out,
            path,
            "type is missing (only int-or-string and preserve-unknown-fields nodes may omit it)",
        ),
        None => {}
        Some(t) if !TYPES.contains(&t) => push(out, path, format!("unknown type {t:?}")),
        Some(t) if int_or_string => push(
            out,
            path,
            format!("x-kubernetes-int-or-string must not set a type ({t})"),
        ),
        Some(_) => {}
    }
    if s.x_kubernetes_preserve_unknown_fields == Some(false) {
        push(
            out,
            path,
            "x-kubernetes-preserve-unknown-fields must be true or absent",
        );
    }
    if s.x_kubernetes_embedded_resource == Some(true) && s.type_.as_deref() != Some("object") {
        push(
            out,
            path,
            "x-kubernetes-embedded-resource requires type object",
        );
    }
    if s.ref_path.is_some() {
        push(out, path, "$ref is not allowed");
    }
    if s.definitions.is_some() || s.dependencies.is_some() || s.pattern_properties.is_some() {
        push(
            out,
            path,
            "definitions, dependencies and patternProperties are not allowed",
        );
    }
    if s.additional_items.is_some() {
        push(out, path, "additionalItems is not allowed");
    }
    if s.unique_items == Some(true) {
        push(out, path, "uniqueItems is not allowed");
    }
    if s.id.is_some() || s.schema.is_some() {
        push(out, path, "id and $schema are not allowed");
    }
    if s.properties.is_some() && s.additional_properties.is_some() {
        push(
            out,
            path,
            "properties and additionalProperties are mutually exclusive",
        );
    }
    if let Some(JSONSchemaPropsOrBool::Bool(_)) = &s.additional_properties {
        push(
            out,
            path,
            "additionalProperties must be a schema, not a boolean",
        );
    }
    if let Some(t) = s.type_.as_deref() {
        if (s.properties.is_some() || s.additional_properties.is_some()) && t != "object" {
            push(out, path, format!("properties on a node of type {t}"));
        }
        if s.items.is_some() && t != "array" {
            push(out, path, format!("items on a node of type {t}"));
        }
        if t == "array" && s.items.is_none() {
            push(out, path, "arrays must specify items");
        }
    }
    for value in s.enum_.iter().flatten() {
        if !value_has_type(&value.0, s.type_.as_deref(), s.nullable == Some(true)) {
            push(
                out,
                path,
                format!("enum value {} does not match the node's type", value.0),
            );
        }
    }
    for req in s.required.iter().flatten() {
        if !s.properties.as_ref().is_some_and(|p| p.contains_key(req)) {
            push(
                out,
                path,
                format!("required property {req:?} is not declared"),
            );
        }
    }
    check_list_type(s, path, out);

    for junctor in junctors(s) {
        check_junctor(junctor, s, path, out);
    }

    if let Some(props) = &s.properties {
        for (name, child) in props {
            check_node(child, &join(path, name), out);
        }
    }
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => check_node(item, &format!("{path}[*]"), out),
        Some(JSONSchemaPropsOrArray::Schemas(_)) => {
            push(out, path, "items must be a single schema, not a list")
        }
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = &s.additional_properties {
        check_node(extra, &format!("{path}{{*}}"), out);
    }
}

fn junctors(s: &JSONSchemaProps) -> impl Iterator<Item = &JSONSchemaProps> {
    s.all_of
        .iter()
        .flatten()
        .chain(s.any_of.iter().flatten())
        .chain(s.one_of.iter().flatten())
        .chain(s.not.as_deref())
}

/// Inside a junctor only value restrictions may appear, and any property or item mentioned must
/// also be declared on the node itself. The int-or-string pattern `anyOf: [{type: integer},
/// {type: string}]` is the one allowed use of `type` there.
fn check_junctor(
    j: &JSONSchemaProps,
    outer: &JSONSchemaProps,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let int_or_string_branch = outer.x_kubernetes_int_or_string == Some(true)
        && matches!(j.type_.as_deref(), Some("integer" | "string"))
        && j.properties.is_none();
    if j.type_.is_some() && !int_or_string_branch {
        push(
            out,
            path,
            "type must not be set inside anyOf/allOf/oneOf/not",
        );
    }
    if j.description.is_some() || j.default.is_some() || j.nullable.is_some() {
        push(
            out,
            path,
            "description, default and nullable must not be set inside anyOf/allOf/oneOf/not",
        );
    }
    if j.additional_properties.is_some() {
        push(
            out,
            path,
            "additionalProperties must not be set inside anyOf/allOf/oneOf/not",
        );
    }
    if j.x_kubernetes_preserve_unknown_fields.is_some()
        || j.x_kubernetes_embedded_resource.is_some()
    {
        push(
            out,
            path,
            "x-kubernetes extensions must not be set inside anyOf/allOf/oneOf/not",
        );
    }
    for name in j.properties.iter().flat_map(|p| p.keys()) {
        if !outer
            .properties
            .as_ref()
            .is_some_and(|p| p.contains_key(name))
        {
            push(
                out,
                path,
                format!("property {name:?} appears only inside a junctor"),
            );
        }
    }
    if j.items.is_some() && outer.items.is_none() {
        push(out, path, "items appear only inside a junctor");
    }
    for nested in junctors(j) {
        check_junctor(nested, outer, path, out);
    }
}

/// `x-kubernetes-list-type: map` needs scalar keys that every item has (required or defaulted),
/// or server-side apply cannot merge the list.
fn check_list_type(s: &JSONSchemaProps, path: &str, out: &mut Vec<Violation>) {
    let keys = s.x_kubernetes_list_map_keys.as_deref().unwrap_or_default();
    match s.x_kubernetes_list_type.as_deref() {
        None => {
            if !keys.is_empty() {
                push(
                    out,
                    path,
                    "x-kubernetes-list-map-keys requires x-kubernetes-list-type map",
                );
            }
        }
        Some("atomic" | "set") => {
            if !keys.is_empty() {
                push(
                    out,
                    path,
                    "x-kubernetes-list-map-keys requires x-kubernetes-list-type map",
                );
            }
        }
        Some("map") => {
            let Some(JSONSchemaPropsOrArray::Schema(item)) = &s.items else {
                return push(out, path, "x-kubernetes-list-type map requires items");
            };
            if keys.is_empty() {
                push(
                    out,
                    path,
                    "x-kubernetes-list-type map requires x-kubernetes-list-map-keys",
                );
            }
            let required = item.required.as_deref().unwrap_or_default();
            for key in keys {
                match item.properties.as_ref().and_then(|p| p.get(key)) {
                    None => push(
                        out,
                        path,
                        format!("list map key {key:?} is not an item property"),
                    ),
                    Some(prop) => {
                        if matches!(prop.type_.as_deref(), Some("object" | "array")) {
                            push(out, path, format!("list map key {key:?} must be a scalar"));
                        }
                        if !required.contains(key) && prop.default.is_none() {
                            push(
                                out,
                                path,
                                format!("list map key {key:?} must be required or have a default"),
                            );
                        }
                    }
                }
            }
        }
        Some(other) => push(
            out,
            path,
            format!("unknown x-kubernetes-list-type {other:?}"),
        ),
    }
}

fn value_has_type(v: &serde_json::Value, ty: Option<&str>, nullable: bool) -> bool {
    use serde_json::Value;
    match (v, ty) {
        (Value::Null, _) => nullable,
        (_, None) => true,
        (Value::String(_), Some("string")) => true,
        (Value::Bool(_), Some("boolean")) => true,
        (Value::Number(n), Some("integer")) => n.is_i64() || n.is_u64(),
        (Value::Number(_), Some("number")) => true,
        (Value::Array(_), Some("array")) => true,
        (Value::Object(_), Some("object")) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(v: serde_json::Value) -> JSONSchemaProps {
        serde_json::from_value(v).expect("test schema parses")
    }

    #[test]
    fn flags_untyped_and_junctor_violations() {
        let s = schema(serde_json::json!({
            "type": "object",
            "properties": {
                "a": {},
                "b": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "c": {"type": "object", "anyOf": [{"type": "object", "properties": {"z": {"type": "string"}}}]},
                "d": {"type": "array"},
                "e": {"type": "string", "enum": ["x", 3]},
                "f": {"type": "object", "additionalProperties": false},
                "g": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "h": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                      "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            }
        }));
        let v: Vec<String> = check(&s).iter().map(ToString::to_string).collect();
        let expect = [
            "a: type is missing",
            "c: type must not be set inside",
            "c: property \"z\" appears only inside a junctor",
            "d: arrays must specify items",
            "e: enum value 3 does not match",
            "f: additionalProperties must be a schema",
            "h: list map key \"k\" must be required or have a default",
        ];
        for e in expect {
            assert!(
                v.iter().any(|m| m.starts_with(e)),
                "missing {e:?} in {v:#?}"
            );
        }
        assert_eq!(v.len(), expect.len(), "{v:#?}");
    }

    #[test]
    fn root_metadata_restrictions() {
        let s = schema(serde_json::json!({
            "type": "object",
            "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}
        }));
        let v = check(&s);
        assert!(
            v.iter()
                .any(|x| x.message.contains("only name and generateName")),
            "{v:?}"
        );
    }
}
