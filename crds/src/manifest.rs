//! Strict reading of manifests as users write them (YAML or JSON, one or many documents).
//!
//! The types themselves accept unknown fields, as Kubernetes clients must (a newer server may
//! send more). A manifest from a user is different: a misspelt field silently ignored is a
//! rollout that does not do what its author thinks. So this parser reports every unknown field
//! and every type error with its path, the way `kubectl apply` with strict field validation does.
//! YAML is read into JSON values first, as kubectl does, so `yes` or `0755` mean here what they
//! mean to the API server.

use serde::de::DeserializeOwned;

use crate::analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
use crate::gitsync::GitSync;
use crate::rollout::Rollout;
use crate::validation::{self, FieldError};
use crate::{API_VERSION, GROUP};

/// A manifest document, typed when it is one of ours.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, parsed once per document
pub enum Object {
    Rollout(Rollout),
    AnalysisTemplate(AnalysisTemplate),
    ClusterAnalysisTemplate(ClusterAnalysisTemplate),
    AnalysisRun(AnalysisRun),
    GitSync(GitSync),
    /// Any other kind (Services, Ingresses...): kept as JSON.
    Other(serde_json::Value),
}

impl Object {
    /// `Kind "name"`, for messages.
    pub fn describe(&self) -> String {
        let (kind, name) = match self {
            Object::Rollout(o) => ("Rollout", o.metadata.name.clone()),
            Object::AnalysisTemplate(o) => ("AnalysisTemplate", o.metadata.name.clone()),
            Object::ClusterAnalysisTemplate(o) => {
                ("ClusterAnalysisTemplate", o.metadata.name.clone())
            }
            Object::AnalysisRun(o) => ("AnalysisRun", o.metadata.name.clone()),
            Object::GitSync(o) => ("GitSync", o.metadata.name.clone()),
            Object::Other(v) => return describe_value(v),
        };
        format!("{kind} {:?}", name.unwrap_or_default())
    }

    /// Runs the pure spec validation of [`crate::validation`] for our kinds.
    pub fn validate(&self) -> Vec<FieldError> {
        match self {
            Object::Rollout(o) => validation::rollout(&o.spec),
            Object::AnalysisTemplate(o) => validation::analysis_template(&o.spec),
            Object::ClusterAnalysisTemplate(o) => validation::analysis_template(&o.spec),
            Object::AnalysisRun(o) => validation::analysis_run(&o.spec),
            Object::GitSync(o) => validation::git_sync(&o.spec),
            Object::Other(_) => Vec::new(),
        }
    }
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    #[error("not valid YAML: {0}")]
    Syntax(String),
    #[error(
        "document {index}: not a Kubernetes object (expected a mapping with apiVersion and kind)"
    )]
    NotAnObject { index: usize },
    #[error("{object}: missing {field}")]
    MissingTypeField { object: String, field: &'static str },
    #[error("{object}: {api_version} is an Argo Rollouts apiVersion; change it to {API_VERSION}")]
    ArgoApiVersion { object: String, api_version: String },
    #[error("{object}: unsupported apiVersion {api_version}; rollout-rs serves {API_VERSION}")]
    UnsupportedVersion { object: String, api_version: String },
    #[error("{object}: unknown kind {kind} in {API_VERSION}")]
    UnknownKind { object: String, kind: String },
    /// Unknown fields and type errors, each as `path: problem`, unknown fields first (a typo
    /// often explains the "required" that follows it).
    #[error("{object}: {}", problems.join("; "))]
    Fields {
        object: String,
        problems: Vec<String>,
    },
}

/// Splits a YAML (or JSON) stream into documents, skipping empty ones as kubectl does.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, ManifestError> {
    let mut options = serde_saphyr::options::Options::default();
    // Manifests are YAML 1.1 to kubectl: `defaultMode: 0644` is octal.
    options.legacy_octal_numbers = true;
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| ManifestError::Syntax(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Reads every document of a stream. A syntax error fails the whole stream; otherwise each
/// document succeeds or fails on its own.
pub fn parse_all(text: &str) -> Result<Vec<Result<Object, ManifestError>>, ManifestError> {
    Ok(documents(text)?
        .into_iter()
        .enumerate()
        .map(|(i, doc)| parse_value(i, doc))
        .collect())
}

/// Reads one document (its position `index` is used in messages when it has no name).
pub fn parse_value(index: usize, value: serde_json::Value) -> Result<Object, ManifestError> {
    if !value.is_object() {
        return Err(ManifestError::NotAnObject { index });
    }
    let object = describe_value(&value);
    let field = |name: &'static str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let api_version = field("apiVersion").ok_or_else(|| ManifestError::MissingTypeField {
        object: object.clone(),
        field: "apiVersion",
    })?;
    let kind = field("kind").ok_or_else(|| ManifestError::MissingTypeField {
        object: object.clone(),
        field: "kind",
    })?;
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let ours = [
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "AnalysisRun",
    ];
    if group == "argoproj.io" && ours.contains(&kind.as_str()) {
        return Err(ManifestError::ArgoApiVersion {
            object,
            api_version,
        });
    }
    if group != GROUP {
        return Ok(Object::Other(value));
    }
    if api_version != API_VERSION {
        return Err(ManifestError::UnsupportedVersion {
            object,
            api_version,
        });
    }
    match kind.as_str() {
        "Rollout" => strict(&object, &value).map(Object::Rollout),
        "AnalysisTemplate" => strict(&object, &value).map(Object::AnalysisTemplate),
        "ClusterAnalysisTemplate" => strict(&object, &value).map(Object::ClusterAnalysisTemplate),
        "AnalysisRun" => strict(&object, &value).map(Object::AnalysisRun),
        "GitSync" => strict(&object, &value).map(Object::GitSync),
        _ => Err(ManifestError::UnknownKind { object, kind }),
    }
}

fn describe_value(v: &serde_json::Value) -> String {
    let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("object");
    match v.pointer("/metadata/name").and_then(|n| n.as_str()) {
        Some(name) => format!("{kind} {name:?}"),
        None => format!("{kind} (unnamed)"),
    }
}

/// Deserialises `value` as `T`, failing on the first type error or on any unknown field.
fn strict<T: DeserializeOwned>(
    object: &str,
    value: &serde_json::Value,
) -> Result<T, ManifestError> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| {
        let path = ignored_path(&path);
        // kube-derive's types read apiVersion and kind without keeping them.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let result: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut record));
    let mut problems: Vec<String> = unknown
        .iter()
        .map(|p| format!("{p}: unknown field"))
        .collect();
    match result {
        Ok(typed) if problems.is_empty() => return Ok(typed),
        Ok(_) => {}
        Err(e) => {
            let path = error_path(e.path());
            let message = e.inner().to_string();
            // "missing field `x`" at `spec` reads better as `spec.x: required`.
            problems.push(
                match message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.strip_suffix('`'))
                {
                    Some(field) => format!("{}: required", join(&path, field)),
                    None if path.is_empty() => message,
                    None => format!("{path}: {message}"),
                },
            );
        }
    }
    Err(ManifestError::Fields {
        object: object.to_string(),
        problems,
    })
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(&ignored_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => out = join(&out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}
