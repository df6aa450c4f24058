//! The GitSync loop against the simulated API server with the rollout controller running,
//! the source and renderer replaced by fakes the test steers (the git CLI and the renderers
//! have their own tests): G1 create, G2 prune, G6 source unavailable, G8 health of a paused
//! and an aborted Rollout, a render error keeping the last good revision, the empty-render
//! guard, and an object without our tracking annotation never pruned.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use rollout_rs_crds::gitsync::{GitSource, GitSync, HealthStatusCode, SyncStatusCode};
use rollout_rs_e2e::fixture::Env;
use rollout_rs_gitops::reconcile::Render;
use rollout_rs_gitops::source::{FetchError, FetchRequest, FetchedRevision, Fetcher};
use rollout_rs_gitops::status::Revision;
use serde_json::{Value, json};

mod common;

use common::{R, at, config_maps, ready, until};

/// What the fake Git server holds: a revision and its objects, or why it cannot be read.
/// A commit and what it renders to, or why the repository cannot be read.
type Head = Result<(Revision, Result<Vec<Value>, String>), String>;

#[derive(Clone)]
struct Remote(Arc<Mutex<Head>>);

impl Remote {
    fn new() -> Remote {
        Remote(Arc::new(Mutex::new(Err("nothing committed yet".into()))))
    }

    fn commit(&self, sha: &str, objects: Result<Vec<Value>, String>) {
        let rev = Revision {
            sha: sha.into(),
            subject: format!("commit {sha}"),
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Ok((rev, objects));
    }
    fn break_with(&self, why: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Err(why.into());
    }
    fn state(&self) -> Head {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Fetcher for Remote {
    async fn fetch(&self, request: &FetchRequest) -> Result<FetchedRevision, FetchError> {
        let (revision, _) = self
            .state()
            .map_err(|detail| FetchError::RepositoryNotFound {
                url: request.repo_url.clone(),
                detail,
            })?;
        Ok(FetchedRevision::new(
            revision.sha,
            revision.subject,
            std::env::temp_dir(),
        ))
    }
}

impl Render for Remote {
    async fn render(
        &self,
        c: &FetchedRevision,
        _: &GitSource,
        _: &str,
        _: &str,
    ) -> Result<Vec<Value>, String> {
        let (revision, objects) = self.state()?;
        assert_eq!(revision.sha, c.sha(), "renders what was fetched");
        objects
    }
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}})
}

fn canary(name: &str, image: &str) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("{name}-canary")},
               "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("{name}-stable")},
               "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}, "annotations": {"sim.rollout-rs.io/ready-after-ms": "20"}},
                                     "spec": {"containers": [{"name": name, "image": image}]}},
                        "strategy": {"canary": {"canaryService": format!("{name}-canary"), "stableService": format!("{name}-stable"),
                                                "steps": [{"setWeight": 50}, {"pause": {}}]}}}}),
    ]
}

async fn start(prune: bool) -> R<(Env, Remote, Api<GitSync>)> {
    let env = Env::builder("gitsync").start().await?;
    let remote = Remote::new();
    remote.commit("a1", Ok(vec![config_map("one")]));
    let client = env.cluster.client.clone();
    let ns = env.ns.clone();
    let (source, render) = (remote.clone(), remote.clone());
    tokio::spawn(rollout_rs_gitops::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        source,
        render,
        Default::default(),
    ));
    let api: Api<GitSync> = Api::namespaced(client, &ns);
    env.apply(&json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": "app"},
        "spec": {"source": {"repoURL": "file:///fake"}, "interval": "1s",
                 "syncPolicy": {"automated": {"prune": prune}}}
    }))
    .await?;
    Ok((env, remote, api))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g1_g2_create_then_prune_what_left_git() -> R {
    let (env, remote, api) = start(true).await?;
    until(&env, &api, "synced at a1", |gs| {
        at(gs, "a1", SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["one"]);

    remote.commit("b2", Ok(vec![config_map("two")]));
    let gs = until(&env, &api, "synced at b2", |gs| {
        at(gs, "b2", SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["two"], "one was pruned");
    let st = gs.status.unwrap_or_default();
    assert_eq!(
        st.sync.and_then(|s| s.subject).as_deref(),
        Some("commit b2")
    );
    assert_eq!(st.resources.len(), 1);
    assert!(st.last_synced_at.is_some());

    // An object in the inventory that no longer carries our tracking annotation (another
    // tool took it over) is never pruned. While Git still renders it, each sync asserts our
    // mark again, so the take-over happens while the source is unreadable.
    remote.break_with("no such directory");
    until(&env, &api, "fetch failed", |gs| {
        ready(gs).0 == "FetchFailed"
    })
    .await?;
    let cms: Api<ConfigMap> = env.api();
    cms.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"rollout-rs.io/tracked-by": "someone/else"}}}),
        ),
    )
    .await?;
    remote.commit("c3", Ok(vec![config_map("three")]));
    until(&env, &api, "synced at c3", |gs| {
        at(gs, "c3", SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["three", "two"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g6_and_bad_renders_apply_and_prune_nothing_then_recover() -> R {
    let (env, remote, api) = start(true).await?;
    until(&env, &api, "synced at a1", |gs| {
        at(gs, "a1", SyncStatusCode::Synced)
    })
    .await?;

    remote.break_with("no such directory");
    let gs = until(&env, &api, "fetch failed", |gs| {
        ready(gs).0 == "FetchFailed"
    })
    .await?;
    assert!(ready(&gs).1.contains("not found"));
    assert!(
        at(&gs, "a1", SyncStatusCode::Unknown),
        "the last good revision stays"
    );
    assert_eq!(config_maps(&env).await?, ["one"], "nothing pruned");

    remote.commit(
        "b2",
        Err("apps/web/rollout.yaml:7: did not find expected key".into()),
    );
    let gs = until(&env, &api, "render failed", |gs| {
        ready(gs).0 == "RenderFailed"
    })
    .await?;
    assert_eq!(
        ready(&gs).1,
        "apps/web/rollout.yaml:7: did not find expected key (revision a1 stays applied)"
    );
    assert!(at(&gs, "a1", SyncStatusCode::OutOfSync));
    assert_eq!(config_maps(&env).await?, ["one"]);

    remote.commit("c3", Ok(vec![]));
    let gs = until(&env, &api, "empty render refused", |gs| {
        ready(gs).0 == "EmptyRender"
    })
    .await?;
    assert!(ready(&gs).1.contains("allowEmpty"));
    assert_eq!(
        config_maps(&env).await?,
        ["one"],
        "an empty render prunes nothing"
    );

    remote.commit("d4", Ok(vec![config_map("four")]));
    until(&env, &api, "recovered at d4", |gs| {
        at(gs, "d4", SyncStatusCode::Synced)
    })
    .await?;
    assert_eq!(config_maps(&env).await?, ["four"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g8_a_paused_rollout_is_suspended_and_an_aborted_one_degraded() -> R {
    let (env, remote, api) = start(false).await?;
    // A commit of its own: `start` synced "a1" already, so waiting for "a1" could pass before
    // the Rollout was even applied, and the update below would then find no stable version
    // to step away from (a first version goes straight to full size). The ConfigMap `start`
    // delivered stays in Git: without pruning, an object left out keeps the sync OutOfSync.
    let with_one = |mut objects: Vec<Value>| {
        objects.push(config_map("one"));
        Ok(objects)
    };
    remote.commit("a2", with_one(canary("web", "web:1")));
    until(&env, &api, "Healthy at a2", |gs| {
        at(gs, "a2", SyncStatusCode::Synced)
            && gs
                .status
                .as_ref()
                .and_then(|s| s.health.as_ref())
                .map(|h| h.status)
                == Some(HealthStatusCode::Healthy)
    })
    .await?;
    remote.commit("b2", with_one(canary("web", "web:2")));
    let gs = until(&env, &api, "Suspended at the pause", |gs| {
        gs.status
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .map(|h| h.status)
            == Some(HealthStatusCode::Suspended)
    })
    .await?;
    let health = gs.status.and_then(|s| s.health).unwrap_or_default();
    assert!(
        health
            .message
            .unwrap_or_default()
            .starts_with("Rollout/web")
    );
    env.ro.patch_status("web", json!({"abort": true})).await?;
    until(&env, &api, "Degraded once aborted", |gs| {
        gs.status
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .map(|h| h.status)
            == Some(HealthStatusCode::Degraded)
    })
    .await?;
    Ok(())
}

/// A GitSync made after the API server failed the loop's lists for a while (as when the
/// controller starts before its CRDs) is synced at once: failed lists reach the controller as
/// errors no more, which paused its queue for longer with each one (up to 30 s each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_failed_for_a_while_holds_nothing_up_once_it_works() -> R {
    let env = Env::builder("gitsync").start().await?;
    let outage =
        json!({"verbs": {"list": {"errorRate": 1.0, "code": 404, "resource": "gitsyncs"}}});
    env.cluster.sim_admin("PUT", "/sim/faults", outage).await?;
    let remote = Remote::new();
    remote.commit("a1", Ok(vec![config_map("one")]));
    let client = env.cluster.client.clone();
    let ns = env.ns.clone();
    tokio::spawn(rollout_rs_gitops::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        remote.clone(),
        remote,
        Default::default(),
    ));
    let failed_list = |c: &rollout_rs_e2e::rbac::Call| {
        (c.verb.as_str(), c.resource.as_str(), c.code) == ("list", "gitsyncs", 404)
    };
    env.cluster
        .wait_for_calls(6, std::time::Duration::from_secs(60), failed_list)
        .await?;
    env.cluster
        .sim_admin("PUT", "/sim/faults", json!({}))
        .await?;
    env.apply(&json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": "app"},
        "spec": {"source": {"repoURL": "file:///fake"}, "interval": "1s",
                 "syncPolicy": {"automated": {"prune": false}}}
    }))
    .await?;
    let api: Api<GitSync> = Api::namespaced(client, &ns);
    until(&env, &api, "synced at a1", |gs| {
        at(gs, "a1", SyncStatusCode::Synced)
    })
    .await?;
    Ok(())
}
