//! Every analysis template under examples/ passes the engine's validation, conditions
//! compiled with the CEL dialect the engine evaluates (`crds/tests/examples.rs` checks fields).

use std::path::{Path, PathBuf};

use rollout_rs_analysis::validate;
use rollout_rs_crds::manifest::{self, Object};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read examples").flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_template_compiles() {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &mut files,
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read example");
        for obj in manifest::parse_all(&text)
            .expect("YAML")
            .into_iter()
            .flatten()
        {
            let (name, errs) = match &obj {
                Object::AnalysisTemplate(t) => (obj.describe(), validate::template(&t.spec)),
                Object::ClusterAnalysisTemplate(t) => (obj.describe(), validate::template(&t.spec)),
                _ => continue,
            };
            checked += 1;
            failures.extend(
                errs.iter()
                    .map(|e| format!("{}: {name}: {e}", file.display())),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 8,
        "expected the ready-made templates, checked {checked}"
    );
}
