//! Server-side printing through kubectl 1.32's default output: `kubectl get` of the built-in
//! kinds shows the real API server's columns (READY 1/1 Running for a Deployment's pods,
//! ClusterIP and 80/TCP for a Service...), and `-o wide` adds the wide ones.

mod common;

use common::Cluster;

const OBJECTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}, annotations: {sim.rollout-rs.io/ready-after-ms: \"50\"}}
    spec: {containers: [{name: app, image: \"web:1\"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {a: \"1\", b: \"2\"}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: default}
stringData: {token: abc}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example]}]
  rules: [{host: shop.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: migrate, image: \"migrate:1\"}]}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: default}
spec: {holderIdentity: controller-0}
---
apiVersion: v1
kind: Event
metadata: {name: web.1, namespace: default}
involvedObject: {kind: ConfigMap, name: settings, namespace: default}
message: reloaded
reason: Reloaded
type: Warning
count: 3
firstTimestamp: \"2025-01-01T00:00:00Z\"
lastTimestamp: \"2025-01-01T00:00:09Z\"
source: {component: kubelet, host: sim-node-1}
";

/// kubectl's table output: the header's column names and each row's cells, cut at the
/// header's column offsets (cells may be empty; names like `NOMINATED NODE` hold a space).
fn table(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        let after_gap = i == 0 || (i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2] == b' ');
        if bytes[i] != b' ' && after_gap {
            starts.push(i);
        }
    }
    let cut = |line: &str| -> Vec<String> {
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| {
                let end = starts.get(n + 1).copied().unwrap_or(line.len());
                line.get(s.min(line.len())..end.min(line.len()))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    (cut(header), lines.map(cut).collect())
}

async fn get(c: &Cluster, args: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    table(&c.kubectl_ok(&full, None).await)
}

/// The row whose first cell is `name`.
fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_the_real_columns() {
    let c = Cluster::start().await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(OBJECTS)).await;
    c.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=20s"], None)
        .await;

    let (header, rows) = get(&c, &["pods", "-l", "app=web"]).await;
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert!(r[0].starts_with("web-"), "{r:?}");
        assert_eq!(r[1..4], ["1/1", "Running", "0"], "{r:?}");
    }
    let (header, rows) = get(&c, &["pods", "-l", "app=web", "-o", "wide"]).await;
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    for r in &rows {
        assert!(r[5].starts_with("10.244."), "{r:?}");
        assert!(r[6].starts_with("sim-node-"), "{r:?}");
        assert_eq!(r[7..], ["<none>", "<none>"], "{r:?}");
    }

    let (header, rows) = get(&c, &["rs"]).await;
    assert_eq!(header, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1..4], ["2", "2", "2"], "{rows:?}");
    let (header, rows) = get(&c, &["rs", "-o", "wide"]).await;
    assert_eq!(header[5..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(rows[0][5..7], ["app", "web:1"], "{rows:?}");
    assert!(
        rows[0][7].starts_with("app=web,pod-template-hash="),
        "{rows:?}"
    );

    let (header, rows) = get(&c, &["deploy"]).await;
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(row(&rows, "web")[1..4], ["2/2", "2", "2"]);
    let (header, rows) = get(&c, &["deploy", "-o", "wide"]).await;
    assert_eq!(header[5..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
    assert_eq!(row(&rows, "web")[5..], ["app", "web:1", "app=web"]);

    let (header, rows) = get(&c, &["svc"]).await;
    assert_eq!(
        header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let web = row(&rows, "web");
    assert_eq!(web[1], "ClusterIP");
    assert_eq!(web[3..5], ["<none>", "80/TCP"]);
    let (header, rows) = get(&c, &["svc", "-o", "wide"]).await;
    assert_eq!(header[6], "SELECTOR");
    assert_eq!(row(&rows, "web")[6], "app=web");

    let (header, rows) = get(&c, &["cm"]).await;
    assert_eq!(header, ["NAME", "DATA", "AGE"]);
    assert_eq!(row(&rows, "settings")[1], "2");

    let (header, rows) = get(&c, &["secrets"]).await;
    assert_eq!(header, ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(row(&rows, "token")[1..3], ["Opaque", "1"]);

    let (header, rows) = get(&c, &["ingress"]).await;
    assert_eq!(
        header,
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    assert_eq!(
        row(&rows, "web")[1..5],
        ["nginx", "shop.example", "", "80, 443"]
    );

    let (header, rows) = get(&c, &["jobs"]).await;
    assert_eq!(header, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    assert_eq!(row(&rows, "migrate")[1..3], ["Running", "0/1"]);
    let (header, rows) = get(&c, &["jobs", "-o", "wide"]).await;
    assert_eq!(header[5..7], ["CONTAINERS", "IMAGES"]);
    assert_eq!(row(&rows, "migrate")[5..7], ["migrate", "migrate:1"]);

    let (header, rows) = get(&c, &["leases"]).await;
    assert_eq!(header, ["NAME", "HOLDER", "AGE"]);
    assert_eq!(row(&rows, "leader")[1], "controller-0");

    // Core Events, and the same Event through events.k8s.io: the real server prints both alike.
    for resource in ["events", "events.events.k8s.io"] {
        let (header, rows) = get(&c, &[resource]).await;
        assert_eq!(
            header,
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            "{resource}"
        );
        let event = rows
            .iter()
            .find(|r| r[3] == "configmap/settings")
            .unwrap_or_else(|| panic!("no Event in {rows:?}"));
        assert_eq!(
            event[1..],
            ["Warning", "Reloaded", "configmap/settings", "reloaded"]
        );
        assert!(
            event[0].ends_with('d') || event[0].contains('y'),
            "{event:?}"
        );
    }
    let (header, rows) = get(&c, &["events", "-o", "wide"]).await;
    assert_eq!(
        header,
        [
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME"
        ]
    );
    let event = row_by(&rows, 9, "web.1");
    assert_eq!(event[5], "kubelet, sim-node-1");
    assert_eq!(event[8], "3");

    let (header, rows) = get(&c, &["nodes"]).await;
    assert_eq!(header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let node = row(&rows, "sim-node-1");
    assert_eq!(node[1..3], ["Ready", "<none>"]);
    assert!(node[4].starts_with("v1."), "{node:?}");
    let (header, rows) = get(&c, &["nodes", "-o", "wide"]).await;
    assert_eq!(
        header[5..],
        [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let node = row(&rows, "sim-node-1");
    assert_eq!(node[5..7], ["172.18.0.2", "<none>"]);
    assert!(node[9].starts_with("containerd://"), "{node:?}");

    let (header, rows) = get(&c, &["ns"]).await;
    assert_eq!(header, ["NAME", "STATUS", "AGE"]);
    assert_eq!(row(&rows, "default")[1], "Active");

    // One object is printed the same way (custom resources keep their own columns: kubectl.rs).
    let (header, rows) = get(&c, &["svc", "web"]).await;
    assert_eq!(header[1], "TYPE");
    assert_eq!(rows.len(), 1);
}

/// The row whose cell `column` is `value`.
fn row_by<'a>(rows: &'a [Vec<String>], column: usize, value: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.get(column).is_some_and(|v| v == value))
        .unwrap_or_else(|| panic!("no row with {value} in {rows:?}"))
}
