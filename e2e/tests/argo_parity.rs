//! Argo Rollouts' own e2e scenarios (test/e2e in argoproj/argo-rollouts), translated in our
//! own words and manifests onto the cluster under test (issue 12): each names the Argo test it
//! follows. An Argo manifest is a rollout-rs one with another apiVersion, and behaves the same.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use rollout_rs_e2e::fixture::NEVER_READY;
use rollout_rs_e2e::metrics::Exporter;
use rollout_rs_e2e::rollouts::Rollouts;
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, image_of, in_phase};
use serde_json::json;

/// The Services of both strategies (`web-canary`, `web-stable`, `web-active`), and the
/// routers' CRDs when asked.
async fn start(routers: bool) -> Result<Env, HarnessError> {
    Env::builder("argo")
        .services(&["web-canary", "web-stable", "web-active"])
        .router_crds(routers)
        .start()
        .await
}

/// TestCanaryPromoteFull: promote-full after an abort takes the update to Healthy, the abort
/// cleared, with no step run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_full_after_an_abort_goes_healthy() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let web = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 50}, {"pause": {}}]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"abort": true})).await?;
    s.ro.wait("web", "aborted", |ro| {
        ro.status.as_ref().and_then(|st| st.phase) == Some(RolloutPhase::Degraded)
    })
    .await?;
    s.ro.patch_status("web", json!({"promoteFull": true}))
        .await?;
    let ro =
        s.ro.wait("web", "Healthy on web:2", |ro| {
            in_phase(ro, RolloutPhase::Healthy)
                && ro.status.as_ref().is_some_and(|st| {
                    st.stable_rs.is_some() && st.stable_rs == st.current_pod_hash && !st.abort
                })
        })
        .await?;
    assert_eq!(ro.status.and_then(|st| st.aborted_at), None);
    assert_eq!(
        s.counts().await?,
        [("web:1".into(), 0, 0), ("web:2".into(), 4, 4)]
    );
    Ok(())
}

/// TestBlueGreenExceedProgressDeadlineAbort: progressDeadlineAbort turned on after the
/// deadline passed aborts the update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_abort_enabled_after_the_deadline_aborts() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let web = RolloutFixture::blue_green("web")
        .replicas(2)
        .strategy(json!({"autoPromotionEnabled": false}))
        .spec(json!({"progressDeadlineSeconds": 1}));
    s.deploy(&web.clone().image("web:1")).await?;
    s.ro.healthy("web").await?;
    let broken = web.image("web:2").annotation(NEVER_READY, "true");
    s.deploy(&broken).await?;
    let exceeded = |ro: &Rollout| {
        ro.status.as_ref().is_some_and(|st| {
            st.conditions.iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        })
    };
    let ro =
        s.ro.wait("web", "ProgressDeadlineExceeded", exceeded)
            .await?;
    assert!(!ro.status.is_some_and(|st| st.abort));
    s.deploy(&broken.spec(json!({"progressDeadlineAbort": true})))
        .await?;
    s.ro.wait("web", "aborted", |ro| {
        ro.status.as_ref().is_some_and(|st| st.abort)
    })
    .await?;
    Ok(())
}

/// TestRolloutScalingWhenPaused: one replica at setWeight 25 runs one canary and one stable
/// pod (the surge pod); scaled to 4 while paused, the ratio holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_still_runs_a_canary_and_scaling_keeps_the_ratio() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let web = RolloutFixture::canary("web").steps(json!([{"setWeight": 25}, {"pause": {}}]));
    s.deploy(&web.clone().replicas(1).image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    assert_eq!(
        s.counts().await?,
        [("web:1".into(), 1, 1), ("web:2".into(), 1, 1)]
    );
    s.deploy(&web.replicas(4).image("web:2")).await?;
    s.ro.wait("web", "4 replicas, paused", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Paused) && st.available_replicas == Some(4)
        }) && ro.status.as_ref().and_then(|st| st.observed_generation) == ro.metadata.generation
    })
    .await?;
    assert_eq!(
        s.counts().await?,
        [("web:1".into(), 3, 3), ("web:2".into(), 1, 1)]
    );
    Ok(())
}

/// A single transient server error while writing the routers is retried quietly: no Warning
/// Event, no TrafficRouting condition; the step completes right after. (A 500: the kube client
/// itself already retries 429, 503 and 504 several times.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_is_retried_without_alarm() -> Result<(), HarnessError> {
    let s = start(true).await?;
    let web = RolloutFixture::canary("web")
        .replicas(4)
        .routing(json!({"smi": {"rootService": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 1}))
        .steps(json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 1).await?;
    // The log first: a write between the two would otherwise take the fault unseen.
    s.cluster
        .sim_admin("DELETE", "/sim/requests", json!({}))
        .await?;
    s.cluster.sim_admin(
        "PUT",
        "/sim/faults",
        json!({"verbs": {"patch": {"errorRate": 1.0, "code": 500, "resource": "trafficsplits", "times": 1}}}),
    )
    .await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    let ro = s.ro.paused_at("web", 3).await?;
    let log = s
        .cluster
        .sim_admin("GET", "/sim/requests", json!({}))
        .await?;
    assert!(
        log.contains("\"code\":500"),
        "the injected error was served: {log}"
    );
    let st = ro.status.unwrap_or_default();
    assert!(
        st.conditions.iter().all(|c| c.type_ != "TrafficRouting"),
        "{:?}",
        st.conditions
    );
    assert!(
        !s.events(None)
            .await?
            .iter()
            .any(|(r, _)| r == "TrafficRoutingFailed"),
        "no Warning Event for a blip"
    );
    Ok(())
}

/// TestCanaryInconclusiveBackgroundAnalysis: an Inconclusive background run pauses the
/// rollout; the timed pause step ending meanwhile does not move it on; promote does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconclusive_background_analysis_holds_past_a_timed_pause() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let exporter = Exporter::start().await?;
    exporter.set_json(json!({"rate": 0.7}));
    s.analysis_template(
        "rate",
        json!({"metrics": [{"name": "rate", "interval": "1s",
            "successCondition": "result >= 0.95", "failureCondition": "result < 0.5",
            "provider": {"web": {"url": format!("{}/json", exporter.url()), "jsonPath": "{$.rate}"}}}]}),
    )
    .await?;
    let web = RolloutFixture::canary("web")
        .replicas(2)
        .strategy(json!({"analysis": {"templates": [{"templateName": "rate"}]}}))
        .steps(json!([{"setWeight": 50}, {"pause": {"duration": 2}}]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    let inconclusive = |ro: &Rollout| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Paused)
                && st
                    .pause_conditions
                    .iter()
                    .any(|c| format!("{:?}", c.reason) == "InconclusiveAnalysisRun")
        })
    };
    let ro =
        s.ro.wait("web", "InconclusiveAnalysisRun", inconclusive)
            .await?;
    let since = ro
        .status
        .as_ref()
        .and_then(|st| st.pause_conditions.first())
        .map(|c| c.start_time.0)
        .unwrap_or_else(jiff::Timestamp::now);
    // Past the 2 s pause (and a margin for one reconcile), it must still be paused.
    let quiet = Rollouts {
        timeout: Duration::from_secs(4),
        ..s.ro.clone()
    };
    let moved = quiet
        .wait("web", "moving on while inconclusive", |ro| {
            !ro.status.as_ref().is_some_and(|st| {
                st.phase == Some(RolloutPhase::Paused)
                    && st
                        .pause_conditions
                        .iter()
                        .any(|c| format!("{:?}", c.reason) == "InconclusiveAnalysisRun")
            })
        })
        .await;
    assert!(
        matches!(moved, Err(HarnessError::Timeout(..))),
        "left the inconclusive pause by itself: {moved:?}"
    );
    assert!(jiff::Timestamp::now() > since + jiff::SignedDuration::from_secs(2));
    exporter.set_json(json!({"rate": 0.99}));
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
    Ok(())
}

/// TestBlueGreenScaleDownDelay and TestBlueGreenUpdate: an update arriving while the previous
/// active ReplicaSet waits out its scale-down delay leaves it its pods until then; ready and
/// available pods are the active ReplicaSet's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_keeps_the_previous_version_through_its_delay() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let web = RolloutFixture::blue_green("web")
        .replicas(2)
        .strategy(json!({"scaleDownDelaySeconds": 5}));
    s.deploy(&web.clone().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.deploy(&web.clone().image("web:2")).await?;
    s.ro.wait("web", "web:2 active", |ro| {
        in_phase(ro, RolloutPhase::Healthy)
            && ro.status.as_ref().is_some_and(|st| {
                st.stable_rs == st.current_pod_hash && st.available_replicas == Some(2)
            })
    })
    .await?;
    // web:1 waits out its delay (its deadline set); web:3 arrives meanwhile.
    s.replica_sets_until("web:1 has its scale-down deadline", |rss| {
        rss.iter().any(|rs| {
            image_of(rs) == "web:1"
                && rs
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("rollout-rs.io/scale-down-deadline"))
        })
    })
    .await?;
    s.deploy(&web.image("web:3").annotation(NEVER_READY, "true"))
        .await?;
    let ro =
        s.ro.wait("web", "the update seen", |ro| {
            ro.status.as_ref().and_then(|st| st.observed_generation) == ro.metadata.generation
                && ro
                    .status
                    .as_ref()
                    .is_some_and(|st| st.updated_replicas == Some(2))
        })
        .await?;
    let counts = s.counts().await?;
    assert!(
        counts.contains(&("web:1".into(), 2, 2)),
        "web:1 keeps its pods through its delay: {counts:?}"
    );
    let st = ro.status.unwrap_or_default();
    assert_eq!(
        (st.ready_replicas, st.available_replicas),
        (Some(2), Some(2)),
        "the active's pods only"
    );
    Ok(())
}

/// TestCanaryScaleDownDelay: behind a router the previous stable keeps its pods for
/// scaleDownDelaySeconds, at most scaleDownDelayRevisionLimit of them; going back to an earlier
/// template reuses its ReplicaSet as the next revision, without its old deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_scale_down_delay_and_going_back() -> Result<(), HarnessError> {
    let s = start(true).await?;
    let web = RolloutFixture::canary("web")
        .replicas(1)
        .routing(json!({"smi": {"rootService": "web"}}))
        .strategy(json!({"scaleDownDelaySeconds": 30, "scaleDownDelayRevisionLimit": 1}))
        .steps(json!([{"setWeight": 50}]));
    let revision = |rs: &ReplicaSet| {
        rs.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("rollout-rs.io/revision").cloned())
            .unwrap_or_default()
    };
    let deadline = |rs: &ReplicaSet| {
        rs.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("rollout-rs.io/scale-down-deadline"))
    };
    let desired = |rs: &ReplicaSet| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    for image in ["web:2", "web:3"] {
        s.ro.set_image("web", "web", image).await?;
        s.ro.wait("web", &format!("{image} stable"), |ro| {
            in_phase(ro, RolloutPhase::Healthy)
                && ro
                    .status
                    .as_ref()
                    .is_some_and(|st| st.stable_rs == st.current_pod_hash)
        })
        .await?;
    }
    // web:2 waits out its delay; web:1, beyond the revision limit, is gone.
    s.replica_sets_until("web:2 delayed, web:1 down", |rss| {
        rss.iter()
            .any(|rs| image_of(rs) == "web:2" && desired(rs) == 1 && deadline(rs))
            && rss
                .iter()
                .any(|rs| image_of(rs) == "web:1" && desired(rs) == 0)
    })
    .await?;
    // Back to web:2: its ReplicaSet again, revision 4, no deadline; web:3 delayed instead.
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.wait("web", "web:2 stable again", |ro| {
        in_phase(ro, RolloutPhase::Healthy)
            && ro
                .status
                .as_ref()
                .is_some_and(|st| st.stable_rs == st.current_pod_hash)
    })
    .await?;
    s.replica_sets_until("web:2 reused as revision 4, web:3 delayed", |rss| {
        rss.iter()
            .any(|rs| image_of(rs) == "web:2" && revision(rs) == "4" && !deadline(rs))
            && rss
                .iter()
                .any(|rs| image_of(rs) == "web:3" && desired(rs) == 1 && deadline(rs))
    })
    .await?;
    let all = s.replica_sets().await?;
    assert_eq!(all.len(), 3, "no fourth ReplicaSet for web:2");
    Ok(())
}

/// TestAnalysisWithSecret: arguments in the metric's own fields (count, interval, a
/// condition's threshold) as well as in the provider (a bearer token from a Secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_arguments_reach_every_metric_field() -> Result<(), HarnessError> {
    use rollout_rs_crds::AnalysisRun;
    use rollout_rs_crds::analysis::AnalysisPhase;
    let s = start(false).await?;
    let exporter = Exporter::start().await?;
    exporter.set_json(json!({"rate": 0.97}));
    exporter.require_token("s3cr3t-t0ken");
    let objects = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
        "stringData": {"token": "s3cr3t-t0ken"}
    });
    s.apply(&objects).await?;
    let template = json!({
        "args": [{"name": "count"}, {"name": "interval"}, {"name": "min"},
                 {"name": "token", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}}],
        "metrics": [{"name": "rate", "count": "{{args.count}}", "interval": "{{args.interval}}",
            "successCondition": "result >= {{args.min}}",
            "provider": {"web": {"url": format!("{}/json", exporter.url()), "jsonPath": "{$.rate}",
                "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}}]
    });
    s.analysis_template("rate", template).await?;
    let web = RolloutFixture::canary("web").replicas(2).steps(json!([
        {"setWeight": 50},
        {"analysis": {
            "templates": [{"templateName": "rate"}],
            "args": [{"name": "count", "value": "2"}, {"name": "interval", "value": "1s"}, {"name": "min", "value": "0.95"}]
        }}
    ]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.healthy("web").await?;
    let runs: Api<AnalysisRun> = s.api();
    let run = runs
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .next()
        .ok_or_else(|| HarnessError::Manifest("no AnalysisRun".into()))?;
    let st = run.status.unwrap_or_default();
    assert_eq!(st.phase, Some(AnalysisPhase::Successful), "{st:?}");
    let result = &st.metric_results[0];
    assert_eq!(
        (result.count, result.successful),
        (2, 2),
        "count 2 from its argument"
    );
    let shown = serde_json::to_string(&result).unwrap_or_default();
    assert!(!shown.contains("s3cr3t-t0ken"), "{shown}");
    Ok(())
}

/// TestIstioSubsetSplit: a subset-level split with no canary or stable Service: the
/// DestinationRule's subsets carry the hashes and the VirtualService the weights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_subset_split_without_services() -> Result<(), HarnessError> {
    let s = start(true).await?;
    let objects = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n  - name: primary\n    route:\n    - {destination: {host: web, subset: stable}, weight: 100}\n    - {destination: {host: web, subset: canary}, weight: 0}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\nspec:\n  host: web\n  subsets:\n  - {name: stable, labels: {app: web}}\n  - {name: canary, labels: {app: web}}\n";
    s.cluster.apply_yaml(objects, &s.ns).await?;
    // A subset-level split names no canary or stable Service.
    let web = RolloutFixture::canary("web")
        .replicas(4)
        .strategy(json!({"canaryService": null, "stableService": null}))
        .routing(json!({"istio": {
            "virtualService": {"name": "web", "routes": ["primary"]},
            "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
        }}))
        .strategy(json!({"scaleDownDelaySeconds": 1}))
        .steps(json!([{"setWeight": 25}, {"pause": {}}]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    let ro = s.ro.paused_at("web", 1).await?;
    let weights = ro
        .status
        .and_then(|st| st.canary)
        .and_then(|c| c.weights)
        .map(|w| (w.canary.weight, w.stable.weight));
    assert_eq!(weights, Some((25, 75)));
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.healthy("web").await?;
    // trafficRouting removed: the DestinationRule's subsets are released.
    let unroute = json!({"strategy": {"canary": {
        "trafficRouting": null, "scaleDownDelaySeconds": null
    }}});
    s.ro.patch_spec("web", unroute).await?;
    let rules = s.dynamic_api(
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
    );
    s.cluster
        .wait(
            &rules,
            "web",
            s.timeout(),
            "subsets without hashes",
            |dr: Option<&kube::api::DynamicObject>| {
                dr.is_some_and(|dr| {
                    let subsets = dr.data.pointer("/spec/subsets").and_then(|v| v.as_array());
                    subsets.is_some_and(|ss| {
                        ss.iter().all(|s| {
                            s.pointer(&format!("/labels/{POD_TEMPLATE_HASH_LABEL}"))
                                .is_none()
                        })
                    })
                })
            },
        )
        .await?;
    Ok(())
}

/// Events read as they happened (Argo Rollouts' event reasons): each completed step and the
/// revision of an update has its own note, not one series repeating the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_has_its_own_event() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let web = RolloutFixture::canary("web")
        .replicas(4)
        .steps(json!([{"setWeight": 25}, {"setWeight": 50}, {"setWeight": 75}, {"pause": {}}]));
    s.deploy(&web.image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.ro.set_image("web", "web", "web:2").await?;
    s.ro.paused_at("web", 3).await?;
    let notes = s.events(None).await?;
    for step in 1..=3 {
        let want = format!("Rollout step {step}/4 completed");
        assert!(
            notes
                .iter()
                .any(|(r, n)| r == "RolloutStepCompleted" && n.starts_with(&want)),
            "{want:?} in {notes:?}"
        );
    }
    assert!(
        notes
            .iter()
            .any(|(r, n)| r == "RolloutUpdated" && n.starts_with("Rollout updated to revision 2")),
        "{notes:?}"
    );
    Ok(())
}

/// TestBlueGreenToCanary: switching a Rollout from blue-green to canary releases the active
/// Service it no longer names (its pod-template-hash selector and managed-by annotation go),
/// so it selects all the app's pods again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_switch_releases_the_services_no_longer_named() -> Result<(), HarnessError> {
    use k8s_openapi::api::core::v1::Service;
    let s = start(false).await?;
    s.deploy(&RolloutFixture::blue_green("web").replicas(2).image("web:1"))
        .await?;
    s.ro.healthy("web").await?;
    let services: Api<Service> = s.api();
    let pinned = |svc: &Service| {
        svc.spec
            .as_ref()
            .and_then(|sp| sp.selector.as_ref())
            .is_some_and(|sel| sel.contains_key(POD_TEMPLATE_HASH_LABEL))
    };
    assert!(pinned(&services.get("web-active").await?));
    let switch = json!({"strategy": {"blueGreen": null, "canary": {
        "canaryService": "web-canary", "stableService": "web-stable",
        "steps": [{"setWeight": 50}, {"pause": {}}]
    }}});
    s.ro.patch_spec("web", switch).await?;
    s.cluster
        .wait(
            &services,
            "web-active",
            s.timeout(),
            "web-active released",
            move |svc: Option<&Service>| {
                svc.is_some_and(|svc| {
                    !pinned(svc)
                        && !svc
                            .metadata
                            .annotations
                            .as_ref()
                            .is_some_and(|a| a.contains_key("rollout-rs.io/managed-by"))
                })
            },
        )
        .await?;
    s.ro.healthy("web").await?;
    assert!(pinned(&services.get("web-stable").await?));
    Ok(())
}

/// Argo Rollouts' workloadRef migration path: a Rollout runs the pod template of an existing
/// Deployment, whose own pods are scaled down progressively as the Rollout's become
/// available; a change of the Deployment's template is an update the Rollout takes in steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_takes_over_a_deployment_through_workload_ref() -> Result<(), HarnessError> {
    use k8s_openapi::api::apps::v1::Deployment;
    let s = start(false).await?;
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"20\"}}}}\n    spec: {{containers: [{{name: web, image: \"{image}\"}}]}}\n"
        )
    };
    s.cluster.apply_yaml(&deployment("web:1"), &s.ns).await?;
    let workload = |kind: &str| json!({"apiVersion": "apps/v1", "kind": kind, "name": "web", "scaleDown": "progressively"});
    let rollout = RolloutFixture::canary("web")
        .replicas(3)
        .workload_ref(workload("Deployment"))
        .steps(json!([{"setWeight": 34}, {"pause": {}}]));
    s.deploy(&rollout).await?;
    s.ro.healthy("web").await?;
    let deployments: Api<Deployment> = s.api();
    s.cluster
        .wait(
            &deployments,
            "web",
            s.timeout(),
            "the Deployment scaled to 0",
            |d: Option<&Deployment>| {
                d.is_some_and(|d| d.spec.as_ref().and_then(|s| s.replicas) == Some(0))
            },
        )
        .await?;
    assert_eq!(s.counts().await?, [("web:1".into(), 3, 3)]);
    // The Deployment's template changes: the Rollout updates in its steps.
    s.cluster
        .apply_yaml(
            &deployment("web:2").replace("replicas: 3", "replicas: 0"),
            &s.ns,
        )
        .await?;
    s.ro.paused_at("web", 1).await?;
    assert_eq!(
        s.counts().await?,
        [("web:1".into(), 2, 2), ("web:2".into(), 1, 1)]
    );
    // Another kind of workload is refused where users look, whatever exists by that name.
    let other = rollout.named("other").workload_ref(workload("StatefulSet"));
    s.deploy(&other).await?;
    s.ro.wait("other", "InvalidSpec naming the kind", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Degraded)
                && st
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("only apps/v1 Deployment"))
        })
    })
    .await?;
    Ok(())
}

/// Counts this namespace's AnalysisRuns.
async fn run_count(s: &Env) -> Result<usize, HarnessError> {
    let runs: Api<rollout_rs_crds::AnalysisRun> = s.api();
    Ok(runs.list(&ListParams::default()).await?.items.len())
}

fn healthy_on(image: &'static str) -> impl Fn(&Rollout) -> bool + Send + 'static {
    move |ro: &Rollout| {
        in_phase(ro, RolloutPhase::Healthy)
            && ro
                .status
                .as_ref()
                .is_some_and(|st| st.stable_rs == st.current_pod_hash)
            && ro
                .spec
                .template
                .spec
                .as_ref()
                .and_then(|p| p.containers.first())
                .and_then(|c| c.image.as_deref())
                == Some(image)
    }
}

/// TestBlueGreenAnalysis (rollback part): back to the previous version while its ReplicaSet
/// waits out its scale-down delay: Healthy at once, no pause, no new pre-promotion run, and
/// the ReplicaSet reused as the next revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_fast_rollback() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let _exporter = s.web_template("rate", 0.99).await?;
    let web = RolloutFixture::blue_green("web")
        .replicas(2)
        .strategy(json!({
            "scaleDownDelaySeconds": 30,
            "prePromotionAnalysis": {"templates": [{"templateName": "rate"}]}
        }));
    s.deploy(&web.clone().image("web:1")).await?;
    s.ro.healthy("web").await?;
    s.deploy(&web.clone().image("web:2")).await?;
    s.ro.wait("web", "web:2 promoted", healthy_on("web:2"))
        .await?;
    assert_eq!(run_count(&s).await?, 1, "web:2's pre-promotion run");
    s.replica_sets_until("web:1 within its delay", |rss| {
        rss.iter().any(|rs| {
            image_of(rs) == "web:1"
                && rs
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("rollout-rs.io/scale-down-deadline"))
        })
    })
    .await?;
    s.deploy(&web.image("web:1")).await?;
    let ro = s.ro.wait("web", "web:1 back", healthy_on("web:1")).await?;
    assert!(ro.status.is_some_and(|st| st.pause_conditions.is_empty()));
    assert_eq!(run_count(&s).await?, 1, "no new pre-promotion run");
    s.replica_sets_until("web:1 reused as revision 3", |rss| {
        rss.iter().any(|rs| {
            image_of(rs) == "web:1"
                && rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("rollout-rs.io/revision"))
                    .is_some_and(|r| r == "3")
        })
    })
    .await?;
    Ok(())
}

/// TestRollbackAnalysisWithinWindow: back to a revision within `rollbackWindow.revisions`
/// skips the steps and analysis; back to an older one goes through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_window() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let _exporter = s.web_template("rate", 0.99).await?;
    let web = RolloutFixture::canary("web")
        .replicas(2)
        .spec(json!({"rollbackWindow": {"revisions": 1}}))
        .steps(json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "rate"}]}}]));
    for image in ["web:1", "web:2", "web:3"] {
        s.deploy(&web.clone().image(image)).await?;
        s.ro.wait("web", image, healthy_on(image)).await?;
    }
    assert_eq!(
        run_count(&s).await?,
        2,
        "web:2 and web:3 ran their analysis"
    );
    // web:2 is the last revision before the stable web:3: within the window.
    s.deploy(&web.clone().image("web:2")).await?;
    s.ro.wait("web", "web:2 back", healthy_on("web:2")).await?;
    assert_eq!(run_count(&s).await?, 2, "steps and analysis skipped");
    // web:1 is older than the window: its steps and analysis run.
    s.deploy(&web.clone().image("web:1")).await?;
    s.ro.wait("web", "web:1 back", healthy_on("web:1")).await?;
    assert_eq!(run_count(&s).await?, 3, "web:1 went through its analysis");
    Ok(())
}
