//! Benchmark of analysis (numbers, not assertions), against a real Prometheus server scraping
//! the fixture exporter every second. Prints a table:
//!
//! - the engine alone (`measurement::take`: query, judge): measurements per second one at a
//!   time and 32 in flight, with latency percentiles, and the CPU it and Prometheus spend per
//!   measurement;
//! - the whole AnalysisRun controller path (reconcile, measure, status write to the simulated
//!   API server, exact requeue): CPU per measurement for 50 runs measuring every second;
//! - metric-gated automatic rollback: from the canary's error rate rising to its weight at 0.
//!
//! The simulated cluster and the controllers run in this process; Prometheus is its own.
//! Run with `cargo bench -p rollout-rs-e2e --bench analysis` (needs `prometheus` on PATH).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_rs_analysis::measurement::take;
use rollout_rs_analysis::provider::Http;
use rollout_rs_crds::analysis::{AnalysisPhase, Metric};
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{AnalysisRun, Rollout};
use rollout_rs_e2e::Cluster;
use rollout_rs_e2e::metrics::{Exporter, Prometheus};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

fn query(service: &str) -> String {
    format!(
        "sum(rate(http_requests_total{{service=\"{service}\",code!~\"5..\"}}[5s])) / sum(rate(http_requests_total{{service=\"{service}\"}}[5s]))"
    )
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: &str) -> f64 {
    rollout_rs_e2e::process_stats::proc_stats(pid).1
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Engine {
    rate: f64,
    p50: Duration,
    p99: Duration,
    cpu_self_us: f64,
    cpu_prometheus_us: f64,
}

async fn engine(prometheus: &Prometheus, in_flight: usize, n: usize) -> Engine {
    let metric: Metric = serde_json::from_value(json!({
        "name": "success-rate", "successCondition": "result[0] >= 0.95",
        "provider": {"prometheus": {"address": prometheus.url, "query": query("web-canary")}}
    }))
    .expect("metric");
    let http = Http::new().expect("HTTP client");
    let args = BTreeMap::new();
    let prom_pid = prometheus.pid().map(|p| p.to_string()).unwrap_or_default();
    let (self_before, prom_before) = (cpu_seconds("self"), cpu_seconds(&prom_pid));
    let start = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..n)
        .map(|_| async {
            let t = Instant::now();
            let m = take(&metric, &args, &http).await;
            assert_eq!(m.phase, AnalysisPhase::Successful, "{:?}", m.message);
            t.elapsed()
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let elapsed = start.elapsed();
    latencies.sort();
    Engine {
        rate: n as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_self_us: (cpu_seconds("self") - self_before) * 1e6 / n as f64,
        cpu_prometheus_us: (cpu_seconds(&prom_pid) - prom_before) * 1e6 / n as f64,
    }
}

/// CPU per measurement of the whole controller path: `runs` AnalysisRuns measuring every
/// second, `count` times each.
async fn controller_path(prometheus: &Prometheus, runs: usize, count: i32) -> (usize, f64, f64) {
    let mut c = Cluster::start().await.expect("cluster");
    c.install_crds().await.expect("CRDs");
    let ns = c.namespace("bench").await.expect("namespace");
    c.start_controller();
    let api: Api<AnalysisRun> = Api::namespaced(c.client.clone(), &ns);
    let prom_pid = prometheus.pid().map(|p| p.to_string()).unwrap_or_default();
    let (self_before, prom_before) = (cpu_seconds("self"), cpu_seconds(&prom_pid));
    for i in 0..runs {
        let run = json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": format!("run-{i}")},
            "spec": {"metrics": [{
                "name": "success-rate", "interval": "1s", "count": count,
                "successCondition": "result[0] >= 0.95",
                "provider": {"prometheus": {"address": prometheus.url, "query": query("web-canary")}}
            }]}
        });
        c.apply_yaml(&run.to_string(), &ns).await.expect("run");
    }
    let deadline = Instant::now() + T;
    let mut done = 0;
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let mut finished = std::collections::BTreeSet::new();
    while finished.len() < runs && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(r)))
                if r.status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Successful) =>
            {
                finished.insert(r.metadata.name.clone().unwrap_or_default());
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    for r in api.list(&ListParams::default()).await.expect("list").items {
        done += r.status.as_ref().map_or(0, |s| {
            s.metric_results
                .iter()
                .map(|m| m.count as usize)
                .sum::<usize>()
        });
    }
    let measured = done.max(1) as f64;
    (
        done,
        (cpu_seconds("self") - self_before) * 1e6 / measured,
        (cpu_seconds(&prom_pid) - prom_before) * 1e6 / measured,
    )
}

/// From the canary's errors rising to its weight at 0, `rounds` times; also the part after
/// the run was seen Failed.
async fn rollback(
    exporter: &Exporter,
    prometheus: &Prometheus,
    rounds: usize,
) -> Vec<(Duration, Duration)> {
    let mut c = Cluster::start().await.expect("cluster");
    c.install_crds().await.expect("CRDs");
    let ns = c.namespace("rollback").await.expect("namespace");
    c.start_controller();
    let base = "apiVersion: v1\nkind: Service\nmetadata: {name: web-canary}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web-stable}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}\n";
    c.apply_yaml(base, &ns).await.expect("services");
    let template = json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "errors"},
        "spec": {"metrics": [{
            "name": "success-rate", "interval": "1s", "successCondition": "result[0] >= 0.95",
            "provider": {"prometheus": {"address": prometheus.url, "query": query("web-canary")}}
        }]}
    });
    c.apply_yaml(&template.to_string(), &ns)
        .await
        .expect("template");
    let rollout = |image: String| {
        json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"sim.rollout-rs.io/ready-after-ms": "10"}},
                             "spec": {"containers": [{"name": "web", "image": image}]}},
                "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                    "trafficRouting": {"nginx": {"stableIngress": "web"}},
                    "analysis": {"templates": [{"templateName": "errors"}]},
                    "steps": [{"setWeight": 20}, {"pause": {}}]}}}
        })
    };
    let ro: Api<Rollout> = Api::namespaced(c.client.clone(), &ns);
    let runs: Api<AnalysisRun> = Api::namespaced(c.client.clone(), &ns);
    c.apply_yaml(&rollout("web:0".into()).to_string(), &ns)
        .await
        .expect("rollout");
    let healthy = |r: Option<&Rollout>| {
        r.and_then(|r| r.status.as_ref()).and_then(|s| s.phase) == Some(RolloutPhase::Healthy)
    };
    c.wait(&ro, "web", T, "Healthy", healthy)
        .await
        .expect("healthy");
    let mut out = Vec::new();
    for round in 1..=rounds {
        exporter.set_error_ratio("web-canary", 0.0);
        exporter.scraped(7, T).await.expect("a clean 5 s window");
        c.apply_yaml(&rollout(format!("web:{round}")).to_string(), &ns)
            .await
            .expect("update");
        let at_weight = |r: Option<&Rollout>| {
            r.and_then(|r| r.status.as_ref()).is_some_and(|s| {
                s.phase == Some(RolloutPhase::Paused)
                    && s.canary
                        .as_ref()
                        .and_then(|c| c.weights.as_ref())
                        .is_some_and(|w| w.canary.weight == 20)
                    && s.canary
                        .as_ref()
                        .and_then(|c| c.current_background_analysis_run_status.as_ref())
                        .is_some_and(|b| b.status == "Running")
            })
        };
        let paused = c
            .wait(&ro, "web", T, "canary at 20%", at_weight)
            .await
            .expect("at 20");
        let run_name = paused
            .status
            .and_then(|s| {
                s.canary?
                    .current_background_analysis_run_status
                    .map(|b| b.name)
            })
            .unwrap_or_default();
        let raised = Instant::now();
        exporter.set_error_ratio("web-canary", 0.5);
        let failed = {
            let runs = runs.clone();
            let name = run_name.clone();
            tokio::spawn(async move {
                let is_failed = |r: Option<&AnalysisRun>| {
                    r.and_then(|r| r.status.as_ref()).and_then(|s| s.phase)
                        == Some(AnalysisPhase::Failed)
                };
                let _ = kube::runtime::wait::await_condition(runs, &name, is_failed).await;
                Instant::now()
            })
        };
        let zero = |r: Option<&Rollout>| {
            r.and_then(|r| r.status.as_ref()).is_some_and(|s| {
                s.abort
                    && s.canary
                        .as_ref()
                        .and_then(|c| c.weights.as_ref())
                        .is_some_and(|w| w.canary.weight == 0)
            })
        };
        c.wait(&ro, "web", T, "weight 0", zero)
            .await
            .expect("rolled back");
        let at_zero = Instant::now();
        let failed_at = failed.await.unwrap_or(at_zero);
        out.push((
            at_zero - raised,
            at_zero.saturating_duration_since(failed_at),
        ));
        // Retry is not wanted here: the next round is a new update from the stable version.
        ro.patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"abort": false}})),
        )
        .await
        .expect("retry");
    }
    out
}

#[tokio::main]
async fn main() {
    let dir =
        std::env::temp_dir().join(format!("rollout-rs-bench-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let exporter = Exporter::start().await.expect("exporter");
    exporter.set_error_ratio("web-canary", 0.0);
    let prometheus = Prometheus::start(&exporter, &dir)
        .await
        .expect("prometheus (install Debian's prometheus package)");
    exporter.scraped(4, T).await.expect("a full 5 s window");

    println!("| measure | result |");
    println!("|---|---|");
    for (in_flight, n) in [(1, 500), (32, 3000)] {
        let e = engine(&prometheus, in_flight, n).await;
        println!(
            "| engine, {in_flight} in flight ({n} measurements) | {:.0} measurements/s, p50 {:.2} ms, p99 {:.2} ms |",
            e.rate,
            e.p50.as_secs_f64() * 1e3,
            e.p99.as_secs_f64() * 1e3
        );
        println!(
            "| CPU per measurement, {in_flight} in flight: engine / Prometheus | {:.0} µs / {:.0} µs |",
            e.cpu_self_us, e.cpu_prometheus_us
        );
    }
    let (measured, ours, prom) = controller_path(&prometheus, 50, 10).await;
    println!(
        "| controller path, 50 runs x 10 measurements at 1 s ({measured} measured): CPU per measurement, controller + simulated API server / Prometheus | {ours:.0} µs / {prom:.0} µs |"
    );
    let rounds = rollback(&exporter, &prometheus, 5).await;
    let mut total: Vec<Duration> = rounds.iter().map(|r| r.0).collect();
    let mut after: Vec<Duration> = rounds.iter().map(|r| r.1).collect();
    total.sort();
    after.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| rollback: errors rise -> canary weight 0 (interval 1 s, scrape 1 s, {} rounds) | min {:.0} ms, median {:.0} ms, max {:.0} ms |",
        rounds.len(),
        ms(total[0]),
        ms(percentile(&total, 0.5)),
        ms(total[total.len() - 1])
    );
    println!(
        "| rollback: run seen Failed -> weight 0 seen | min {:.1} ms, median {:.1} ms, max {:.1} ms |",
        ms(after[0]),
        ms(percentile(&after, 0.5)),
        ms(after[after.len() - 1])
    );
    drop(prometheus);
    let _ = std::fs::remove_dir_all(&dir);
}
