//! The official JavaScript client (`@kubernetes/client-node`, a client nobody here wrote) lists,
//! watches, patches and server-side applies against the simulator. `scripts/test` installs it
//! (`npm ci` in `sim/tests/js`, versions pinned by its lock file).

mod common;

use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_lists_watches_patches_and_applies() {
    let c = Cluster::start().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/@kubernetes/client-node")
            .is_dir(),
        "the JavaScript client is missing: run scripts/test, which installs it (npm ci in sim/tests/js)"
    );
    let out = tokio::process::Command::new("node")
        .arg("conformance.mjs")
        .arg(c.dir.join("kubeconfig"))
        .current_dir(dir)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running node: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("list, watch, patch, apply OK"));
}
