//! Kubernetes' protobuf media type: kubectl 1.32's typed commands (which send protobuf bodies)
//! work unchanged, bodies encoded by k8s-pb (the kube-rs project's protobuf messages, a
//! encoder nobody here wrote) read back as the JSON Go would have sent, and a client that
//! accepts only protobuf gets protobuf answers k8s-pb decodes.

mod common;

use common::{Cluster, http_bytes};
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::Value;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The wire form client-go sends: magic number, then a `runtime.Unknown` envelope.
fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn open_envelope(body: &[u8]) -> Unknown {
    let rest = body
        .strip_prefix(b"k8s\0")
        .expect("the protobuf magic number");
    Unknown::decode(rest).expect("an Unknown envelope")
}

async fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&c.kubectl_ok(&all, None).await).expect("kubectl's JSON")
}

#[tokio::test]
async fn every_typed_kubectl_create_works() {
    let c = Cluster::start().await;
    let dir = c.dir.to_string_lossy().into_owned();
    let (cert, key) = (format!("{dir}/tls.crt"), format!("{dir}/tls.key"));
    std::fs::write(&cert, TLS_CERT).unwrap();
    std::fs::write(&key, TLS_KEY).unwrap();
    let n = ["-n", "shop"];
    let creates: Vec<Vec<&str>> = vec![
        vec!["create", "namespace", "shop"],
        vec![
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
        ],
        vec![
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=token=s3cr3t",
        ],
        vec![
            "create", "secret", "tls", "web-tls", "--cert", &cert, "--key", &key,
        ],
        vec![
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=registry.example",
            "--docker-username=u",
            "--docker-password=p",
        ],
        vec!["create", "service", "clusterip", "web", "--tcp=80:http"],
        vec![
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=8080:8080",
            "--node-port=30080",
        ],
        vec!["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
        vec![
            "create",
            "service",
            "externalname",
            "ext",
            "--external-name=db.example",
        ],
        vec![
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=0",
            "--port=80",
        ],
        vec![
            "create",
            "job",
            "once",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
        vec![
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
        ],
        vec!["create", "serviceaccount", "robot"],
        vec![
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,pods/log",
        ],
        vec![
            "create",
            "clusterrole",
            "nodes",
            "--verb=get",
            "--resource=nodes",
        ],
        vec![
            "create",
            "rolebinding",
            "robot-reads",
            "--role=reader",
            "--serviceaccount=shop:robot",
        ],
        vec![
            "create",
            "clusterrolebinding",
            "bob-nodes",
            "--clusterrole=nodes",
            "--user=bob",
        ],
        vec!["create", "quota", "pods", "--hard=pods=10,requests.cpu=2"],
        vec![
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=first",
        ],
        vec![
            "create",
            "poddisruptionbudget",
            "web",
            "--selector=app=web",
            "--min-available=50%",
        ],
        vec![
            "create",
            "ingress",
            "web",
            "--rule=shop.example/api*=web:80",
        ],
    ];
    for args in &creates {
        // The namespace goes first: what follows `--` is the container's command.
        let mut all = if args[1] == "namespace" {
            vec![]
        } else {
            n.to_vec()
        };
        all.extend(args);
        let out = c.kubectl_ok(&all, None).await;
        assert!(out.contains("created"), "{args:?}: {out}");
    }

    // What each body carried reads back as JSON, the special encodings included.
    let cm = json(&c, &["get", "configmap", "settings", "-n", "shop"]).await;
    assert_eq!(cm["data"]["mode"], "fast");
    let secret = json(&c, &["get", "secret", "creds", "-n", "shop"]).await;
    assert_eq!(
        secret["data"]["token"], "czNjcjN0",
        "bytes travel as base64"
    );
    let tls = json(&c, &["get", "secret", "web-tls", "-n", "shop"]).await;
    assert_eq!(tls["type"], "kubernetes.io/tls");
    let svc = json(&c, &["get", "service", "web", "-n", "shop"]).await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], "http",
        "int-or-string"
    );
    let np = json(&c, &["get", "service", "np", "-n", "shop"]).await;
    assert_eq!(np["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(np["spec"]["ports"][0]["targetPort"], 8080);
    let ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default();
    assert!(ip.starts_with("10.9"), "a cluster IP is allocated: {svc}");
    let lb = json(&c, &["get", "service", "lb", "-n", "shop"]).await;
    let node_port = lb["spec"]["ports"][0]["nodePort"].as_u64().unwrap_or(0);
    assert!((30000..=32767).contains(&node_port), "{lb}");
    let ext = json(&c, &["get", "service", "ext", "-n", "shop"]).await;
    assert_eq!(ext["spec"]["externalName"], "db.example");
    assert!(ext["spec"].get("clusterIP").is_none(), "{ext}");
    let deploy = json(&c, &["get", "deployment", "web", "-n", "shop"]).await;
    assert_eq!(deploy["spec"]["replicas"], 0, "a zero sent is kept");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    let job = json(&c, &["get", "job", "once", "-n", "shop"]).await;
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["echo", "hi"])
    );
    let cron = json(&c, &["get", "cronjob", "nightly", "-n", "shop"]).await;
    assert_eq!(cron["spec"]["schedule"], "0 3 * * *");
    let role = json(&c, &["get", "role", "reader", "-n", "shop"]).await;
    let resources = role["rules"][0]["resources"].to_string();
    assert!(resources.contains("pods/log"), "{role}");
    assert_eq!(role["rules"][0]["apiGroups"], serde_json::json!([""]));
    let binding = json(&c, &["get", "rolebinding", "robot-reads", "-n", "shop"]).await;
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(binding["roleRef"]["name"], "reader");
    let quota = json(&c, &["get", "quota", "pods", "-n", "shop"]).await;
    assert_eq!(quota["spec"]["hard"]["requests.cpu"], "2", "quantities");
    let pc = json(&c, &["get", "priorityclass", "high"]).await;
    assert_eq!(pc["value"], 1000);
    let pdb = json(&c, &["get", "pdb", "web", "-n", "shop"]).await;
    assert_eq!(pdb["spec"]["minAvailable"], "50%");
    let ing = json(&c, &["get", "ingress", "web", "-n", "shop"]).await;
    let path = &ing["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["path"], "/api", "the inline rule value: {ing}");
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["port"]["number"], 80);

    // A typed create of an existing object is refused as with JSON.
    let (ok, _, err) = c.kubectl(&["create", "namespace", "shop"], None).await;
    assert!(!ok);
    assert!(err.contains(r#"namespaces "shop" already exists"#), "{err}");
}

fn pod() -> core::Pod {
    let quantity = |q: &str| Quantity {
        string: Some(q.into()),
    };
    core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: Some("api".into()),
            labels: [("app".to_string(), "api".to_string())].into(),
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("api".into()),
                image: Some("api:2".into()),
                readiness_probe: Some(core::Probe {
                    handler: Some(core::ProbeHandler {
                        http_get: Some(core::HttpGetAction {
                            path: Some("/healthz".into()),
                            port: Some(IntOrString {
                                r#type: Some(1),
                                int_val: None,
                                str_val: Some("http".into()),
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    period_seconds: Some(5),
                    ..Default::default()
                }),
                resources: Some(core::ResourceRequirements {
                    limits: [("memory".to_string(), quantity("64Mi"))].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            volumes: vec![core::Volume {
                name: Some("scratch".into()),
                volume_source: Some(core::VolumeSource {
                    empty_dir: Some(core::EmptyDirVolumeSource::default()),
                    ..Default::default()
                }),
            }],
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn bodies_encoded_by_k8s_pb_read_back_as_json() {
    let c = Cluster::start().await;
    let port = c.sim.port();
    let (code, _, body) = http_bytes(
        port,
        "POST",
        "/api/v1/namespaces/default/pods",
        &[("Content-Type", PROTOBUF), ("Accept", "application/json")],
        &envelope("v1", "Pod", &pod()),
    )
    .await;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    let container = &created["spec"]["containers"][0];
    let probe = &container["readinessProbe"];
    assert_eq!(probe["httpGet"]["port"], "http", "inline handler: {probe}");
    assert_eq!(probe["httpGet"]["path"], "/healthz");
    assert_eq!(probe["periodSeconds"], 5);
    assert_eq!(container["resources"]["limits"]["memory"], "64Mi");
    assert_eq!(
        created["spec"]["volumes"][0],
        serde_json::json!({"name": "scratch", "emptyDir": {}}),
        "an empty message that was sent is kept"
    );
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 0);
    assert_eq!(created["metadata"]["labels"]["app"], "api");
    assert!(
        created["metadata"].get("generateName").is_none(),
        "strings nobody set are left out: {created}"
    );

    // Bad bodies are refused with a Status, never a dropped connection.
    for bad in [
        &b"k8s\0\x0a\x05\x0a\x02v1"[..],
        b"not protobuf",
        b"k8s\0\xff\xff",
    ] {
        let (code, _, body) = http_bytes(
            port,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            &[("Content-Type", PROTOBUF)],
            bad,
        )
        .await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(code, 400, "{text}");
        assert!(text.contains("could not be decoded as protobuf"), "{text}");
    }
    // Patches and custom resources have no protobuf form.
    let (code, _, _) = http_bytes(
        port,
        "PATCH",
        "/api/v1/namespaces/default/pods/api",
        &[("Content-Type", PROTOBUF)],
        &envelope("v1", "Pod", &pod()),
    )
    .await;
    assert_eq!(code, 415);
}

#[tokio::test]
async fn clients_that_accept_only_protobuf_get_protobuf() {
    let c = Cluster::start().await;
    let port = c.sim.port();
    let only = [("Accept", PROTOBUF), ("Content-Type", PROTOBUF)];
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: Some("settings".into()),
            ..Default::default()
        }),
        data: [("mode".to_string(), "fast".to_string())].into(),
        ..Default::default()
    };
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, head, body) =
        http_bytes(port, "POST", path, &only, &envelope("v1", "ConfigMap", &cm)).await;
    assert_eq!(code, 201);
    assert!(
        head.contains(&format!("content-type: {PROTOBUF}")),
        "{head}"
    );
    let created = open_envelope(&body);
    assert_eq!(
        created.type_meta.as_ref().and_then(|t| t.kind.as_deref()),
        Some("ConfigMap")
    );
    let created = core::ConfigMap::decode(created.raw.unwrap_or_default().as_slice()).unwrap();
    assert_eq!(created.data.get("mode").map(String::as_str), Some("fast"));
    let meta = created.metadata.unwrap_or_default();
    assert!(meta.uid.is_some_and(|u| !u.is_empty()));
    assert!(
        meta.creation_timestamp
            .and_then(|t| t.seconds)
            .is_some_and(|s| s > 1_600_000_000)
    );

    let (code, _, body) = http_bytes(port, "GET", path, &only, b"").await;
    assert_eq!(code, 200);
    let list = open_envelope(&body);
    assert_eq!(
        list.type_meta.as_ref().and_then(|t| t.kind.as_deref()),
        Some("ConfigMapList")
    );
    let list = core::ConfigMapList::decode(list.raw.unwrap_or_default().as_slice()).unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|i| i.metadata.as_ref()?.name.clone())
        .collect();
    assert!(names.contains(&"settings".to_string()), "{names:?}");

    // Errors come as a protobuf Status.
    let (code, _, body) = http_bytes(port, "GET", &format!("{path}/missing"), &only, b"").await;
    assert_eq!(code, 404);
    let status =
        meta::Status::decode(open_envelope(&body).raw.unwrap_or_default().as_slice()).unwrap();
    assert_eq!(status.reason.as_deref(), Some("NotFound"));
    assert_eq!(status.code, Some(404));
    assert_eq!(
        status.message.as_deref(),
        Some(r#"configmaps "missing" not found"#)
    );

    // A custom resource has no protobuf form: 406, as on a real server.
    c.kubectl_ok(
        &["apply", "--server-side", "-f", &Cluster::repo("crds/yaml")],
        None,
    )
    .await;
    let (code, _, _) = http_bytes(
        port,
        "GET",
        "/apis/rollout-rs.io/v1alpha1/namespaces/default/rollouts",
        &[("Accept", PROTOBUF)],
        b"",
    )
    .await;
    assert_eq!(code, 406);
}

// A throwaway self-signed pair for `kubectl create secret tls`, which checks that both parse.
const TLS_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBhjCCASugAwIBAgIUUhNGRLnRz8HjP8XOaaj8d5Ung4cwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMc2hvcC5leGFtcGxlMCAXDTI2MTEzMDE1MzAxNFoYDzIxMjYx
MTA2MTUzMDE0WjAXMRUwEwYDVQQDDAxzaG9wLmV4YW1wbGUwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQevXLEGdEuUbazZNlBcz3N8Ht1Fg0/jiEVOchj6Wcf5lcO
eyk4o8qOUCtOKMeMh2+Nx6N2howCXI+3AGC/H8Ejo1MwUTAdBgNVHQ4EFgQUO47h
tAZ8jjK203pwndXy2NxRTvUwHwYDVR0jBBgwFoAUO47htAZ8jjK203pwndXy2NxR
TvUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA73+Uky5B/i2w
Tmqb1etdhCZJz53wWhjmUiCyw8ESPQgCIQCf1dDYFzFpOAlvECRlgVfJlGv7lp2C
g/BO32j8rneZqA==
-----END CERTIFICATE-----
";
const TLS_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvh93u963zIJyJ/ME
se2a+ZbDgjWsHsvWgSLuh/BzcqmhRANCAAQevXLEGdEuUbazZNlBcz3N8Ht1Fg0/
jiEVOchj6Wcf5lcOeyk4o8qOUCtOKMeMh2+Nx6N2howCXI+3AGC/H8Ej
-----END PRIVATE KEY-----
";
