//! Every API call the controller makes in representative scenarios is allowed by the RBAC
//! rules the Helm chart renders for it: a canary through every router (NGINX, Gateway API,
//! Istio VirtualService and DestinationRule, SMI) with pod metadata, a restart and an abort;
//! blue-green with pre-promotion analysis reading a Secret, a failing background analysis and
//! a workloadRef; the namespace-scoped install (a Role) with a ClusterAnalysisTemplate; and the
//! Git reconciler delivering an app, under the chart's default rules for it and under narrow
//! ones. The controllers run in this process on a client of their own user agent; the
//! simulator's request log says what they called (`Cluster::check_controller_rbac`,
//! `e2e/src/rbac.rs`). Each check also shows it can fail: the same calls under rules that
//! leave something out are refused.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use rollout_rs_crds::gitsync::GitSync;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::fixture::service;
use rollout_rs_e2e::rbac::Grants;
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, chart, real_cluster};
use serde_json::{Value, json};

type R<T = ()> = Result<T, HarnessError>;

/// Checks the controller's calls so far against the chart rendered with `values`; returns
/// how many calls were checked.
async fn allowed_by(env: &Env, values: Value) -> R<usize> {
    let grants = chart::grants(&values)?;
    let calls = env.cluster.check_controller_rbac(&grants).await?;
    assert!(
        calls > 20,
        "only {calls} calls of the controller were recorded"
    );
    Ok(calls)
}

/// The controller's calls are refused under `values`, and the refusals name `what`.
async fn refused_by(env: &Env, values: Value, what: &str) -> R {
    let grants = chart::grants(&values)?;
    match env.cluster.check_controller_rbac(&grants).await {
        Err(HarnessError::Rbac(refused)) => {
            assert!(
                refused.iter().any(|r| r.contains(what)),
                "refused, but not {what}: {refused:?}"
            );
            Ok(())
        }
        other => panic!("the calls should be refused under {values}: {other:?}"),
    }
}

fn skip_on_a_real_cluster() -> bool {
    if real_cluster() {
        eprintln!("skipped on a real cluster: the RBAC check reads the simulator's request log");
    }
    real_cluster()
}

const ROUTES: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  parentRefs: [{name: public}]\n  rules:\n  - backendRefs:\n    - {name: web-stable, port: 80, weight: 100}\n    - {name: web-canary, port: 80, weight: 0}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - name: primary\n    route:\n    - {destination: {host: web, subset: stable}, weight: 100}\n    - {destination: {host: web, subset: canary}, weight: 0}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n  subsets:\n  - {name: stable, labels: {app: web}}\n  - {name: canary, labels: {app: web}}\n";

/// A canary through all four routers with canary and stable pod metadata: promoted, restarted
/// (spec.restartAt), updated again and aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_every_router() -> R {
    if skip_on_a_real_cluster() {
        return Ok(());
    }
    let s = Env::builder("rbac-routers")
        .services(&["web-canary", "web-stable"])
        .router_crds(true)
        .start()
        .await?;
    s.cluster.apply_yaml(ROUTES, &s.ns).await?;
    let istio = json!({
        "virtualService": {"name": "web", "routes": ["primary"]},
        "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
    });
    let spec = RolloutFixture::canary("web")
        .replicas(2)
        .steps(json!([{"setWeight": 50}, {"pause": {}}]))
        .routing(json!({
            "nginx": {"stableIngress": "web"},
            "gatewayAPI": {"httpRoute": "web"},
            "istio": istio,
            "smi": {"rootService": "web"},
        }))
        .strategy(json!({
            "scaleDownDelaySeconds": 1,
            "canaryMetadata": {"labels": {"role": "canary"}},
            "stableMetadata": {"labels": {"role": "stable"}},
        }));
    s.deploy(&spec.clone().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;

    let at = jiff::Timestamp::now().as_second() + 1;
    let at = jiff::Timestamp::from_second(at).map_err(|e| HarnessError::Manifest(e.to_string()))?;
    s.ro.patch_spec(
        "web",
        json!({"restartAt": at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}),
    )
    .await?;
    s.ro.wait("web", "restartedAt", |ro| {
        ro.status.as_ref().is_some_and(|s| s.restarted_at.is_some())
    })
    .await?;
    s.ro.healthy("web").await?;

    s.ro.set_image("web", "web", "web:3").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"abort": true})).await?;
    s.ro.phase("web", RolloutPhase::Degraded).await?;
    let calls = allowed_by(&s, json!({})).await?;
    println!("{calls} calls of the controller, all allowed by the default chart");
    // The check can fail: SMI TrafficSplits of another group are not covered.
    refused_by(
        &s,
        json!({"trafficRouting": {"smiApiVersion": "specs.smi.example/v1"}}),
        "split.smi-spec.io/trafficsplits",
    )
    .await?;
    // The canary Ingress was created by a server-side apply: without create on Ingresses
    // that one call is refused, and nothing else.
    let mut objects = chart::render(&json!({}))?;
    for rule in objects
        .iter_mut()
        .filter(|o| o["kind"] == "ClusterRole")
        .filter_map(|o| o["rules"].as_array_mut())
        .flatten()
    {
        if rule["resources"] == json!(["ingresses"]) {
            rule["verbs"] = json!(["get", "list", "watch", "patch"]);
        }
    }
    let grants = Grants::of_service_account(&objects, chart::RELEASE, "rollout-rs")
        .map_err(HarnessError::Chart)?;
    match s.cluster.check_controller_rbac(&grants).await {
        Err(HarnessError::Rbac(refused)) => assert_eq!(
            refused,
            [format!(
                "create networking.k8s.io/ingresses in {} (1x, e.g. web-web-canary)",
                s.ns
            )]
        ),
        other => panic!("the apply that created the canary Ingress should be refused: {other:?}"),
    }
    Ok(())
}

/// Blue-green with pre-promotion analysis whose argument comes from a Secret, a canary whose
/// background analysis fails (aborted, its run terminated), and a Rollout taking over a
/// Deployment through workloadRef.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_analysis_and_workload_ref() -> R {
    if skip_on_a_real_cluster() {
        return Ok(());
    }
    let s = Env::builder("rbac-analysis")
        .services(&["web-active", "web-preview", "api-canary", "api-stable"])
        .start()
        .await?;
    let exporter = rollout_rs_e2e::metrics::Exporter::start().await?;
    exporter.set_json(json!({"rate": 0.99}));
    s.apply(
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
        "stringData": {"token": "s3cret"}}),
    )
    .await?;
    s.analysis_template(
        "smoke",
        json!({
            "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}}],
            "metrics": [{"name": "rate", "successCondition": "result >= 0.95",
                "provider": {"web": {"url": format!("{}/json?t={{{{args.token}}}}", exporter.url()),
                    "jsonPath": "{$.rate}"}}}]
        }),
    )
    .await?;
    let blue_green = |image: &str| {
        RolloutFixture::blue_green("web")
            .replicas(2)
            .image(image)
            .strategy(json!({
                "previewService": "web-preview",
                "scaleDownDelaySeconds": 1,
                "prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]},
            }))
    };
    s.deploy(&blue_green("web:1")).await?;
    s.ro.healthy("web").await?;
    s.deploy(&blue_green("web:2")).await?;
    let ro = s.ro.healthy("web").await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(
        st.stable_rs, st.current_pod_hash,
        "promoted after the analysis"
    );

    let failing = s.web_template("failing", 0.5).await?;
    let canary = |image: &str| {
        RolloutFixture::canary("api")
            .replicas(2)
            .image(image)
            .steps(json!([{"setWeight": 50}, {"pause": {}}]))
            .strategy(json!({"analysis": {"templates": [{"templateName": "failing"}]}}))
    };
    s.deploy(&canary("api:1")).await?;
    s.ro.healthy("api").await?;
    s.deploy(&canary("api:2")).await?;
    s.ro.phase("api", RolloutPhase::Degraded).await?;
    drop(failing);

    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: legacy}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: legacy}}\n  template:\n    metadata: {labels: {app: legacy}, annotations: {sim.rollout-rs.io/ready-after-ms: \"20\"}}\n    spec: {containers: [{name: legacy, image: \"legacy:1\"}]}\n";
    s.cluster.apply_yaml(deployment, &s.ns).await?;
    s.apply(&service("legacy-canary", "legacy")).await?;
    s.apply(&service("legacy-stable", "legacy")).await?;
    s.deploy(
        &RolloutFixture::canary("legacy")
            .replicas(2)
            .workload_ref(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy",
                "scaleDown": "progressively"}),
            )
            .steps(json!([{"setWeight": 50}, {"pause": {}}])),
    )
    .await?;
    s.ro.healthy("legacy").await?;
    let deployments: Api<Deployment> = s.api();
    s.cluster
        .wait(
            &deployments,
            "legacy",
            s.timeout(),
            "the Deployment scaled to 0",
            |d: Option<&Deployment>| {
                d.is_some_and(|d| d.spec.as_ref().and_then(|s| s.replicas) == Some(0))
            },
        )
        .await?;

    let calls = allowed_by(&s, json!({})).await?;
    println!("{calls} calls of the controller, all allowed by the default chart");
    Ok(())
}

/// The namespace-scoped install: a controller watching one namespace, its rules a Role there
/// and a ClusterRole for the cluster-scoped reads, running a canary whose step analysis comes
/// from a ClusterAnalysisTemplate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_scoped_install() -> R {
    if skip_on_a_real_cluster() {
        return Ok(());
    }
    let mut s = Env::builder("rbac-scoped")
        .services(&["web-canary", "web-stable"])
        .without_controller()
        .start()
        .await?;
    s.cluster
        .start_controller_with(rollout_rs_controller::Options {
            namespace: Some(s.ns.clone()),
            ..Default::default()
        });
    let exporter = rollout_rs_e2e::metrics::Exporter::start().await?;
    exporter.set_json(json!({"rate": 0.99}));
    s.cluster
        .apply_yaml(
            &json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
                "metadata": {"name": "rate"},
                "spec": {"metrics": [{"name": "rate", "successCondition": "result >= 0.95",
                    "provider": {"web": {"url": format!("{}/json", exporter.url()), "jsonPath": "{$.rate}"}}}]}})
            .to_string(),
            &s.ns,
        )
        .await?;
    let spec = |image: &str| {
        RolloutFixture::canary("web")
            .replicas(2)
            .image(image)
            .steps(json!([{"setWeight": 50},
                {"analysis": {"templates": [{"templateName": "rate", "clusterScope": true}]}}]))
    };
    s.deploy(&spec("web:1")).await?;
    s.ro.healthy("web").await?;
    s.deploy(&spec("web:2")).await?;
    let ro = s.ro.healthy("web").await?;
    let st = ro.status.unwrap_or_default();
    assert_eq!(
        st.stable_rs, st.current_pod_hash,
        "promoted after the analysis"
    );

    let ns = s.ns.clone();
    let calls = allowed_by(&s, json!({"watchNamespace": ns})).await?;
    println!("{calls} calls of the namespace-scoped controller, all allowed by the Role");
    // The Role of another namespace allows none of them.
    refused_by(
        &s,
        json!({"watchNamespace": "elsewhere"}),
        &format!("in {ns}"),
    )
    .await?;
    s.cluster.stop_controller();
    Ok(())
}

/// Runs git in `dir` with no user or system configuration.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed (the Git reconciler's tests need it too)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Git reconciler delivers an app (a ConfigMap, two Services and a canary Rollout) from a
/// local repository, and the controller rolls it out: allowed by the chart with gitops on,
/// under its default rules and under rules narrowed to the app's kinds; refused without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_reconciler_delivers_an_app() -> R {
    if skip_on_a_real_cluster() {
        return Ok(());
    }
    let mut s = Env::builder("rbac-gitops")
        .without_controller()
        .start()
        .await?;
    let repo = s.cluster.dir().join("repo");
    std::fs::create_dir_all(repo.join("app"))?;
    git(&repo, &["init", "-q", "-b", "main"]);
    let objects = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"greeting": "hello"}}),
        service("web-canary", "web"),
        service("web-stable", "web"),
        RolloutFixture::canary("web")
            .replicas(2)
            .image("web:1")
            .steps(json!([{"setWeight": 50}, {"pause": {"duration": "1s"}}]))
            .to_value(),
    ];
    for (i, object) in objects.iter().enumerate() {
        // JSON is YAML.
        std::fs::write(
            repo.join("app").join(format!("{i}.yaml")),
            object.to_string(),
        )?;
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "the app"]);

    s.cluster
        .start_controller_with(rollout_rs_controller::Options {
            gitops: Some(s.cluster.dir().join("gitops-cache")),
            ..Default::default()
        });
    s.apply(&json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync", "metadata": {"name": "app"},
        "spec": {"source": {"repoURL": format!("file://{}", repo.display()), "targetRevision": "main",
                 "path": "app"},
                 "destination": {"namespace": s.ns},
                 "interval": "1s", "syncPolicy": {"automated": {"prune": true}}}
    }))
    .await?;
    let gitsyncs: Api<GitSync> = s.api();
    s.cluster
        .wait(
            &gitsyncs,
            "app",
            Duration::from_secs(30),
            "synced",
            |gs: Option<&GitSync>| {
                gs.and_then(|gs| gs.status.as_ref()).is_some_and(|st| {
                    st.conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
            },
        )
        .await?;
    s.ro.healthy("web").await?;
    // A second commit prunes the ConfigMap.
    git(&repo, &["rm", "-q", "app/0.yaml"]);
    git(&repo, &["commit", "-q", "-m", "no settings"]);
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> = s.api();
    s.cluster
        .wait_deleted(&configmaps, "settings", Duration::from_secs(30))
        .await?;

    let calls = allowed_by(&s, json!({"gitops": {"enabled": true}})).await?;
    println!(
        "{calls} calls of the controller and its Git reconciler, allowed by the chart's default gitops rules"
    );
    let narrow = json!([{"apiGroups": ["", "rollout-rs.io"],
        "resources": ["configmaps", "services", "rollouts"],
        "verbs": ["get", "create", "patch", "delete"]}]);
    allowed_by(
        &s,
        json!({"gitops": {"enabled": true, "rbac": {"rules": narrow}}}),
    )
    .await?;
    // Without the Git reconciler's rules, or with gitops off, its calls are refused.
    refused_by(
        &s,
        json!({"gitops": {"enabled": true, "rbac": {"create": false}}}),
        "patch configmaps",
    )
    .await?;
    refused_by(&s, json!({}), "rollout-rs.io/gitsyncs").await?;
    s.cluster.stop_controller();
    Ok(())
}
