//! The semantics of each write verb, independent of HTTP: create, update (main resource or a
//! subresource), delete with finalizers and propagation, and the side effects the real control
//! plane has (CRD registration, namespace cleanup, owner-reference garbage collection).
//! The HTTP layer and the simulated controllers both write through here.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::registry::ResourceType;
use crate::schema::FieldValidation;
use crate::store::{ObjectKey, State};

/// Namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Current time as Kubernetes writes it (RFC 3339, whole seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata` as a mutable map, made an (empty) object first when it is missing or malformed.
pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

/// The strings of a JSON list (its other items skipped); none for anything but a list.
pub(crate) fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The kind/apiVersion/namespace/name a write must have, filled in and checked.
fn normalize(rt: &ResourceType, ns: Option<&str>, obj: &mut Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    if let Some(kind) = map.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object ({kind}) does not match the resource ({})",
            rt.kind
        )));
    }
    map.insert("kind".into(), json!(rt.kind));
    map.insert("apiVersion".into(), json!(rt.api_version()));
    let m = meta_mut(obj);
    if rt.namespaced {
        let ns = ns.unwrap_or_default();
        match m.get("namespace").and_then(Value::as_str) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                m.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        m.remove("namespace");
    }
    Ok(())
}

/// Whether two objects differ outside metadata and status (and apiVersion, kind): a change
/// there bumps `metadata.generation`. Compared in place, without copying either.
fn spec_differs(a: &Value, b: &Value) -> bool {
    let outside = |k: &String| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind");
    differs_outside(a, b, outside)
}

/// Whether two objects differ in the top-level fields `compared` selects.
fn differs_outside(a: &Value, b: &Value, compared: impl Fn(&String) -> bool) -> bool {
    let empty = Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut left = a.iter().filter(|(k, _)| compared(k));
    let mut right = b.iter().filter(|(k, _)| compared(k));
    // Both maps iterate in key order: equal maps give equal sequences.
    loop {
        match (left.next(), right.next()) {
            (None, None) => return false,
            (Some(x), Some(y)) if x == y => {}
            _ => return true,
        }
    }
}

/// Whether a write changes nothing: the objects are equal but for the resourceVersion.
fn same_but_version(new: &Value, old: &Value) -> bool {
    if differs_outside(new, old, |k| k != "metadata") {
        return false;
    }
    let empty = Map::new();
    let (a, b) = (meta(new).unwrap_or(&empty), meta(old).unwrap_or(&empty));
    let fields =
        |m: &'_ Map<String, Value>| m.len() - usize::from(m.contains_key("resourceVersion"));
    fields(a) == fields(b)
        && a.iter()
            .filter(|(k, _)| *k != "resourceVersion")
            .all(|(k, v)| b.get(k) == Some(v))
}

pub(crate) fn random_suffix(state: &mut State) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let uid = state.new_uid();
    let mut n: u64 = uid.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Options every write takes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: compute and return the result, store nothing.
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// Field manager recorded as owner of what this write changes; `None` when the caller
    /// already recorded ownership (server-side apply) or the write is the server's own.
    pub manager: Option<String>,
}

/// Schema admission of custom resources (built-in kinds are not schema-checked here).
fn admit(rt: &ResourceType, obj: &mut Value, opts: &WriteOptions) -> Result<(), ApiError> {
    if rt.group.is_empty() && rt.kind == "Secret" {
        secret_string_data(obj);
    }
    match &rt.schema {
        Some(schema) => crate::schema::admit(schema, obj, &rt.kind, &rt.version, opts.validation),
        None => Ok(()),
    }
}

/// Like the API server, a Secret's write-only `stringData` is merged into `data` (base64),
/// winning over the same keys, and never stored.
fn secret_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    if let Some(data) = data.as_object_mut() {
        for (k, v) in strings {
            let text = v.as_str().unwrap_or_default().to_string();
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// The storage key of a named object: cluster-scoped objects have no namespace.
fn object_key(rt: &ResourceType, ns: Option<&str>, name: &str) -> ObjectKey {
    let ns = if rt.namespaced {
        ns.unwrap_or_default()
    } else {
        ""
    };
    (ns.to_string(), name.to_string())
}

/// POST: creates an object.
pub fn create(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let dry_run = opts.dry_run;
    normalize(rt, ns, &mut obj)?;
    let ns = if rt.namespaced {
        ns.unwrap_or_default().to_string()
    } else {
        String::new()
    };
    if rt.namespaced
        && state
            .get("/namespaces", &(String::new(), ns.clone()))
            .is_none()
    {
        return Err(ApiError::not_found("namespaces", &ns));
    }
    let mut name = meta_str(&obj, "name").unwrap_or_default().to_string();
    let generate_name = meta_str(&obj, "generateName")
        .unwrap_or_default()
        .to_string();
    if name.is_empty() && !generate_name.is_empty() {
        name = crate::names::generate(&generate_name, &random_suffix(state));
    }
    check_names(rt, &name, &generate_name)?;
    let key: ObjectKey = (ns, name.clone());
    let storage = rt.storage_key();
    if state.get(&storage, &key).is_some() {
        return Err(ApiError::already_exists(&rt.plural, &name));
    }
    if rt.status_subresource
        && let Some(map) = obj.as_object_mut()
    {
        map.remove("status");
    }
    if rt.group.is_empty() && rt.plural == "namespaces" {
        obj["status"] = json!({"phase": "Active"});
    }
    let uid = state.new_uid();
    let m = meta_mut(&mut obj);
    m.insert("name".into(), json!(name));
    m.insert("uid".into(), json!(uid));
    m.insert("creationTimestamp".into(), json!(now()));
    for f in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "selfLink",
    ] {
        m.remove(f);
    }
    if rt.generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    admit(rt, &mut obj, opts)?;
    if rt.group.is_empty() && rt.plural == "services" && !dry_run {
        state.services.on_create(&mut obj);
    }
    if let Some(manager) = &opts.manager {
        crate::ssa::track_update(rt, manager, None, &mut obj, Part::Main);
    }
    crate::crd::on_write(state, rt, &mut obj)?;
    if dry_run {
        return Ok(obj);
    }
    Ok(store(state, rt, key, obj))
}

/// The name checks of the real API server's object-meta validation, in its order.
fn check_names(rt: &ResourceType, name: &str, generate_name: &str) -> Result<(), ApiError> {
    use crate::error::FieldError;
    let mut errors = Vec::new();
    if !generate_name.is_empty() {
        for why in crate::names::check(rt, generate_name, true) {
            errors.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                &why,
            ));
        }
    }
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for why in crate::names::check(rt, name, false) {
            errors.push(FieldError::invalid("metadata.name", name, &why));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_fields(&rt.group, &rt.kind, name, &errors))
}

/// Stores a checked write and runs what follows a stored write (CRD registration).
fn store(state: &mut State, rt: &ResourceType, key: ObjectKey, obj: Value) -> Value {
    let stored = state
        .commit(&rt.storage_key(), key, Some(obj))
        .unwrap_or(Value::Null);
    crate::crd::after_commit(state, rt, &stored);
    stored
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but status when the status subresource is on.
    Main,
    /// The status subresource: only status.
    Status,
}

/// PUT (and the final step of PATCH): replaces an object, honouring optimistic concurrency,
/// subresource isolation, generation and finalizer semantics.
pub fn update(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    mut obj: Value,
    part: Part,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let dry_run = opts.dry_run;
    normalize(rt, ns, &mut obj)?;
    let key = object_key(rt, ns, name);
    let storage = rt.storage_key();
    // Shared, not copied: most writes read it and copy only what they keep.
    let Some(old) = state.get_shared(&storage, &key) else {
        return Err(ApiError::not_found(&rt.plural, name));
    };
    if let Some(body_name) = meta_str(&obj, "name").filter(|n| !n.is_empty())
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|rv| !rv.is_empty())
        && Some(rv) != meta_str(&old, "resourceVersion")
    {
        return Err(ApiError::conflict(&rt.plural, name));
    }

    let mut new = match part {
        Part::Status => {
            let mut n = Value::clone(&old);
            match obj.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        }
        Part::Main => {
            let mut n = obj;
            if rt.status_subresource {
                match old.get("status") {
                    Some(s) => n["status"] = s.clone(),
                    None => {
                        if let Some(m) = n.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            n
        }
    };
    // Fields the server owns: a client cannot change them.
    let old_meta = meta(&old).cloned().unwrap_or_default();
    let m = meta_mut(&mut new);
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(f) {
            Some(v) => m.insert(f.into(), v.clone()),
            None => m.remove(f),
        };
    }
    if part == Part::Status {
        // The status subresource changes status only (and who owns it).
        let managed = m.get("managedFields").cloned();
        *m = old_meta.clone();
        if let Some(mf) = managed {
            m.insert("managedFields".into(), mf);
        }
    }
    if rt.generation && spec_differs(&old, &new) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    if rt.group.is_empty() && rt.plural == "services" && part == Part::Main && !dry_run {
        state.services.on_update(&old, &mut new);
    }
    admit(rt, &mut new, opts)?;
    if let Some(manager) = &opts.manager {
        crate::ssa::track_update(rt, manager, Some(&old), &mut new, part);
    }
    crate::crd::on_write(state, rt, &mut new)?;

    let deleting = old_meta.contains_key("deletionTimestamp");
    if deleting && finalizers(&new).is_empty() {
        if dry_run {
            return Ok(new);
        }
        return Ok(remove(state, rt, &key, new));
    }
    if same_but_version(&new, &old) {
        // A no-op write: nothing is stored and the resourceVersion does not move.
        return Ok(Value::clone(&old));
    }
    if dry_run {
        return Ok(new);
    }
    Ok(store(state, rt, key, new))
}

/// How dependents are treated when their owner is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// Options of a DELETE.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    /// `dryRun=All`: report what would happen, change nothing.
    pub dry_run: bool,
}

/// DELETE: removes an object, or marks it for deletion while finalizers remain.
pub fn delete(
    state: &mut State,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let dry_run = opts.dry_run;
    let key = object_key(rt, ns, name);
    let storage = rt.storage_key();
    let Some(mut obj) = state.get(&storage, &key).cloned() else {
        return Err(ApiError::not_found(&rt.plural, name));
    };
    let uid_ok = opts
        .precondition_uid
        .as_deref()
        .is_none_or(|u| Some(u) == meta_str(&obj, "uid"));
    let rv_ok = opts
        .precondition_rv
        .as_deref()
        .is_none_or(|rv| Some(rv) == meta_str(&obj, "resourceVersion"));
    if !uid_ok || !rv_ok {
        return Err(ApiError::conflict(&rt.plural, name));
    }
    // Namespaces and CRDs empty themselves before they go, like the real cleanup controllers;
    // replicated workloads orphan or delete their dependents by the default policy.
    let propagation = opts.propagation.unwrap_or(Propagation::Background);
    let mut fins = finalizers(&obj);
    if propagation == Propagation::Foreground
        && !fins.iter().any(|f| f == "foregroundDeletion")
        && has_dependents(state, &obj)
    {
        fins.push("foregroundDeletion".into());
    }
    if propagation == Propagation::Orphan && !dry_run {
        orphan_dependents(state, &obj);
    }
    if dry_run {
        return Ok(obj);
    }
    if !fins.is_empty() {
        if meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok(obj);
        }
        let m = meta_mut(&mut obj);
        m.insert("deletionTimestamp".into(), json!(now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        m.insert("finalizers".into(), json!(fins));
        let stored = state
            .commit(&storage, key, Some(obj))
            .unwrap_or(Value::Null);
        if propagation == Propagation::Foreground {
            delete_dependents(state, &stored);
            finish_foreground(state);
        }
        return Ok(stored);
    }
    Ok(remove(state, rt, &key, obj))
}

/// Removes an object for good and runs the cleanup that follows.
fn remove(state: &mut State, rt: &ResourceType, key: &ObjectKey, obj: Value) -> Value {
    let storage = rt.storage_key();
    let gone = state.commit(&storage, key.clone(), None).unwrap_or(obj);
    crate::crd::after_delete(state, rt, &gone);
    if rt.group.is_empty() && rt.plural == "namespaces" {
        delete_namespace_contents(state, &key.1);
    }
    delete_dependents(state, &gone);
    finish_foreground(state);
    gone
}

/// The resource type stored under `storage` (any served version of it).
fn type_of(state: &State, storage: &str) -> Option<ResourceType> {
    state
        .registry
        .all()
        .find(|rt| rt.storage_key() == storage)
        .cloned()
}

/// The dependents of `owner`, with their types and current objects.
fn dependents_of(state: &State, owner: &Value) -> Vec<(ResourceType, ObjectKey, Value)> {
    let Some(uid) = meta_str(owner, "uid") else {
        return Vec::new();
    };
    state
        .dependents(uid)
        .into_iter()
        .filter_map(|(storage, key)| {
            let rt = type_of(state, &storage)?;
            let obj = state.get(&storage, &key)?.clone();
            Some((rt, key, obj))
        })
        .collect()
}

fn has_dependents(state: &State, owner: &Value) -> bool {
    meta_str(owner, "uid").is_some_and(|uid| !state.dependents(uid).is_empty())
}

/// Garbage collection: deletes (in background) every object owned by `owner`.
fn delete_dependents(state: &mut State, owner: &Value) {
    for (rt, key, _) in dependents_of(state, owner) {
        let ns = (!key.0.is_empty()).then_some(key.0.as_str());
        let _ = delete(state, &rt, ns, &key.1, &DeleteOptions::default());
    }
}

/// Foreground deletion ends when no dependents remain: drop the finalizer from owners in that state.
fn finish_foreground(state: &mut State) {
    for (storage, key) in state.in_foreground_deletion() {
        let (Some(rt), Some(obj)) = (type_of(state, &storage), state.get(&storage, &key).cloned())
        else {
            continue;
        };
        if has_dependents(state, &obj) {
            continue;
        }
        let mut updated = obj;
        let rest: Vec<String> = finalizers(&updated)
            .into_iter()
            .filter(|f| f != "foregroundDeletion")
            .collect();
        meta_mut(&mut updated).insert("finalizers".into(), json!(rest));
        rewrite(state, &rt, &key, updated);
    }
}

/// A write by the control plane itself (garbage collector): no field manager, no validation
/// mode; a failure leaves the object as it was, and the next sweep tries again.
fn rewrite(state: &mut State, rt: &ResourceType, key: &ObjectKey, obj: Value) {
    let ns = (!key.0.is_empty()).then_some(key.0.as_str());
    let _ = update(
        state,
        rt,
        ns,
        &key.1,
        obj,
        Part::Main,
        &WriteOptions::default(),
    );
}

fn orphan_dependents(state: &mut State, owner: &Value) {
    let Some(uid) = meta_str(owner, "uid").map(str::to_string) else {
        return;
    };
    for (rt, key, mut updated) in dependents_of(state, owner) {
        if let Some(refs) = updated
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
        }
        rewrite(state, &rt, &key, updated);
    }
}

fn delete_namespace_contents(state: &mut State, namespace: &str) {
    for storage in state.storage_keys() {
        if !type_of(state, &storage).is_some_and(|rt| rt.namespaced) {
            continue;
        }
        let keys: Vec<ObjectKey> = state
            .list(&storage)
            .filter(|(k, _)| k.0 == namespace)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            // Finalizers cannot hold a namespace's contents here: the namespace is already gone.
            state.commit(&storage, key, None);
        }
    }
}

/// Creates the namespaces every cluster has.
pub fn bootstrap(state: &mut State) {
    let Some(rt) = state.registry.get("", "v1", "namespaces").cloned() else {
        return;
    };
    for ns in INITIAL_NAMESPACES {
        let obj = json!({"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}});
        let _ = create(state, &rt, None, obj, &WriteOptions::default());
    }
}
