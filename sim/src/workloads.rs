//! Simulated workloads: what the ReplicaSet controller and the kubelet would do. A ReplicaSet
//! gets owned Pods (named and labelled like the real controller's) up and down to
//! `spec.replicas`; a Pod turns Ready after `sim.rollout-rs.io/ready-after-ms` (default 200)
//! unless `sim.rollout-rs.io/never-ready: "true"`; ReplicaSet status (replicas, readyReplicas,
//! availableReplicas honouring minReadySeconds, observedGeneration) is kept true. A new pod is
//! bound to a Node by [`crate::nodes::Scheduler`] and started at once (phase Running, pod IP,
//! containers running but not ready); readiness flips only the Ready conditions and flags.
//! A pod no ReplicaSet owns (`kubectl run`) is scheduled and started the same way.
//!
//! It reacts to the store's change events and to readiness timers; it never polls.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::api::Server;
use crate::nodes::{Binding, Scheduler};
use crate::ops::{self, DeleteOptions, Part, WriteOptions, meta_str};
use crate::registry::ResourceType;
use crate::store::State;

const READY_AFTER: &str = "sim.rollout-rs.io/ready-after-ms";
const NEVER_READY: &str = "sim.rollout-rs.io/never-ready";
const DEFAULT_READY_AFTER_MS: u64 = 200;

/// Runs the simulated controllers until the server goes away.
pub async fn run(srv: Arc<Server>) {
    let mut events = srv.lock().subscribe();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(_)) => {
                // Missed changes: look at every workload again.
                resync(&srv);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        match event.storage_key.as_str() {
            "apps/deployments" => {
                let (ns, name) = key_of(&event.object);
                crate::deployments::reconcile(&srv, &ns, &name);
            }
            "apps/replicasets" => {
                let (ns, name) = key_of(&event.object);
                reconcile(&srv, &ns, &name);
                if let Some((ns, d)) = controller_of(&event.object, "Deployment") {
                    crate::deployments::reconcile(&srv, &ns, &d);
                }
            }
            "/pods" => match controller_of(&event.object, "ReplicaSet") {
                Some((ns, name)) => reconcile(&srv, &ns, &name),
                None if is_new(&event.object) => {
                    let (ns, name) = key_of(&event.object);
                    start_bare_pod(&srv, &ns, &name);
                }
                None => {}
            },
            // The ServiceAccounts controller, with authorization only (without it nothing
            // needs a ServiceAccount, and the store stays as it always was).
            "/namespaces" if srv.auth.enabled => {
                let (_, name) = key_of(&event.object);
                crate::auth::default_service_account(&mut srv.lock(), &name);
            }
            _ => {}
        }
    }
}

fn key_of(obj: &Value) -> (String, String) {
    (
        meta_str(obj, "namespace").unwrap_or_default().into(),
        meta_str(obj, "name").unwrap_or_default().into(),
    )
}

/// The controller of `kind` that owns an object, if any.
fn controller_of(obj: &Value, kind: &str) -> Option<(String, String)> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = refs.iter().find(|r| {
        r.get("kind").and_then(Value::as_str) == Some(kind)
            && r.get("controller").and_then(Value::as_bool) == Some(true)
    })?;
    Some((
        meta_str(obj, "namespace").unwrap_or_default().into(),
        owner.get("name")?.as_str()?.into(),
    ))
}

fn resync(srv: &Arc<Server>) {
    let keys: Vec<(String, String)> = srv
        .lock()
        .list("apps/replicasets")
        .map(|(k, _)| k.clone())
        .collect();
    for (ns, name) in keys {
        reconcile(srv, &ns, &name);
    }
    let deployments: Vec<(String, String)> = srv
        .lock()
        .list("apps/deployments")
        .map(|(k, _)| k.clone())
        .collect();
    for (ns, name) in deployments {
        crate::deployments::reconcile(srv, &ns, &name);
    }
    let bare: Vec<(String, String)> = srv
        .lock()
        .list("/pods")
        .filter(|(_, pod)| controller_of(pod, "ReplicaSet").is_none() && is_new(pod))
        .map(|(k, _)| k.clone())
        .collect();
    for (ns, name) in bare {
        start_bare_pod(srv, &ns, &name);
    }
}

fn types(state: &State) -> Option<(ResourceType, ResourceType)> {
    Some((
        state.registry.get("apps", "v1", "replicasets")?.clone(),
        state.registry.get("", "v1", "pods")?.clone(),
    ))
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Seconds since the pod became Ready, if it is.
fn ready_for(pod: &Value) -> Option<i64> {
    let cond = pod
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    let since: jiff::Timestamp = cond.get("lastTransitionTime")?.as_str()?.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - since.as_second())
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

fn reconcile(srv: &Arc<Server>, ns: &str, name: &str) {
    let mut timers = Vec::new();
    {
        let mut state = srv.lock();
        let Some((rs_type, pod_type)) = types(&state) else {
            return;
        };
        let key = (ns.to_string(), name.to_string());
        let Some(rs) = state.get("apps/replicasets", &key).cloned() else {
            return;
        };
        if rs.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let uid = meta_str(&rs, "uid").unwrap_or_default().to_string();
        let owned = |state: &State| -> Vec<Value> {
            state
                .dependents(&uid)
                .into_iter()
                .filter(|(storage, _)| storage == "/pods")
                .filter_map(|(storage, key)| state.get(&storage, &key).cloned())
                .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
                .collect()
        };
        let desired = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let mut pods = owned(&state);

        if pods.len() < desired {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let mut scheduler = Scheduler::survey(&state);
            for _ in pods.len()..desired {
                if let Some(pod) = create_pod(&mut state, &pod_type, &mut scheduler, &rs, &template)
                {
                    timers.push(readiness_timer(&pod));
                }
            }
        } else if pods.len() > desired {
            // The real controller removes the least useful pods first: not ready, then newest.
            pods.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(
                        meta_str(p, "creationTimestamp")
                            .unwrap_or_default()
                            .to_string(),
                    ),
                )
            });
            for pod in pods.iter().take(pods.len() - desired) {
                let pname = meta_str(pod, "name").unwrap_or_default().to_string();
                let _ = ops::delete(
                    &mut state,
                    &pod_type,
                    Some(ns),
                    &pname,
                    &DeleteOptions::default(),
                );
            }
        }

        let pods = owned(&state);
        let min_ready = rs
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let mut available = 0;
        for p in &pods {
            match ready_for(p) {
                Some(age) if age >= min_ready => available += 1,
                Some(age) => timers.push(Some((
                    Duration::from_secs((min_ready - age).max(0) as u64 + 1),
                    None,
                ))),
                None => {}
            }
        }
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": pods.len(),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        });
        if let Some(sel) = rs
            .pointer("/spec/selector/matchLabels")
            .and_then(Value::as_object)
        {
            let s: Vec<String> = sel
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            status["selector"] = json!(s.join(","));
        }
        if rs.get("status") != Some(&status) {
            let mut updated = rs.clone();
            updated["status"] = status;
            write_status(
                &mut state,
                &rs_type,
                ns,
                name,
                updated,
                "simulated ReplicaSet controller",
            );
        }
    }
    for (delay, pod) in timers.into_iter().flatten() {
        let srv = srv.clone();
        let (ns, name) = (ns.to_string(), name.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(pod_name) = pod {
                mark_ready(&srv, &ns, &pod_name);
            }
            reconcile(&srv, &ns, &name);
        });
    }
}

/// The pod type and a pod, as stored.
fn pod(state: &State, ns: &str, name: &str) -> Option<(ResourceType, Value)> {
    let pod_type = state.registry.get("", "v1", "pods")?.clone();
    let pod = state.get("/pods", &(ns.to_string(), name.to_string()))?;
    Some((pod_type, pod.clone()))
}

/// A pod nobody has scheduled or started yet.
fn is_new(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName").is_none()
        && pod.pointer("/status/phase").is_none()
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// What the scheduler and the kubelet do with a pod no ReplicaSet owns (`kubectl run`, a bare
/// Pod manifest): bind it to a Node and start it, Ready after the same delay as any pod.
fn start_bare_pod(srv: &Arc<Server>, ns: &str, name: &str) {
    let timer = {
        let mut state = srv.lock();
        let Some((pod_type, pod)) = pod(&state, ns, name).filter(|(_, p)| is_new(p)) else {
            return;
        };
        let binding = Scheduler::survey(&state).place(&state);
        let opts = WriteOptions::default();
        let pod = match &binding {
            Some(b) => {
                let mut bound = pod;
                bound["spec"]["nodeName"] = json!(b.node);
                match ops::update(
                    &mut state,
                    &pod_type,
                    Some(ns),
                    name,
                    bound,
                    Part::Main,
                    &opts,
                ) {
                    Ok(stored) => stored,
                    Err(e) => {
                        tracing::warn!(
                            "simulated scheduler: binding pod {ns}/{name}: {}",
                            e.message
                        );
                        return;
                    }
                }
            }
            None => pod,
        };
        let mut started = pod.clone();
        started["status"] = match &binding {
            Some(b) => started_status(&pod, b),
            None => unschedulable_status(&Scheduler::survey(&state).unschedulable_message()),
        };
        write_status(
            &mut state,
            &pod_type,
            ns,
            name,
            started,
            "simulated kubelet",
        );
        binding.and_then(|_| readiness_timer(&pod))
    };
    if let Some((delay, Some(pod_name))) = timer {
        let srv = srv.clone();
        let ns = ns.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            mark_ready(&srv, &ns, &pod_name);
        });
    }
}

/// When (and which pod) to mark Ready; `None` for a pod that never becomes ready.
fn readiness_timer(pod: &Value) -> Option<(Duration, Option<String>)> {
    let name = meta_str(pod, "name")?.to_string();
    pod.pointer("/spec/nodeName")?;
    if annotation(pod, NEVER_READY) == Some("true") {
        return None;
    }
    let ms = annotation(pod, READY_AFTER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_READY_AFTER_MS);
    Some((Duration::from_millis(ms), Some(name)))
}

fn create_pod(
    state: &mut State,
    pod_type: &ResourceType,
    scheduler: &mut Scheduler,
    rs: &Value,
    template: &Value,
) -> Option<Value> {
    let rs_name = meta_str(rs, "name")?.to_string();
    let ns = meta_str(rs, "namespace")?.to_string();
    let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
    // As the real ReplicaSet controller: the API server generates the name, cutting a long
    // ReplicaSet name so that the pod's fits.
    if let Some(m) = metadata.as_object_mut() {
        m.remove("name");
    }
    metadata["generateName"] = json!(format!("{rs_name}-"));
    metadata["namespace"] = json!(ns);
    metadata["ownerReferences"] = json!([{
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": rs_name,
        "uid": meta_str(rs, "uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    // The scheduler's binding happens in the same step as the create: no client can see an
    // unbound pod that a Node could take.
    let binding = scheduler.place(state);
    if let (Some(b), Some(m)) = (&binding, spec.as_object_mut()) {
        m.insert("nodeName".into(), json!(b.node));
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
    });
    let created = ops::create(state, pod_type, Some(&ns), pod, &WriteOptions::default())
        .map_err(|e| {
            tracing::warn!(
                "simulated ReplicaSet controller: creating a pod of {ns}/{rs_name}: {}",
                e.message
            )
        })
        .ok()?;
    let name = meta_str(&created, "name")?.to_string();
    let mut running = created.clone();
    running["status"] = match &binding {
        Some(b) => started_status(&created, b),
        None => unschedulable_status(&scheduler.unschedulable_message()),
    };
    ops::update(
        state,
        pod_type,
        Some(&ns),
        &name,
        running,
        Part::Status,
        &WriteOptions::default(),
    )
    .map_err(|e| tracing::warn!("simulated kubelet: starting pod {name}: {}", e.message))
    .ok()
}

fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
        .collect()
}

/// The image digest a registry would report: the reference without its tag, `@sha256:...`.
fn image_id(image: &str) -> String {
    if image.contains("@sha256:") {
        return image.to_string();
    }
    let repo = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    format!("{repo}@sha256:{}", crate::nodes::hex64(image))
}

/// The status the kubelet reports once it has started a bound pod's containers: Running, with
/// the containers running but not ready until the readiness timer fires.
fn started_status(pod: &Value, binding: &Binding) -> Value {
    let now = ops::now();
    let uid = meta_str(pod, "uid").unwrap_or_default();
    let unready = format!(
        "containers with unready status: [{}]",
        container_names(pod).join(" ")
    );
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            json!({
                "name": name,
                "image": image,
                "imageID": image_id(image),
                "containerID": format!("containerd://{}", crate::nodes::hex64(&format!("{uid}/{name}"))),
                "ready": false,
                "restartCount": 0,
                "started": true,
                "state": {"running": {"startedAt": now}},
                "lastState": {},
            })
        })
        .collect();
    json!({
        "phase": "Running",
        "hostIP": binding.host_ip,
        "hostIPs": [{"ip": binding.host_ip}],
        "podIP": binding.pod_ip,
        "podIPs": [{"ip": binding.pod_ip}],
        "startTime": now,
        // In the kubelet's order.
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": unready, "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": containers,
        "qosClass": qos_class(pod),
    })
}

/// What the scheduler writes on a pod no Node can take.
fn unschedulable_status(message: &str) -> Value {
    json!({
        "phase": "Pending",
        "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastTransitionTime": ops::now(),
        }],
    })
}

/// The pod's QoS class, from its containers' requests and limits as the API server computes it
/// (simplified: cpu and memory only, quantities compared as written).
fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let get =
        |c: &Value, kind: &str, res: &str| c.pointer(&format!("/resources/{kind}/{res}")).cloned();
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| ["cpu", "memory"].iter().any(|r| get(c, k, r).is_some()))
    });
    if !any {
        return "BestEffort";
    }
    // A request left out defaults to the limit.
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = get(c, "limits", r);
            limit.is_some() && get(c, "requests", r).is_none_or(|q| Some(q) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The started status turned Ready: the Ready conditions and every container flip, the rest
/// (addresses, start times, container ids) stays as the kubelet first reported it.
fn ready_status(status: &Value) -> Value {
    let now = ops::now();
    let mut status = status.clone();
    for c in status
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if matches!(c["type"].as_str(), Some("Ready" | "ContainersReady"))
            && let Some(m) = c.as_object_mut()
        {
            m.insert("status".into(), json!("True"));
            m.insert("lastTransitionTime".into(), json!(now));
            m.remove("reason");
            m.remove("message");
        }
    }
    for c in status
        .get_mut("containerStatuses")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        c["ready"] = json!(true);
    }
    status
}

fn mark_ready(srv: &Arc<Server>, ns: &str, name: &str) {
    let mut state = srv.lock();
    let Some((pod_type, pod)) = pod(&state, ns, name) else {
        return;
    };
    // An unscheduled pod has no kubelet to run it, so it never turns Ready.
    if is_ready(&pod)
        || pod.pointer("/metadata/deletionTimestamp").is_some()
        || pod.pointer("/spec/nodeName").is_none()
    {
        return;
    }
    let mut updated = pod.clone();
    updated["status"] = ready_status(pod.get("status").unwrap_or(&Value::Null));
    write_status(
        &mut state,
        &pod_type,
        ns,
        name,
        updated,
        "simulated kubelet",
    );
}

/// Writes an object's status as the simulated controllers do: a failure is logged (the next
/// event or timer tries again), never fatal.
pub(crate) fn write_status(
    state: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    obj: Value,
    who: &str,
) {
    if let Err(e) = ops::update(
        state,
        rt,
        Some(ns),
        name,
        obj,
        Part::Status,
        &WriteOptions::default(),
    ) {
        tracing::warn!("{who}: status of {} {ns}/{name}: {}", rt.kind, e.message);
    }
}
