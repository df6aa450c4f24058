//! `rollout-rs controller` operated as a platform team runs it, as separate processes against
//! the simulated cluster: two replicas with `--leader-elect` (exactly one writes, a SIGKILLed
//! leader is replaced within 15 s and its rollout goes on without a flap, a SIGTERMed one hands
//! over at once), and `/metrics`, `/healthz`, `/readyz` and the runtime log level as a real
//! Prometheus and a person see them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use rollout_rs_crds::Rollout;
use rollout_rs_e2e::rbac::Call;
use serde_json::{Value, json};

const LEASE: &str = "rollout-rs-controller";
const NS: &str = "shop";

/// A simulated cluster with the CRDs and namespace `shop`, and a kubeconfig file for it.
struct Cluster {
    sim: rollout_rs_sim::Handle,
    client: Client,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start(name: &str) -> Cluster {
        let sim = rollout_rs_sim::start(rollout_rs_sim::Config::default())
            .await
            .expect("start the simulator");
        let dir = std::env::temp_dir().join(format!("rollout-rs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test dir");
        let kubeconfig = dir.join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        let client = rollout_rs_controller::client(Some(&kubeconfig))
            .await
            .expect("client");
        rollout_rs_controller::install::install_crds(&client, Duration::from_secs(30))
            .await
            .expect("CRDs");
        for name in [NS, rollout_rs_e2e::chart::RELEASE] {
            let ns: Namespace =
                serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
            Api::<Namespace>::all(client.clone())
                .create(&Default::default(), &ns)
                .await
                .expect("namespace");
        }
        Cluster {
            sim,
            client,
            dir,
            kubeconfig,
        }
    }

    /// The simulator's request log, in order.
    async fn requests(&self) -> Vec<Call> {
        let url = format!("{}/sim/requests", self.sim.url());
        let req = http::Request::get(url).body(Vec::new()).expect("request");
        let log: Value = self.client.request(req).await.expect("request log");
        serde_json::from_value(log["items"].clone()).expect("request records")
    }

    async fn holder(&self) -> Option<String> {
        let lease = Api::<Lease>::namespaced(self.client.clone(), rollout_rs_e2e::chart::RELEASE)
            .get_opt(LEASE)
            .await
            .ok()??;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    }

    /// Waits (through a watch) until the Lease is held by a replica named `prefix`.
    async fn held_by(&self, prefix: &str, timeout: Duration) -> String {
        let leases = Api::<Lease>::namespaced(self.client.clone(), rollout_rs_e2e::chart::RELEASE);
        let config = watcher::Config::default().fields(&format!("metadata.name={LEASE}"));
        let mut held = watcher(leases, config)
            .applied_objects()
            .try_filter_map(|l| async move {
                Ok(l.spec
                    .and_then(|s| s.holder_identity)
                    .filter(|h| h.starts_with(prefix)))
            })
            .boxed();
        match tokio::time::timeout(timeout, held.try_next()).await {
            Ok(Ok(Some(holder))) => holder,
            other => panic!(
                "the Lease was not taken by {prefix} within {timeout:?}: {other:?}, held by {:?}",
                self.holder().await
            ),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `rollout-rs controller` process, named by `POD_NAME`, its log lines on a channel.
struct Replica {
    child: Child,
    name: &'static str,
    metrics: u16,
    health: u16,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Replica {
    fn start(kubeconfig: &Path, name: &'static str, extra: &[&str]) -> Replica {
        let (metrics, health) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
            .arg("controller")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
            .args(["--health-addr", &format!("127.0.0.1:{health}")])
            .args(extra)
            .env("POD_NAME", name)
            // Where the chart puts it: the release namespace.
            .env("POD_NAMESPACE", rollout_rs_e2e::chart::RELEASE)
            // Each scrape is logged at debug: what the tests wait on.
            .env(
                "RUST_LOG",
                "info,rollout_rs_controller::process::server=debug",
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rollout-rs controller");
        let mut child = child;
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Replica {
            child,
            name,
            metrics,
            health,
            log,
        }
    }

    /// Waits (30 s at most) for `n` more log lines containing `needle`.
    async fn logged(&mut self, needle: &str, n: usize) {
        let mut seen = 0;
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.log.recv().await {
                seen += usize::from(line.contains(needle));
                if seen == n {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            found == Ok(true),
            "{} logged {needle:?} {seen} of {n} times",
            self.name
        );
    }

    /// Waits until its ports are bound.
    async fn serving(&mut self) {
        self.logged("serving metrics and health", 1).await;
    }

    /// This replica's user agent prefix in the request log.
    fn agent(&self) -> String {
        format!("rollout-rs/{} ({}-", env!("CARGO_PKG_VERSION"), self.name)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET on loopback (the replica is [`Replica::serving`]); (status, body).
async fn get(port: u16, path: &str) -> (u16, String) {
    request(port, "GET", path, "").await
}

async fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("127.0.0.1:{port}: {e}"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("read");
    let code = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Waits until it logs that every cache has listed, then checks `/readyz` says so too.
async fn ready(replica: &mut Replica) {
    replica.logged("ready: every cache has listed", 1).await;
    let (code, body) = get(replica.health, "/readyz").await;
    assert_eq!(
        code, 200,
        "{} says it is ready, /readyz: {body}",
        replica.name
    );
}

fn rollout(image: &str) -> Value {
    json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"},
                             "annotations": {"sim.rollout-rs.io/ready-after-ms": "300"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
            "strategy": {"canary": {"steps": [
                {"setWeight": 25}, {"pause": {"duration": 4}},
                {"setWeight": 50}, {"pause": {"duration": 4}},
                {"setWeight": 75}, {"pause": {"duration": 4}},
            ]}},
        },
    })
}

async fn apply(client: &Client, image: &str) {
    Api::<Rollout>::namespaced(client.clone(), NS)
        .patch(
            "web",
            &PatchParams::apply("test").force(),
            &Patch::Apply(rollout(image)),
        )
        .await
        .expect("apply the Rollout");
}

/// (phase, step, canary weight, image of the current template) of each status the watch saw.
type Seen = Vec<(String, Option<i32>, Option<i32>, String)>;

fn view(ro: &Rollout) -> (String, Option<i32>, Option<i32>, String) {
    let st = ro.status.clone().unwrap_or_default();
    let image = ro
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    (
        st.phase.map(|p| format!("{p:?}")).unwrap_or_default(),
        st.current_step_index,
        st.canary.and_then(|c| c.weights).map(|w| w.canary.weight),
        image,
    )
}

/// Watches the Rollout into `seen` until `done` holds for a status (60 s at most).
async fn until(client: &Client, seen: &mut Seen, what: &str, done: impl Fn(&Rollout) -> bool) {
    let rollouts = Api::<Rollout>::namespaced(client.clone(), NS);
    let config = watcher::Config::default().fields("metadata.name=web");
    let mut stream = watcher(rollouts, config).applied_objects().boxed();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ro) = stream.try_next().await.expect("watch the Rollout") {
            let v = view(&ro);
            if seen.last() != Some(&v) {
                seen.push(v);
            }
            if done(&ro)
                && ro.status.as_ref().and_then(|s| s.observed_generation) == ro.metadata.generation
            {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "the Rollout never reached {what}: {seen:?}");
}

fn phase(ro: &Rollout) -> String {
    view(ro).0
}

fn writes_by(log: &[Call]) -> BTreeSet<String> {
    log.iter()
        .filter(|c| {
            c.user_agent.starts_with("rollout-rs/")
                && matches!(c.verb.as_str(), "create" | "update" | "patch" | "delete")
                && c.resource != "leases"
        })
        .map(|c| c.user_agent.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_writes_and_hands_over_on_kill_and_on_term() {
    let c = Cluster::start("leader").await;
    let first = Replica::start(&c.kubeconfig, "alpha", &["--leader-elect"]);
    c.held_by("alpha-", Duration::from_secs(30)).await;
    let mut second = Replica::start(&c.kubeconfig, "beta", &["--leader-elect"]);
    ready(&mut second).await;

    // v1 comes up at full size; then v2 starts its canary.
    let mut seen = Seen::new();
    apply(&c.client, "web:1").await;
    until(&c.client, &mut seen, "Healthy with web:1", |ro| {
        phase(ro) == "Healthy"
    })
    .await;
    apply(&c.client, "web:2").await;
    until(&c.client, &mut seen, "the canary's first pause", |ro| {
        view(ro).1 == Some(1) && view(ro).3 == "web:2"
    })
    .await;

    // Exactly one writes: the leader; the standby only reads.
    let log = c.requests().await;
    let writers = writes_by(&log);
    assert_eq!(writers.len(), 1, "{writers:?}");
    assert!(
        writers.iter().all(|w| w.starts_with(&first.agent())),
        "{writers:?}"
    );
    let standby_reads = log
        .iter()
        .filter(|c| c.user_agent.starts_with(&second.agent()))
        .count();
    assert!(standby_reads > 0, "the standby keeps its caches warm");
    let before_kill = log.len();

    // SIGKILL: nothing is released; the standby takes over when the Lease expires.
    let killed = Instant::now();
    first.signal("-KILL");
    c.held_by("beta-", Duration::from_secs(15)).await;
    let took = killed.elapsed();
    eprintln!("hand-over after SIGKILL: {took:?}");
    assert!(
        took < Duration::from_secs(15),
        "hand-over after SIGKILL took {took:?}"
    );

    // The rollout goes on to the end under the new leader, never backwards.
    until(&c.client, &mut seen, "Healthy with web:2", |ro| {
        phase(ro) == "Healthy" && view(ro).3 == "web:2"
    })
    .await;
    // From the canary's start (the first status of web:2 that is not the old Healthy one).
    let canary: Vec<_> = seen
        .iter()
        .skip_while(|s| s.3 != "web:2" || s.0 == "Healthy")
        .collect();
    assert!(canary.len() >= 4, "the canary's steps: {seen:?}");
    for pair in canary.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_ne!(b.0, "Degraded", "{seen:?}");
        if a.1.is_some() && b.1.is_some() {
            assert!(b.1 >= a.1, "the step went back: {seen:?}");
        }
    }
    let after = c.requests().await;
    let writers = writes_by(&after[before_kill..]);
    assert!(
        writers.iter().all(|w| w.starts_with(&second.agent())),
        "{writers:?}"
    );

    // SIGTERM: the leader releases the Lease and a fresh standby takes it at once, well
    // before the lease (10 s) would have expired.
    let mut third = Replica::start(&c.kubeconfig, "gamma", &["--leader-elect"]);
    ready(&mut third).await;
    let termed = Instant::now();
    second.signal("-TERM");
    c.held_by("gamma-", Duration::from_secs(15)).await;
    let took = termed.elapsed();
    eprintln!("hand-over after SIGTERM: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "hand-over after SIGTERM took {took:?}"
    );
    let mut second = second;
    let exit = tokio::task::spawn_blocking(move || second.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        exit.success(),
        "a SIGTERMed controller exits cleanly: {exit:?}"
    );
    drop(third);

    // Every call of every replica, the election's included, is one the chart's RBAC (with
    // leader election on) allows.
    let grants = rollout_rs_e2e::chart::grants(&json!({"replicas": 2})).expect("the chart's rules");
    let log = c.requests().await;
    let refused = rollout_rs_e2e::rbac::disallowed(&grants, &log, |call| {
        call.user_agent.starts_with("rollout-rs/")
    });
    assert!(
        refused.is_empty(),
        "calls the chart does not allow: {refused:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_controller_and_health_endpoints_answer() {
    let c = Cluster::start("metrics").await;
    let mut replica = Replica::start(&c.kubeconfig, "solo", &["--log-format", "json"]);
    replica.serving().await;
    let (code, body) = get(replica.health, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    ready(&mut replica).await;

    let mut seen = Seen::new();
    apply(&c.client, "web:1").await;
    until(&c.client, &mut seen, "Healthy", |ro| phase(ro) == "Healthy").await;

    // Prometheus has no watch: a second scrape started proves the first one (which came after
    // the Rollout was Healthy) is stored.
    let target = format!("127.0.0.1:{}", replica.metrics);
    let prometheus = rollout_rs_e2e::metrics::Prometheus::scraping(
        &target,
        &c.dir,
        replica.logged("served /metrics", 2),
    )
    .await
    .expect("Prometheus scrapes the controller");
    let query = |q: &'static str| {
        let prometheus = &prometheus;
        async move { prometheus.query(q).await.expect("query") }
    };
    let reconciles =
        query("rollout_rs_reconcile_duration_seconds_count{controller=\"rollout\"} > 0").await;
    assert_eq!(reconciles.len(), 1, "{reconciles:?}");
    let info =
        query("rollout_rs_rollout_info{namespace=\"shop\",name=\"web\",phase=\"Healthy\"}").await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(
        info[0].0.get("strategy").map(String::as_str),
        Some("canary")
    );
    let patches = query("sum(rollout_rs_kube_requests_total{verb=\"patch\",code=\"200\"})").await;
    assert!(
        patches.first().is_some_and(|(_, v)| *v > 0.0),
        "{patches:?}"
    );
    let leader = query("rollout_rs_leader").await;
    assert_eq!(
        leader.first().map(|(_, v)| *v),
        Some(1.0),
        "no election: it leads"
    );
    let depth = query("rollout_rs_workqueue_depth{controller=\"rollout\"}").await;
    assert_eq!(depth.len(), 1, "{depth:?}");

    // The log level changes at run time; a bad filter is refused with the reason.
    let (code, body) = request(replica.health, "PUT", "/debug/log-level", "debug,kube=warn").await;
    assert_eq!(code, 200, "{body}");
    let (_, now) = get(replica.health, "/debug/log-level").await;
    assert!(now.contains("debug") && now.contains("kube=warn"), "{now}");
    let (code, body) = request(replica.health, "PUT", "/debug/log-level", "kube=loud").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid log filter"), "{body}");
}
