//! Benchmark (numbers, not assertions): time from a step's start (a promote) to every configured
//! router written, with 1, 2 and 4 routers. The controller writes the Rollout's status after all
//! routers, so the status showing the new weight marks the end. Simulated cluster and controller
//! in this process. Run with `cargo bench -p rollout-rs-e2e --bench routers`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_e2e::Cluster;
use serde_json::json;

const ROLLOUTS: usize = 20;
const T: Duration = Duration::from_secs(60);

fn objects(name: &str, routers: usize) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}-canary}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}-stable}}\nspec: {{selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}}}\nspec:\n  rules:\n  - http:\n      paths:\n      - {{path: /, pathType: Prefix, backend: {{service: {{name: {name}-stable, port: {{number: 80}}}}}}}}\n"
    );
    if routers >= 4 {
        out.push_str(&format!(
            "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: {name}}}\nspec:\n  rules:\n  - backendRefs: [{{name: {name}-stable, port: 80, weight: 100}}, {{name: {name}-canary, port: 80, weight: 0}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}}}\nspec:\n  hosts: [{name}]\n  http:\n  - name: primary\n    route: [{{destination: {{host: {name}-stable}}, weight: 100}}, {{destination: {{host: {name}-canary}}, weight: 0}}]\n"
        ));
    }
    let routing = match routers {
        1 => "{nginx: {stableIngress: NAME}}".to_string(),
        2 => "{nginx: {stableIngress: NAME}, smi: {}}".to_string(),
        _ => "{nginx: {stableIngress: NAME}, smi: {}, gatewayAPI: {httpRoute: NAME}, istio: {virtualService: {name: NAME, routes: [primary]}}}".to_string(),
    }
    .replace("NAME", name);
    out.push_str(&format!(
        "---\napiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: {name}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"10\"}}}}\n    spec: {{containers: [{{name: app, image: \"app:1\"}}]}}\n  strategy:\n    canary:\n      canaryService: {name}-canary\n      stableService: {name}-stable\n      trafficRouting: {routing}\n      steps: [{{setWeight: 10}}, {{pause: {{}}}}, {{setWeight: 50}}, {{pause: {{}}}}]\n"
    ));
    out
}

async fn measure(routers: usize) -> Vec<Duration> {
    let mut c = Cluster::start().await.expect("cluster");
    c.install_crds().await.expect("CRDs");
    let ns = c.namespace("bench").await.expect("namespace");
    for f in [
        "gateway-api-httproute.yaml",
        "istio-networking.yaml",
        "smi-trafficsplit.yaml",
    ] {
        let text =
            std::fs::read_to_string(format!("{}/fixtures/crds/{f}", env!("CARGO_MANIFEST_DIR")))
                .expect("fixture");
        c.apply_yaml(&text, &ns).await.expect("fixture CRD");
    }
    c.start_controller();
    let api: Api<Rollout> = Api::namespaced(c.client.clone(), &ns);
    let names: Vec<String> = (0..ROLLOUTS).map(|i| format!("r{i}")).collect();
    for n in &names {
        c.apply_yaml(&objects(n, routers), &ns)
            .await
            .expect("objects");
    }
    let healthy = |ro: Option<&Rollout>| {
        ro.and_then(|r| r.status.as_ref()).and_then(|s| s.phase) == Some(RolloutPhase::Healthy)
    };
    for n in &names {
        c.wait(&api, n, T, "Healthy", healthy)
            .await
            .expect("healthy");
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
        api.patch(n, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("update");
    }
    let weight_is = |w: i32| {
        move |ro: Option<&Rollout>| {
            ro.and_then(|r| r.status.as_ref())
                .and_then(|s| s.canary.as_ref())
                .and_then(|c| c.weights.as_ref())
                .is_some_and(|x| x.canary.weight == w)
        }
    };
    let mut samples = Vec::new();
    for n in &names {
        c.wait(&api, n, T, "paused at 10%", weight_is(10))
            .await
            .expect("paused");
        c.wait(&api, n, T, "paused", |ro: Option<&Rollout>| {
            ro.and_then(|r| r.status.as_ref())
                .is_some_and(|s| !s.pause_conditions.is_empty())
        })
        .await
        .expect("paused");
        // The watch is listed before the clock starts, so only the promote's effect is timed.
        let mut events = watcher(
            api.clone(),
            watcher::Config::default().fields(&format!("metadata.name={n}")),
        )
        .boxed();
        loop {
            match events.next().await {
                Some(Ok(watcher::Event::InitDone)) => break,
                Some(Ok(_)) => {}
                other => panic!("watch {n}: {other:?}"),
            }
        }
        let t = Instant::now();
        api.patch_status(
            n,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"pauseConditions": null}})),
        )
        .await
        .expect("promote");
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(Ok(watcher::Event::Apply(ro)))) if weight_is(50)(Some(&ro)) => break,
                Ok(Some(Ok(_))) => {}
                other => panic!("{n} never reached 50%: {other:?}"),
            }
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("\n{:32}  {:>10}  {:>10}", "routers", "median", "max");
    println!("{}", "-".repeat(56));
    for (label, routers) in [
        ("1 (NGINX)", 1),
        ("2 (NGINX, SMI)", 2),
        ("4 (NGINX, SMI, Gateway, Istio)", 4),
    ] {
        let s = measure(routers).await;
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{label:32}  {:>10}  {:>10}",
            ms(s[s.len() / 2]),
            ms(s[s.len() - 1])
        );
    }
    println!(
        "(time from a promote to the status showing the next step's weight, seen through a watch; the controller"
    );
    println!(
        " writes after every router; {ROLLOUTS} promotions each, simulator and controller in one process)"
    );
}
