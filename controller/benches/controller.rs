//! Benchmark of the rollout controller (numbers, not assertions). Prints a table:
//!
//! - the cost of one `decide` call;
//! - the controller's RSS and CPU with 1,000 Rollouts (one pod each, their ReplicaSets and two
//!   Services each), idle, and while 100 of them progress through a canary;
//! - the delay from a timed pause's end to the write of the next step.
//!
//! The simulated cluster runs in this process; the controller runs as its own process
//! (`rollout-rs controller`), so its memory and CPU are measured alone.
//! Run with `cargo bench -p rollout-rs-controller --bench controller`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_rs_controller::bench::Decision;
use rollout_rs_controller::pod_template_hash;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;
use serde_json::json;

mod support;

use support::proc_stats;

const ROLLOUTS: usize = 1_000;
const PROGRESSING: usize = 100;
const PAUSE_SECONDS: i64 = 2;

fn rollout(name: &str, image: &str) -> Rollout {
    let yaml = format!(
        "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"10\"}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\"}}]}}\n  strategy:\n    canary:\n      canaryService: {name}-canary\n      stableService: {name}-stable\n      steps: [{{setWeight: 50}}, {{pause: {{duration: {PAUSE_SECONDS}s}}}}]\n"
    );
    match rollout_rs_crds::manifest::parse_all(&yaml)
        .ok()
        .and_then(|mut d| d.remove(0).ok())
    {
        Some(rollout_rs_crds::manifest::Object::Rollout(r)) => r,
        _ => panic!("bench rollout does not parse"),
    }
}

fn decide_cost() -> Duration {
    let mut r = rollout("web", "app:2");
    let stable = pod_template_hash(&rollout("web", "app:1").spec.template);
    let current = pod_template_hash(&r.spec.template);
    r.status = Some(rollout_rs_crds::rollout::RolloutStatus {
        stable_rs: Some(stable.clone()),
        current_pod_hash: Some(current.clone()),
        current_step_index: Some(0),
        ..Default::default()
    });
    let decision = Decision::new(r, &[(stable, 1, 1), (current, 1, 1)]);
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        decision.decide();
    }
    t.elapsed() / n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut rows: Vec<(String, String)> = vec![(
        "decide, one call (mid-rollout canary)".into(),
        format!("{:.1} µs", decide_cost().as_secs_f64() * 1e6),
    )];

    let sim = rollout_rs_sim::start(rollout_rs_sim::Config::default())
        .await
        .expect("start simulator");
    let dir = std::env::temp_dir().join(format!("rollout-rs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let client = rollout_rs_controller::client(Some(&kubeconfig))
        .await
        .expect("client");
    rollout_rs_controller::install::install_crds(&client, Duration::from_secs(30))
        .await
        .expect("CRDs");
    let ns = "bench";
    let ns_obj: Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns_obj)
        .await
        .expect("create namespace");

    let mut controller = std::process::Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
        .args(["controller", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start rollout-rs controller");
    let pid = controller.id();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let create_services = |name: String| {
        let services = services.clone();
        async move {
            for suffix in ["canary", "stable"] {
                let svc: Service = serde_json::from_value(json!({"metadata": {"name": format!("{name}-{suffix}")}, "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})).expect("service");
                services
                    .create(&PostParams::default(), &svc)
                    .await
                    .expect("create service");
            }
        }
    };
    // The controller is up once it has taken a probe Rollout to Healthy; with the probe gone,
    // that is the RSS with no Rollouts. (A Rollout without its Services is held in InvalidSpec.)
    create_services("probe".to_string()).await;
    let probe = rollouts
        .create(&PostParams::default(), &rollout("probe", "app:1"))
        .await
        .expect("create the probe");
    let probe_healthy = |ro: Option<&Rollout>| {
        ro.and_then(|r| r.status.as_ref()).and_then(|s| s.phase) == Some(RolloutPhase::Healthy)
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(rollouts.clone(), "probe", probe_healthy),
    )
    .await
    .expect("the controller took the probe to Healthy")
    .expect("watch the probe");
    rollouts
        .delete("probe", &Default::default())
        .await
        .expect("delete the probe");
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(
            rollouts.clone(),
            "probe",
            conditions::is_deleted(&probe.metadata.uid.unwrap_or_default()),
        ),
    )
    .await
    .expect("the probe is gone")
    .expect("watch the probe");
    let (rss_empty, _) = proc_stats(pid);

    let t = Instant::now();
    for i in 0..ROLLOUTS {
        let name = format!("app-{i}");
        create_services(name.clone()).await;
        rollouts
            .create(&PostParams::default(), &rollout(&name, "app:1"))
            .await
            .expect("create rollout");
    }
    // Wait (through a watch) until every Rollout is Healthy.
    let healthy =
        |ro: &Rollout| ro.status.as_ref().and_then(|s| s.phase) == Some(RolloutPhase::Healthy);
    let mut phases: BTreeMap<String, bool> = BTreeMap::new();
    let mut stream = watcher(rollouts.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    while phases.values().filter(|h| **h).count() < ROLLOUTS {
        match stream.next().await {
            Some(Ok(ro)) => {
                phases.insert(ro.metadata.name.clone().unwrap_or_default(), healthy(&ro));
            }
            Some(Err(e)) => panic!("watch: {e}"),
            None => panic!("watch ended"),
        }
    }
    rows.push((
        format!("{ROLLOUTS} Rollouts created and Healthy"),
        format!("{:.1} s", t.elapsed().as_secs_f64()),
    ));

    // Idle: ten seconds of nothing happening is the measurement window for CPU.
    let (_, cpu0) = proc_stats(pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rss_idle, cpu1) = proc_stats(pid);
    rows.push((
        "controller RSS, no Rollouts".into(),
        format!("{:.1} MiB", rss_empty as f64 / 1024.0),
    ));
    rows.push((
        format!("controller RSS, {ROLLOUTS} Rollouts idle"),
        format!(
            "{:.1} MiB ({:.1} KiB per Rollout)",
            rss_idle as f64 / 1024.0,
            (rss_idle.saturating_sub(rss_empty)) as f64 / ROLLOUTS as f64
        ),
    ));
    rows.push((
        format!("controller CPU, {ROLLOUTS} Rollouts idle (10 s)"),
        format!("{:.1}% of one core", (cpu1 - cpu0) * 10.0),
    ));

    // 100 progress: image change, setWeight 50, timed pause, promotion.
    let t = Instant::now();
    for i in 0..PROGRESSING {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
        rollouts
            .patch(
                &format!("app-{i}"),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .expect("update image");
    }
    let mut pause_delays: Vec<f64> = Vec::new();
    let mut paused_since: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    let mut passed_pause: std::collections::BTreeSet<String> = Default::default();
    let mut finished: std::collections::BTreeSet<String> = Default::default();
    let mut peak_rss = 0;
    while finished.len() < PROGRESSING {
        let ro = match stream.next().await {
            Some(Ok(ro)) => ro,
            // A watch restart (410 after falling behind) relists: keep going.
            Some(Err(_)) => continue,
            None => panic!("watch ended"),
        };
        peak_rss = peak_rss.max(proc_stats(pid).0);
        let name = ro.metadata.name.clone().unwrap_or_default();
        let st = ro.status.clone().unwrap_or_default();
        if let Some(c) = st.pause_conditions.first() {
            paused_since.insert(name.clone(), c.start_time.0);
        } else if let Some(start) = paused_since.remove(&name) {
            // The pause condition is gone: the controller wrote the next step. Observed through
            // this watch, so the delay includes the watch's own latency.
            let due = start + jiff::SignedDuration::from_secs(PAUSE_SECONDS);
            pause_delays.push(jiff::Timestamp::now().duration_since(due).as_secs_f64() * 1000.0);
            passed_pause.insert(name.clone());
        }
        if passed_pause.contains(&name) && healthy(&ro) && st.stable_rs == st.current_pod_hash {
            finished.insert(name);
        }
    }
    let (rss_busy, cpu2) = proc_stats(pid);
    let busy = t.elapsed().as_secs_f64();
    rows.push((
        format!("{PROGRESSING} Rollouts through a canary ({PAUSE_SECONDS}s pause)"),
        format!("{busy:.1} s"),
    ));
    rows.push((
        "controller RSS while they progress (peak)".into(),
        format!("{:.1} MiB", peak_rss.max(rss_busy) as f64 / 1024.0),
    ));
    rows.push((
        "controller CPU while they progress".into(),
        format!("{:.1}% of one core", (cpu2 - cpu1) / busy * 100.0),
    ));
    pause_delays.sort_by(f64::total_cmp);
    if !pause_delays.is_empty() {
        let pct = |p: f64| pause_delays[((pause_delays.len() as f64 - 1.0) * p).round() as usize];
        rows.push((
            format!(
                "pause end -> next step written ({} pauses)",
                pause_delays.len()
            ),
            format!("median {:.0} ms, p99 {:.0} ms", pct(0.5), pct(0.99)),
        ));
    }

    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n{:width$}  result", "rollout-rs controller benchmark");
    println!("{}", "-".repeat(width + 40));
    for (k, v) in rows {
        println!("{k:width$}  {v}");
    }
}
