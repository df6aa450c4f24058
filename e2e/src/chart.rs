//! The Helm chart (`charts/rollout-rs`) as the tests see it: rendered by Helm's own engine
//! through `charts/rollout-rs/tests/check.py` and the helm-python-sdk virtualenv `scripts/test`
//! creates (`ROLLOUT_RS_HELM_PYTHON`), and the rules a rendering grants the controller's
//! ServiceAccount ([`grants`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::rbac::Grants;
use crate::{HarnessError, Result};

/// The release name and namespace the chart is rendered with.
pub const RELEASE: &str = "rollout-rs";

/// The chart's directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("charts")
        .join("rollout-rs")
}

/// The Python of the helm-python-sdk virtualenv, or why there is none.
pub fn helm_python() -> Result<PathBuf> {
    match std::env::var_os("ROLLOUT_RS_HELM_PYTHON") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(HarnessError::Chart(
            "ROLLOUT_RS_HELM_PYTHON is not set: the chart is rendered by Helm's own engine from \
             the virtualenv scripts/test creates. Run scripts/test, or create it with \
             `python3 -m venv target/helm-python && target/helm-python/bin/pip install \
             helm-python-sdk==0.2.2` and export \
             ROLLOUT_RS_HELM_PYTHON=$PWD/target/helm-python/bin/python"
                .into(),
        )),
    }
}

/// Runs `charts/rollout-rs/tests/check.py` with `args`.
pub fn check_py(args: &[&str]) -> Result<Output> {
    let python = helm_python()?;
    Command::new(&python)
        .arg(dir().join("tests").join("check.py"))
        .args(args)
        .output()
        .map_err(|e| {
            HarnessError::Chart(format!(
                "running {} (ROLLOUT_RS_HELM_PYTHON; scripts/test creates it): {e}",
                python.display()
            ))
        })
}

/// The objects an install with `values` renders (CRDs and NOTES.txt left out), released as
/// [`RELEASE`] in the namespace [`RELEASE`].
pub fn render(values: &Value) -> Result<Vec<Value>> {
    let values = values.to_string();
    let out = check_py(&["render", "--values", &values, "--namespace", RELEASE])?;
    if !out.status.success() {
        return Err(HarnessError::Chart(format!(
            "rendering the chart with {values}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| HarnessError::Chart(format!("the rendered objects are not JSON: {e}")))
}

/// What a rendering with `values` grants the ServiceAccount the controller runs as.
pub fn grants(values: &Value) -> Result<Grants> {
    let objects = render(values)?;
    let account = objects
        .iter()
        .find(|o| o.get("kind").and_then(Value::as_str) == Some("Deployment"))
        .and_then(|d| d.pointer("/spec/template/spec/serviceAccountName"))
        .and_then(Value::as_str)
        .ok_or_else(|| HarnessError::Chart("the chart renders no Deployment".into()))?;
    Grants::of_service_account(&objects, RELEASE, account).map_err(HarnessError::Chart)
}
