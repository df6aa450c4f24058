//! kubectl 1.32 (a client nobody here wrote) against the simulator, with kubectl's default
//! flags: server-side and client-side apply, printer columns, watch, patches, the status and
//! scale subresources, deletion and waiting on conditions.

mod common;

use std::time::Duration;

use common::Cluster;

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";

async fn with_crds_and_examples() -> Cluster {
    let c = Cluster::start().await;
    let out = c
        .kubectl_ok(
            &["apply", "--server-side", "-f", &Cluster::repo("crds/yaml")],
            None,
        )
        .await;
    assert_eq!(out.matches("serverside-applied").count(), 5, "{out}");
    c.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/rollouts.rollout-rs.io",
        ],
        None,
    )
    .await;
    c.kubectl_ok(&["apply", "-f", "-"], Some(NAMESPACE)).await;
    let out = c
        .kubectl_ok(
            &[
                "apply",
                "-f",
                &Cluster::repo("examples/rollouts/canary-basic.yaml"),
                "-f",
                &Cluster::repo("examples/analysis/success-rate.yaml"),
            ],
            None,
        )
        .await;
    assert!(
        out.contains("rollout.rollout-rs.io/checkout created"),
        "{out}"
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_patch_scale_delete() {
    let c = with_crds_and_examples().await;

    // Printer columns, with the Rollout's own names.
    let out = c.kubectl_ok(&["get", "rollouts", "-n", "shop"], None).await;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "UP-TO-DATE",
            "AVAILABLE",
            "PHASE",
            "STEP",
            "AGE"
        ]
    );
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("checkout") && l.contains(" 10 ")),
        "{out}"
    );

    // Re-applying an unchanged manifest writes nothing.
    let rv = c
        .jsonpath("ro/checkout", "shop", "{.metadata.resourceVersion}")
        .await;
    let out = c
        .kubectl_ok(
            &[
                "apply",
                "-f",
                &Cluster::repo("examples/rollouts/canary-basic.yaml"),
            ],
            None,
        )
        .await;
    assert!(
        out.contains("rollout.rollout-rs.io/checkout unchanged"),
        "{out}"
    );
    let rv2 = c
        .jsonpath("ro/checkout", "shop", "{.metadata.resourceVersion}")
        .await;
    assert_eq!(rv, rv2);

    // Merge patch bumps generation; a status patch does not, and does not touch spec.
    c.kubectl_ok(
        &[
            "patch",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ],
        None,
    )
    .await;
    c.kubectl_ok(
        &[
            "patch",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Paused","currentStepIndex":1},"spec":{"paused":false}}"#,
        ],
        None,
    )
    .await;
    let out = c
        .jsonpath(
            "ro/checkout",
            "shop",
            "{.metadata.generation} {.spec.paused} {.status.phase} {.status.currentStepIndex}",
        )
        .await;
    assert_eq!(out, "2 true Paused 1");
    // The main resource ignores status.
    c.kubectl_ok(
        &[
            "patch",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Healthy"}}"#,
        ],
        None,
    )
    .await;
    assert_eq!(
        c.jsonpath("ro/checkout", "shop", "{.status.phase}").await,
        "Paused"
    );

    // Scale subresource.
    c.kubectl_ok(
        &["scale", "rollout", "checkout", "-n", "shop", "--replicas=3"],
        None,
    )
    .await;
    assert_eq!(
        c.jsonpath("ro/checkout", "shop", "{.spec.replicas}").await,
        "3"
    );

    // JSON patch with a failing test operation changes nothing.
    let (ok, _, err) = c
        .kubectl(&["patch", "ro", "checkout", "-n", "shop", "--type", "json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":7},{"op":"replace","path":"/spec/replicas","value":9}]"#], None)
        .await;
    assert!(!ok && err.contains("could not be applied"), "{err}");
    assert_eq!(
        c.jsonpath("ro/checkout", "shop", "{.spec.replicas}").await,
        "3"
    );

    c.kubectl_ok(&["delete", "ro", "checkout", "-n", "shop", "--wait"], None)
        .await;
    let (ok, _, err) = c
        .kubectl(&["get", "ro", "checkout", "-n", "shop"], None)
        .await;
    assert!(!ok && err.contains("not found"), "{err}");
}

/// Every example that needs no third-party CRD applies with kubectl's default (strict)
/// validation: the examples are valid against the generated CRDs and the built-in schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_apply_and_dry_run_stores_nothing() {
    let c = with_crds_and_examples().await;
    let mut args = vec![
        "apply".to_string(),
        "-f".into(),
        Cluster::repo("examples/namespaces.yaml"),
    ];
    for f in [
        "rollouts/canary-nginx.yaml",
        "rollouts/canary-smi.yaml",
        "rollouts/bluegreen-analysis.yaml",
        "analysis/latency-web.yaml",
    ] {
        args.push("-f".into());
        args.push(Cluster::repo(&format!("examples/{f}")));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.kubectl_ok(&args, None).await;
    for created in [
        "rollout.rollout-rs.io/storefront created",
        "ingress.networking.k8s.io/storefront created",
        "rollout.rollout-rs.io/api created",
        "rollout.rollout-rs.io/catalog created",
        "clusteranalysistemplate.rollout-rs.io/loadtest-latency created",
    ] {
        assert!(out.contains(created), "missing {created:?} in:\n{out}");
    }

    // Server-side dry runs change nothing.
    let rv = c
        .jsonpath("ro/checkout", "shop", "{.metadata.resourceVersion}")
        .await;
    c.kubectl_ok(
        &[
            "scale",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--replicas=1",
            "--dry-run=server",
        ],
        None,
    )
    .await;
    c.kubectl_ok(
        &[
            "patch",
            "ro",
            "checkout",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
            "--dry-run=server",
        ],
        None,
    )
    .await;
    c.kubectl_ok(
        &["delete", "ro", "checkout", "-n", "shop", "--dry-run=server"],
        None,
    )
    .await;
    let after = c
        .jsonpath(
            "ro/checkout",
            "shop",
            "{.metadata.resourceVersion} {.spec.replicas} {.spec.paused}",
        )
        .await;
    assert_eq!(after, format!("{rv} 10 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    let c = with_crds_and_examples().await;
    let rollout = Cluster::repo("examples/rollouts/canary-basic.yaml");
    // Start from an object only server-side apply has written (client-side apply would co-own
    // every field and keep them all).
    c.kubectl_ok(&["delete", "ro", "checkout", "-n", "shop"], None)
        .await;
    c.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "gitops",
            "-f",
            &rollout,
        ],
        None,
    )
    .await;
    c.kubectl_ok(
        &["scale", "ro", "checkout", "-n", "shop", "--replicas=4"],
        None,
    )
    .await;
    let (ok, _, err) = c
        .kubectl(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                "gitops",
                "-f",
                &rollout,
            ],
            None,
        )
        .await;
    assert!(
        !ok,
        "apply over a field another manager changed must conflict"
    );
    assert!(
        err.contains("Apply failed with 1 conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    c.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "gitops",
            "-f",
            &rollout,
        ],
        None,
    )
    .await;
    assert_eq!(
        c.jsonpath("ro/checkout", "shop", "{.spec.replicas}").await,
        "10"
    );

    // A field the manager stops applying is removed.
    let text = std::fs::read_to_string(&rollout)
        .expect("read example")
        .replace("  revisionHistoryLimit: 3\n", "");
    c.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "gitops",
            "-f",
            "-",
        ],
        Some(&text),
    )
    .await;
    assert_eq!(
        c.jsonpath("ro/checkout", "shop", "{.spec.revisionHistoryLimit}")
            .await,
        ""
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_receives_events() {
    let c = with_crds_and_examples().await;
    let (mut child, mut rx) = c.kubectl_stream(&[
        "get",
        "ro",
        "-n",
        "shop",
        "-w",
        "--output-watch-events",
        "--request-timeout=30s",
    ]);
    let mut expect = async |event: &str| {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = rx.recv().await {
                if line.starts_with(event) && line.contains("checkout") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "no {event} event for checkout");
    };
    expect("ADDED").await;
    c.kubectl_ok(
        &["annotate", "ro", "checkout", "-n", "shop", "touched=yes"],
        None,
    )
    .await;
    expect("MODIFIED").await;
    c.kubectl_ok(&["delete", "ro", "checkout", "-n", "shop"], None)
        .await;
    expect("DELETED").await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_naming_the_field() {
    let c = with_crds_and_examples().await;
    let unknown = "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {name: bad, namespace: shop}\nspec:\n  replicaz: 3\n  selector: {matchLabels: {app: x}}\n  template: {metadata: {labels: {app: x}}, spec: {containers: [{name: x, image: x}]}}\n  strategy: {canary: {}}\n";
    let (ok, _, err) = c.kubectl(&["apply", "-f", "-"], Some(unknown)).await;
    assert!(
        !ok && err.contains("unknown field \"spec.replicaz\""),
        "{err}"
    );

    let wrong_type = unknown.replace("replicaz: 3", "replicas: three");
    let (ok, _, err) = c.kubectl(&["apply", "-f", "-"], Some(&wrong_type)).await;
    assert!(
        !ok && err.contains("spec.replicas in body must be of type integer"),
        "{err}"
    );

    // Built-in kinds are strictly validated too.
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  portz: [{port: 80}]\n";
    let (ok, _, err) = c.kubectl(&["apply", "-f", "-"], Some(service)).await;
    assert!(!ok && err.contains("unknown field \"spec.portz\""), "{err}");
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web, imagePullPolice: Always}]}\n";
    let (ok, _, err) = c.kubectl(&["apply", "-f", "-"], Some(deployment)).await;
    assert!(
        !ok && err.contains("unknown field \"spec.template.spec.containers[0].imagePullPolice\""),
        "{err}"
    );

    // (spec.template may be left out for a workloadRef; the selector may not.)
    let missing = unknown
        .replace("  selector: {matchLabels: {app: x}}\n", "")
        .replace("replicaz", "replicas");
    let (ok, _, err) = c.kubectl(&["apply", "-f", "-"], Some(&missing)).await;
    assert!(
        !ok && err.contains("spec.selector: Required value"),
        "{err}"
    );
}

/// kubectl's default patch type for built-in kinds is a strategic merge: containers merge by
/// name, so patching one container's image keeps the other container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategic_merge_patch_merges_containers_by_name() {
    let c = Cluster::start().await;
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: two, namespace: default}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: two}}\n  template:\n    metadata: {labels: {app: two}}\n    spec:\n      containers:\n      - {name: web, image: \"web:1\", env: [{name: A, value: \"1\"}]}\n      - {name: sidecar, image: \"proxy:1\"}\n";
    c.kubectl_ok(&["apply", "-f", "-"], Some(deployment)).await;
    c.kubectl_ok(
        &["patch", "deployment", "two", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:2","env":[{"name":"B","value":"2"}]}]}}}}"#],
        None,
    )
    .await;
    let out = c
        .kubectl_ok(
            &["get", "deployment", "two", "-o", "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image} {end}|{.spec.template.spec.containers[0].env[*].name}"],
            None,
        )
        .await;
    assert_eq!(out, "web=web:2 sidecar=proxy:1 |A B");
    // Deleting one container by directive.
    c.kubectl_ok(&["patch", "deployment", "two", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#], None).await;
    let out = c
        .kubectl_ok(
            &[
                "get",
                "deployment",
                "two",
                "-o",
                "jsonpath={.spec.template.spec.containers[*].name}",
            ],
            None,
        )
        .await;
    assert_eq!(out, "web");
}

/// The routing CRDs the routers write (trimmed fixtures of Gateway API, Istio and SMI) install
/// with kubectl, and the examples using them apply with strict validation, defaults filled in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_routing_crds_and_their_examples() {
    let c = with_crds_and_examples().await;
    let out = c
        .kubectl_ok(
            &[
                "apply",
                "--server-side",
                "-f",
                &Cluster::repo("e2e/fixtures/crds"),
            ],
            None,
        )
        .await;
    let fixtures: usize = std::fs::read_dir(Cluster::repo("e2e/fixtures/crds"))
        .expect("the fixture CRDs")
        .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
        .map(|text| text.matches("kind: CustomResourceDefinition").count())
        .sum();
    assert!(fixtures >= 4);
    assert_eq!(out.matches("serverside-applied").count(), fixtures, "{out}");
    for crd in [
        "httproutes.gateway.networking.k8s.io",
        "virtualservices.networking.istio.io",
        "destinationrules.networking.istio.io",
        "trafficsplits.split.smi-spec.io",
    ] {
        c.kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=10s",
                &format!("crd/{crd}"),
            ],
            None,
        )
        .await;
    }
    let out = c
        .kubectl_ok(
            &[
                "apply",
                "-f",
                &Cluster::repo("examples/namespaces.yaml"),
                "-f",
                &Cluster::repo("examples/rollouts/canary-gateway-api.yaml"),
                "-f",
                &Cluster::repo("examples/rollouts/canary-istio.yaml"),
            ],
            None,
        )
        .await;
    assert!(
        out.contains("httproute.gateway.networking.k8s.io/payments created"),
        "{out}"
    );
    assert!(
        out.contains("virtualservice.networking.istio.io/reviews created"),
        "{out}"
    );
    assert!(
        out.contains("destinationrule.networking.istio.io/reviews created"),
        "{out}"
    );
    // Schema defaults of the fixture: backendRefs get group "" and kind Service.
    assert_eq!(
        c.jsonpath(
            "httproute/payments",
            "shop",
            "{.spec.rules[0].backendRefs[0].kind}"
        )
        .await,
        "Service"
    );
    // Short names resolve, and other served versions read the same object.
    assert_eq!(
        c.jsonpath("vs/reviews", "bookinfo", "{.spec.http[0].route[1].weight}")
            .await,
        "0"
    );
    assert_eq!(
        c.jsonpath(
            "virtualservices.v1beta1.networking.istio.io/reviews",
            "bookinfo",
            "{.apiVersion}"
        )
        .await,
        "networking.istio.io/v1beta1"
    );
    let ts = "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: api, namespace: shop}\nspec: {service: api, backends: [{service: api-canary, weight: 5}, {service: api-stable, weight: 95}]}\n";
    c.kubectl_ok(&["apply", "-f", "-"], Some(ts)).await;
    assert_eq!(
        c.jsonpath("ts/api", "shop", "{.spec.backends[1].weight}")
            .await,
        "95"
    );
}
