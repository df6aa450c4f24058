//! Every command through kubectl's plugin mechanism (`kubectl rollout-rs ...`, kubectl finding
//! `kubectl-rollout_rs` on PATH) against the simulated cluster with the controller running, and
//! the rollout reacting as design.md says. Also the friendly errors: not found, unreachable,
//! forbidden, unknown container.

use std::path::Path;
use std::time::Duration;

use kube::api::Api;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::fixture::{Env, RolloutFixture};
use rollout_rs_e2e::{HarnessError, in_phase};
use serde_json::json;

type R<T = ()> = Result<T, HarnessError>;

/// What a command printed and how it exited.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(out: std::process::Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `kubectl rollout-rs ARGS` with the plugin first on PATH and `KUBECONFIG` set.
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> R<Out> {
    let plugin = Path::new(env!("CARGO_BIN_EXE_kubectl-rollout_rs"));
    let dir = plugin.parent().unwrap_or(Path::new("."));
    let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let out = tokio::process::Command::new("kubectl")
        .arg("rollout-rs")
        .args(args)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .await
        .map_err(|e| HarnessError::Manifest(format!("running kubectl: {e}")))?;
    Ok(Out::of(out))
}

/// `kubectl rollout-rs ARGS -n <the env's namespace>`.
async fn plugin(env: &Env, args: &[&str]) -> R<Out> {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-n", env.ns.as_str()]);
    kubectl(env.cluster.kubeconfig(), &all).await
}

fn web() -> RolloutFixture {
    RolloutFixture::canary("web")
        .replicas(2)
        .steps(json!([{"setWeight": 50}, {"pause": {}}]))
}

async fn resource_version(env: &Env) -> R<Option<String>> {
    let api: Api<Rollout> = env.api();
    Ok(api.get("web").await?.metadata.resource_version)
}

fn paused_at_step(ro: &Rollout, index: i32) -> bool {
    ro.status.as_ref().is_some_and(|s| {
        s.phase == Some(RolloutPhase::Paused) && s.current_step_index == Some(index)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_abort_retry_pause_resume_and_set_image_steer_a_canary() -> R {
    let env = Env::canary("plugin-steer").await?;
    env.deploy(&web().image("web:1")).await?;
    env.ro.healthy("web").await?;

    let out = plugin(&env, &["set", "image", "web", "web=web:2"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("container web set to web:2"), "{out:?}");
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;

    let out = plugin(&env, &["promote", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "rollout \"web\" promoted at step 1/2: CanaryPauseStep released"
    );
    env.ro.healthy("web").await?;

    // Nothing to promote: said, non-zero, nothing written.
    let before = resource_version(&env).await?;
    let out = plugin(&env, &["promote", "web"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("is not paused (Healthy"), "{out:?}");
    assert!(out.stderr.contains("nothing to promote"), "{out:?}");
    assert_eq!(resource_version(&env).await?, before, "nothing was written");

    // Abort, then retry, then promote in full.
    env.ro.set_image("web", "web", "web:3").await?;
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;
    let out = plugin(&env, &["abort", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("aborted at step 1/2"), "{out:?}");
    env.ro
        .wait("web", "aborted", |ro| {
            ro.status
                .as_ref()
                .is_some_and(|s| s.abort && s.aborted_at.is_some())
        })
        .await?;
    let out = plugin(&env, &["retry", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    env.ro
        .wait("web", "paused at step 1 again", |ro| paused_at_step(ro, 1))
        .await?;

    // A manual pause, released by resume.
    let out = plugin(&env, &["pause", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    let api: Api<Rollout> = env.api();
    assert!(api.get("web").await?.spec.paused);
    let out = plugin(&env, &["pause", "web"]).await?;
    assert_eq!(out.code, 1, "already paused: {out:?}");
    let out = plugin(&env, &["resume", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!api.get("web").await?.spec.paused);

    let out = plugin(&env, &["promote", "web", "--full"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("promoted in full"), "{out:?}");
    let ro = env.ro.healthy("web").await?;
    assert_eq!(
        ro.status.and_then(|s| s.stable_rs.is_some().then_some(())),
        Some(())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_restart_list_and_status_exit_codes() -> R {
    let env = Env::canary("plugin-status").await?;
    env.deploy(&web().image("web:1")).await?;
    env.ro.healthy("web").await?;
    let out = plugin(&env, &["status", "web", "--timeout", "20s"]).await?;
    assert_eq!(out.code, 0, "Healthy: {out:?}");
    assert!(out.stdout.contains("Healthy"), "{out:?}");

    env.ro.set_image("web", "web", "web:2").await?;
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;
    let out = plugin(&env, &["status", "web", "--timeout", "2s"]).await?;
    assert_eq!(out.code, 2, "timed out while paused: {out:?}");
    assert!(out.stdout.contains("Paused (step 1/2)"), "{out:?}");
    assert!(out.stderr.contains("timed out after 2s"), "{out:?}");

    let out = plugin(&env, &["list", "rollouts"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        row,
        ["web", "Canary", "Paused", "1/2", "50", "2", "2", "2"],
        "{out:?}"
    );

    let out = plugin(&env, &["abort", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    let out = plugin(&env, &["status", "web", "--timeout", "20s"]).await?;
    assert_eq!(out.code, 1, "aborted: {out:?}");
    assert!(out.stdout.contains("Degraded - aborted"), "{out:?}");

    // Undo: the template of the revision before goes back, and a new update starts.
    let out = plugin(&env, &["undo", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("revision 1 (web:1)"), "{out:?}");
    let api: Api<Rollout> = env.api();
    let ro = api.get("web").await?;
    let image = ro
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    assert_eq!(image.as_deref(), Some("web:1"));
    env.ro.healthy("web").await?;
    let out = plugin(&env, &["undo", "web", "--to-revision", "9"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("has no revision 9"), "{out:?}");

    let out = plugin(&env, &["restart", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(api.get("web").await?.spec.restart_at.is_some());
    env.ro
        .wait("web", "restarted", |ro| {
            ro.status.as_ref().is_some_and(|s| s.restarted_at.is_some())
                && in_phase(ro, RolloutPhase::Healthy)
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_preview_is_promoted() -> R {
    let env = Env::builder("plugin-bg")
        .services(&["web-active", "web-preview"])
        .start()
        .await?;
    let bg = RolloutFixture::blue_green("web")
        .replicas(2)
        .strategy(json!({"previewService": "web-preview", "autoPromotionEnabled": false}));
    env.deploy(&bg.clone().image("web:1")).await?;
    env.ro.healthy("web").await?;
    env.deploy(&bg.image("web:2")).await?;
    env.ro.phase("web", RolloutPhase::Paused).await?;
    let out = plugin(&env, &["promote", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("BlueGreenPause released"), "{out:?}");
    env.ro.healthy("web").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendly_errors() -> R {
    let mut env = Env::canary("plugin-errors").await?;
    env.deploy(&web().image("web:1")).await?;
    env.ro.healthy("web").await?;

    // A typo: the names that exist.
    let out = plugin(&env, &["promote", "wbe"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "rollout \"wbe\" not found in namespace {}; did you mean \"web\"?",
            env.ns
        )),
        "{out:?}"
    );

    // An unknown container: the ones there are.
    let out = plugin(&env, &["set", "image", "web", "api=api:2"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("rollout \"web\" has no container \"api\"; its containers: web"),
        "{out:?}"
    );

    // No cluster there: which server, which kubeconfig.
    let dead = env.cluster.dir().join("dead-kubeconfig");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| HarnessError::Manifest(e.to_string()))?
        .port();
    drop(listener);
    std::fs::write(
        &dead,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: dead, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\nusers: [{{name: dead, user: {{}}}}]\ncontexts: [{{name: dead, context: {{cluster: dead, user: dead, namespace: shop}}}}]\ncurrent-context: dead\n"
        ),
    )
    .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let out = kubectl(&dead, &["list", "rollouts"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "cannot reach the cluster at http://127.0.0.1:{port}/"
        )),
        "{out:?}"
    );
    assert!(out.stderr.contains(&dead.display().to_string()), "{out:?}");

    // Forbidden: the verb and the resource RBAC refuses.
    env.ro.set_image("web", "web", "web:2").await?;
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;
    env.cluster.stop_controller();
    // The simulator's fault injection answers every patch of a Rollout with 403.
    let faults =
        json!({"verbs": {"patch": {"errorRate": 1.0, "code": 403, "resource": "rollouts"}}});
    env.cluster.sim_admin("PUT", "/sim/faults", faults).await?;
    let out = plugin(&env, &["promote", "web"]).await?;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "forbidden: you may not patch rollouts/status in namespace {} (RBAC)",
            env.ns
        )),
        "{out:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_namespace_and_several_kubeconfig_files_are_honoured() -> R {
    let env = Env::canary("plugin-config").await?;
    env.deploy(&web().image("web:1")).await?;
    env.ro.healthy("web").await?;
    // A second kubeconfig file whose context names the namespace; KUBECONFIG lists both.
    let text = std::fs::read_to_string(env.cluster.kubeconfig())
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let kc: serde_json::Value =
        serde_saphyr::from_str(&text).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let cluster = kc["contexts"][0]["context"]["cluster"].clone();
    let user = kc["contexts"][0]["context"]["user"].clone();
    let extra = env.cluster.dir().join("extra-kubeconfig");
    std::fs::write(
        &extra,
        json!({
            "apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
            "contexts": [{"name": "shop", "context": {"cluster": cluster, "user": user, "namespace": env.ns}}],
            "current-context": "shop"
        })
        .to_string(),
    )
    .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let both = std::env::join_paths([extra.clone(), env.cluster.kubeconfig().to_path_buf()])
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let out = kubectl(Path::new(&both), &["list", "rollouts"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("web ")),
        "the context's namespace: {out:?}"
    );
    // --context picks another context; -n wins over the context's namespace.
    let out = kubectl(
        Path::new(&both),
        &["list", "rollouts", "--context", "shop", "-n", "default"],
    )
    .await?;
    assert!(
        out.stdout
            .contains("No rollouts found in namespace default"),
        "{out:?}"
    );
    Ok(())
}

/// The stable Ingress the NGINX router copies into the canary one.
fn stable_ingress() -> serde_json::Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_the_tree_and_the_same_as_data() -> R {
    let env = Env::canary("plugin-get").await?;
    env.apply(&stable_ingress()).await?;
    let routed = web().routing(json!({"nginx": {"stableIngress": "web"}}));
    env.deploy(&routed.clone().image("web:1")).await?;
    env.ro.healthy("web").await?;
    env.deploy(&routed.image("web:2")).await?;
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;

    let out = plugin(&env, &["get", "rollout", "web"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    for line in [
        "Status:         ॥ Paused",
        "  Step:         1/2",
        "  SetWeight:    50",
        "  ActualWeight: 50",
        "├──# revision:2",
        "└──# revision:1",
        "Routing:",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in {out:?}");
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("Ingress") && l.contains("web-canary 50 / web-stable 50")),
        "{out:?}"
    );
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour without a terminal: {out:?}"
    );

    let out = plugin(&env, &["get", "rollout", "web", "-o", "json"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    let view: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| HarnessError::Manifest(format!("{e}: {}", out.stdout)))?;
    assert_eq!(view["phase"], "Paused");
    assert_eq!(view["setWeight"], 50);
    assert_eq!(view["revisions"][0]["revision"], 2);
    assert_eq!(
        view["revisions"][0]["replicaSets"][0]["roles"],
        json!(["canary"])
    );
    let out = plugin(&env, &["get", "rollout", "web", "-o", "yaml"]).await?;
    assert!(out.stdout.contains("phase: Paused"), "{out:?}");
    Ok(())
}

/// Reads `stdout` into `seen` until it holds `text`.
async fn read_until(seen: &mut Vec<u8>, stdout: &mut tokio::process::ChildStdout, text: &str) -> R {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(text) {
        let n = stdout
            .read(&mut buf)
            .await
            .map_err(|e| HarnessError::Manifest(e.to_string()))?;
        if n == 0 {
            return Err(HarnessError::Manifest(format!(
                "output ended before {text:?}: {:?}",
                String::from_utf8_lossy(seen)
            )));
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// `get --watch` in a terminal (a pseudo-terminal from util-linux `script`): it draws, redraws
/// in place when the rollout moves, and `--until-complete` exits 0 once it is Healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_redraws_in_a_terminal_and_exits_when_complete() -> R {
    let env = Env::canary("plugin-watch").await?;
    env.deploy(&web().image("web:1")).await?;
    env.ro.healthy("web").await?;
    env.ro.set_image("web", "web", "web:2").await?;
    env.ro
        .wait("web", "paused at step 1", |ro| paused_at_step(ro, 1))
        .await?;

    let plugin_bin = Path::new(env!("CARGO_BIN_EXE_kubectl-rollout_rs"));
    let dir = plugin_bin.parent().unwrap_or(Path::new("."));
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let command = format!(
        "kubectl rollout-rs get rollout web --watch --until-complete -n {}",
        env.ns
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("PATH", path)
        .env("KUBECONFIG", env.cluster.kubeconfig())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HarnessError::Manifest(format!("running script: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| HarnessError::Manifest("no stdout".into()))?;
    let mut seen = Vec::new();
    // The paused rollout is drawn first; then it is promoted and the watch follows.
    tokio::time::timeout(
        Duration::from_secs(30),
        read_until(&mut seen, &mut stdout, "Paused"),
    )
    .await
    .map_err(|_| HarnessError::Manifest("the first frame never came".into()))??;
    env.ro
        .patch_status("web", json!({"pauseConditions": null}))
        .await?;
    tokio::time::timeout(Duration::from_secs(60), async {
        use tokio::io::AsyncReadExt;
        stdout
            .read_to_end(&mut seen)
            .await
            .map_err(|e| HarnessError::Manifest(e.to_string()))
    })
    .await
    .map_err(|_| HarnessError::Manifest("get --watch did not exit".into()))??;
    let status = child
        .wait()
        .await
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("F\x1b[J"), "redrawn in place: {stdout:?}");
    assert!(
        stdout.contains("\x1b[32m✔ Healthy\x1b[0m"),
        "coloured on a terminal: {stdout:?}"
    );
    Ok(())
}

/// The README's tour, line by line as a user types it, against a fresh simulated cluster: the
/// README's commands stay true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_tour_runs_as_written() -> R {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."))
        .to_path_buf();
    let readme = std::fs::read_to_string(root.join("README.md"))
        .map_err(|e| HarnessError::Manifest(format!("README.md: {e}")))?;
    let tour: Vec<&str> = readme
        .split("<!-- tour:")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|block| block.split("```").next())
        .ok_or_else(|| HarnessError::Manifest("no tour block in README.md".into()))?
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("export KUBECONFIG"))
        .collect();
    assert!(tour.len() >= 6, "{tour:?}");

    let mut cluster = rollout_rs_e2e::Cluster::start().await?;
    cluster.install_crds().await?;
    cluster.start_controller();
    let rollouts =
        rollout_rs_e2e::rollouts::Rollouts::new(&cluster.client, "shop", Duration::from_secs(60));
    let plugin_bin = Path::new(env!("CARGO_BIN_EXE_kubectl-rollout_rs"));
    let dir = plugin_bin.parent().unwrap_or(Path::new("."));
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut updated = false;
    let mut paused = false;
    for line in tour {
        // A person looks once the update has reached its pause; the test waits likewise.
        if updated && !paused {
            rollouts
                .wait("checkout", "paused at step 1", |ro| paused_at_step(ro, 1))
                .await?;
            paused = true;
        }
        updated |= line.contains("set image");
        let out = tokio::process::Command::new("sh")
            .args(["-c", line])
            .current_dir(&root)
            .env("PATH", &path)
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("NO_COLOR", "1")
            .output()
            .await
            .map_err(|e| HarnessError::Manifest(format!("running {line:?}: {e}")))?;
        let out = Out::of(out);
        assert_eq!(out.code, 0, "{line}\n{out:?}");
        if line.contains("get rollout") {
            assert!(out.stdout.contains("॥ Paused"), "{out:?}");
            assert!(out.stdout.contains("Step:         1/6"), "{out:?}");
            assert!(out.stdout.contains("ready:2/2"), "2 canary pods: {out:?}");
            assert!(out.stdout.contains("ready:8/8"), "8 stable pods: {out:?}");
        }
    }
    assert!(paused, "the tour updates the rollout");
    let ro = rollouts.healthy("checkout").await?;
    let image = ro
        .spec
        .template
        .spec
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(
        image.as_deref(),
        Some("registry.example.com/shop/checkout:1.5.0")
    );
    Ok(())
}

/// The commands that need no cluster, through kubectl too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_version_and_completion_through_kubectl() -> R {
    let none = Path::new("/nonexistent/kubeconfig");
    let out = kubectl(none, &["version"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("kubectl-rollout_rs "), "{out:?}");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rollouts");
    let out = kubectl(none, &["lint", &examples.display().to_string()]).await?;
    assert_eq!(out.code, 0, "every example is valid: {out:?}");
    assert!(
        out.stdout
            .contains("canary-basic.yaml: 1 rollout-rs object(s) valid"),
        "{out:?}"
    );
    let out = kubectl(none, &["completion", "bash"]).await?;
    assert_eq!(out.code, 0, "{out:?}");
    Ok(())
}
