//! Server-side apply and field ownership (`metadata.managedFields`, FieldsV1).
//!
//! Every write records which manager owns which fields. An apply (`PATCH` with
//! `application/apply-patch+yaml`) merges the applied configuration, fails with 409 when it would
//! change a field another manager owns (unless `force=true`, which takes ownership), and removes
//! fields the manager applied before but no longer applies and nobody else owns. Lists are
//! merged by key where the schema (or, for built-in kinds, the known merge keys) says so,
//! treated as sets for `finalizers`, and replaced whole otherwise.

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ops::{self, Part, WriteOptions};
use crate::registry::ResourceType;
use crate::store::State;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Elem {
    Field(String),
    /// An item of a keyed list, by its key fields (a JSON object, serialised).
    Key(String),
    /// An item of a set list, by value (serialised).
    Value(String),
}

type FieldPath = Vec<Elem>;
type FieldSet = BTreeSet<FieldPath>;

/// How a list is merged.
enum ListKind {
    Keyed(Vec<String>),
    Set,
    Atomic,
}

fn child_schema<'a>(s: Option<&'a JSONSchemaProps>, key: &str) -> Option<&'a JSONSchemaProps> {
    let s = s?;
    s.properties
        .as_ref()
        .and_then(|p| p.get(key))
        .or(match &s.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(extra)) => Some(extra.as_ref()),
            _ => None,
        })
}

fn item_schema(s: Option<&JSONSchemaProps>) -> Option<&JSONSchemaProps> {
    match &s?.items {
        Some(JSONSchemaPropsOrArray::Schema(item)) => Some(item.as_ref()),
        _ => None,
    }
}

fn list_kind(
    schema: Option<&JSONSchemaProps>,
    builtin: bool,
    field: &str,
    items: &[Value],
) -> ListKind {
    if let Some(s) = schema {
        return match s.x_kubernetes_list_type.as_deref() {
            Some("map") => {
                ListKind::Keyed(s.x_kubernetes_list_map_keys.clone().unwrap_or_default())
            }
            Some("set") => ListKind::Set,
            _ => ListKind::Atomic,
        };
    }
    if field == "finalizers" {
        return ListKind::Set;
    }
    if builtin && let Some(key) = crate::patch::merge_key(field, items) {
        return ListKind::Keyed(vec![key.to_string()]);
    }
    ListKind::Atomic
}

fn key_of(item: &Value, keys: &[String]) -> String {
    let map: Map<String, Value> = keys
        .iter()
        .map(|k| (k.clone(), item.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    Value::Object(map).to_string()
}

/// What a manager owns in `v`, by the rules above.
struct Walker<'a> {
    builtin: bool,
    root: Option<&'a JSONSchemaProps>,
}

impl Walker<'_> {
    /// Field set of an object's managed part: metadata labels, annotations, finalizers and
    /// ownerReferences, and every top-level field but status (or only status, for `Part::Status`).
    fn fields(&self, obj: &Value, part: Part) -> FieldSet {
        let mut out = FieldSet::new();
        let Some(map) = obj.as_object() else {
            return out;
        };
        for (k, v) in map {
            let take = match (k.as_str(), part) {
                ("apiVersion" | "kind", _) => false,
                ("metadata", Part::Main) => {
                    for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                        if let Some(mv) = v.get(mk) {
                            let path = vec![Elem::Field("metadata".into()), Elem::Field(mk.into())];
                            self.walk(mv, None, mk, path, &mut out);
                        }
                    }
                    false
                }
                ("metadata", Part::Status) => false,
                ("status", p) => p == Part::Status,
                (_, p) => p == Part::Main,
            };
            if take {
                self.walk(
                    v,
                    child_schema(self.root, k),
                    k,
                    vec![Elem::Field(k.clone())],
                    &mut out,
                );
            }
        }
        out
    }

    fn walk(
        &self,
        v: &Value,
        schema: Option<&JSONSchemaProps>,
        field: &str,
        path: FieldPath,
        out: &mut FieldSet,
    ) {
        match v {
            Value::Null => {}
            Value::Object(map)
                if !map.is_empty()
                    && schema.is_none_or(|s| {
                        s.x_kubernetes_preserve_unknown_fields != Some(true)
                            || s.properties.is_some()
                    }) =>
            {
                for (k, cv) in map {
                    let mut p = path.clone();
                    p.push(Elem::Field(k.clone()));
                    self.walk(cv, child_schema(schema, k), k, p, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                match list_kind(schema, self.builtin, field, items) {
                    ListKind::Keyed(keys) => {
                        for item in items {
                            let mut p = path.clone();
                            p.push(Elem::Key(key_of(item, &keys)));
                            out.insert(p.clone());
                            if let Some(m) = item.as_object() {
                                for (k, cv) in m {
                                    let mut cp = p.clone();
                                    cp.push(Elem::Field(k.clone()));
                                    self.walk(cv, child_schema(item_schema(schema), k), k, cp, out);
                                }
                            }
                        }
                    }
                    ListKind::Set => {
                        for item in items {
                            let mut p = path.clone();
                            p.push(Elem::Value(item.to_string()));
                            out.insert(p);
                        }
                    }
                    ListKind::Atomic => {
                        out.insert(path);
                    }
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }

    /// Merges `applied` into `live` with the list semantics of the walk.
    fn merge(
        &self,
        live: &mut Value,
        applied: &Value,
        schema: Option<&JSONSchemaProps>,
        field: &str,
    ) {
        match (live.as_object_mut(), applied.as_object()) {
            (Some(l), Some(a)) => {
                for (k, av) in a {
                    if av.is_null() {
                        continue;
                    }
                    let cs = child_schema(schema, k);
                    match l.get_mut(k) {
                        Some(lv) => self.merge(lv, av, cs, k),
                        None => {
                            l.insert(k.clone(), av.clone());
                        }
                    }
                }
                return;
            }
            (None, Some(_)) | (Some(_), None) => {
                *live = applied.clone();
                return;
            }
            (None, None) => {}
        }
        if let (Some(l), Some(a)) = (live.as_array_mut(), applied.as_array()) {
            match list_kind(schema, self.builtin, field, a) {
                ListKind::Keyed(keys) => {
                    for item in a {
                        let key = key_of(item, &keys);
                        match l.iter_mut().find(|li| key_of(li, &keys) == key) {
                            Some(li) => self.merge(li, item, item_schema(schema), field),
                            None => l.push(item.clone()),
                        }
                    }
                }
                ListKind::Set => {
                    for item in a {
                        if !l.contains(item) {
                            l.push(item.clone());
                        }
                    }
                }
                ListKind::Atomic => *live = applied.clone(),
            }
            return;
        }
        *live = applied.clone();
    }
}

fn get_at<'a>(v: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?.iter().find(|item| {
                    key.iter()
                        .all(|(kk, kv)| item.get(kk).unwrap_or(&Value::Null) == kv)
                })?
            }
            Elem::Value(val) => {
                let want: Value = serde_json::from_str(val).ok()?;
                cur.as_array()?.iter().find(|item| **item == want)?
            }
        };
    }
    Some(cur)
}

fn remove_at(v: &mut Value, path: &[Elem]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for e in parent {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            Elem::Key(k) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                    return;
                };
                cur.as_array_mut().and_then(|a| {
                    a.iter_mut().find(|item| {
                        key.iter()
                            .all(|(kk, kv)| item.get(kk).unwrap_or(&Value::Null) == kv)
                    })
                })
            }
            Elem::Value(val) => {
                let Ok(want) = serde_json::from_str::<Value>(val) else {
                    return;
                };
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|item| **item == want))
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Elem::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Elem::Key(k) => {
            if let (Ok(key), Some(a)) = (
                serde_json::from_str::<Map<String, Value>>(k),
                cur.as_array_mut(),
            ) {
                a.retain(|item| {
                    !key.iter()
                        .all(|(kk, kv)| item.get(kk).unwrap_or(&Value::Null) == kv)
                });
            }
        }
        Elem::Value(val) => {
            if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(val), cur.as_array_mut()) {
                a.retain(|item| *item != want);
            }
        }
    }
}

fn render_path(path: &[Elem]) -> String {
    path.iter()
        .map(|e| match e {
            Elem::Field(f) => format!(".{f}"),
            Elem::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let inner: Vec<String> = key.iter().map(|(kk, kv)| format!("{kk}={kv}")).collect();
                format!("[{}]", inner.join(","))
            }
            Elem::Value(v) => format!("[={v}]"),
        })
        .collect()
}

/// FieldsV1 encoding: `{"f:spec":{"f:replicas":{}}}`, `k:{"name":"web"}`, `v:"x"`, `.` markers.
fn encode(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for e in path {
            let key = match e {
                Elem::Field(f) => format!("f:{f}"),
                Elem::Key(k) => format!("k:{k}"),
                Elem::Value(v) => format!("v:{v}"),
            };
            node = node
                .entry(key)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("nodes are objects");
        }
        if matches!(path.last(), Some(Elem::Key(_))) {
            node.insert(".".into(), json!({}));
        }
    }
    Value::Object(root)
}

fn decode(v: &Value) -> FieldSet {
    fn go(node: &Map<String, Value>, prefix: &FieldPath, out: &mut FieldSet) {
        for (k, child) in node {
            if k == "." {
                out.insert(prefix.clone());
                continue;
            }
            let elem = match k.split_at_checked(2) {
                Some(("f:", f)) => Elem::Field(f.into()),
                Some(("k:", key)) => Elem::Key(key.into()),
                Some(("v:", val)) => Elem::Value(val.into()),
                _ => continue,
            };
            let mut p = prefix.clone();
            p.push(elem);
            match child.as_object() {
                Some(m) if !m.is_empty() => go(m, &p, out),
                _ => {
                    out.insert(p);
                }
            }
        }
    }
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        go(m, &Vec::new(), &mut out);
    }
    out
}

/// One `managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: String,
    fields: FieldSet,
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| Entry {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    subresource: e
                        .get("subresource")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    time: e
                        .get("time")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    fields: e.get("fieldsV1").map(decode).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn store_entries(obj: &mut Value, list: &[Entry]) {
    let rendered: Vec<Value> = list
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if rendered.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

fn subresource(part: Part) -> Option<String> {
    (part == Part::Status).then(|| "status".to_string())
}

fn walker(rt: &ResourceType) -> Walker<'_> {
    Walker {
        builtin: rt.crd.is_none(),
        root: rt.schema.as_deref(),
    }
}

/// Records ownership for a non-apply write by `manager`: it now owns what it changed, and
/// nobody owns what it removed.
pub fn track_update(
    rt: &ResourceType,
    manager: &str,
    old: Option<&Value>,
    new: &mut Value,
    part: Part,
) {
    let w = walker(rt);
    let mut list = match old {
        Some(o) => entries(o),
        None => Vec::new(),
    };
    let new_fields = w.fields(new, part);
    let old_fields = old.map(|o| w.fields(o, part)).unwrap_or_default();
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.and_then(|o| get_at(o, p)) != get_at(new, p))
        .cloned()
        .collect();
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, &list);
        return;
    }
    let sub = subresource(part);
    for e in list.iter_mut() {
        e.fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    let api_version = rt.api_version();
    match list
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub)
    {
        Some(e) => {
            e.fields.extend(changed);
            e.time = ops::now();
            e.api_version = api_version;
        }
        None => list.push(Entry {
            manager: manager.into(),
            operation: "Update".into(),
            api_version,
            subresource: sub,
            time: ops::now(),
            fields: changed,
        }),
    }
    store_entries(new, &list);
}

/// Server-side apply of `applied` by `manager`.
#[allow(clippy::too_many_arguments)] // the verb's parameters, as the API defines them
pub fn apply(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    applied: Value,
    manager: &str,
    force: bool,
    part: Part,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    if !applied.is_object() {
        return Err(ApiError::bad_request("an apply patch must be an object"));
    }
    if applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(
            "the name of the applied object does not match the URL",
        ));
    }
    let w = walker(rt);
    let new_set = w.fields(&applied, part);
    let key = (
        if rt.namespaced {
            ns.unwrap_or_default().to_string()
        } else {
            String::new()
        },
        name.to_string(),
    );
    let sub = subresource(part);
    let api_version = rt.api_version();
    let own = |fields: FieldSet| Entry {
        manager: manager.into(),
        operation: "Apply".into(),
        api_version: api_version.clone(),
        subresource: sub.clone(),
        time: ops::now(),
        fields,
    };

    let Some(live) = state.get(&rt.storage_key(), &key).cloned() else {
        if part == Part::Status {
            return Err(ApiError::not_found(&rt.plural, name));
        }
        let mut obj = applied;
        ops::meta_mut(&mut obj).insert("name".into(), json!(name));
        store_entries(&mut obj, &[own(new_set)]);
        return ops::create(state, rt, ns, obj, opts);
    };

    let mut list = entries(&live);
    let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
    let is_own = |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource == sub;
    for e in list.iter().filter(|e| !is_own(e) && e.subresource == sub) {
        for p in e.fields.intersection(&new_set) {
            if get_at(&live, p) != get_at(&applied, p) {
                conflicts.push((e.manager.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let detail: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}\": {}", render_path(p)))
            .collect();
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                detail.join("; ")
            ),
        ));
    }
    for (m, p) in &conflicts {
        for e in list.iter_mut().filter(|e| &e.manager == m && !is_own(e)) {
            e.fields.remove(p);
        }
    }
    let previous = list
        .iter()
        .find(|e| is_own(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: FieldSet = list
        .iter()
        .filter(|e| !is_own(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();

    let mut merged = live.clone();
    let mut stale: Vec<&FieldPath> = previous
        .difference(&new_set)
        .filter(|p| !others.contains(*p))
        .collect();
    // Deepest first, so removing a list item does not hide the removal of its fields.
    stale.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in stale {
        remove_at(&mut merged, p);
    }
    let mut body = applied.clone();
    if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    w.merge(&mut merged, &body, rt.schema.as_deref(), "");
    // An apply that changes nothing keeps its entry's time, as the API server ignores
    // managedFields timestamps when it decides that a write is a no-op: it stays one.
    let unchanged = {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            v
        };
        strip(&merged) == strip(&live)
    };
    let mut entry = own(new_set);
    if let Some(before) = list
        .iter()
        .find(|e| is_own(e))
        .filter(|e| unchanged && e.fields == entry.fields)
    {
        entry.time = before.time.clone();
    }
    list.retain(|e| !is_own(e));
    list.push(entry);
    store_entries(&mut merged, &list);
    if let Some(m) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    ops::update(state, rt, ns, name, merged, part, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_v1_round_trip() {
        let w = Walker {
            builtin: true,
            root: None,
        };
        let obj = json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "w:1"}]}}}});
        let set = w.fields(&obj, Part::Main);
        let encoded = encode(&set);
        assert_eq!(
            encoded,
            json!({
                "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}}
            })
        );
        assert_eq!(decode(&encoded), set);
    }
}
