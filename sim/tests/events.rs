//! One Event store behind two APIs, through kubectl 1.32: an Event written through
//! `events.k8s.io/v1` is the same object through core `v1` (with the real API server's field
//! mapping) and the other way round, on reads, patches, watches and `kubectl describe`.

mod common;

use std::time::Duration;

use common::Cluster;
use serde_json::Value;

const SHOP: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata: {a: b}\n";

async fn shop() -> Cluster {
    let c = Cluster::start().await;
    c.kubectl_ok(&["create", "-f", "-"], Some(SHOP)).await;
    c
}

async fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["-n", "shop", "-o", "json"]);
    let out = c.kubectl_ok(&args, None).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn events_api_event(name: &str, uid: &str, note: &str) -> String {
    format!(
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {{name: {name}, namespace: shop}}\nregarding: {{apiVersion: v1, kind: ConfigMap, name: web, namespace: shop, uid: \"{uid}\"}}\nnote: {note}\nreason: Reloaded\ntype: Normal\naction: Reload\nreportingController: rollout-rs.io/controller\nreportingInstance: controller-0\neventTime: \"2025-01-01T00:00:00.000000Z\"\nseries: {{count: 2, lastObservedTime: \"2025-01-01T00:00:05.000000Z\"}}\ndeprecatedSource: {{component: rollout-rs}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_event_is_a_core_event_and_describe_lists_it() {
    let c = shop().await;
    let uid = c.jsonpath("configmap/web", "shop", "{.metadata.uid}").await;
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&events_api_event("web.1", &uid, "configuration reloaded")),
    )
    .await;

    let list = json(&c, &["get", "events"]).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{list}");
    let core = &items[0];
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["involvedObject"]["kind"], "ConfigMap");
    assert_eq!(core["involvedObject"]["uid"], uid.as_str());
    assert_eq!(core["message"], "configuration reloaded");
    assert_eq!(core["reportingComponent"], "rollout-rs.io/controller");
    assert_eq!(core["reportingInstance"], "controller-0");
    assert_eq!(core["source"]["component"], "rollout-rs");
    assert_eq!(core["series"]["count"], 2);
    assert_eq!(core["eventTime"], "2025-01-01T00:00:00.000000Z");
    for absent in [
        "regarding",
        "note",
        "reportingController",
        "deprecatedSource",
    ] {
        assert!(core.get(absent).is_none(), "{absent} in {core}");
    }

    // One object: the same resourceVersion and uid through both APIs.
    let events = json(&c, &["get", "events.events.k8s.io", "web.1"]).await;
    assert_eq!(events["apiVersion"], "events.k8s.io/v1");
    assert_eq!(events["note"], "configuration reloaded");
    assert_eq!(
        events["metadata"]["resourceVersion"],
        core["metadata"]["resourceVersion"]
    );
    assert_eq!(events["metadata"]["uid"], core["metadata"]["uid"]);

    // kubectl describe looks Events up through core v1 with involvedObject field selectors.
    let out = c
        .kubectl_ok(&["describe", "configmap", "web", "-n", "shop"], None)
        .await;
    let line = out
        .lines()
        .find(|l| l.contains("Reloaded"))
        .unwrap_or_else(|| panic!("no Event in describe:\n{out}"));
    assert!(
        // From: the deprecated source's component; x2: the series count.
        line.contains("rollout-rs")
            && line.contains("x2")
            && line.contains("configuration reloaded"),
        "{line}"
    );

    // The events.k8s.io field labels select on the same fields.
    for selector in [
        format!("regarding.uid={uid}"),
        "regarding.kind=ConfigMap,reportingController=rollout-rs.io/controller".to_string(),
    ] {
        let names = c
            .kubectl_ok(
                &[
                    "get",
                    "events.events.k8s.io",
                    "-n",
                    "shop",
                    "--field-selector",
                    &selector,
                    "-o",
                    "name",
                ],
                None,
            )
            .await;
        assert_eq!(names.trim(), "event.events.k8s.io/web.1", "{selector}");
    }
    let names = c
        .kubectl_ok(
            &[
                "get",
                "events.events.k8s.io",
                "-n",
                "shop",
                "--field-selector",
                "regarding.name=other",
                "-o",
                "name",
            ],
            None,
        )
        .await;
    assert_eq!(names.trim(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_event_reads_and_patches_through_both_apis() {
    let c = shop().await;
    let core_event = "apiVersion: v1\nkind: Event\nmetadata: {name: web.2, namespace: shop}\ninvolvedObject: {kind: ConfigMap, name: web, namespace: shop}\nmessage: from core\nreason: Seen\ntype: Warning\ncount: 3\nfirstTimestamp: \"2025-01-01T00:00:00Z\"\nlastTimestamp: \"2025-01-01T00:00:09Z\"\nsource: {component: kubelet, host: sim-node-1}\nreportingComponent: kubelet\n";
    c.kubectl_ok(&["create", "-f", "-"], Some(core_event)).await;

    let events = json(&c, &["get", "events.events.k8s.io", "web.2"]).await;
    assert_eq!(events["regarding"]["name"], "web");
    assert_eq!(events["note"], "from core");
    assert_eq!(events["deprecatedCount"], 3);
    assert_eq!(events["deprecatedFirstTimestamp"], "2025-01-01T00:00:00Z");
    assert_eq!(events["deprecatedLastTimestamp"], "2025-01-01T00:00:09Z");
    assert_eq!(events["deprecatedSource"]["host"], "sim-node-1");
    assert_eq!(events["reportingController"], "kubelet");
    assert_eq!(events["type"], "Warning");

    // Each patch type names the fields of the API it is sent to.
    let patches = [
        ("events.events.k8s.io", "merge", r#"{"note":"merged"}"#),
        (
            "events.events.k8s.io",
            "json",
            r#"[{"op":"replace","path":"/deprecatedCount","value":5}]"#,
        ),
        ("events.events.k8s.io", "strategic", r#"{"action":"Probe"}"#),
    ];
    for (resource, kind, patch) in patches {
        c.kubectl_ok(
            &[
                "patch", resource, "web.2", "-n", "shop", "--type", kind, "-p", patch,
            ],
            None,
        )
        .await;
    }
    let core = json(&c, &["get", "events", "web.2"]).await;
    assert_eq!(core["message"], "merged");
    assert_eq!(core["count"], 5);
    assert_eq!(core["action"], "Probe");
    assert!(core.get("note").is_none(), "{core}");

    c.kubectl_ok(
        &[
            "patch",
            "events",
            "web.2",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"message":"from core again"}"#,
        ],
        None,
    )
    .await;
    let events = json(&c, &["get", "events.events.k8s.io", "web.2"]).await;
    assert_eq!(events["note"], "from core again");

    // Deleting through one API deletes the one object.
    c.kubectl_ok(
        &["delete", "events.events.k8s.io", "web.2", "-n", "shop"],
        None,
    )
    .await;
    let (found, _, err) = c
        .kubectl(&["get", "events", "web.2", "-n", "shop"], None)
        .await;
    assert!(!found && err.contains("NotFound"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_watch_sees_events_api_writes() {
    let c = shop().await;
    let (mut child, mut rx) = c.kubectl_stream(&[
            "get",
            "events",
            "-n",
            "shop",
            "-w",
            "--watch-only",
            "--output-watch-events",
            "--request-timeout=30s",
            "-o",
            "jsonpath={.type} {.object.apiVersion} {.object.involvedObject.name} {.object.message}{\"\\n\"}",
        ]);
    // Write only once kubectl's watch is open (the simulator's request log shows it).
    let opened = tokio::time::timeout(Duration::from_secs(20), async {
        let mut uri = "/sim/requests?after=0".to_string();
        loop {
            let (_, body) = c.http("GET", &uri, "application/json", "").await;
            let log: Value = serde_json::from_str(&body).unwrap_or_default();
            let watching = log["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|r| r["verb"] == "watch" && r["resource"] == "events")
            });
            if watching {
                return;
            }
            // The next read answers once a new request has been recorded.
            uri = format!(
                "/sim/requests?after={}",
                log["recorded"].as_u64().unwrap_or_default()
            );
        }
    })
    .await;
    assert!(opened.is_ok(), "kubectl never opened its watch");
    c.kubectl_ok(
        &["create", "-f", "-"],
        Some(&events_api_event("web.3", "", "watched")),
    )
    .await;
    c.kubectl_ok(
        &[
            "patch",
            "events.events.k8s.io",
            "web.3",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"note":"watched twice"}"#,
        ],
        None,
    )
    .await;
    for want in ["ADDED v1 web watched", "MODIFIED v1 web watched twice"] {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(
            line.ok().flatten().as_deref(),
            Some(want),
            "core watch line"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
