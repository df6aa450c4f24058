//! `rollout-rs crds` prints exactly the committed files of crds/yaml/, joined by `---` lines,
//! so `rollout-rs crds | kubectl apply -f -` and `kubectl apply -f crds/yaml/` install the same.

use std::path::Path;
use std::process::Command;

#[test]
fn crds_command_prints_the_committed_files() {
    let output = Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
        .arg("crds")
        .output()
        .expect("run rollout-rs crds");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("UTF-8 output");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/yaml");
    let files: Vec<String> = rollout_rs_crds::crd::all()
        .iter()
        .map(|c| {
            let path = dir.join(rollout_rs_crds::crd::file_name(c));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect();
    assert_eq!(
        printed,
        files.join("---\n"),
        "rollout-rs crds differs from crds/yaml/"
    );
    assert_eq!(printed.matches("kind: CustomResourceDefinition").count(), 5);
}
