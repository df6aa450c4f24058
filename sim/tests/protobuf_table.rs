//! The simulator's protobuf message table is generated from the k8s-pb and k8s-openapi crates
//! in Cargo.lock; this fails when the committed table no longer matches them (after a bump),
//! and prints the command that rewrites it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_src(metadata: &serde_json::Value, name: &str) -> PathBuf {
    let package = metadata["packages"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("{name} is not in the dependency graph"));
    let manifest = package["manifest_path"].as_str().expect("a manifest path");
    Path::new(manifest).parent().expect("crate dir").join("src")
}

#[test]
fn the_committed_message_table_matches_k8s_pb() {
    let sim = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(sim)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let pb = crate_src(&metadata, "k8s-pb");
    // The newest Kubernetes version k8s-openapi carries holds every field's JSON name.
    let openapi = std::fs::read_dir(crate_src(&metadata, "k8s-openapi"))
        .expect("k8s-openapi sources")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("v1_"))
        })
        .max_by_key(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            name.trim_start_matches("v1_").parse::<u32>().unwrap_or(0)
        })
        .expect("a v1_* module");
    let script = sim.join("src/protobuf/generate.py");
    let generated = Command::new("python3")
        .arg(&script)
        .arg(&pb)
        .arg(&openapi)
        .output()
        .expect("python3 runs");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let committed = std::fs::read(sim.join("src/protobuf/messages.txt")).expect("the table");
    assert!(
        generated.stdout == committed,
        "sim/src/protobuf/messages.txt is stale; rewrite it with:\n  python3 {} {} {} > sim/src/protobuf/messages.txt",
        script.display(),
        pb.display(),
        openapi.display()
    );
}
