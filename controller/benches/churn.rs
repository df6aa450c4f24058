//! Churn benchmark (numbers, not assertions): 100 Rollout slots cycle through create, update
//! and delete for `CHURN_MINUTES` (default 5), each Rollout under a new name and uid, while the
//! controller's RSS is sampled. Memory that only grows with the number of Rollouts ever seen
//! (caches keyed by Rollout that are never trimmed) shows as a rising RSS; memory held per live
//! Rollout levels off. Prints a table of samples.
//!
//! The simulated cluster runs in this process; the controller runs as its own process
//! (`rollout-rs controller`), so its RSS is measured alone.
//! Run with `CHURN_MINUTES=60 cargo bench -p rollout-rs-controller --bench churn`.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rollout_rs_crds::Rollout;
use serde_json::json;

mod support;

const SLOTS: usize = 100;
/// One slot is visited per tick: create, update, delete, in turn.
const TICK: Duration = Duration::from_millis(200);

fn rss_kib(pid: u32) -> u64 {
    support::proc_stats(pid).0
}

fn rollout(name: &str, image: &str) -> Result<Rollout, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"sim.rollout-rs.io/ready-after-ms": "100"}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": {
                "canaryService": format!("{name}-canary"),
                "stableService": format!("{name}-stable"),
                "steps": [{"setWeight": 50}, {"pause": {"duration": "5s"}}]
            }}
        }
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Empty,
    Created,
    Updated,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let minutes: u64 = std::env::var("CHURN_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(5);
    let sim = rollout_rs_sim::start(rollout_rs_sim::Config::default()).await?;
    let dir = std::env::temp_dir().join(format!("rollout-rs-churn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let client = rollout_rs_controller::client(Some(&kubeconfig)).await?;
    rollout_rs_controller::install::install_crds(&client, Duration::from_secs(30)).await?;
    let ns = "churn";
    let ns_obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns_obj)
        .await?;
    let mut controller = std::process::Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
        .args(["controller", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = controller.id();
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client.clone(), ns);

    let mut slots = [Slot::Empty; SLOTS];
    let mut generation = [0usize; SLOTS];
    let (mut created, mut updated, mut deleted, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(minutes * 60);
    // Off the 60 s create/update/delete cycle, so samples do not all fall at the same phase.
    let sample_every =
        Duration::from_secs((minutes * 60 / 12).max(10)) + Duration::from_millis(3_700);
    let mut next_sample = start;
    let mut samples: Vec<(f64, u64, usize, u64)> = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    let mut at = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        if Instant::now() >= next_sample {
            let alive = slots.iter().filter(|s| **s != Slot::Empty).count();
            samples.push((
                start.elapsed().as_secs_f64() / 60.0,
                rss_kib(pid),
                alive,
                created,
            ));
            next_sample += sample_every;
        }
        let i = at % SLOTS;
        at += 1;
        let name = format!("c{i}-{}", generation[i]);
        let outcome: Result<(), kube::Error> = async {
            match slots[i] {
                Slot::Empty => {
                    for side in ["canary", "stable"] {
                        let svc: Service = serde_json::from_value(json!({
                            "metadata": {"name": format!("{name}-{side}")},
                            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}
                        }))
                        .map_err(kube::Error::SerdeError)?;
                        services.create(&PostParams::default(), &svc).await?;
                    }
                    let ro = rollout(&name, "app:1").map_err(kube::Error::SerdeError)?;
                    rollouts.create(&PostParams::default(), &ro).await?;
                    slots[i] = Slot::Created;
                    created += 1;
                }
                Slot::Created => {
                    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
                    rollouts
                        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                        .await?;
                    slots[i] = Slot::Updated;
                    updated += 1;
                }
                Slot::Updated => {
                    rollouts.delete(&name, &DeleteParams::default()).await?;
                    for side in ["canary", "stable"] {
                        services
                            .delete(&format!("{name}-{side}"), &DeleteParams::default())
                            .await?;
                    }
                    slots[i] = Slot::Empty;
                    generation[i] += 1;
                    deleted += 1;
                }
            }
            Ok(())
        }
        .await;
        if outcome.is_err() {
            errors += 1;
        }
    }
    let alive = slots.iter().filter(|s| **s != Slot::Empty).count();
    samples.push((
        start.elapsed().as_secs_f64() / 60.0,
        rss_kib(pid),
        alive,
        created,
    ));
    let _ = controller.kill();
    let _ = controller.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "\nrollout-rs churn: {SLOTS} slots, one create/update/delete every {TICK:?}, {minutes} min"
    );
    println!(
        "{:>8}  {:>10}  {:>6}  {:>14}",
        "minute", "RSS MiB", "alive", "created so far"
    );
    for (m, rss, alive, made) in &samples {
        println!(
            "{m:>8.1}  {:>10.1}  {alive:>6}  {made:>14}",
            *rss as f64 / 1024.0
        );
    }
    println!("created {created}, updated {updated}, deleted {deleted}, failed requests {errors}");
    Ok(())
}
