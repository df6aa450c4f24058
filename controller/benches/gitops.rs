//! Benchmark of the Git reconciler (numbers, not assertions). Prints a table:
//!
//! - one GitSync over a repository of 1,000 manifests: first sync, a no-change reconcile (time
//!   and CPU), the controller's RSS;
//! - 1,000 GitSyncs on one repository, one manifest each, nothing changing: the first round,
//!   then the time per no-change round, and RSS;
//! - a commit: how long until its change is applied, against the poll interval.
//!
//! The simulated cluster runs in this process; the controller runs as its own process
//! (`rollout-rs controller --gitops`), so its memory and CPU are measured alone. Repositories
//! are made with the git CLI and fetched over file://.
//! Run with `cargo bench -p rollout-rs-controller --bench gitops`.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_rs_crds::gitsync::{GitSync, SyncStatusCode};
use serde_json::json;
use support::proc_stats;

const MANIFESTS: usize = 1_000;
const GITSYNCS: usize = 1_000;
/// Of the GitSyncs measured for their rounds.
const ROUND_INTERVAL: &str = "30s";
/// Of the GitSync measured for commit -> applied.
const COMMIT_INTERVAL_SECS: u64 = 5;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: \"{value}\"\n")
}

fn git_sync(name: &str, url: &str, path: &str, interval: &str) -> GitSync {
    serde_json::from_value(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": name},
        "spec": {"source": {"repoURL": url, "targetRevision": "main", "path": path},
                 "interval": interval, "syncPolicy": {"automated": {"prune": true}}}
    }))
    .expect("a GitSync")
}

fn synced_at(gs: &GitSync) -> Option<(String, jiff::Timestamp)> {
    let st = gs.status.as_ref()?;
    let sync = st.sync.as_ref()?;
    (sync.status == SyncStatusCode::Synced)
        .then(|| Some((sync.revision.clone()?, st.last_synced_at.as_ref()?.0)))
        .flatten()
}

/// Waits (through a watch of `api`) until `done` holds for the latest state of every object
/// named in `names`.
async fn until_all(
    api: &Api<GitSync>,
    names: usize,
    done: impl Fn(&GitSync) -> bool,
) -> BTreeMap<String, GitSync> {
    let mut seen: BTreeMap<String, GitSync> = BTreeMap::new();
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    while seen.values().filter(|g| done(g)).count() < names {
        match stream.next().await {
            Some(Ok(gs)) => {
                seen.insert(gs.metadata.name.clone().unwrap_or_default(), gs);
            }
            Some(Err(_)) => continue,
            None => panic!("watch ended"),
        }
    }
    seen
}

/// The simulator's request log, once more than `after` requests were recorded since start:
/// (patches of ConfigMaps by namespace, the count recorded).
async fn requests_after(client: &kube::Client, after: u64) -> (Vec<String>, u64) {
    let request = http::Request::builder()
        .uri(format!("/sim/requests?after={after}"))
        .body(Vec::new())
        .expect("a request");
    let text = client.request_text(request).await.expect("the request log");
    let log: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let patches = log["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["verb"] == "patch" && r["resource"] == "configmaps")
        .map(|r| r["namespace"].as_str().unwrap_or_default().to_string())
        .collect();
    (patches, log["recorded"].as_u64().unwrap_or_default())
}

/// Clears the simulator's request log; returns the count of requests recorded so far.
async fn clear_log(client: &kube::Client) -> u64 {
    let request = http::Request::builder()
        .method("DELETE")
        .uri("/sim/requests")
        .body(Vec::new())
        .expect("a request");
    client.request_text(request).await.expect("clear the log");
    requests_after(client, 0).await.1
}

/// Waits until the log (cleared at `start`) holds `n` ConfigMap patches in `namespace` were recorded after `start`.
async fn until_patches(client: &kube::Client, start: u64, namespace: &str, n: usize) {
    let mut seen = start;
    let mut count = 0;
    while count < n {
        let (patches, recorded) = requests_after(client, seen).await;
        count = patches.iter().filter(|ns| *ns == namespace).count();
        seen = recorded;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut rows: Vec<(String, String)> = Vec::new();
    let sim = rollout_rs_sim::start(rollout_rs_sim::Config::default())
        .await
        .expect("start simulator");
    let dir = std::env::temp_dir().join(format!("rollout-rs-bench-gitops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let client = rollout_rs_controller::client(Some(&kubeconfig))
        .await
        .expect("client");
    rollout_rs_controller::install::install_crds(&client, Duration::from_secs(30))
        .await
        .expect("CRDs");
    for ns in ["big", "many"] {
        let ns_obj: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns_obj)
            .await
            .expect("create namespace");
    }

    // One repository: 1,000 manifests under big/, one under each of many/<i>/.
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("big")).expect("repo");
    for i in 0..MANIFESTS {
        std::fs::write(
            repo.join("big").join(format!("cm-{i:04}.yaml")),
            config_map(&format!("cm-{i:04}"), "1"),
        )
        .expect("manifest");
    }
    for i in 0..GITSYNCS {
        let d = repo.join("many").join(format!("{i:04}"));
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join("cm.yaml"), config_map(&format!("one-{i:04}"), "1"))
            .expect("manifest");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "start"]);
    let url = format!("file://{}", repo.display());

    let mut controller = std::process::Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
        .args(["controller", "--gitops", "--gitops-cache"])
        .arg(dir.join("cache"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rollout-rs controller --gitops");
    let pid = controller.id();
    // The controller is up once it has synced a probe GitSync (one manifest).
    let probe: Api<GitSync> = Api::namespaced(client.clone(), "many");
    probe
        .create(
            &PostParams::default(),
            &git_sync("probe", &url, "many/0000", "10m"),
        )
        .await
        .expect("create the probe");
    until_all(&probe, 1, |gs| synced_at(gs).is_some()).await;
    probe
        .delete("probe", &Default::default())
        .await
        .expect("delete the probe");
    let (rss_start, _) = proc_stats(pid);
    rows.push((
        "controller RSS, one GitSync synced".into(),
        format!("{:.1} MiB", rss_start as f64 / 1024.0),
    ));

    // 1,000 manifests: the first sync.
    let big: Api<GitSync> = Api::namespaced(client.clone(), "big");
    let t = Instant::now();
    big.create(&PostParams::default(), &git_sync("big", &url, "big", "10m"))
        .await
        .expect("create GitSync");
    until_all(&big, 1, |gs| synced_at(gs).is_some()).await;
    rows.push((
        format!("first sync, {MANIFESTS} manifests"),
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    ));
    let (rss_big, cpu0) = proc_stats(pid);
    // A no-change reconcile, started by a change of the GitSync's metadata. It writes nothing
    // (nor its status): it is over once every manifest was applied again (dry run and apply),
    // as the simulator's request log shows.
    let t = Instant::now();
    let start = clear_log(&client).await;
    big.patch(
        "big",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"bench": "again"}}})),
    )
    .await
    .expect("annotate");
    until_patches(&client, start, "big", 2 * MANIFESTS).await;
    let (_, cpu1) = proc_stats(pid);
    rows.push((
        format!("no-change reconcile, {MANIFESTS} manifests"),
        format!(
            "{:.2} s, {:.2} s of CPU",
            t.elapsed().as_secs_f64(),
            cpu1 - cpu0
        ),
    ));
    rows.push((
        format!("controller RSS, {MANIFESTS} manifests synced"),
        format!("{:.1} MiB", rss_big as f64 / 1024.0),
    ));

    // 1,000 GitSyncs on the one repository.
    let many: Api<GitSync> = Api::namespaced(client.clone(), "many");
    let t = Instant::now();
    for i in 0..GITSYNCS {
        many.create(
            &PostParams::default(),
            &git_sync(
                &format!("gs-{i:04}"),
                &url,
                &format!("many/{i:04}"),
                ROUND_INTERVAL,
            ),
        )
        .await
        .expect("create GitSync");
    }
    until_all(&many, GITSYNCS, |gs| synced_at(gs).is_some()).await;
    rows.push((
        format!("{GITSYNCS} GitSyncs on one repository: first round"),
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    ));
    let (_, cpu0) = proc_stats(pid);
    let t = Instant::now();
    // A no-change round writes nothing: it is over once every GitSync applied its manifest
    // again (dry run and apply).
    let start = clear_log(&client).await;
    until_patches(&client, start, "many", 2 * GITSYNCS).await;
    let (rss_many, cpu1) = proc_stats(pid);
    rows.push((
        format!("{GITSYNCS} GitSyncs, a no-change round (interval {ROUND_INTERVAL})"),
        format!(
            "{:.1} s, {:.1} s of CPU",
            t.elapsed().as_secs_f64(),
            cpu1 - cpu0
        ),
    ));
    rows.push((
        format!("controller RSS, {GITSYNCS} GitSyncs"),
        format!("{:.1} MiB", rss_many as f64 / 1024.0),
    ));

    // A commit: applied at the poll interval.
    let quick: Api<GitSync> = Api::namespaced(client.clone(), "big");
    quick
        .create(
            &PostParams::default(),
            &git_sync(
                "quick",
                &url,
                "many/0000",
                &format!("{COMMIT_INTERVAL_SECS}s"),
            ),
        )
        .await
        .expect("create GitSync");
    until_all(&quick, 2, |gs| synced_at(gs).is_some()).await;
    std::fs::write(repo.join("many/0000/cm.yaml"), config_map("one-0000", "2")).expect("edit");
    git(&repo, &["commit", "-q", "-am", "change"]);
    let t = Instant::now();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "big");
    let mut stream = watcher(
        cms,
        watcher::Config::default().fields("metadata.name=one-0000"),
    )
    .applied_objects()
    .boxed();
    loop {
        match stream.next().await {
            Some(Ok(cm))
                if cm
                    .data
                    .as_ref()
                    .and_then(|d| d.get("v"))
                    .map(String::as_str)
                    == Some("2") =>
            {
                break;
            }
            Some(_) => {}
            None => panic!("watch ended"),
        }
    }
    rows.push((
        format!("commit -> applied (interval {COMMIT_INTERVAL_SECS}s + up to 10% jitter)"),
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    ));

    let _ = controller.kill();
    let _ = controller.wait();
    sim.stop();
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!("{:<60} result", "rollout-rs Git reconciler benchmark");
    println!("{}", "-".repeat(90));
    for (k, v) in rows {
        println!("{k:<60} {v}");
    }
}
