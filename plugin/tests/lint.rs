//! `kubectl rollout-rs lint` run as users run it: exit status and messages naming the field.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn lint(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-rollout_rs"))
        .arg("lint")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl-rollout_rs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child
        .wait_with_output()
        .expect("wait for kubectl-rollout_rs")
}

#[test]
fn valid_example_passes() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rollouts/canary-nginx.yaml");
    let out = lint(&[file.to_str().expect("UTF-8 path")], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("1 rollout-rs object(s) valid\n"));
}

#[test]
fn bad_manifests_fail_naming_each_field() {
    let manifest = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "web:1"}]}
  strategy:
    canary:
      canaryService: web
      stableService: web
      steps: [{setWeight: 150}]
---
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: typo}
spec:
  replicas: 1
  selectr: {}
---
apiVersion: rollout-rs.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics:
  - name: rate
    successCondition: "result[0] >="
    provider: {prometheus: {address: "http://prometheus:9090", query: up}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
"#;
    let out = lint(&["-"], Some(manifest));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "-:13: Rollout \"web\": spec.strategy.canary.stableService: must differ from canaryService",
        "-:14: Rollout \"web\": spec.strategy.canary.steps[0].setWeight: must be <= 100, got 150",
        "-:21: Rollout \"typo\": spec.selectr: unknown field",
        "-:19: Rollout \"typo\": spec.selector: required",
        "-:29: AnalysisTemplate \"rate\": spec.metrics[0].successCondition: does not compile:",
        "-: 5 problem(s) in 3 rollout-rs object(s)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn unreadable_file_and_bad_yaml_are_reported() {
    let out = lint(&["/nonexistent/rollout.yaml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: reading /nonexistent/rollout.yaml: ")
    );

    let out = lint(&["-"], Some("kind: [unclosed"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("-:1: not valid YAML"));
}

#[test]
fn directories_are_read_recursively() {
    let dir = std::env::temp_dir().join(format!("lint-dir-{}", std::process::id()));
    let nested = dir.join("apps/web");
    std::fs::create_dir_all(&nested).expect("scratch dir");
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rollouts/canary-nginx.yaml");
    std::fs::copy(&example, dir.join("good.yaml")).expect("copy");
    std::fs::write(
        nested.join("bad.yml"),
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {name: bad}\nspec:\n  replicas: many\n",
    )
    .expect("bad");
    std::fs::write(nested.join("notes.txt"), "not a manifest").expect("txt");
    std::fs::write(dir.join(".hidden.yaml"), "kind: [").expect("hidden");
    let out = lint(&[dir.to_str().expect("UTF-8 path")], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains("apps/web/bad.yml:5: Rollout \"bad\": spec.replicas:"),
        "{stderr}"
    );
    assert!(
        stdout.contains("good.yaml: 1 rollout-rs object(s) valid"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("hidden") && !stderr.contains("notes"),
        "{stderr}"
    );
}
