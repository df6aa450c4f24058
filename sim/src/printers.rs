//! The real API server's table printers for built-in kinds (k8s.io/kubernetes
//! `pkg/printers/internalversion/printers.go`): the same column names, types, formats and
//! priorities, and the same cell text, so `kubectl get pods` reads `READY 1/1  STATUS Running`.
//!
//! The server always prints the wide form (its table convertor asks for `Wide: true`); kubectl
//! hides the priority-1 columns unless `-o wide`. Kinds without a printer here keep the generic
//! Name/Age table.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::registry::ResourceType;

/// A column definition as the printer declares it.
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub priority: i32,
}

const fn col(name: &'static str, ty: &'static str, priority: i32) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority,
    }
}

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    priority: 0,
};
const AGE: Column = col("Age", "string", 0);

/// One built-in kind's printer: its columns and the cells of one object.
pub struct Printer {
    pub columns: &'static [Column],
    pub cells: fn(&Value) -> Vec<Value>,
}

/// The printer of a built-in kind, or None (custom resources, kinds not covered).
pub fn printer(rt: &ResourceType) -> Option<Printer> {
    if rt.crd.is_some() {
        return None;
    }
    let p = |columns: &'static [Column], cells: fn(&Value) -> Vec<Value>| {
        Some(Printer { columns, cells })
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => p(POD, pod),
        ("apps", "ReplicaSet") => p(REPLICA_SET, replica_set),
        ("apps", "Deployment") => p(DEPLOYMENT, deployment),
        ("", "Service") => p(SERVICE, service),
        ("networking.k8s.io", "Ingress") => p(INGRESS, ingress),
        // events.k8s.io Events are stored (and printed) in their core form, as on the real server.
        ("" | "events.k8s.io", "Event") => p(EVENT, event),
        ("", "Node") => p(NODE, node),
        ("", "Namespace") => p(NAMESPACE, namespace),
        ("", "ConfigMap") => p(CONFIG_MAP, config_map),
        ("", "Secret") => p(SECRET, secret),
        ("batch", "Job") => p(JOB, job),
        ("coordination.k8s.io", "Lease") => p(LEASE, lease),
        _ => None,
    }
}

/// Row conditions: the real pod printer marks Succeeded and Failed pods `Completed`.
pub fn conditions(rt: &ResourceType, obj: &Value) -> Option<Value> {
    let finished = rt.crd.is_none()
        && rt.group.is_empty()
        && rt.kind == "Pod"
        && matches!(s(obj, "/status/phase"), "Succeeded" | "Failed");
    finished.then(|| json!([{"type": "Completed", "status": "True"}]))
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn len_of(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.into()
    }
}

fn seconds_since(timestamp: &str) -> Option<i64> {
    let t = timestamp.parse::<jiff::Timestamp>().ok()?;
    Some(jiff::Timestamp::now().as_second() - t.as_second())
}

/// `translateTimestampSince`: an age, or `<unknown>` without a timestamp.
fn since(timestamp: &str) -> String {
    match seconds_since(timestamp) {
        Some(secs) => crate::table::human_duration(secs),
        None => "<unknown>".into(),
    }
}

fn name(obj: &Value) -> Value {
    json!(s(obj, "/metadata/name"))
}

fn age(obj: &Value) -> Value {
    json!(since(s(obj, "/metadata/creationTimestamp")))
}

/// `metav1.FormatLabelSelector`: requirements sorted by key, `<none>` when empty.
fn label_selector(sel: Option<&Value>) -> String {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(m)) = sel.and_then(|s| s.get("matchLabels")) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in sel
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: BTreeSet<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let values = values.into_iter().collect::<Vec<_>>().join(",");
        let text = match e
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return "<error>".into(),
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort();
    let text = reqs
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",");
    or_none(&text)
}

/// `labels.FormatLabels` of a plain map (a Service's selector).
fn label_map(map: Option<&Value>) -> String {
    let text = match map {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    or_none(&text)
}

/// The wide CONTAINERS and IMAGES cells of a pod template.
fn containers_and_images(obj: &Value) -> [Value; 2] {
    let containers = arr(obj, "/spec/template/spec/containers");
    let field = |f: &str| {
        containers
            .iter()
            .map(|c| c.get(f).and_then(Value::as_str).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    [json!(field("name")), json!(field("image"))]
}

const POD: &[Column] = &[
    NAME,
    col("Ready", "string", 0),
    col("Status", "string", 0),
    col("Restarts", "string", 0),
    AGE,
    col("IP", "string", 1),
    col("Node", "string", 1),
    col("Nominated Node", "string", 1),
    col("Readiness Gates", "string", 1),
];

fn condition_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// A terminated container's reason, or its signal or exit code.
fn terminated_reason(t: &Value) -> String {
    match t
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        Some(r) => r.to_string(),
        None => match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
            Some(sig) => format!("Signal:{sig}"),
            None => format!("ExitCode:{}", int(t, "/exitCode")),
        },
    }
}

fn pod(obj: &Value) -> Vec<Value> {
    let conditions = arr(obj, "/status/conditions");
    let total = arr(obj, "/spec/containers").len();
    let mut reason = s(obj, "/status/phase").to_string();
    if let Some(r) = obj
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        reason = r.to_string();
    }
    let mut restarts = 0;
    let mut last_restart: Option<String> = None;
    // Counts a container's restarts and keeps the latest time one of them ended.
    let note_restart = |c: &Value, restarts: &mut i64, last: &mut Option<String>| {
        *restarts += int(c, "/restartCount");
        let finished = s(c, "/lastState/terminated/finishedAt");
        // RFC 3339 times in UTC compare as strings.
        if !finished.is_empty() && last.as_deref().is_none_or(|l| finished > l) {
            *last = Some(finished.to_string());
        }
    };

    let init_total = arr(obj, "/spec/initContainers").len();
    let mut initializing = false;
    for (i, c) in arr(obj, "/status/initContainerStatuses").iter().enumerate() {
        note_restart(c, &mut restarts, &mut last_restart);
        let state = &c["state"];
        if state
            .get("terminated")
            .is_some_and(|t| int(t, "/exitCode") == 0)
        {
            continue;
        }
        initializing = true;
        let waiting = s(state, "/waiting/reason");
        reason = if let Some(t) = state.get("terminated") {
            format!("Init:{}", terminated_reason(t))
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }

    let mut ready = 0;
    if !initializing || condition_true(conditions, "Initialized") {
        restarts = 0;
        last_restart = None;
        let mut has_running = false;
        for c in arr(obj, "/status/containerStatuses").iter().rev() {
            note_restart(c, &mut restarts, &mut last_restart);
            let state = &c["state"];
            let waiting = s(state, "/waiting/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = state.get("terminated") {
                reason = terminated_reason(t);
            } else if c["ready"] == true && state.get("running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose containers run again after one completed is shown by its readiness.
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if s(obj, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts = match last_restart.as_deref().and_then(seconds_since) {
        Some(ago) => format!("{restarts} ({} ago)", crate::table::human_duration(ago)),
        None => restarts.to_string(),
    };

    let gates = arr(obj, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates
            .iter()
            .filter(|g| condition_true(conditions, s(g, "/conditionType")))
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        name(obj),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age(obj),
        json!(or_none(s(obj, "/status/podIP"))),
        json!(or_none(s(obj, "/spec/nodeName"))),
        json!(or_none(s(obj, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

const REPLICA_SET: &[Column] = &[
    NAME,
    col("Desired", "integer", 0),
    col("Current", "integer", 0),
    col("Ready", "integer", 0),
    AGE,
    col("Containers", "string", 1),
    col("Images", "string", 1),
    col("Selector", "string", 1),
];

fn replica_set(obj: &Value) -> Vec<Value> {
    let [containers, images] = containers_and_images(obj);
    vec![
        name(obj),
        json!(int(obj, "/spec/replicas")),
        json!(int(obj, "/status/replicas")),
        json!(int(obj, "/status/readyReplicas")),
        age(obj),
        containers,
        images,
        json!(label_selector(obj.pointer("/spec/selector"))),
    ]
}

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", 0),
    col("Up-to-date", "integer", 0),
    col("Available", "integer", 0),
    AGE,
    col("Containers", "string", 1),
    col("Images", "string", 1),
    col("Selector", "string", 1),
];

fn deployment(obj: &Value) -> Vec<Value> {
    let [containers, images] = containers_and_images(obj);
    vec![
        name(obj),
        json!(format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            int(obj, "/spec/replicas")
        )),
        json!(int(obj, "/status/updatedReplicas")),
        json!(int(obj, "/status/availableReplicas")),
        age(obj),
        containers,
        images,
        json!(label_selector(obj.pointer("/spec/selector"))),
    ]
}

const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string", 0),
    col("Cluster-IP", "string", 0),
    col("External-IP", "string", 0),
    col("Port(s)", "string", 0),
    AGE,
    col("Selector", "string", 1),
];

/// `loadBalancerStatusStringer` (wide, as the server prints): ingress IPs or hostnames.
fn load_balancer(obj: &Value) -> Vec<String> {
    arr(obj, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            let ip = s(i, "/ip");
            let host = s(i, "/hostname");
            match (ip.is_empty(), host.is_empty()) {
                (false, _) => Some(ip.to_string()),
                (true, false) => Some(host.to_string()),
                (true, true) => None,
            }
        })
        .collect()
}

fn service(obj: &Value) -> Vec<Value> {
    // The real server defaults the type and port protocols on create; this one may not have.
    let ty = match s(obj, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let external_ips: Vec<&str> = arr(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "LoadBalancer" => {
            let mut ips = load_balancer(obj);
            ips.extend(external_ips.iter().map(|s| s.to_string()));
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => s(obj, "/spec/externalName").to_string(),
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = match s(p, "/protocol") {
                "" => "TCP",
                proto => proto,
            };
            match int(p, "/nodePort") {
                0 => format!("{}/{protocol}", int(p, "/port")),
                node_port => format!("{}:{node_port}/{protocol}", int(p, "/port")),
            }
        })
        .collect();
    vec![
        name(obj),
        json!(ty),
        json!(or_none(s(obj, "/spec/clusterIP"))),
        json!(external),
        json!(or_none(&ports.join(","))),
        age(obj),
        json!(label_map(obj.pointer("/spec/selector"))),
    ]
}

const INGRESS: &[Column] = &[
    NAME,
    col("Class", "string", 0),
    col("Hosts", "string", 0),
    col("Address", "string", 0),
    col("Ports", "string", 0),
    AGE,
];

fn ingress(obj: &Value) -> Vec<Value> {
    let class = obj
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // `formatHosts`: at most three hosts, then how many more rules there are.
    let rules = arr(obj, "/spec/rules");
    let hosts: Vec<&str> = rules
        .iter()
        .take(3)
        .map(|r| s(r, "/host"))
        .filter(|h| !h.is_empty())
        .collect();
    let hosts = match (hosts.is_empty(), rules.len() > 3) {
        (true, _) => "*".to_string(),
        (false, false) => hosts.join(","),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
    };
    let ports = if arr(obj, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(obj),
        json!(class),
        json!(hosts),
        json!(load_balancer(obj).join(",")),
        json!(ports),
        age(obj),
    ]
}

const EVENT: &[Column] = &[
    col("Last Seen", "string", 0),
    col("Type", "string", 0),
    col("Reason", "string", 0),
    col("Object", "string", 0),
    col("Subobject", "string", 1),
    col("Source", "string", 1),
    col("Message", "string", 0),
    col("First Seen", "string", 1),
    col("Count", "string", 1),
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        priority: 1,
    },
];

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn event(obj: &Value) -> Vec<Value> {
    let first = match s(obj, "/firstTimestamp") {
        "" => since(s(obj, "/eventTime")),
        t => since(t),
    };
    let mut last = match s(obj, "/lastTimestamp") {
        "" => first.clone(),
        t => since(t),
    };
    let mut count = int(obj, "/count");
    if obj.get("series").is_some_and(|v| !v.is_null()) {
        last = since(s(obj, "/series/lastObservedTime"));
        count = int(obj, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(obj, "/involvedObject/kind").to_lowercase();
    let target = match s(obj, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = first_non_empty(s(obj, "/source/component"), s(obj, "/reportingComponent"));
    let instance = first_non_empty(s(obj, "/source/host"), s(obj, "/reportingInstance"));
    let source = match (component.is_empty(), instance.is_empty()) {
        (true, true) => String::new(),
        (_, true) => component.to_string(),
        _ => format!("{component}, {instance}"),
    };
    vec![
        json!(last),
        json!(s(obj, "/type")),
        json!(s(obj, "/reason")),
        json!(target),
        json!(s(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(obj, "/message").trim()),
        json!(first),
        json!(count),
        name(obj),
    ]
}

const NODE: &[Column] = &[
    NAME,
    col("Status", "string", 0),
    col("Roles", "string", 0),
    AGE,
    col("Version", "string", 0),
    col("Internal-IP", "string", 1),
    col("External-IP", "string", 1),
    col("OS-Image", "string", 1),
    col("Kernel-Version", "string", 1),
    col("Container-Runtime", "string", 1),
];

fn node_address(obj: &Value, kind: &str) -> String {
    let address = arr(obj, "/status/addresses")
        .iter()
        .find(|a| a["type"] == kind)
        .map(|a| s(a, "/address"))
        .unwrap_or_default();
    or_none(address)
}

fn node(obj: &Value) -> Vec<Value> {
    let mut status: Vec<String> = arr(obj, "/status/conditions")
        .iter()
        .filter(|c| c["type"] == "Ready")
        .take(1)
        .map(|c| {
            if c["status"] == "True" {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            }
        })
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if obj.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push("SchedulingDisabled".into());
    }
    // `findNodeRoles`: node-role.kubernetes.io/<role> labels and the legacy kubernetes.io/role.
    let mut roles = BTreeSet::new();
    if let Some(Value::Object(labels)) = obj.pointer("/metadata/labels") {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == "kubernetes.io/role"
                && let Some(role) = v.as_str().filter(|r| !r.is_empty())
            {
                roles.insert(role.to_string());
            }
        }
    }
    let roles = roles.into_iter().collect::<Vec<_>>().join(",");
    let info = |field: &str| match s(obj, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(obj),
        json!(status.join(",")),
        json!(or_none(&roles)),
        age(obj),
        json!(s(obj, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(obj, "InternalIP")),
        json!(node_address(obj, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

const NAMESPACE: &[Column] = &[NAME, col("Status", "string", 0), AGE];

fn namespace(obj: &Value) -> Vec<Value> {
    vec![name(obj), json!(s(obj, "/status/phase")), age(obj)]
}

const CONFIG_MAP: &[Column] = &[NAME, col("Data", "integer", 0), AGE];

fn config_map(obj: &Value) -> Vec<Value> {
    let data = len_of(obj, "/data") + len_of(obj, "/binaryData");
    vec![name(obj), json!(data), age(obj)]
}

const SECRET: &[Column] = &[
    NAME,
    col("Type", "string", 0),
    col("Data", "integer", 0),
    AGE,
];

fn secret(obj: &Value) -> Vec<Value> {
    // The real server defaults an empty type to Opaque.
    let ty = match s(obj, "/type") {
        "" => "Opaque",
        t => t,
    };
    vec![name(obj), json!(ty), json!(len_of(obj, "/data")), age(obj)]
}

const JOB: &[Column] = &[
    NAME,
    col("Status", "string", 0),
    col("Completions", "string", 0),
    col("Duration", "string", 0),
    AGE,
    col("Containers", "string", 1),
    col("Images", "string", 1),
    col("Selector", "string", 1),
];

fn job(obj: &Value) -> Vec<Value> {
    let succeeded = int(obj, "/status/succeeded");
    let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(obj, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let parse = |p: &str| s(obj, p).parse::<jiff::Timestamp>().ok();
    let duration = match (parse("/status/startTime"), parse("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => {
            crate::table::human_duration(jiff::Timestamp::now().as_second() - start.as_second())
        }
        (Some(start), Some(end)) => {
            crate::table::human_duration(end.as_second() - start.as_second())
        }
    };
    let conditions = arr(obj, "/status/conditions");
    let status = if condition_true(conditions, "Complete") {
        "Complete"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if condition_true(conditions, "Suspended") {
        "Suspended"
    } else if condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else if condition_true(conditions, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let [containers, images] = containers_and_images(obj);
    vec![
        name(obj),
        json!(status),
        json!(completions),
        json!(duration),
        age(obj),
        containers,
        images,
        json!(label_selector(obj.pointer("/spec/selector"))),
    ]
}

const LEASE: &[Column] = &[NAME, col("Holder", "string", 0), AGE];

fn lease(obj: &Value) -> Vec<Value> {
    vec![name(obj), json!(s(obj, "/spec/holderIdentity")), age(obj)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_format_like_metav1() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]},
                                 {"key": "d", "operator": "DoesNotExist"}]});
        assert_eq!(label_selector(Some(&sel)), "a=1,b=2,c in (x,y),!d");
        assert_eq!(label_selector(None), "<none>");
    }

    #[test]
    fn pod_status_follows_container_states() {
        let pod_with = |statuses: Value| {
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                   "status": {"phase": "Running", "containerStatuses": statuses}})
        };
        let cells = pod(&pod_with(json!([
            {"name": "a", "ready": true, "restartCount": 1, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ])));
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "<none>");
        let cells = pod(&pod_with(json!([
            {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}},
        ])));
        assert_eq!(cells[2], "Signal:9");
    }

    #[test]
    fn service_ports_and_external_ips() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort",
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}});
        let cells = service(&svc);
        assert_eq!(cells[1], "NodePort");
        assert_eq!(cells[3], "<none>");
        assert_eq!(cells[4], "80:30080/TCP,53/UDP");
        let lb = json!({"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer"}});
        assert_eq!(service(&lb)[3], "<pending>");
    }
}
