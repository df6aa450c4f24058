//! Scenarios A1-A7 of shared/scenarios.md (analysis), and the bad inputs of issue 6: an
//! unreachable Prometheus, a PromQL syntax error, a CEL syntax error, a non-numeric result, a
//! missing template. A1, A2, A3, A5 and A6 run against a real Prometheus server (Debian's
//! `prometheus`) scraping the fixture exporter; the web provider scenarios query the exporter's
//! JSON endpoint directly.

use std::io::Write;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{AnalysisRun, Rollout};
use rollout_rs_e2e::metrics::{Exporter, Prometheus};
use rollout_rs_e2e::{Env, HarnessError, RolloutFixture};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(45);
type R<T = ()> = Result<T, HarnessError>;

/// Ratio of successful requests of a service over the last 5 s (exact: the exporter adds 100
/// requests per scrape).
fn success_rate(service: &str) -> String {
    format!(
        "sum(rate(http_requests_total{{service=\"{service}\",code!~\"5..\"}}[5s])) / sum(rate(http_requests_total{{service=\"{service}\"}}[5s]))"
    )
}

/// The shared environment, with the fixture exporter and, when asked, Prometheus.
struct Lab {
    env: Env,
    runs: Api<AnalysisRun>,
    exporter: Exporter,
    prometheus: Option<Prometheus>,
}

impl Deref for Lab {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Lab {
    /// A cluster with the controller, Services `web-canary`/`web-stable`, the exporter, and,
    /// when asked, Prometheus with the first samples of `web-canary` in.
    async fn start(with_prometheus: bool) -> R<Lab> {
        let env = Env::builder("analysis")
            .services(&["web-canary", "web-stable"])
            .timeout(T)
            .start()
            .await?;
        let exporter = Exporter::start().await?;
        exporter.set_error_ratio("web-canary", 0.0);
        let prometheus = if with_prometheus {
            let p = Prometheus::start(&exporter, env.cluster.dir()).await?;
            // Six scrapes in all (two at start): five stored, every 5 s rate window (and range
            // query) is full.
            exporter.scraped(4, T).await?;
            Some(p)
        } else {
            None
        };
        let runs = env.api();
        Ok(Lab {
            env,
            runs,
            exporter,
            prometheus,
        })
    }

    fn prometheus_url(&self) -> String {
        self.prometheus
            .as_ref()
            .map(|p| p.url.clone())
            .unwrap_or_default()
    }

    /// An AnalysisTemplate named `name` with `metrics` and `args`.
    async fn template(&self, name: &str, args: Value, metrics: Value) -> R {
        self.analysis_template(name, json!({"args": args, "metrics": metrics}))
            .await
    }

    /// Applies the Rollout `web` (2 replicas) running `image` with `canary` strategy fields.
    async fn deploy_web(&self, image: &str, canary: Value) -> R {
        self.deploy(
            &RolloutFixture::canary("web")
                .replicas(2)
                .image(image)
                .strategy(canary),
        )
        .await
    }

    /// Deploys v1 (no analysis on an initial deploy) and waits until it is Healthy.
    async fn deployed(&self, canary: Value) -> R {
        self.deploy_web("web:1", canary).await?;
        self.ro.healthy("web").await.map(|_| ())
    }

    async fn run_list(&self) -> R<Vec<AnalysisRun>> {
        let mut runs = self.runs.list(&ListParams::default()).await?.items;
        runs.sort_by_key(|r| r.metadata.creation_timestamp.clone());
        Ok(runs)
    }

    /// Waits until the run `name` satisfies `cond`.
    async fn run_until(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&AnalysisRun) -> bool + Send + 'static,
    ) -> R<AnalysisRun> {
        self.cluster
            .wait(
                &self.runs,
                name,
                self.timeout(),
                what,
                move |r: Option<&AnalysisRun>| r.is_some_and(&cond),
            )
            .await
    }

    /// The name of the first run of `kind` for the current template, once it exists.
    async fn run_of(&self, kind: &'static str) -> R<String> {
        let ro = self
            .ro
            .wait("web", &format!("a {kind} run recorded"), move |ro| {
                recorded(ro, kind).is_some()
            })
            .await?;
        Ok(recorded(&ro, kind).unwrap_or_default())
    }
}

fn recorded(ro: &Rollout, kind: &str) -> Option<String> {
    let c = ro.status.as_ref()?.canary.as_ref()?;
    let r = if kind == "Background" {
        c.current_background_analysis_run_status.as_ref()
    } else {
        c.current_step_analysis_run_status.as_ref()
    };
    r.map(|r| r.name.clone())
}

fn run_phase(r: &AnalysisRun) -> Option<AnalysisPhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

fn message(ro: &Rollout) -> String {
    ro.status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

fn prometheus_metric(name: &str, address: &str, query: &str, extra: Value) -> Value {
    let mut m = json!({
        "name": name,
        "provider": {"prometheus": {"address": address, "query": query}}
    });
    if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    m
}

fn analysis_step(template: &str, args: Value) -> Value {
    json!({"analysis": {"templates": [{"templateName": template}], "args": args}})
}

fn canary_arg() -> Value {
    json!([{"name": "service-name", "value": "web-canary"}])
}

#[tokio::test]
async fn a1_passing_step_analysis_lets_the_rollout_continue() -> R {
    let e = Lab::start(true).await?;
    let query = success_rate("{{args.service-name}}");
    e.template(
        "success-rate",
        json!([{"name": "service-name"}]),
        json!([
            prometheus_metric(
                "success-rate",
                &e.prometheus_url(),
                &query,
                json!({"interval": "1s", "count": 3, "successCondition": "result[0] >= 0.95"})
            ),
            // A range query: every sample of the last 5 s.
            {"name": "range", "successCondition": "size(result) >= 2 && result.all(x, x >= 0.95)",
             "provider": {"prometheus": {"address": e.prometheus_url(), "query": query,
                 "rangeQuery": {"start": "5s", "step": "1s"}}}},
        ]),
    )
    .await?;
    let canary = json!({"steps": [{"setWeight": 50}, analysis_step("success-rate", canary_arg()), {"setWeight": 100}]});
    e.deployed(canary.clone()).await?;
    e.deploy_web("web:2", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(
        ro.status.as_ref().and_then(|s| s.current_step_index),
        Some(3)
    );
    let runs = e.run_list().await?;
    assert_eq!(
        runs.len(),
        1,
        "one run: {:?}",
        runs.iter().map(|r| r.name_any()).collect::<Vec<_>>()
    );
    let run = &runs[0];
    let hash = ro
        .status
        .as_ref()
        .and_then(|s| s.current_pod_hash.clone())
        .unwrap_or_default();
    assert!(
        run.name_any().starts_with(&format!("web-{hash}-")),
        "{}",
        run.name_any()
    );
    assert_eq!(
        run.labels().get("rollout-type").map(String::as_str),
        Some("Step")
    );
    assert_eq!(
        run.labels().get("step-index").map(String::as_str),
        Some("1")
    );
    assert_eq!(run.owner_references()[0].uid, ro.uid().unwrap_or_default());
    let st = run.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(AnalysisPhase::Successful));
    let m = &st.metric_results[0];
    assert_eq!((m.count, m.successful), (3, 3));
    for x in &m.measurements {
        assert_eq!(x.value.as_deref(), Some("[1]"));
        let q = x.metadata.get("resolvedQuery").cloned().unwrap_or_default();
        assert!(q.contains("service=\"web-canary\""), "{q}");
    }
    let range = &st.metric_results[1];
    assert_eq!(
        (range.name.as_str(), range.phase),
        ("range", AnalysisPhase::Successful)
    );
    let value = range.measurements[0].value.clone().unwrap_or_default();
    assert!(value.starts_with("[1,1"), "several samples: {value}");
    Ok(())
}

#[tokio::test]
async fn a2_failing_metric_aborts_and_the_canary_weight_goes_to_zero() -> R {
    let e = Lab::start(true).await?;
    e.cluster.apply_yaml(INGRESS, &e.ns).await?;
    e.template(
        "success-rate",
        json!([{"name": "service-name"}]),
        json!([prometheus_metric("success-rate", &e.prometheus_url(), &success_rate("{{args.service-name}}"),
            json!({"interval": "1s", "count": 5, "failureLimit": 1, "successCondition": "result[0] >= 0.95"}))]),
    )
    .await?;
    let canary = json!({
        "trafficRouting": {"nginx": {"stableIngress": "web"}},
        "steps": [{"setWeight": 20}, analysis_step("success-rate", canary_arg()), {"setWeight": 100}]
    });
    e.deployed(canary.clone()).await?;
    e.exporter.set_error_ratio("web-canary", 0.5);
    // Every sample in the 5 s window carries the new ratio before the update starts.
    e.exporter.scraped(7, T).await?;
    e.deploy_web("web:2", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    let st = ro.status.as_ref().expect("status");
    assert!(st.abort);
    assert!(
        message(&ro).contains("Step-based analysis phase Failed"),
        "{}",
        message(&ro)
    );
    assert_eq!(
        st.canary
            .as_ref()
            .and_then(|c| c.weights.as_ref())
            .map(|w| w.canary.weight),
        Some(0)
    );
    let name = recorded(&ro, "Step").expect("recorded run");
    let run = e
        .run_until(&name, "Failed", |r| {
            run_phase(r) == Some(AnalysisPhase::Failed)
        })
        .await?;
    let rs = run.status.as_ref().expect("status");
    assert_eq!(
        rs.message.as_deref(),
        Some("metric \"success-rate\" assessed Failed: failed (2) > failureLimit (1)")
    );
    assert_eq!(
        rs.metric_results[0].measurements.len(),
        2,
        "no measurement after the decision"
    );
    assert_eq!(
        rs.metric_results[0].measurements[0].value.as_deref(),
        Some("[0.5]")
    );
    let ingresses: Api<k8s_openapi::api::networking::v1::Ingress> = e.api();
    let canary_ingress = ingresses.get("web-web-canary").await?;
    assert_eq!(
        canary_ingress
            .annotations()
            .get("nginx.ingress.kubernetes.io/canary-weight")
            .map(String::as_str),
        Some("0")
    );
    // Where users look: a Warning Event on the run and one on the Rollout (watched, as they
    // are recorded after the writes the test waited on).
    let events: Api<k8s_openapi::api::events::v1::Event> = e.api();
    let mut wanted = vec![
        ("AnalysisRunFailed", name.clone()),
        ("RolloutAborted", "web".to_string()),
    ];
    let stream = kube::runtime::watcher(events, Default::default());
    let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
    let found = tokio::time::timeout(T, async {
        while let Some(Ok(ev)) = futures::StreamExt::next(&mut stream).await {
            wanted.retain(|(reason, object)| {
                !(ev.reason.as_deref() == Some(*reason)
                    && ev.type_.as_deref() == Some("Warning")
                    && ev.regarding.as_ref().and_then(|r| r.name.as_deref())
                        == Some(object.as_str()))
            });
            if wanted.is_empty() {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found.ok(),
        Some(true),
        "Warning Events on the run and the Rollout"
    );
    Ok(())
}

const INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";

#[tokio::test]
async fn a3_background_analysis_runs_for_the_update_and_a_failure_aborts() -> R {
    let e = Lab::start(true).await?;
    e.template(
        "errors",
        json!([{"name": "service-name"}]),
        json!([prometheus_metric(
            "success-rate",
            &e.prometheus_url(),
            &success_rate("{{args.service-name}}"),
            json!({"interval": "1s", "successCondition": "result[0] >= 0.95"})
        )]),
    )
    .await?;
    let background = json!({"templates": [{"templateName": "errors"}], "args": canary_arg()});
    let timed = json!({"analysis": background, "steps": [{"setWeight": 50}, {"pause": {"duration": "3s"}}]});
    e.deployed(timed.clone()).await?;
    assert!(
        e.run_list().await?.is_empty(),
        "no analysis on the initial deploy"
    );
    e.deploy_web("web:2", timed).await?;
    let name = e.run_of("Background").await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    let run = e
        .run_until(&name, "terminated and Successful", |r| {
            r.spec.terminate && run_phase(r) == Some(AnalysisPhase::Successful)
        })
        .await?;
    let st = run.status.as_ref().expect("status");
    assert_eq!(st.message.as_deref(), Some("Run Terminated"));
    assert!(
        st.metric_results[0].count >= 2,
        "measured during the update: {}",
        st.metric_results[0].count
    );
    assert_eq!(
        run.labels().get("rollout-type").map(String::as_str),
        Some("Background")
    );

    // A failure at any time aborts: the update waits at an indefinite pause.
    let held = json!({"analysis": background, "steps": [{"setWeight": 50}, {"pause": {}}]});
    let stable = e.ro.api.get("web").await?.status.and_then(|s| s.stable_rs);
    assert!(stable.is_some());
    e.deploy_web("web:3", held).await?;
    let name = e.run_of("Background").await?;
    e.run_until(&name, "measured", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.metric_results.iter().any(|m| m.count >= 1))
    })
    .await?;
    e.ro.wait("web", "paused", |ro| {
        ro.status.as_ref().and_then(|s| s.phase) == Some(RolloutPhase::Paused)
    })
    .await?;
    e.exporter.set_error_ratio("web-canary", 0.5);
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert!(
        message(&ro).contains("Background analysis phase Failed"),
        "{}",
        message(&ro)
    );
    let st = ro.status.as_ref().expect("status");
    assert_eq!(st.stable_rs, stable, "web:2 stays stable");
    assert!(st.abort);
    Ok(())
}

#[tokio::test]
async fn a4_inconclusive_pauses_promote_skips_and_abort_aborts() -> R {
    let e = Lab::start(false).await?;
    e.exporter.set_json(json!({"rate": 0.7}));
    e.template(
        "judge",
        json!([]),
        json!([{
            "name": "rate",
            "successCondition": "result > 0.9",
            "failureCondition": "result < 0.5",
            "provider": {"web": {"url": format!("{}/json", e.exporter.url()), "jsonPath": "{$.rate}"}}
        }]),
    )
    .await?;
    let canary = json!({"steps": [{"setWeight": 50}, analysis_step("judge", json!([])), {"setWeight": 100}]});
    e.deployed(canary.clone()).await?;
    e.deploy_web("web:2", canary.clone()).await?;
    let ro = e.ro.phase("web", RolloutPhase::Paused).await?;
    assert_eq!(message(&ro), "InconclusiveAnalysisRun");
    let st = ro.status.as_ref().expect("status");
    assert_eq!(st.current_step_index, Some(1));
    assert_eq!(
        st.pause_conditions
            .iter()
            .map(|p| format!("{:?}", p.reason))
            .collect::<Vec<_>>(),
        vec!["InconclusiveAnalysisRun"]
    );
    let run = e.runs.get(&recorded(&ro, "Step").expect("run")).await?;
    assert_eq!(run_phase(&run), Some(AnalysisPhase::Inconclusive));
    // Promote skips the analysis step.
    e.ro.patch_status("web", json!({"pauseConditions": null}))
        .await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(
        ro.status.as_ref().and_then(|s| s.current_step_index),
        Some(3)
    );
    // Abort aborts.
    e.deploy_web("web:3", canary).await?;
    e.ro.wait("web", "paused on the new run", |ro| {
        message(ro) == "InconclusiveAnalysisRun"
            && ro.status.as_ref().and_then(|s| s.current_step_index) == Some(1)
    })
    .await?;
    e.ro.patch_status("web", json!({"abort": true})).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert!(
        ro.status
            .as_ref()
            .is_some_and(|s| s.pause_conditions.is_empty())
    );
    Ok(())
}

#[tokio::test]
async fn a5_prometheus_going_away_errors_the_run_and_aborts() -> R {
    let mut e = Lab::start(true).await?;
    e.template(
        "success-rate",
        json!([{"name": "service-name"}]),
        json!([prometheus_metric(
            "success-rate",
            &e.prometheus_url(),
            &success_rate("{{args.service-name}}"),
            json!({"interval": "1s", "count": 60, "successCondition": "result[0] >= 0.95"})
        )]),
    )
    .await?;
    let canary = json!({"steps": [{"setWeight": 50}, analysis_step("success-rate", canary_arg()), {"setWeight": 100}]});
    e.deployed(canary.clone()).await?;
    let stable = e.ro.api.get("web").await?.status.and_then(|s| s.stable_rs);
    e.deploy_web("web:2", canary).await?;
    let name = e.run_of("Step").await?;
    e.run_until(&name, "a successful measurement", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.metric_results.iter().any(|m| m.successful >= 1))
    })
    .await?;
    // Prometheus stops answering.
    e.prometheus = None;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert!(
        message(&ro).contains("Step-based analysis phase Error"),
        "{}",
        message(&ro)
    );
    assert_eq!(
        ro.status.as_ref().and_then(|s| s.stable_rs.clone()),
        stable,
        "never promoted on missing data"
    );
    let run = e.runs.get(&name).await?;
    let st = run.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(AnalysisPhase::Error));
    assert_eq!(
        st.message.as_deref(),
        Some(
            "metric \"success-rate\" assessed Error: consecutiveErrors (5) > consecutiveErrorLimit (4)"
        )
    );
    let last = st.metric_results[0]
        .measurements
        .last()
        .expect("a measurement");
    assert_eq!(last.phase, AnalysisPhase::Error);
    assert!(
        last.message
            .as_deref()
            .is_some_and(|m| m.contains("Prometheus at http://127.0.0.1:")),
        "{:?}",
        last.message
    );
    Ok(())
}

#[tokio::test]
async fn a6_an_empty_result_is_inconclusive_by_default_and_pauses() -> R {
    let e = Lab::start(true).await?;
    // A cluster-scoped template, as the examples ship them.
    e.apply(&json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": format!("{}-no-data", e.ns)},
        "spec": {"metrics": [prometheus_metric("success-rate", &e.prometheus_url(), &success_rate("nobody"),
            json!({"successCondition": "result[0] >= 0.95"}))]}
    }))
    .await?;
    let canary = json!({"steps": [{"setWeight": 50},
        {"analysis": {"templates": [{"templateName": format!("{}-no-data", e.ns), "clusterScope": true}]}},
        {"setWeight": 100}]});
    e.deployed(canary.clone()).await?;
    e.deploy_web("web:2", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Paused).await?;
    assert_eq!(message(&ro), "InconclusiveAnalysisRun");
    let run = e.runs.get(&recorded(&ro, "Step").expect("run")).await?;
    let st = run.status.as_ref().expect("status");
    assert_eq!(st.phase, Some(AnalysisPhase::Inconclusive));
    let m = &st.metric_results[0].measurements[0];
    assert_eq!(m.phase, AnalysisPhase::Inconclusive);
    assert_eq!(m.message.as_deref(), Some("query returned no data"));
    assert_eq!(m.value.as_deref(), Some("[]"));
    Ok(())
}

/// Log lines of this test binary, to check that no secret reaches them.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a7_args_are_substituted_secrets_stay_hidden_and_a_missing_arg_errors() -> R {
    let logs = captured_logs();
    let e = Lab::start(false).await?;
    const SECRET: &str = "tok-8f3a91c2e7";
    let secrets: Api<Secret> = e.api();
    e.apply(
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-token"},
        "stringData": {"token": SECRET}}),
    )
    .await?;
    assert!(secrets.get("web-token").await?.data.is_some());
    e.exporter.require_token(SECRET);
    e.exporter.set_json(json!({"rate": 0.99}));
    let echo = format!("{}/echo", e.exporter.url());
    let web = |url: String| {
        json!([{
            "name": "rate", "successCondition": "result >= 0.95",
            "provider": {"web": {"url": url, "jsonPath": "{$.rate}",
                "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}
        }, {
            // A POST with a JSON body, arguments substituted inside it.
            "name": "posted", "successCondition": "result.service == 'web-canary' && result.rate >= 0.95",
            "provider": {"web": {"url": echo, "method": "POST", "timeoutSeconds": 5,
                "jsonBody": {"service": "{{args.service-name}}", "rate": 0.97}}}
        }])
    };
    let args = json!([{"name": "service-name"},
        {"name": "token", "valueFrom": {"secretKeyRef": {"name": "web-token", "key": "token"}}}]);
    e.template(
        "web-rate",
        args.clone(),
        web(format!(
            "{}/json?service={{{{args.service-name}}}}&t={{{{args.token}}}}",
            e.exporter.url()
        )),
    )
    .await?;
    let canary = json!({"steps": [{"setWeight": 50}, analysis_step("web-rate", canary_arg()), {"setWeight": 100}]});
    e.deployed(canary.clone()).await?;
    e.deploy_web("web:2", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Healthy).await?;
    let run = e.run_list().await?.pop().expect("a run");
    let st = run.status.as_ref().expect("status");
    assert_eq!(
        st.phase,
        Some(AnalysisPhase::Successful),
        "the secret reached the endpoint"
    );
    let url = st.metric_results[0].measurements[0]
        .metadata
        .get("url")
        .cloned()
        .unwrap_or_default();
    assert!(url.contains("service=web-canary&t=*****"), "{url}");
    // Nowhere a user or a log reader looks.
    let events: Api<k8s_openapi::api::events::v1::Event> = e.api();
    let places = [
        (
            "AnalysisRun",
            serde_json::to_string(&run).unwrap_or_default(),
        ),
        ("Rollout", serde_json::to_string(&ro).unwrap_or_default()),
        (
            "Events",
            serde_json::to_string(&events.list(&ListParams::default()).await?.items)
                .unwrap_or_default(),
        ),
        (
            "logs",
            String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).to_string(),
        ),
    ];
    for (place, text) in &places {
        assert!(!text.is_empty(), "{place} is empty");
        assert!(!text.contains(SECRET), "the secret leaked into {place}");
    }
    assert!(
        places[3].1.contains("measured"),
        "the controller logged its measurements"
    );

    // A template argument nobody gives a value: the run is Error naming it, the rollout aborts.
    e.template(
        "web-rate",
        args,
        web(format!(
            "{}/json?service={{{{args.service-name}}}}",
            e.exporter.url()
        )),
    )
    .await?;
    let no_value = json!({"steps": [{"setWeight": 50}, analysis_step("web-rate", json!([])), {"setWeight": 100}]});
    e.deploy_web("web:3", no_value).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert!(
        message(&ro).contains("argument \"service-name\" has no value"),
        "{}",
        message(&ro)
    );
    Ok(())
}

#[tokio::test]
async fn bad_promql_and_non_numeric_results_are_errors_with_prometheus_words() -> R {
    let e = Lab::start(true).await?;
    let one_error = json!({"consecutiveErrorLimit": 0, "successCondition": "result[0] >= 0.95"});
    e.template(
        "broken",
        json!([]),
        json!([
            prometheus_metric(
                "syntax",
                &e.prometheus_url(),
                "sum(rate(http_requests_total[5s]",
                one_error.clone()
            ),
            prometheus_metric("text", &e.prometheus_url(), "\"fine\"", one_error),
        ]),
    )
    .await?;
    // Dry-run the second metric so the first decides, then look at both measurements.
    let canary = json!({"steps": [{"setWeight": 50},
        {"analysis": {"templates": [{"templateName": "broken"}], "dryRun": [{"metricName": "text"}]}}]});
    e.deployed(canary.clone()).await?;
    e.deploy_web("web:2", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    let run = e.runs.get(&recorded(&ro, "Step").expect("run")).await?;
    let st = run.status.as_ref().expect("status");
    let first = |metric: &str| {
        st.metric_results
            .iter()
            .find(|m| m.name == metric)
            .and_then(|m| m.measurements.first())
            .cloned()
            .expect("a measurement")
    };
    let syntax = first("syntax");
    assert_eq!(syntax.phase, AnalysisPhase::Error);
    let text = syntax.message.unwrap_or_default();
    assert!(
        text.contains("rejected the query: bad_data") && text.contains("parse error"),
        "{text}"
    );
    let text_result = first("text");
    assert_eq!(text_result.phase, AnalysisPhase::Error);
    assert!(!text_result.message.unwrap_or_default().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_cel_syntax_error_holds_the_rollout_in_invalid_spec_until_fixed() -> R {
    let e = Lab::start(false).await?;
    e.exporter.set_json(json!({"rate": 0.99}));
    let metric = |condition: &str| {
        json!([{
            "name": "rate", "successCondition": condition,
            "provider": {"web": {"url": format!("{}/json", e.exporter.url()), "jsonPath": "{$.rate}"}}
        }])
    };
    e.template("judge", json!([]), metric("result >=")).await?;
    let canary = json!({"steps": [{"setWeight": 50}, analysis_step("judge", json!([])), {"setWeight": 100}]});
    e.deploy_web("web:1", canary.clone()).await?;
    let ro =
        e.ro.wait("web", "InvalidSpec naming the template", |ro| {
            message(ro).contains("is invalid")
        })
        .await?;
    let invalid = ro.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "InvalidSpec")
            .cloned()
    });
    let text = invalid.and_then(|c| c.message).unwrap_or_default();
    assert!(
        text.starts_with("AnalysisTemplate \"judge\" is invalid: spec.metrics[0].successCondition: does not compile"),
        "{text}"
    );
    let rss: Api<k8s_openapi::api::apps::v1::ReplicaSet> = e.api();
    assert!(
        rss.list(&ListParams::default()).await?.items.is_empty(),
        "nothing scaled"
    );
    e.template("judge", json!([]), metric("result >= 0.95"))
        .await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    e.deploy_web("web:2", canary).await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    assert_eq!(e.run_list().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_missing_template_is_an_invalid_spec_until_it_appears() -> R {
    let e = Lab::start(false).await?;
    e.exporter.set_json(json!({"rate": 0.99}));
    let canary = json!({"analysis": {"templates": [{"templateName": "later"}]}, "steps": [{"setWeight": 50}]});
    e.deploy_web("web:1", canary).await?;
    let ro = e.ro.phase("web", RolloutPhase::Degraded).await?;
    assert_eq!(
        message(&ro),
        "InvalidSpec: AnalysisTemplate \"later\" not found"
    );
    e.template("later", json!([]), json!([{
        "name": "rate", "successCondition": "result >= 0.95",
        "provider": {"web": {"url": format!("{}/json", e.exporter.url()), "jsonPath": "{$.rate}"}}
    }]))
    .await?;
    e.ro.phase("web", RolloutPhase::Healthy).await?;
    Ok(())
}
