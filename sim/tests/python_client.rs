//! The official Python `kubernetes` client (a client nobody here wrote) lists and watches the
//! simulator. `scripts/test` installs it into a virtualenv and points `ROLLOUT_RS_PYTHON` at it.

mod common;

use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_lists_and_watches() {
    let c = Cluster::start().await;
    let python = std::env::var("ROLLOUT_RS_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/list_watch.py");
    let kubeconfig = c.dir.join("kubeconfig");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .arg(&kubeconfig)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'kubernetes'"),
        "the Python kubernetes client is missing: run scripts/test, which installs it (or set ROLLOUT_RS_PYTHON)"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("list and watch OK"));
}
