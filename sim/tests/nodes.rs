//! What a newcomer types in the first minutes, through kubectl 1.32 with default flags: the
//! simulated Nodes, pods bound to them (node, IPs, container statuses that follow the readiness
//! simulation), `kubectl logs` for a pod and a Deployment, the health endpoints, and
//! `kubectl rollout history`.

mod common;

use std::collections::HashSet;

use common::Cluster;

/// A Deployment `web` (pods Ready after 50 ms) with one container, `image`.
fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}, annotations: {{sim.rollout-rs.io/ready-after-ms: \"50\"}}}}\n    spec: {{containers: [{{name: app, image: \"{image}\", ports: [{{containerPort: 8080}}]}}]}}\n"
    )
}

async fn rolled_out(c: &Cluster) {
    c.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=20s"], None)
        .await;
}

/// The pods of `web`, one line each: `name node podIP hostIP phase ready started restarts
/// startedAt containerID imageID`.
async fn web_pods(c: &Cluster) -> Vec<Vec<String>> {
    let out = c
        .kubectl_ok(
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP} {.status.hostIP} {.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].started} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].imageID}{\"\\n\"}{end}",
            ],
            None,
        )
        .await;
    out.lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_nodes_lists_ready_nodes() {
    let c = Cluster::start().await;
    let out = c.kubectl_ok(&["get", "nodes"], None).await;
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["sim-node-1", "sim-node-2", "sim-node-3"], "{out}");
    let out = c
        .kubectl_ok(
            &[
                "get",
                "no",
                "sim-node-2",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.status.capacity.cpu} {.status.allocatable.pods} {.status.nodeInfo.kubeletVersion} {.status.addresses[?(@.type==\"InternalIP\")].address} {.status.addresses[?(@.type==\"Hostname\")].address} {.spec.podCIDR} {.metadata.labels.kubernetes\\.io/hostname}",
            ],
            None,
        )
        .await;
    assert_eq!(
        out,
        "True 4 110 v1.33.0 172.18.0.3 sim-node-2 10.244.1.0/24 sim-node-2"
    );
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Ready",
            "nodes",
            "--all",
            "--timeout=5s",
        ],
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_number_of_nodes_is_configurable() {
    let c = Cluster::start_with(rollout_rs_sim::Config {
        nodes: 5,
        ..Default::default()
    })
    .await;
    let out = c.kubectl_ok(&["get", "nodes", "-o", "name"], None).await;
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.contains("node/sim-node-5"), "{out}");

    // Without Nodes nothing can run a pod: it waits, Unschedulable, as on a real cluster.
    let c = Cluster::start_with(rollout_rs_sim::Config {
        nodes: 0,
        ..Default::default()
    })
    .await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("web:1")))
        .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Pending",
            "pod",
            "-l",
            "app=web",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    let out = c
        .kubectl_ok(
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"PodScheduled\")].reason}/{.spec.nodeName} {end}",
            ],
            None,
        )
        .await;
    assert_eq!(out.trim(), "Unschedulable/ Unschedulable/ Unschedulable/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_on_nodes_with_ips_and_container_statuses() {
    let c = Cluster::start().await;
    c.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deployment("registry.example/web:1.2")),
    )
    .await;
    rolled_out(&c).await;
    let pods = web_pods(&c).await;
    assert_eq!(pods.len(), 3, "{pods:?}");
    let nodes: HashSet<&str> = pods.iter().map(|p| p[1].as_str()).collect();
    assert_eq!(
        nodes,
        HashSet::from(["sim-node-1", "sim-node-2", "sim-node-3"]),
        "three pods on three empty nodes: one each"
    );
    let ips: HashSet<&str> = pods.iter().map(|p| p[2].as_str()).collect();
    assert_eq!(ips.len(), 3, "pod IPs are unique: {pods:?}");
    for p in &pods {
        let node_index: usize = p[1]
            .trim_start_matches("sim-node-")
            .parse()
            .expect("node number");
        assert!(
            p[2].starts_with(&format!("10.244.{}.", node_index - 1)),
            "pod IP from its node's podCIDR: {p:?}"
        );
        assert_eq!(p[3], format!("172.18.0.{}", node_index + 1), "{p:?}");
        assert_eq!(&p[4..8], ["Running", "true", "true", "0"], "{p:?}");
        assert!(p[8].ends_with('Z'), "startedAt: {p:?}");
        assert!(
            p[9].starts_with("containerd://") && p[9].len() == 13 + 64,
            "{p:?}"
        );
        assert!(p[10].starts_with("registry.example/web@sha256:"), "{p:?}");
    }
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

    // A never-ready pod runs, started but not ready, and its pod stays NotReady.
    let never = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: stuck, namespace: default}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: stuck}}\n  template:\n    metadata: {labels: {app: stuck}, annotations: {sim.rollout-rs.io/never-ready: \"true\"}}\n    spec: {containers: [{name: app, image: \"stuck:1\"}]}\n";
    c.kubectl_ok(&["apply", "-f", "-"], Some(never)).await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            "pod",
            "-l",
            "app=stuck",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    // web's pods turned Ready after this one started; the kubelet had every chance.
    let out = c
        .kubectl_ok(
            &[
                "get",
                "pods",
                "-l",
                "app=stuck",
                "-o",
                "jsonpath={.items[0].spec.nodeName} {.items[0].status.containerStatuses[0].ready} {.items[0].status.containerStatuses[0].started} {.items[0].status.conditions[?(@.type==\"Ready\")].status} {.items[0].status.conditions[?(@.type==\"Ready\")].reason}",
            ],
            None,
        )
        .await;
    // The fourth pod goes to the least-loaded node; all have one, so the first.
    assert_eq!(out, "sim-node-1 false true False ContainersNotReady");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_for_a_pod_and_a_deployment() {
    let c = Cluster::start().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("web:1")))
        .await;
    rolled_out(&c).await;
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
    let pods = web_pods(&c).await;
    let (pod, ip) = (&pods[0][0], &pods[0][2]);

    let out = c.kubectl_ok(&["logs", pod], None).await;
    assert_eq!(
        out,
        format!(
            "rollout-rs-sim: container app of pod default/{pod} started from image web:1\nrollout-rs-sim: app listening on {ip}:8080\nrollout-rs-sim: app is ready\n"
        )
    );
    assert_eq!(c.kubectl_ok(&["logs", pod, "-c", "app"], None).await, out);
    assert_eq!(c.kubectl_ok(&["logs", "-f", pod], None).await, out);
    let tail = c
        .kubectl_ok(&["logs", pod, "--tail=1", "--timestamps"], None)
        .await;
    let (stamp, line) = tail.trim_end().split_once(' ').expect("timestamped line");
    assert_eq!(line, "rollout-rs-sim: app is ready");
    assert!(
        stamp.len() == "2026-01-01T00:00:00.000000000Z".len() && stamp.ends_with('Z'),
        "{tail}"
    );

    // kubectl finds the Deployment's pods itself and shows one of them.
    let (ok, out, err) = c.kubectl(&["logs", "deploy/web"], None).await;
    assert!(ok, "{err}");
    assert!(err.contains("Found 3 pods, using pod/web-"), "{err}");
    assert!(
        out.starts_with("rollout-rs-sim: container app of pod default/web-")
            && out.ends_with("rollout-rs-sim: app is ready\n"),
        "{out}"
    );

    // A missing pod: the server's NotFound.
    let (ok, _, err) = c.kubectl(&["logs", "nope"], None).await;
    assert!(!ok);
    assert!(err.contains("pods \"nope\" not found"), "{err}");
    let (code, body) = c
        .http("GET", "/api/v1/namespaces/default/pods/nope/log", "", "")
        .await;
    assert_eq!(code, 404);
    let status: serde_json::Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("NotFound"))
    );
    // A missing container: kubectl refuses it itself, the server with 400 as the real one.
    let (ok, _, err) = c.kubectl(&["logs", pod, "-c", "nope"], None).await;
    assert!(!ok);
    assert!(
        err.contains(&format!("container nope is not valid for pod {pod}")),
        "{err}"
    );
    let (code, body) = c
        .http(
            "GET",
            &format!("/api/v1/namespaces/default/pods/{pod}/log?container=nope"),
            "",
            "",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"reason\":\"BadRequest\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_endpoints_answer_ok() {
    let c = Cluster::start().await;
    for path in ["/healthz", "/livez", "/readyz", "/readyz/ping"] {
        assert_eq!(c.kubectl_ok(&["get", "--raw", path], None).await, "ok");
    }
    let out = c
        .kubectl_ok(&["get", "--raw", "/readyz?verbose"], None)
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"[+]ping ok"), "{out}");
    assert_eq!(lines.last(), Some(&"readyz check passed"), "{out}");
    assert!(lines.contains(&"[+]etcd ok"), "{out}");
    assert!(lines.contains(&"[+]shutdown ok"), "{out}");
    let out = c
        .kubectl_ok(&["get", "--raw", "/livez?verbose&exclude=etcd"], None)
        .await;
    assert!(out.contains("[+]etcd excluded: ok\n"), "{out}");
    assert!(out.ends_with("livez check passed\n"), "{out}");
    let (ok, _, _) = c.kubectl(&["get", "--raw", "/readyz/nope"], None).await;
    assert!(!ok, "an unknown check is 404");
}

/// `kubectl rollout history deploy/web`, one `REVISION CHANGE-CAUSE` line per revision.
async fn history(c: &Cluster) -> Vec<String> {
    let out = c
        .kubectl_ok(&["rollout", "history", "deploy/web"], None)
        .await;
    out.lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_history_counts_revisions() {
    let c = Cluster::start().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(&deployment("web:1")))
        .await;
    rolled_out(&c).await;
    c.kubectl_ok(&["set", "image", "deploy/web", "app=web:2"], None)
        .await;
    c.kubectl_ok(
        &[
            "annotate",
            "deploy/web",
            "kubernetes.io/change-cause=image web:2",
        ],
        None,
    )
    .await;
    rolled_out(&c).await;
    // The change-cause reaches the current ReplicaSet in the controller's next pass.
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}=2",
            "deploy/web",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    assert_eq!(history(&c).await, ["1 <none>", "2 image web:2"]);
    let out = c
        .kubectl_ok(&["rollout", "history", "deploy/web", "--revision=1"], None)
        .await;
    assert!(out.contains("Image:\tweb:1"), "{out}");

    // Undo brings revision 1's ReplicaSet back as revision 3, as the real controller does.
    c.kubectl_ok(&["rollout", "undo", "deploy/web", "--to-revision=1"], None)
        .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}=3",
            "deploy/web",
            "--timeout=10s",
        ],
        None,
    )
    .await;
    rolled_out(&c).await;
    let revisions: Vec<String> = history(&c)
        .await
        .iter()
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect();
    assert_eq!(revisions, ["2", "3"]);
    let sets = c
        .kubectl_ok(&["get", "rs", "-l", "app=web", "-o", "name"], None)
        .await;
    assert_eq!(sets.lines().count(), 2, "no twin ReplicaSet: {sets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_starts_a_pod_on_a_node() {
    let c = Cluster::start().await;
    c.kubectl_ok(
        &[
            "run",
            "shell",
            "--image=busybox:1.36",
            "--",
            "sleep",
            "3600",
        ],
        None,
    )
    .await;
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Ready",
            "pod/shell",
            "--timeout=20s",
        ],
        None,
    )
    .await;
    let out = c
        .kubectl_ok(&["get", "pod", "shell", "-o", "wide"], None)
        .await;
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["shell", "1/1", "Running", "0"], "{out}");
    assert!(row[6].starts_with("sim-node-"), "{out}");
    let logs = c.kubectl_ok(&["logs", "shell"], None).await;
    assert!(!logs.is_empty());

    // With no Node to take it, a bare pod is Pending with the scheduler's reason.
    let none = Cluster::start_with(rollout_rs_sim::Config {
        nodes: 0,
        ..Default::default()
    })
    .await;
    none.kubectl_ok(&["run", "stuck", "--image=busybox:1.36"], None)
        .await;
    none.kubectl_ok(
        &[
            "wait",
            "--for=jsonpath={.status.conditions[0].reason}=Unschedulable",
            "pod/stuck",
            "--timeout=20s",
        ],
        None,
    )
    .await;
    let out = none.kubectl_ok(&["get", "pod", "stuck"], None).await;
    assert!(out.contains("Pending"), "{out}");
}
