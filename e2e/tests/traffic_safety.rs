//! Traffic safety with pods that take seconds to become ready (T8, issue 11): every state a
//! watch saw is checked, not only the end. Behind a router, a Service's share of the weight
//! never exceeds what the available pods it selects can carry, and a weight never drops to 0
//! outside an abort or a completed promotion; a basic canary's moves stay within maxSurge and
//! maxUnavailable; a restarted controller writes nothing before its caches have synced.

use std::time::Duration;

use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::fixture::READY_AFTER_MS;
use rollout_rs_e2e::timeline::{Recorder, Seen, pods_for, replay};
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture, in_phase};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(120);

async fn start(smi: bool) -> Result<Env, HarnessError> {
    Env::builder("safety")
        .router_crds(smi)
        .timeout(T)
        .start()
        .await
}

/// A Rollout `name` (pods labelled `app=<name>`), its two Services, running `image`, with
/// `strategy` merged into its canary strategy.
async fn rollout(
    s: &Env,
    name: &str,
    image: &str,
    replicas: i64,
    strategy: Value,
) -> Result<(), HarnessError> {
    s.canary_services(name).await?;
    let rollout = RolloutFixture::canary(name)
        .container("app")
        // Long enough for ordering bugs to show.
        .annotation(READY_AFTER_MS, "1500")
        .replicas(replicas)
        .image(image)
        .strategy(strategy);
    s.deploy(&rollout).await
}

/// Replays a timeline of routed Rollouts (`app` = Rollout = TrafficSplit name, Services
/// `<app>-canary` and `<app>-stable`, `replicas` pods for all traffic) and returns every
/// violation: a Service's share of the weight beyond what its available pods carry, or a
/// canary weight dropping to 0 outside an abort or a completed promotion.
fn routed_violations(entries: &[(u64, Seen)], apps: &[&str], replicas: i32) -> Vec<String> {
    let mut bad = Vec::new();
    let mut last_weight: std::collections::BTreeMap<String, i32> = Default::default();
    replay(entries, |rv, state| {
        for app in apps {
            let Some(weights) = state.splits.get(*app) else {
                continue;
            };
            let total: i32 = weights.values().sum();
            for (service, weight) in weights {
                let need = pods_for(replicas, *weight, total);
                let have = state.available_behind(app, service);
                if *weight > 0 && have < need {
                    bad.push(format!(
                        "rv {rv}: {service} carries {weight}/{total} with {have} available pods (needs {need})"
                    ));
                }
            }
            let canary = weights.get(&format!("{app}-canary")).copied().unwrap_or(0);
            let before = last_weight.insert(app.to_string(), canary).unwrap_or(0);
            if before > 0 && canary == 0 {
                let promoted = state.services.get(&format!("{app}-canary"))
                    == state.services.get(&format!("{app}-stable"));
                if !promoted && !state.aborted.get(*app).copied().unwrap_or(false) {
                    bad.push(format!(
                        "rv {rv}: {app}'s canary weight dropped from {before} to 0 outside an abort or a promotion"
                    ));
                }
            }
        }
    });
    bad
}

/// Acceptance of issue 11: the controller is killed 10 times while 20 routed canaries (half
/// with dynamicStableScale) move through their steps with slow pods. From the watch timeline:
/// no weight is ever ahead of the available pods of its side, no weight drops to 0 outside an
/// abort, and every Rollout ends Healthy on the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_restarts_during_routed_canaries_never_get_ahead_of_the_pods()
-> Result<(), HarnessError> {
    let mut s = start(true).await?;
    let names: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        // dynamicStableScale scales the old stable down as traffic leaves it, without a delay.
        let (scaling, value) = if i % 2 == 0 {
            ("dynamicStableScale", json!(true))
        } else {
            ("scaleDownDelaySeconds", json!(1))
        };
        let strategy = json!({"trafficRouting": {"smi": {"rootService": name}}, scaling: value, "steps": [{"setWeight": 20}, {"pause": {"duration": 1}}, {"setWeight": 60}, {"pause": {"duration": 1}}, {"setWeight": 80}, {"pause": {"duration": 1}}]});
        rollout(&s, name, "app:1", 5, strategy).await?;
    }
    for name in &names {
        s.ro.healthy(name).await?;
    }
    let mut recorder = Recorder::start(&s.cluster.client, &s.ns);
    for name in &names {
        s.ro.set_image(name, "app", "app:2").await?;
    }
    // Kill and restart the controller every few weight writes, ten times.
    let mut seen = 0;
    for _ in 0..10 {
        seen += 6;
        tokio::time::timeout(T, recorder.splits_seen(seen))
            .await
            .map_err(|_| HarnessError::Timeout(T, format!("{seen} TrafficSplit writes")))?;
        s.cluster.stop_controller();
        s.cluster.start_controller();
    }
    for name in &names {
        let ro =
            s.ro.wait(name, "Healthy on app:2", |ro| {
                in_phase(ro, RolloutPhase::Healthy)
                    && ro.status.as_ref().and_then(|st| st.stable_rs.as_ref())
                        == ro
                            .status
                            .as_ref()
                            .and_then(|st| st.current_pod_hash.as_ref())
                    && ro
                        .status
                        .as_ref()
                        .and_then(|st| st.current_pod_hash.clone())
                        .is_some()
                    && ro
                        .spec
                        .template
                        .spec
                        .as_ref()
                        .and_then(|p| p.containers.first())
                        .and_then(|c| c.image.as_deref())
                        == Some("app:2")
            })
            .await?;
        assert_eq!(ro.status.and_then(|st| st.abort.then_some(())), None);
    }
    recorder.stop();
    let entries = recorder.entries();
    let apps: Vec<&str> = names.iter().map(String::as_str).collect();
    let bad = routed_violations(&entries, &apps, 5);
    assert!(
        bad.is_empty(),
        "{} violations:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Every canary went through its steps' weights.
    for app in &apps {
        let weights: std::collections::BTreeSet<i32> = entries
            .iter()
            .filter_map(|(_, seen)| match seen {
                Seen::Split { name, weights } if name == app => {
                    weights.get(&format!("{app}-canary")).copied()
                }
                _ => None,
            })
            .collect();
        for w in [20, 60, 80, 100] {
            assert!(weights.contains(&w), "{app} never carried {w}: {weights:?}");
        }
    }
    Ok(())
}

/// Point 1: replicas 5 and setWeight 60 need 3 canary pods; the router keeps the previous
/// weight until all 3 are available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_weight_waits_for_the_canary_pods() -> Result<(), HarnessError> {
    let s = start(true).await?;
    let strategy = json!({"trafficRouting": {"smi": {"rootService": "web"}}, "scaleDownDelaySeconds": 1, "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]});
    rollout(&s, "web", "app:1", 5, strategy).await?;
    s.ro.healthy("web").await?;
    let mut recorder = Recorder::start(&s.cluster.client, &s.ns);
    s.ro.set_image("web", "app", "app:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.paused_at("web", 3).await?;
    recorder.stop();
    let entries = recorder.entries();
    let bad = routed_violations(&entries, &["web"], 5);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    Ok(())
}

/// Point 3 (Argo Rollouts' TestCanaryDynamicStableScale): with dynamicStableScale the stable
/// keeps its pods until the weight has moved, and an abort with the stable shrunk returns
/// traffic only as fast as the stable's pods become available; the canary Service moves once
/// the weight is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_stable_scale_never_leaves_traffic_without_pods() -> Result<(), HarnessError> {
    let s = start(true).await?;
    let strategy = json!({"trafficRouting": {"smi": {"rootService": "web"}}, "dynamicStableScale": true, "abortScaleDownDelaySeconds": 1, "steps": [{"setWeight": 75}, {"pause": {}}]});
    rollout(&s, "web", "app:1", 4, strategy).await?;
    s.ro.healthy("web").await?;
    let mut recorder = Recorder::start(&s.cluster.client, &s.ns);
    s.ro.set_image("web", "app", "app:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"abort": true})).await?;
    s.ro.wait("web", "aborted with no weight left on the canary", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Degraded)
                && st
                    .canary
                    .as_ref()
                    .and_then(|c| c.weights.as_ref())
                    .is_some_and(|w| w.canary.weight == 0)
        })
    })
    .await?;
    // Wait until the canary Service is back on a full stable, then check the whole way there.
    tokio::time::timeout(
        T,
        recorder.until(|state| state.available_behind("web", "web-canary") >= 4),
    )
    .await
    .map_err(|_| HarnessError::Timeout(T, "the canary Service on 4 stable pods".into()))?;
    recorder.stop();
    let entries = recorder.entries();
    let bad = routed_violations(&entries, &["web"], 4);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    Ok(())
}

/// Point 2 (Argo Rollouts' TestReduceWeightAndHonorMaxUnavailable): a basic canary with
/// maxSurge 2 and maxUnavailable 0 going from setWeight 100 to setWeight 0, then aborted:
/// never more than 5 pods, never fewer than 3 available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_canary_moves_honour_max_surge_and_max_unavailable() -> Result<(), HarnessError> {
    let s = start(false).await?;
    let strategy = json!({"maxSurge": 2, "maxUnavailable": 0, "steps": [{"setWeight": 100}, {"pause": {}}, {"setWeight": 0}, {"pause": {}}, {"setWeight": 100}, {"pause": {}}]});
    rollout(&s, "web", "app:1", 3, strategy).await?;
    s.ro.healthy("web").await?;
    let mut recorder = Recorder::start(&s.cluster.client, &s.ns);
    s.ro.set_image("web", "app", "app:2").await?;
    s.ro.paused_at("web", 1).await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.paused_at("web", 3).await?;
    s.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    s.ro.paused_at("web", 5).await?;
    s.ro.patch_status("web", json!({"abort": true})).await?;
    s.ro.wait("web", "aborted back on 3 stable pods", |ro| {
        ro.status.as_ref().is_some_and(|st| {
            st.phase == Some(RolloutPhase::Degraded)
                && st.available_replicas == Some(3)
                && st.replicas == Some(3)
        })
    })
    .await?;
    recorder.stop();
    let mut bad = Vec::new();
    replay(&recorder.entries(), |rv, state| {
        let (desired, available) = state
            .replica_sets
            .values()
            .fold((0, 0), |(d, a), (rd, ra)| (d + rd, a + ra));
        if desired > 5 {
            bad.push(format!("rv {rv}: {desired} pods desired (maxSurge 2 of 3)"));
        }
        if available < 3 && !state.replica_sets.is_empty() {
            bad.push(format!(
                "rv {rv}: {available} available (maxUnavailable 0 of 3)"
            ));
        }
    });
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    Ok(())
}

/// An API outage (here every list of Rollouts failing, as for a controller started before its
/// CRDs) holds nothing up once it ends: a Rollout made then is reconciled at once. Each failed
/// list used to reach kube-runtime's controller as an error, and each error in a row paused its
/// whole queue for longer (0.8 s, 1.6 s, ... up to 30 s each): half a minute of outage held
/// every Rollout for minutes, pause ends and aborts included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_failed_for_a_while_holds_nothing_up_once_it_works() -> Result<(), HarnessError>
{
    if rollout_rs_e2e::real_cluster() {
        return Ok(());
    }
    let mut s = Env::builder("outage")
        .services(&["web-canary", "web-stable"])
        .without_controller()
        .timeout(Duration::from_secs(30))
        .start()
        .await?;
    let outage =
        json!({"verbs": {"list": {"errorRate": 1.0, "code": 404, "resource": "rollouts"}}});
    s.cluster.sim_admin("PUT", "/sim/faults", outage).await?;
    s.cluster.start_controller();
    // Six failed lists in a row: enough for the old backoffs to add up to well over the 30 s
    // the Rollout below is given.
    let failed_list = |c: &rollout_rs_e2e::rbac::Call| {
        c.user_agent == rollout_rs_e2e::CONTROLLER_USER_AGENT
            && (c.verb.as_str(), c.resource.as_str(), c.code) == ("list", "rollouts", 404)
    };
    s.cluster
        .wait_for_calls(6, Duration::from_secs(60), failed_list)
        .await?;
    s.cluster.sim_admin("PUT", "/sim/faults", json!({})).await?;
    let spec = RolloutFixture::canary("web")
        .replicas(1)
        .steps(json!([{"setWeight": 50}]));
    s.deploy(&spec.image("web:1")).await?;
    s.ro.healthy("web").await?;
    Ok(())
}
