//! The committed CRDs under `crds/yaml/` must be exactly what the types generate, structural,
//! and small enough for client-side `kubectl apply`.
//! Regenerate with `UPDATE_CRDS=1 cargo test -p rollout-rs-crds --test generated_crds`.

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use rollout_rs_crds::{crd, structural};

/// What client-side `kubectl apply` can store in `last-applied-configuration`.
const KUBECTL_APPLY_LIMIT: usize = 256 * 1024;

fn yaml_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("yaml")
}

#[test]
fn committed_files_match_the_types() {
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for c in crd::all() {
        let name = crd::file_name(&c);
        let path = yaml_dir().join(&name);
        let generated = crd::render(&c);
        expected_files.push(name.clone());
        if update {
            std::fs::write(&path, &generated).expect("write generated CRD");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "crds/yaml is out of date for {stale:?}; run UPDATE_CRDS=1 cargo test -p rollout-rs-crds --test generated_crds"
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(yaml_dir())
        .expect("crds/yaml exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    expected_files.sort();
    assert_eq!(
        on_disk, expected_files,
        "crds/yaml holds files no type generates"
    );
}

#[test]
fn every_crd_parses_as_apiextensions_v1_and_is_structural() {
    for file in std::fs::read_dir(yaml_dir()).expect("crds/yaml exists") {
        let path = file.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("read CRD");
        assert!(
            text.len() < KUBECTL_APPLY_LIMIT,
            "{} is {} bytes, over the {KUBECTL_APPLY_LIMIT} that kubectl apply can annotate",
            path.display(),
            text.len()
        );
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Client-side apply stores the object as compact JSON in an annotation.
        let json = serde_json::to_string(&crd).expect("CRD to JSON");
        assert!(
            json.len() < KUBECTL_APPLY_LIMIT,
            "{} is {} bytes as JSON, over the {KUBECTL_APPLY_LIMIT} that kubectl apply can annotate",
            path.display(),
            json.len()
        );
        assert_eq!(crd.spec.group, "rollout-rs.io");
        assert!(!crd.spec.versions.is_empty());
        for v in &crd.spec.versions {
            let schema = v
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .unwrap_or_else(|| panic!("{}: version {} has no schema", path.display(), v.name));
            let violations = structural::check(schema);
            assert!(
                violations.is_empty(),
                "{} is not structural:\n{}",
                path.display(),
                violations
                    .iter()
                    .map(|v| format!("  {v}\n"))
                    .collect::<String>()
            );
        }
    }
}

/// `x-kubernetes-preserve-unknown-fields` makes the API server keep anything: only the
/// free-form fields that belong to someone else may carry it.
#[test]
fn preserve_unknown_fields_only_where_meant() {
    fn walk(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if map.get("x-kubernetes-preserve-unknown-fields")
                    == Some(&serde_json::Value::Bool(true))
                {
                    out.push(path.clone());
                }
                for (k, child) in map {
                    walk(child, format!("{path}/{k}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    for c in crd::all() {
        let v = serde_json::to_value(&c).expect("CRD to JSON");
        walk(&v, c.spec.names.kind.clone(), &mut found);
    }
    let prefix = "/spec/versions/0/schema/openAPIV3Schema/properties";
    let allowed = [
        format!(
            "AnalysisTemplate{prefix}/spec/properties/metrics/items/properties/provider/properties/web/properties/jsonBody"
        ),
        format!(
            "ClusterAnalysisTemplate{prefix}/spec/properties/metrics/items/properties/provider/properties/web/properties/jsonBody"
        ),
        format!(
            "AnalysisRun{prefix}/spec/properties/metrics/items/properties/provider/properties/web/properties/jsonBody"
        ),
        format!("GitSync{prefix}/spec/properties/source/properties/helm/properties/valuesObject"),
    ];
    let unexpected: Vec<&String> = found.iter().filter(|p| !allowed.contains(p)).collect();
    assert!(
        unexpected.is_empty(),
        "unexpected x-kubernetes-preserve-unknown-fields at {unexpected:#?}"
    );
    assert_eq!(found.len(), allowed.len(), "{found:#?}");
}

#[test]
fn rollout_has_scale_status_and_printer_columns() {
    let rollout = crd::all()
        .into_iter()
        .find(|c| c.spec.names.kind == "Rollout")
        .expect("Rollout CRD");
    let v = &rollout.spec.versions[0];
    let sub = v.subresources.as_ref().expect("subresources");
    assert!(sub.status.is_some(), "status subresource");
    let scale = sub.scale.as_ref().expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    let columns: Vec<&str> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Desired",
            "Current",
            "Up-to-date",
            "Available",
            "Phase",
            "Step",
            "Age"
        ]
    );
    assert_eq!(
        rollout.spec.names.short_names.as_deref(),
        Some(&["ro".to_string()][..])
    );
}
