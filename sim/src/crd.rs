//! CustomResourceDefinitions: accepting a CRD (structural schema, names), registering its
//! resources so discovery and the REST paths serve them at once, reporting it Established, and
//! removing its objects when it goes.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::ops::now;
use crate::registry::ResourceType;
use crate::store::State;

fn is_crd_type(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

/// Checks a write before it is stored; for CRDs also fills in the status the API server reports.
pub fn on_write(state: &State, rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if !is_crd_type(rt) {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let crd: CustomResourceDefinition = serde_json::from_value(obj.clone())
        .map_err(|e| ApiError::invalid(&rt.kind, &name, &[format!("spec: Invalid value: {e}")]))?;
    let spec = &crd.spec;
    let mut causes = Vec::new();
    let expected = format!("{}.{}", spec.names.plural, spec.group);
    if name != expected {
        causes.push(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    if !matches!(spec.scope.as_str(), "Namespaced" | "Cluster") {
        causes.push(format!(
            "spec.scope: Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"",
            spec.scope
        ));
    }
    let storage: Vec<&str> = spec
        .versions
        .iter()
        .filter(|v| v.storage)
        .map(|v| v.name.as_str())
        .collect();
    if storage.len() != 1 {
        causes.push(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
                .into(),
        );
    }
    for (i, v) in spec.versions.iter().enumerate() {
        match v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        {
            None => causes.push(format!(
                "spec.versions[{i}].schema.openAPIV3Schema: Required value: schemas are required"
            )),
            Some(schema) => {
                for violation in rollout_rs_crds::structural::check(schema) {
                    causes.push(format!(
                        "spec.versions[{i}].schema.openAPIV3Schema.{violation}"
                    ));
                }
            }
        }
    }
    let taken = state.registry.all().any(|other| {
        other.group == spec.group
            && other.plural == spec.names.plural
            && other.crd.as_deref() != Some(name.as_str())
    });
    if taken {
        causes.push(format!(
            "spec.names.plural: Invalid value: \"{}\": is already in use",
            spec.names.plural
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.kind, &name, &causes));
    }
    let ts = now();
    obj["status"] = json!({
        "acceptedNames": serde_json::to_value(&spec.names).unwrap_or(Value::Null),
        "storedVersions": storage,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": ts},
        ],
    });
    Ok(())
}

/// Registers a stored CRD's resources.
pub fn after_commit(state: &mut State, rt: &ResourceType, obj: &Value) {
    if !is_crd_type(rt) {
        return;
    }
    if let Ok(crd) = serde_json::from_value::<CustomResourceDefinition>(obj.clone()) {
        state.registry.register_crd(&crd);
    }
}

/// Unregisters a deleted CRD and deletes its objects, as the real API server does.
pub fn after_delete(state: &mut State, rt: &ResourceType, obj: &Value) {
    if !is_crd_type(rt) {
        return;
    }
    let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    let storage: Vec<String> = state
        .registry
        .all()
        .filter(|t| t.crd.as_deref() == Some(name))
        .map(ResourceType::storage_key)
        .collect();
    for key in storage
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
    {
        let keys: Vec<_> = state.list(&key).map(|(k, _)| k.clone()).collect();
        for k in keys {
            state.commit(&key, k, None);
        }
    }
    state.registry.unregister_crd(name);
}
