//! What needs no cluster: the krew manifest stays in step with the crate (version, the four
//! platforms, the binary name) and shell completions are printed for bash, zsh and fish.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_krew_manifest_names_every_platform_and_this_version() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/krew.yaml"))
        .expect("plugin/krew.yaml");
    let manifest: Value = serde_saphyr::from_str(&text).expect("krew.yaml is YAML");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(
        manifest["metadata"]["name"], "rollout-rs",
        "kubectl rollout-rs"
    );
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["spec"]["version"], version.as_str());
    let mut seen = BTreeSet::new();
    for p in manifest["spec"]["platforms"].as_array().expect("platforms") {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap_or_default(),
            labels["arch"].as_str().unwrap_or_default(),
        );
        let target = match (os, arch) {
            ("linux", "amd64") => "x86_64-unknown-linux-gnu",
            ("linux", "arm64") => "aarch64-unknown-linux-gnu",
            ("darwin", "amd64") => "x86_64-apple-darwin",
            ("darwin", "arm64") => "aarch64-apple-darwin",
            other => panic!("unexpected platform {other:?}"),
        };
        let uri = p["uri"].as_str().unwrap_or_default();
        assert!(
            uri.ends_with(&format!(
                "/{version}/kubectl-rollout_rs-{version}-{target}.tar.gz"
            )),
            "{uri}"
        );
        assert_eq!(p["bin"], "kubectl-rollout_rs");
        assert_eq!(
            p["sha256"],
            format!("SHA256_{}", target.to_uppercase().replace('-', "_")).as_str(),
            "the release writes the checksum over its platform's placeholder"
        );
        seen.insert((os.to_string(), arch.to_string()));
    }
    assert_eq!(seen.len(), 4, "linux and darwin, amd64 and arm64: {seen:?}");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kubectl-rollout_rs"),
        ("fish", "complete -c kubectl-rollout_rs"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-rollout_rs"))
            .args(["completion", shell])
            .output()
            .expect("run the plugin");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {marker:?} in\n{script}");
        for command in ["promote", "abort", "status", "lint"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
}
