//! The `pods/log` subresource: a few deterministic lines per container (naming the pod, the
//! container, its image and its pod IP) in place of what a kubelet would stream, with the
//! real server's container choice and errors, and `tailLines`, `timestamps` and `limitBytes`.
//!
//! It only reads the pod it is given; it never stores or streams (`follow` ends at once).

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ApiError;
use crate::ops::meta_str;

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
        .collect()
}

/// The log of one container of `pod`, as `GET .../pods/NAME/log` answers it.
pub fn render(pod: &Value, query: &HashMap<String, String>) -> Result<String, ApiError> {
    let pod_name = meta_str(pod, "name").unwrap_or_default();
    let ns = meta_str(pod, "namespace").unwrap_or_default();
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    // The real server's choice: the one container, else the client must name one.
    let container = match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) => c.clone(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(message));
        }
    };
    if ![&containers, &init, &ephemeral]
        .iter()
        .any(|l| l.contains(&container))
    {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {pod_name}"
        )));
    }
    // A pod no Node runs has no kubelet to ask: the real server answers with an empty body.
    if pod.pointer("/spec/nodeName").is_none() {
        return Ok(String::new());
    }
    if query.get("previous").is_some_and(|p| p == "true") {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
        )));
    }
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(&container))
        });
    let started_at = status
        .and_then(|s| s.pointer("/state/running/startedAt"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let (Some(status), Some(started_at)) = (status, started_at) else {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: ContainerCreating"
        )));
    };
    let image = status
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pod_ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let port = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(&container))
        })
        .and_then(|c| c.pointer("/ports/0/containerPort"))
        .and_then(Value::as_i64)
        .unwrap_or(8080);
    let mut lines = vec![
        format!(
            "rollout-rs-sim: container {container} of pod {ns}/{pod_name} started from image {image}"
        ),
        format!("rollout-rs-sim: {container} listening on {pod_ip}:{port}"),
    ];
    if status.get("ready").and_then(Value::as_bool) == Some(true) {
        lines.push(format!("rollout-rs-sim: {container} is ready"));
    }
    // The kubelet's fixed-width RFC 3339 timestamps; one millisecond apart so they order.
    let lines: Vec<String> = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            if query.get("timestamps").is_some_and(|t| t == "true") {
                let at = started_at
                    .checked_add(jiff::SignedDuration::from_millis(i as i64))
                    .unwrap_or(started_at);
                format!("{} {line}", at.strftime("%Y-%m-%dT%H:%M:%S.%9fZ"))
            } else {
                line
            }
        })
        .collect();
    let tail = query
        .get("tailLines")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(lines.len())
        .min(lines.len());
    let mut out: String = lines[lines.len() - tail..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ready: bool) -> Value {
        json!({
            "metadata": {"name": "web-abc", "namespace": "shop"},
            "spec": {"nodeName": "sim-node-1", "containers": [
                {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "side:2"},
            ]},
            "status": {"podIP": "10.244.0.2", "containerStatuses": [
                {"name": "app", "image": "app:1", "ready": ready, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
            ]},
        })
    }

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lines_tail_and_timestamps() {
        let out = render(&pod(true), &q(&[("container", "app")])).expect("log");
        assert_eq!(out.lines().count(), 3);
        assert!(out.contains("container app of pod shop/web-abc started from image app:1"));
        assert!(out.contains("listening on 10.244.0.2:80"));
        let out = render(
            &pod(false),
            &q(&[
                ("container", "app"),
                ("tailLines", "1"),
                ("timestamps", "true"),
            ]),
        )
        .expect("log");
        assert_eq!(
            out,
            "2026-01-01T00:00:00.001000000Z rollout-rs-sim: app listening on 10.244.0.2:80\n"
        );
    }

    #[test]
    fn container_choice_and_errors() {
        let e = render(&pod(true), &q(&[])).expect_err("two containers");
        assert_eq!(
            e.message,
            "a container name must be specified for pod web-abc, choose one of: [app side]"
        );
        let e = render(&pod(true), &q(&[("container", "nope")])).expect_err("no such container");
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container nope is not valid for pod web-abc")
        );
        let e = render(&pod(true), &q(&[("container", "side")])).expect_err("not started");
        assert!(
            e.message
                .ends_with("is waiting to start: ContainerCreating")
        );
    }
}
