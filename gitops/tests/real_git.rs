//! The GitSync loop with real parts only: repositories made by the tests with the `git` CLI,
//! fetched by the git CLI over file:// and over the network (`git daemon`), rendered from plain
//! YAML, applied to the simulated API server. G1 create, G2 prune, G6 a missing branch and an
//! unreachable server, and a commit of invalid YAML: each named in the Ready condition, nothing
//! applied or pruned, the next good commit recovering.

#[path = "source/support.rs"]
#[allow(dead_code)]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use rollout_rs_crds::gitsync::{GitSync, SyncStatusCode};
use rollout_rs_e2e::fixture::Env;
use rollout_rs_gitops::render::Renderers;
use rollout_rs_gitops::source::GitCli;
use serde_json::json;
use support::{TempDir, Upstream};

mod common;

use common::{R, at, clear_requests, config_maps, ready, until, until_requests};

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {name}\n")
}

/// The loop, running on the env's cluster with the git CLI caching under `cache`.
async fn start(repo_url: &str, cache: &TempDir) -> R<(Env, Api<GitSync>)> {
    start_with(
        Env::builder("realgit").without_controller().start().await?,
        repo_url,
        cache,
    )
    .await
}

/// The same on a given env (with the rollout controller running, say).
async fn start_with(env: Env, repo_url: &str, cache: &TempDir) -> R<(Env, Api<GitSync>)> {
    let client = env.cluster.client.clone();
    tokio::spawn(rollout_rs_gitops::reconcile::run(
        client.clone(),
        Some(env.ns.clone()),
        GitCli::new(cache.path()),
        Renderers::from_env(),
        Default::default(),
    ));
    env.apply(&json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": "app"},
        "spec": {"source": {"repoURL": repo_url, "targetRevision": "main", "path": "app"},
                 "interval": "1s", "syncPolicy": {"automated": {"prune": true}}}
    }))
    .await?;
    let api = Api::namespaced(client, &env.ns);
    Ok((env, api))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_file_urls_create_prune_bad_yaml_and_a_missing_branch() -> R {
    let upstream = Upstream::new("main");
    let first = upstream.commit(
        &[
            ("app/one.yaml", &config_map("one")),
            ("app/two.yaml", &config_map("two")),
        ],
        "one and two",
    );
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;

    // G1: every object of the commit, after one sync.
    let gs = until(&env, &api, "synced", move |gs| {
        at(gs, &first, SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["one", "two"]);
    // ...and later syncs of the same commit write nothing: neither the objects nor the status.
    let cms: Api<ConfigMap> = env.api();
    let cm_version = cms.get("one").await?.metadata.resource_version;
    let gs_version = api.get("app").await?.metadata.resource_version;
    clear_requests(&env).await?;
    until_requests(&env, 4, |(verb, resource, name)| {
        verb == "patch" && resource == "configmaps" && name == "one"
    })
    .await?;
    let now_cm = cms.get("one").await?;
    assert_eq!(
        now_cm.metadata.resource_version, cm_version,
        "{:?}",
        now_cm.metadata
    );
    assert_eq!(api.get("app").await?.metadata.resource_version, gs_version);
    assert_eq!(
        gs.status
            .and_then(|s| s.sync)
            .and_then(|s| s.subject)
            .as_deref(),
        Some("one and two")
    );

    // G2: a manifest deleted from Git is pruned.
    upstream.git(&["rm", "--quiet", "app/two.yaml"]);
    let second = upstream.commit(&[], "drop two");
    until(&env, &api, "two pruned", move |gs| {
        at(gs, &second, SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["one"]);

    // Invalid YAML: named with file and line; nothing applied or pruned; the last good revision
    // stays; the next good commit recovers.
    upstream.commit(
        &[
            (
                "app/three.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three\n",
            ),
            ("app/four.yaml", &config_map("four")),
        ],
        "broken",
    );
    let second_again = upstream.git(&["rev-parse", "HEAD~1"]);
    let gs = until(&env, &api, "render failed", |gs| {
        ready(gs).0 == "RenderFailed"
    })
    .await?;
    let (_, message) = ready(&gs);
    assert!(message.starts_with("app/three.yaml:"), "{message}");
    assert!(
        at(&gs, &second_again, SyncStatusCode::OutOfSync),
        "{:?}",
        gs.status
    );
    assert_eq!(config_maps(&env).await?, ["one"], "four was not applied");
    let fixed = upstream.commit(&[("app/three.yaml", &config_map("three"))], "fixed");
    until(&env, &api, "recovered", move |gs| {
        at(gs, &fixed, SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["four", "one", "three"]);

    // G6: a branch that does not exist: said, nothing pruned.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"targetRevision": "nope"}}})),
    )
    .await?;
    let gs = until(&env, &api, "fetch failed", |gs| {
        ready(gs).0 == "FetchFailed"
    })
    .await?;
    assert!(
        ready(&gs).1.ends_with("stays applied)"),
        "names the last good revision: {:?}",
        ready(&gs)
    );
    assert!(
        ready(&gs).1.contains("branch or tag 'nope' not found"),
        "{:?}",
        ready(&gs)
    );
    assert_eq!(config_maps(&env).await?, ["four", "one", "three"]);
    Ok(())
}

/// `git daemon` serving `base` on a free loopback port; killed when dropped.
struct Daemon(Child, u16);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn daemon(base: &std::path::Path) -> Daemon {
    let port = free_port();
    // git-daemon itself, not `git daemon`: git would run it as a child that outlives a kill.
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let child = Command::new(std::path::Path::new(&exec_path).join("git-daemon"))
        .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon starts");
    // No wait for it to listen: a fetch before it does fails, and the GitSync retries.
    Daemon(child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_network_with_git_daemon_and_an_unreachable_server() -> R {
    let upstream = Upstream::new("main");
    let sha = upstream.commit(&[("app/net.yaml", &config_map("net"))], "over the network");
    let base = upstream
        .path()
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let name = upstream
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let server = daemon(&base);
    let cache = TempDir::new("cache");
    let (env, api) = start(&format!("git://127.0.0.1:{}/{name}", server.1), &cache).await?;
    until(&env, &api, "synced over git://", move |gs| {
        at(gs, &sha, SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["net"]);

    // G6: a server nobody answers on: said, nothing pruned, the last good revision kept.
    let nobody = format!("git://127.0.0.1:{}/{name}", free_port());
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"repoURL": nobody}}})),
    )
    .await?;
    let gs = until(&env, &api, "unreachable", |gs| ready(gs).0 == "FetchFailed").await?;
    assert!(ready(&gs).1.contains("not reachable"), "{:?}", ready(&gs));
    assert_eq!(config_maps(&env).await?, ["net"]);
    drop(server);
    Ok(())
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
";

/// G3: one commit adds a CRD, a CR of its kind, a Namespace and objects in it; written in an
/// order that cannot be applied as is, they all land after one sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_a_crd_its_cr_a_namespace_and_objects_in_it_in_one_commit() -> R {
    let upstream = Upstream::new("main");
    let sha = upstream.commit(
        &[
            ("app/a-widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team}\nspec: {size: 3}\n"),
            ("app/b-config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in-team, namespace: team}\ndata: {k: v}\n"),
            ("app/c-namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"),
            ("app/d-crd.yaml", WIDGET_CRD),
        ],
        "a widget in its own namespace",
    );
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;
    let gs = until(&env, &api, "synced", move |gs| {
        at(gs, &sha, SyncStatusCode::Synced)
    })
    .await?;
    let kinds: Vec<String> = gs
        .status
        .map(|s| s.resources.into_iter().map(|r| r.kind).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "Namespace",
            "Widget",
            "ConfigMap"
        ],
        "the inventory in apply order"
    );
    let team: Api<ConfigMap> = Api::namespaced(env.cluster.client.clone(), "team");
    assert!(team.get_opt("in-team").await?.is_some());
    Ok(())
}

fn rollout(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web-canary}}\nspec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: web-stable}}\nspec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}\n---\n\
         apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"20\"}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n  strategy:\n    canary: {{canaryService: web-canary, stableService: web-stable, steps: [{{setWeight: 50}}, {{pause: {{}}}}]}}\n"
    )
}

fn health(gs: &GitSync) -> Option<rollout_rs_crds::gitsync::HealthStatusCode> {
    gs.status.as_ref()?.health.as_ref().map(|h| h.status)
}

/// G8: a Rollout delivered from Git and paused at `pause: {}` makes its GitSync Suspended, not
/// Degraded; aborted, Degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g8_the_health_of_a_delivered_rollout() -> R {
    use rollout_rs_crds::gitsync::HealthStatusCode::{Degraded, Healthy, Suspended};
    let upstream = Upstream::new("main");
    upstream.commit(&[("app/web.yaml", &rollout("web:1"))], "web 1");
    let cache = TempDir::new("cache");
    let env = Env::builder("realgit").start().await?;
    let (env, api) = start_with(env, &upstream.url(), &cache).await?;
    until(&env, &api, "Healthy", |gs| health(gs) == Some(Healthy)).await?;
    upstream.commit(&[("app/web.yaml", &rollout("web:2"))], "web 2");
    let gs = until(&env, &api, "Suspended at the pause", |gs| {
        health(gs) == Some(Suspended)
    })
    .await?;
    assert_eq!(
        gs.status.and_then(|s| s.sync).map(|s| s.status),
        Some(SyncStatusCode::Synced)
    );
    env.ro.patch_status("web", json!({"abort": true})).await?;
    until(&env, &api, "Degraded once aborted", |gs| {
        health(gs) == Some(Degraded)
    })
    .await?;
    Ok(())
}

/// App of apps: a GitSync delivers a GitSync, which delivers its own path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_sync_delivers_git_syncs() -> R {
    let upstream = Upstream::new("main");
    let url = upstream.url();
    let child = format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: GitSync\nmetadata: {{name: child}}\nspec:\n  interval: 1s\n  source: {{repoURL: \"{url}\", targetRevision: main, path: child}}\n  syncPolicy: {{automated: {{prune: true}}}}\n"
    );
    upstream.commit(
        &[
            ("app/child.yaml", &child),
            ("child/cm.yaml", &config_map("from-child")),
        ],
        "app of apps",
    );
    let cache = TempDir::new("cache");
    let (env, api) = start(&url, &cache).await?;
    env.cluster
        .wait(
            &api,
            "child",
            Duration::from_secs(30),
            "the child synced",
            |gs: Option<&GitSync>| gs.is_some_and(|gs| ready(gs).0 == "Synced"),
        )
        .await?;
    assert_eq!(config_maps(&env).await?, ["from-child"]);
    until(&env, &api, "the parent reports the child's health", |gs| {
        health(gs) == Some(rollout_rs_crds::gitsync::HealthStatusCode::Healthy)
    })
    .await?;
    Ok(())
}

/// Credentials come from the Secret `secretRef` names: a missing one is said (nothing applied),
/// and the sync goes on once it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_credentials_secret_is_named_then_used() -> R {
    let upstream = Upstream::new("main");
    let sha = upstream.commit(&[("app/one.yaml", &config_map("one"))], "one");
    let sha2 = sha.clone();
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;
    until(&env, &api, "synced", move |gs| {
        at(gs, &sha, SyncStatusCode::Synced)
    })
    .await?;
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"secretRef": {"name": "creds"}}}})),
    )
    .await?;
    let gs = until(&env, &api, "the Secret is missing", |gs| {
        ready(gs).0 == "FetchFailed"
    })
    .await?;
    assert_eq!(
        ready(&gs).1,
        format!(
            "Secret {}/creds not found (revision {} stays applied)",
            env.ns,
            &sha2[..7]
        )
    );
    assert_eq!(config_maps(&env).await?, ["one"], "nothing pruned");
    env.apply(&json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"username": "git", "password": "s3cr3t-value"}
    }))
    .await?;
    let next = upstream.commit(&[("app/two.yaml", &config_map("two"))], "two");
    let gs = until(&env, &api, "synced with the Secret", move |gs| {
        at(gs, &next, SyncStatusCode::Synced)
    })
    .await?;
    let status = serde_json::to_string(&gs.status).unwrap_or_default();
    assert!(
        !status.contains("s3cr3t-value"),
        "no credential in the status"
    );
    Ok(())
}

/// G2 with prune off: a manifest deleted from Git stays, and the status is OutOfSync listing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g2_without_prune_a_deleted_manifest_stays_and_is_listed() -> R {
    let upstream = Upstream::new("main");
    let first = upstream.commit(
        &[
            ("app/one.yaml", &config_map("one")),
            ("app/two.yaml", &config_map("two")),
        ],
        "one and two",
    );
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"prune": false}}}})),
    )
    .await?;
    until(&env, &api, "synced", move |gs| {
        at(gs, &first, SyncStatusCode::Synced)
    })
    .await?;
    upstream.git(&["rm", "--quiet", "app/two.yaml"]);
    let second = upstream.commit(&[], "drop two");
    let gs = until(&env, &api, "out of sync", move |gs| {
        at(gs, &second, SyncStatusCode::OutOfSync)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["one", "two"], "not pruned");
    let listed: Vec<(String, bool)> = gs
        .status
        .map(|s| {
            s.resources
                .into_iter()
                .map(|r| (r.name, r.requires_pruning))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        listed,
        [("one".to_string(), false), ("two".to_string(), true)]
    );
    Ok(())
}

/// G3's prune runs in reverse: the objects in a namespace, then the Namespace, then the CRD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g3_prune_runs_in_reverse_order() -> R {
    let upstream = Upstream::new("main");
    let first = upstream.commit(
        &[
            ("app/crd.yaml", WIDGET_CRD),
            ("app/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team2}\n"),
            ("app/widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team2}\nspec: {size: 1}\n"),
            ("app/keep.yaml", &config_map("keep")),
        ],
        "everything",
    );
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;
    until(&env, &api, "synced", move |gs| {
        at(gs, &first, SyncStatusCode::Synced)
    })
    .await?;
    clear_requests(&env).await?;
    for file in ["app/crd.yaml", "app/namespace.yaml", "app/widget.yaml"] {
        upstream.git(&["rm", "--quiet", file]);
    }
    let second = upstream.commit(&[], "only keep");
    until(&env, &api, "pruned", move |gs| {
        at(gs, &second, SyncStatusCode::Synced)
    })
    .await?;
    let deletes: Vec<String> = common::requests(&env)
        .await?
        .into_iter()
        .filter(|(verb, _, _)| verb == "delete")
        .map(|(_, resource, _)| resource)
        .collect();
    assert_eq!(
        deletes,
        ["widgets", "namespaces", "customresourcedefinitions"]
    );
    Ok(())
}

/// G5: fields the rollout controller owns (the Services' selector hash) are never written back:
/// later syncs leave the pinned selector alone, write nothing, and the GitSync stays Synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g5_fields_the_rollout_controller_owns_are_left_alone() -> R {
    use k8s_openapi::api::core::v1::Service;
    let upstream = Upstream::new("main");
    let sha = upstream.commit(&[("app/web.yaml", &rollout("web:1"))], "web 1");
    let cache = TempDir::new("cache");
    let env = Env::builder("realgit").start().await?;
    let (env, api) = start_with(env, &upstream.url(), &cache).await?;
    until(&env, &api, "Healthy", move |gs| {
        at(gs, &sha, SyncStatusCode::Synced)
            && health(gs) == Some(rollout_rs_crds::gitsync::HealthStatusCode::Healthy)
    })
    .await?;
    let services: Api<Service> = env.api();
    let pinned = |svc: &Service| {
        svc.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|s| s.contains_key("rollouts-pod-template-hash"))
    };
    let stable = services.get("web-stable").await?;
    assert!(
        pinned(&stable),
        "the rollout controller pinned the selector"
    );
    clear_requests(&env).await?;
    until_requests(&env, 4, |(verb, resource, name)| {
        verb == "patch" && resource == "services" && name == "web-stable"
    })
    .await?;
    let after = services.get("web-stable").await?;
    assert!(
        pinned(&after),
        "still pinned after the GitSync applied it again"
    );
    assert_eq!(
        after.metadata.resource_version, stable.metadata.resource_version,
        "nothing written"
    );
    let gs = api.get("app").await?;
    assert_eq!(
        gs.status.and_then(|s| s.sync).map(|s| s.status),
        Some(SyncStatusCode::Synced)
    );
    Ok(())
}

/// G5's other half: a field `ignoreDifferences` names (the replicas an HPA sets) is left to
/// whoever sets it; without the rule, each sync writes Git's value back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_fields_are_left_to_their_owner() -> R {
    use k8s_openapi::api::apps::v1::Deployment;
    let upstream = Upstream::new("main");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: \"api:1\"}]}\n";
    let sha = upstream.commit(&[("app/api.yaml", deployment)], "api");
    let cache = TempDir::new("cache");
    let (env, api) = start(&upstream.url(), &cache).await?;
    until(&env, &api, "synced", move |gs| {
        at(gs, &sha, SyncStatusCode::Synced)
    })
    .await?;
    let deployments: Api<Deployment> = env.api();
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas);
    // An autoscaler (its own field manager) scales it: without a rule, Git's 2 comes back.
    let hpa = PatchParams {
        field_manager: Some("hpa".into()),
        ..Default::default()
    };
    let scale = json!({"spec": {"replicas": 5}});
    deployments
        .patch("api", &hpa, &Patch::Merge(&scale))
        .await?;
    env.cluster
        .wait(
            &deployments,
            "api",
            Duration::from_secs(30),
            "replicas back to 2",
            move |d: Option<&Deployment>| d.and_then(replicas) == Some(2),
        )
        .await?;
    // With the rule, the autoscaler's value stays through later syncs.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"ignoreDifferences": [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]}})),
    )
    .await?;
    // A sync already under way may still carry the old spec: wait for one with the rule.
    until(&env, &api, "the rule observed", |gs| {
        gs.status.as_ref().and_then(|s| s.observed_generation) == gs.metadata.generation
    })
    .await?;
    deployments
        .patch("api", &hpa, &Patch::Merge(&scale))
        .await?;
    clear_requests(&env).await?;
    until_requests(&env, 4, |(verb, resource, name)| {
        verb == "patch" && resource == "deployments" && name == "api"
    })
    .await?;
    assert_eq!(replicas(&deployments.get("api").await?), Some(5));
    Ok(())
}
