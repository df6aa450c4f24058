//! Simulated workloads seen through kubectl: ReplicaSets get Pods that become Ready after the
//! annotated delay (or never), status counts honour minReadySeconds, scaling removes pods, and
//! deleting the ReplicaSet garbage-collects its Pods.

mod common;

use common::Cluster;

fn replica_set(name: &str, replicas: u32, annotations: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  replicas: {replicas}\n  minReadySeconds: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}, annotations: {{{annotations}}}}}\n    spec: {{containers: [{{name: app, image: \"app:1\"}}]}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_get_pods_that_become_ready() {
    let c = Cluster::start().await;
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&replica_set(
            "web",
            3,
            "sim.rollout-rs.io/ready-after-ms: \"100\"",
        )),
    )
    .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.availableReplicas}=3",
            "rs/web",
            "--timeout=15s",
        ],
        None,
    )
    .await;
    let pods = c.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}"], None).await;
    let lines: Vec<&str> = pods.lines().collect();
    assert_eq!(lines.len(), 3, "{pods}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("web-") && l.ends_with(" Running ReplicaSet")),
        "{pods}"
    );
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Ready",
            "pod",
            "-l",
            "app=web",
            "--timeout=10s",
        ],
        None,
    )
    .await;

    c.kubectl_ok(&["scale", "rs", "web", "--replicas=1"], None)
        .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.replicas}=1",
            "rs/web",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    let pods = c
        .kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"], None)
        .await;
    assert_eq!(pods.lines().count(), 1, "{pods}");

    c.kubectl_ok(&["delete", "rs", "web", "--wait"], None).await;
    let pods = c
        .kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"], None)
        .await;
    assert_eq!(pods, "", "pods are garbage-collected with their ReplicaSet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_ready_pods_stay_unavailable() {
    let c = Cluster::start().await;
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&replica_set(
            "bad",
            2,
            "sim.rollout-rs.io/never-ready: \"true\"",
        )),
    )
    .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.replicas}=2",
            "rs/bad",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    // A healthy ReplicaSet created after it becomes available: the simulator has had every
    // chance to mark the bad pods ready, and did not.
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&replica_set(
            "good",
            1,
            "sim.rollout-rs.io/ready-after-ms: \"100\"",
        )),
    )
    .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.availableReplicas}=1",
            "rs/good",
            "--timeout=15s",
        ],
        None,
    )
    .await;
    let status = c
        .kubectl_ok(
            &[
                "get",
                "rs",
                "bad",
                "-o",
                "jsonpath={.status.replicas} {.status.readyReplicas} {.status.availableReplicas}",
            ],
            None,
        )
        .await;
    assert_eq!(status, "2 0 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_get_a_replica_set_per_template() {
    let c = Cluster::start().await;
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: default}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"50\"}}}}\n    spec: {{containers: [{{name: api, image: \"{image}\"}}]}}\n"
        )
    };
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("api:1")))
        .await;
    c.kubectl_ok(
        &["rollout", "status", "deployment/api", "--timeout=20s"],
        None,
    )
    .await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("api:2")))
        .await;
    c.kubectl_ok(
        &["rollout", "status", "deployment/api", "--timeout=20s"],
        None,
    )
    .await;
    let rs = c
        .kubectl_ok(&["get", "rs", "-l", "app=api", "-o", "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.spec.replicas} {end}"], None)
        .await;
    let mut sets: Vec<&str> = rs.split_whitespace().collect();
    sets.sort();
    assert_eq!(sets, ["api:1=0", "api:2=2"], "{rs}");
    let status = c
        .kubectl_ok(
            &[
                "get",
                "deploy",
                "api",
                "-o",
                "jsonpath={.status.updatedReplicas} {.status.availableReplicas}",
            ],
            None,
        )
        .await;
    assert_eq!(status, "2 2");
}

/// A Deployment rolled from `api:1` to `api:2` with slow pods, watched through kubectl: every
/// ReplicaSet event of the whole rollout is checked against the strategy's limits.
async fn watched_rollout(strategy: &str) -> Vec<(String, i64, i64)> {
    let c = Cluster::start().await;
    let deployment = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: default}}\nspec:\n  replicas: 4\n  strategy: {strategy}\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"300\"}}}}\n    spec: {{containers: [{{name: api, image: \"{image}\"}}]}}\n"
        )
    };
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("api:1")))
        .await;
    c.kubectl_ok(
        &["rollout", "status", "deployment/api", "--timeout=30s"],
        None,
    )
    .await;
    let (mut child, mut lines) = c.kubectl_stream(&[
        "get",
        "rs",
        "-l",
        "app=api",
        "-w",
        "-o",
        r#"jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas} {.status.availableReplicas}{"\n"}"#,
    ]);
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("api:2")))
        .await;
    let mut timeline = Vec::new();
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.recv().await {
            let mut words = line.split_whitespace();
            let image = words.next().unwrap_or_default().to_string();
            let spec = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let available = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            timeline.push((image.clone(), spec, available));
            if image == "api:2" && spec == 4 && available == 4 {
                break;
            }
        }
    })
    .await;
    let _ = child.kill();
    assert!(done.is_ok(), "the rollout did not finish: {timeline:?}");
    timeline
}

/// The latest (spec, available) of each image after each event.
fn snapshots(timeline: &[(String, i64, i64)]) -> Vec<[(i64, i64); 2]> {
    let mut now = [(4, 4), (0, 0)];
    timeline
        .iter()
        .map(|(image, spec, available)| {
            now[usize::from(image == "api:2")] = (*spec, *available);
            now
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_updates_stay_within_max_surge_and_max_unavailable() {
    let timeline =
        watched_rollout("{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}")
            .await;
    let snaps = snapshots(&timeline);
    for [(old_spec, old_available), (new_spec, new_available)] in &snaps {
        assert!(
            old_spec + new_spec <= 5,
            "more than replicas + maxSurge: {timeline:?}"
        );
        assert!(
            old_available + new_available >= 4,
            "fewer than replicas - maxUnavailable available: {timeline:?}"
        );
    }
    // One pod at a time: the new ReplicaSet went through every size.
    let mut sizes: Vec<i64> = snaps.iter().map(|s| s[1].0).collect();
    sizes.dedup();
    assert_eq!(sizes, [0, 1, 2, 3, 4], "{timeline:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_empties_the_old_replica_set_first() {
    let timeline = watched_rollout("{type: Recreate}").await;
    for [(old_spec, old_available), (new_spec, _)] in snapshots(&timeline) {
        assert!(
            new_spec == 0 || (old_spec == 0 && old_available == 0),
            "new pods beside old ones: {timeline:?}"
        );
    }
}
