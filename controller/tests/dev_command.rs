//! `rollout-rs dev` as a user runs it: it prints the `export KUBECONFIG=...` line, kubectl then
//! sees the rollout-rs CRDs, and Ctrl-C stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `rollout-rs dev` writing its kubeconfig to `kubeconfig`, and a wait for a line of its
/// output containing a needle (60 s at most).
fn start_dev(kubeconfig: &std::path::Path) -> (std::process::Child, impl Fn(&str) -> String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
        .args(["dev", "--kubeconfig-out"])
        .arg(kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rollout-rs dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = move |needle: &str| -> String {
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("rollout-rs dev never printed {needle:?}: {e}"),
            }
        }
    };
    (child, wait_for)
}

#[test]
fn dev_serves_a_cluster_with_the_crds_until_interrupted() {
    let dir = std::env::temp_dir().join(format!("rollout-rs-dev-test-{}", std::process::id()));
    let kubeconfig = dir.join("kubeconfig");
    let (mut child, wait_for) = start_dev(&kubeconfig);
    let export = wait_for("export KUBECONFIG=");
    assert!(
        export.trim().ends_with(&kubeconfig.display().to_string()),
        "{export}"
    );

    let out = Command::new("kubectl")
        .args(["get", "crds", "-o", "name"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", &dir)
        .output()
        .expect("kubectl runs");
    let crds = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        crds.lines()
            .filter(|l| l.ends_with(".rollout-rs.io"))
            .count(),
        5,
        "{crds}"
    );

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    wait_for("rollout-rs dev: stopped");
    let exit = child.wait().expect("rollout-rs dev exits");
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The GitOps loop of `rollout-rs dev`, as its printed lines tell a newcomer: the local
/// repository's `web` app is delivered and Healthy; the printed release command (a new image
/// tag committed with git) starts a canary that pauses at its first step.
#[test]
fn dev_delivers_from_git_and_a_commit_starts_a_canary() {
    let dir = std::env::temp_dir().join(format!("rollout-rs-dev-gitops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let kubeconfig = dir.join("kubeconfig");
    let (mut child, wait_for) = start_dev(&kubeconfig);
    let release = wait_for("git -C");
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", &dir)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The first sync creates the Rollout; `kubectl wait` needs it to exist.
    kubectl(&[
        "-n",
        "web-dev",
        "wait",
        "gitsync/web",
        "--for=condition=Ready",
        "--timeout=60s",
    ]);
    kubectl(&[
        "-n",
        "web-dev",
        "wait",
        "rollout/web",
        "--for=jsonpath={.status.phase}=Healthy",
        "--timeout=60s",
    ]);
    let synced = kubectl(&[
        "-n",
        "web-dev",
        "get",
        "gitsync",
        "web",
        "-o",
        "jsonpath={.status.sync.status}",
    ]);
    assert_eq!(synced, "Synced");

    let status = Command::new("sh")
        .args(["-c", release.trim()])
        .status()
        .expect("the printed release command runs");
    assert!(status.success(), "{release}");
    kubectl(&[
        "-n",
        "web-dev",
        "wait",
        "rollout/web",
        "--for=jsonpath={.status.phase}=Paused",
        "--timeout=60s",
    ]);
    let image = kubectl(&[
        "-n",
        "web-dev",
        "get",
        "rollout",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "registry.example.com/web:1.1.0");
    let step = kubectl(&[
        "-n",
        "web-dev",
        "get",
        "rollout",
        "web",
        "-o",
        "jsonpath={.status.currentStepIndex}",
    ]);
    assert_eq!(step, "1", "paused after its first setWeight");

    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
