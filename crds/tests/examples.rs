//! Every manifest under examples/ parses strictly into the typed structs and passes validation;
//! every analysis template an example Rollout refers to is defined by some example.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rollout_rs_crds::manifest::{self, Object};
use rollout_rs_crds::rollout::{AnalysisTemplateRef, RolloutSpec};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

fn template_refs(spec: &RolloutSpec) -> Vec<&AnalysisTemplateRef> {
    let mut refs = Vec::new();
    if let Some(c) = &spec.strategy.canary {
        refs.extend(
            c.steps
                .iter()
                .filter_map(|s| s.analysis.as_ref())
                .flat_map(|a| &a.templates),
        );
        refs.extend(c.analysis.iter().flat_map(|a| &a.templates));
    }
    if let Some(b) = &spec.strategy.blue_green {
        for a in [&b.pre_promotion_analysis, &b.post_promotion_analysis]
            .into_iter()
            .flatten()
        {
            refs.extend(&a.templates);
        }
    }
    refs
}

#[test]
fn every_example_parses_and_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files.sort();

    let mut kinds = BTreeSet::new();
    let mut defined = BTreeSet::new();
    let mut referenced = Vec::new();
    let mut failures = Vec::new();
    let mut ours = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read example");
        let docs = manifest::parse_all(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for doc in docs {
            let obj = match doc {
                Ok(obj) => obj,
                Err(e) => {
                    failures.push(format!("{}: {e}", file.display()));
                    continue;
                }
            };
            for e in obj.validate() {
                failures.push(format!("{}: {}: {e}", file.display(), obj.describe()));
            }
            match &obj {
                Object::Rollout(r) => {
                    referenced.extend(
                        template_refs(&r.spec)
                            .into_iter()
                            .map(|t| (t.template_name.clone(), t.cluster_scope)),
                    );
                }
                Object::AnalysisTemplate(t) => {
                    defined.insert((t.metadata.name.clone().unwrap_or_default(), false));
                }
                Object::ClusterAnalysisTemplate(t) => {
                    defined.insert((t.metadata.name.clone().unwrap_or_default(), true));
                }
                _ => {}
            }
            if !matches!(obj, Object::Other(_)) {
                ours += 1;
                kinds.insert(
                    obj.describe()
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "examples fail:\n{}",
        failures.join("\n")
    );
    assert!(
        ours >= 7,
        "expected at least 7 rollout-rs objects in examples/, found {ours}"
    );
    for kind in [
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "GitSync",
    ] {
        assert!(kinds.contains(kind), "no example of {kind}");
    }
    for r in referenced {
        assert!(
            defined.contains(&r),
            "an example Rollout refers to template {r:?}, which no example defines"
        );
    }
}
