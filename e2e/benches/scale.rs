//! Scale load tool (issue 18): the controller against N Rollouts with M of them progressing at
//! once. Numbers, not assertions. Each row of the table it prints is labelled with N, M and the
//! routing:
//!
//! 1. the time from the first create to all N Rollouts Healthy (seen through a watch);
//! 2. the controller's RSS with no Rollouts (after a probe Rollout went Healthy and was
//!    deleted), idle with N Rollouts and at its peak while M progress, and the simulated API
//!    server's RSS idle with N;
//! 3. the controller's idle CPU (share of one core over 10 s with nothing to do) and, while M
//!    progress through `[setWeight 50, pause 2s]`, its CPU per reconcile (CPU seconds from
//!    /proc over the increase of `rollout_rs_reconcile_duration_seconds_count{controller=
//!    "rollout"}` on its `/metrics`) and per rollout step;
//! 4. pause end -> next step written: for the M updated at once, from each pause's due time
//!    (its condition's startTime + 2 s) to the watch seeing the condition gone;
//! 5. failed measurement -> canary weight 0 written: the same M with a background analysis on
//!    a web metric (interval 1 s) against a fixture JSON endpoint, routed through NGINX so that
//!    `status.canary.weights` is written; once all sit at weight 50 the endpoint turns failing,
//!    and the delay runs from that flip to the watch seeing `status.abort` and
//!    `status.canary.weights.canary.weight == 0` (also from the watch seeing the AnalysisRun
//!    Failed);
//! 6. Kubernetes API requests per rollout step: the increase of `sum(rollout_rs_kube_requests_
//!    total)` while M progress, over the steps they took.
//!
//! The simulated cluster (`rollout-rs-sim`) and the controller (`rollout-rs controller`) each
//! run as their own process, the release binaries found next to this bench's executable, so
//! their memory and CPU are measured alone. One watch of the namespace's Rollouts (and one of its
//! AnalysisRuns) feeds every phase; only /proc and `/metrics` are sampled. Each phase gives up
//! after `SCALE_TIMEOUT_S` and reports how far it got.
//!
//! Run:
//!
//! ```sh
//! cargo build --release -p rollout-rs-controller -p rollout-rs-sim --bins
//! SCALE_N=1000 SCALE_M=100 cargo bench -p rollout-rs-e2e --bench scale
//! ```
//!
//! `SCALE_N` (Rollouts, default 1000), `SCALE_M` (progressing at once, default 100),
//! `SCALE_ROUTING=nginx` (every Rollout routed through an NGINX Ingress; default: replica-ratio
//! canary, routing added for phase 5 only), `SCALE_TIMEOUT_S` (per phase, default 900).
//! Progress goes to stderr; the table to stdout, row by row and as Markdown at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch};
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::rollout::RolloutPhase;
use rollout_rs_crds::{AnalysisRun, AnalysisTemplate, Rollout};
use rollout_rs_e2e::metrics::Exporter;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const NS: &str = "scale";
const PAUSE_SECONDS: i64 = 2;
/// Creates and patches in flight at once.
const IN_FLIGHT: usize = 16;
/// The window of the idle CPU measurement.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
const TEMPLATE: &str = "scale-judge";

// ---------------------------------------------------------------------------------------------
// Parameters and processes

struct Params {
    n: usize,
    m: usize,
    nginx: bool,
    timeout: Duration,
}

impl Params {
    fn from_env() -> Params {
        fn number(var: &str, default: u64) -> u64 {
            match std::env::var(var) {
                Err(_) => default,
                Ok(v) => match v.trim().replace(['_', ','], "").parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        eprintln!("scale: {var}={v:?} is not a positive whole number");
                        std::process::exit(2);
                    }
                },
            }
        }
        let n = number("SCALE_N", 1000) as usize;
        let m = (number("SCALE_M", 100) as usize).min(n);
        let nginx = match std::env::var("SCALE_ROUTING").unwrap_or_default().as_str() {
            "" | "none" | "replicas" => false,
            "nginx" => true,
            other => {
                eprintln!("scale: SCALE_ROUTING={other:?}: use nginx, or leave it unset");
                std::process::exit(2);
            }
        };
        Params {
            n,
            m,
            nginx,
            timeout: Duration::from_secs(number("SCALE_TIMEOUT_S", 900)),
        }
    }

    /// What each Rollout comes with.
    fn objects(&self) -> &'static str {
        if self.nginx {
            "2 Services and an Ingress"
        } else {
            "2 Services"
        }
    }

    fn routing(&self) -> &'static str {
        if self.nginx { "nginx" } else { "replicas" }
    }
}

/// The release binaries `rollout-rs` and `rollout-rs-sim` beside this bench
/// (`target/release/deps/scale-*` -> `target/release/`), or exit saying how to build them.
fn binaries() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("the path of this bench's executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let controller = dir.join("rollout-rs");
    let sim = dir.join("rollout-rs-sim");
    let missing: Vec<String> = [&controller, &sim]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "scale: missing {}.\nBuild the release binaries first:\n  cargo build --release -p rollout-rs-controller -p rollout-rs-sim --bins",
            missing.join(" and ")
        );
        std::process::exit(2);
    }
    (controller, sim)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts `rollout-rs-sim` and waits for the kubeconfig it writes.
async fn start_sim(bin: &Path, dir: &Path) -> (Child, PathBuf) {
    let kubeconfig = dir.join("kubeconfig");
    let log = std::fs::File::create(dir.join("sim.log")).expect("sim log file");
    let mut child = Command::new(bin)
        .args(["--port", "0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start rollout-rs-sim");
    let stdout = child.stdout.take().expect("the simulator's stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let written = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("kubeconfig written") {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(Duration::from_secs(60), written).await {
        Ok(true) => {}
        _ => panic!(
            "rollout-rs-sim wrote no kubeconfig (log: {})",
            dir.join("sim.log").display()
        ),
    }
    // Keep reading its stdout so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, kubeconfig)
}

/// `(RSS in KiB, CPU seconds used)` of process `pid`, from /proc.
fn proc_stats(pid: u32) -> (u64, f64) {
    rollout_rs_e2e::process_stats::proc_stats(&pid.to_string())
}

/// Samples a process's RSS every 100 ms and keeps the peak since the last [`Peak::reset`].
#[derive(Clone)]
struct Peak(Arc<AtomicU64>);

impl Peak {
    fn start(pid: u32) -> Peak {
        let peak = Peak(Arc::new(AtomicU64::new(0)));
        let p = peak.0.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                p.fetch_max(proc_stats(pid).0, Ordering::Relaxed);
            }
        });
        peak
    }
    fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// The controller's /metrics

/// `GET /metrics` over plain HTTP/1.0 (the answer is the body up to the closed connection).
async fn scrape(addr: SocketAddr) -> Result<String, String> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), get)
        .await
        .map_err(|_| format!("GET http://{addr}/metrics timed out"))?
        .map_err(|e| format!("GET http://{addr}/metrics: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET http://{addr}/metrics: no HTTP answer"))?;
    if head.split_whitespace().nth(1) != Some("200") {
        return Err(format!(
            "GET http://{addr}/metrics: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    Ok(body.to_string())
}

/// One sample of the text exposition format: name, labels, value.
fn parse_sample(line: &str) -> Option<(&str, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut labels = BTreeMap::new();
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) if line.as_bytes()[i] == b'{' => {
            let mut chars = line[i + 1..].char_indices();
            let mut key = String::new();
            let end = loop {
                let (j, c) = chars.next()?;
                match c {
                    '}' => break i + 1 + j + 1,
                    ',' | ' ' => {}
                    '=' => {
                        if chars.next()?.1 != '"' {
                            return None;
                        }
                        let mut value = String::new();
                        loop {
                            match chars.next()?.1 {
                                '\\' => match chars.next()?.1 {
                                    'n' => value.push('\n'),
                                    other => value.push(other),
                                },
                                '"' => break,
                                other => value.push(other),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    other => key.push(other),
                }
            };
            (&line[..i], &line[end..])
        }
        Some(i) => (&line[..i], &line[i..]),
        None => return None,
    };
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((name, labels, value))
}

/// The sum of the samples of `name` whose labels include `with`.
fn metric_sum(text: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(parse_sample)
        .filter(|(n, labels, _)| {
            *n == name
                && with
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// The counters phases 3 and 6 divide by.
#[derive(Clone, Copy, Default)]
struct Counters {
    reconciles: f64,
    requests: f64,
}

impl Counters {
    fn from_text(text: &str) -> Counters {
        Counters {
            reconciles: metric_sum(
                text,
                "rollout_rs_reconcile_duration_seconds_count",
                &[("controller", "rollout")],
            ),
            requests: metric_sum(text, "rollout_rs_kube_requests_total", &[]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Objects

fn rollout(name: &str, image: &str, nginx: bool) -> Rollout {
    let mut canary = json!({
        "canaryService": format!("{name}-canary"),
        "stableService": format!("{name}-stable"),
        "steps": [{"setWeight": 50}, {"pause": {"duration": format!("{PAUSE_SECONDS}s")}}]
    });
    if nginx {
        canary["trafficRouting"] = json!({"nginx": {"stableIngress": name}});
    }
    serde_json::from_value(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"sim.rollout-rs.io/ready-after-ms": "10"}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": canary}
        }
    }))
    .expect("the bench's Rollout is a Rollout")
}

fn service(name: &str, app: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}
    }))
    .expect("the bench's Service is a Service")
}

fn ingress(name: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": format!("{name}-stable"), "port": {"number": 80}}}}]}}]}
    }))
    .expect("the bench's Ingress is an Ingress")
}

/// Runs `call` until it succeeds or answers 409 (already there), a few times on other errors.
async fn retried<F, Fut, T>(what: &str, call: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    use backon::Retryable;
    // Five tries, 200 ms apart at first, doubling.
    let tries = backon::ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(200))
        .with_factor(2.0)
        .with_max_times(4);
    let once = || async {
        match call().await {
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            result => result.map(|_| ()),
        }
    };
    once.retry(tries).await.map_err(|e| format!("{what}: {e}"))
}

#[derive(Clone)]
struct Apis {
    rollouts: Api<Rollout>,
    services: Api<Service>,
    ingresses: Api<Ingress>,
}

impl Apis {
    /// A Rollout's two Services (and its Ingress with NGINX), then the Rollout.
    async fn create(&self, name: &str, nginx: bool) -> Result<(), String> {
        let pp = PostParams::default();
        for suffix in ["canary", "stable"] {
            let svc = service(&format!("{name}-{suffix}"), name);
            retried(&format!("create Service {name}-{suffix}"), || {
                self.services.create(&pp, &svc)
            })
            .await?;
        }
        if nginx {
            self.create_ingress(name).await?;
        }
        let ro = rollout(name, "app:1", nginx);
        retried(&format!("create Rollout {name}"), || {
            self.rollouts.create(&pp, &ro)
        })
        .await
    }

    async fn create_ingress(&self, name: &str) -> Result<(), String> {
        let (ing, pp) = (ingress(name), PostParams::default());
        retried(&format!("create Ingress {name}"), || {
            self.ingresses.create(&pp, &ing)
        })
        .await
    }

    async fn patch(&self, name: &str, patch: &Value) -> Result<(), String> {
        let (pp, patch) = (PatchParams::default(), Patch::Merge(patch));
        retried(&format!("patch Rollout {name}"), || {
            self.rollouts.patch(name, &pp, &patch)
        })
        .await
    }
}

/// Runs `job` for each name, [`IN_FLIGHT`] at once, in a task of its own: the caller keeps
/// reading the watch meanwhile. The task answers the first error, if any.
fn each<F, Fut>(names: Vec<String>, job: F) -> JoinHandle<Result<Duration, String>>
where
    F: Fn(String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    tokio::spawn(async move {
        let t = Instant::now();
        let errors: Vec<String> = futures::stream::iter(names)
            .map(job)
            .buffer_unordered(IN_FLIGHT)
            .filter_map(|r| async move { r.err() })
            .collect()
            .await;
        match errors.first() {
            Some(e) => Err(format!("{} failed; the first: {e}", errors.len())),
            None => Ok(t.elapsed()),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The watches

/// What the phases read of a Rollout, stamped with when the watch delivered it.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    at: Instant,
    wall: Timestamp,
    phase: Option<RolloutPhase>,
    pause_start: Option<Timestamp>,
    step: Option<i32>,
    current: Option<String>,
    stable: Option<String>,
    abort: bool,
    /// The canary weight written and the pod-template hash it goes to.
    weight: Option<(i32, Option<String>)>,
    /// The background AnalysisRun's status (`Running`, `Failed`...).
    background: Option<String>,
}

impl Seen {
    fn of(ro: Rollout, at: Instant, wall: Timestamp) -> Seen {
        let st = ro.status.unwrap_or_default();
        let canary = st.canary.unwrap_or_default();
        Seen {
            name: ro.metadata.name.unwrap_or_default(),
            at,
            wall,
            phase: st.phase,
            pause_start: st.pause_conditions.first().map(|c| c.start_time.0),
            step: st.current_step_index,
            current: st.current_pod_hash,
            stable: st.stable_rs,
            abort: st.abort,
            weight: canary
                .weights
                .map(|w| (w.canary.weight, w.canary.pod_template_hash)),
            background: canary
                .current_background_analysis_run_status
                .map(|b| b.status),
        }
    }

    fn healthy(&self) -> bool {
        self.phase == Some(RolloutPhase::Healthy)
    }

    /// Fully promoted: Healthy with the current template stable.
    fn promoted(&self) -> bool {
        self.healthy() && self.current.is_some() && self.current == self.stable
    }
}

enum Watched {
    Applied(Seen),
    Deleted(String),
    /// A relist ended: the names listed (any other is gone).
    Relisted(HashSet<String>),
}

/// One watch of the namespace's Rollouts, forwarded into a channel as the events arrive (so the
/// receipt time is the watch's, whatever a phase is doing).
fn watch_rollouts(api: Api<Rollout>) -> (mpsc::UnboundedReceiver<Watched>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = watch(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing: Option<HashSet<String>> = None;
        while let Some(ev) = stream.next().await {
            let (at, wall) = (Instant::now(), Timestamp::now());
            let sent = match ev {
                Ok(Event::Apply(ro)) | Ok(Event::InitApply(ro)) => {
                    let seen = Seen::of(ro, at, wall);
                    if let Some(names) = listing.as_mut() {
                        names.insert(seen.name.clone());
                    }
                    tx.send(Watched::Applied(seen))
                }
                Ok(Event::Delete(ro)) => {
                    tx.send(Watched::Deleted(ro.metadata.name.unwrap_or_default()))
                }
                Ok(Event::Init) => {
                    listing = Some(HashSet::new());
                    Ok(())
                }
                Ok(Event::InitDone) => match listing.take() {
                    Some(names) => tx.send(Watched::Relisted(names)),
                    None => Ok(()),
                },
                Err(e) => {
                    eprintln!("scale: Rollout watch: {e} (retrying)");
                    Ok(())
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// One watch of the namespace's AnalysisRuns: `(owning Rollout, when seen Failed)`, once per run.
fn watch_failed_runs(
    api: Api<AnalysisRun>,
) -> (mpsc::UnboundedReceiver<(String, Instant)>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = watch(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        let mut failed: HashSet<String> = HashSet::new();
        while let Some(ev) = stream.next().await {
            let at = Instant::now();
            let run = match ev {
                Ok(run) => run,
                Err(e) => {
                    eprintln!("scale: AnalysisRun watch: {e} (retrying)");
                    continue;
                }
            };
            if run.status.as_ref().and_then(|s| s.phase) != Some(AnalysisPhase::Failed) {
                continue;
            }
            let name = run.metadata.name.clone().unwrap_or_default();
            let owner = run
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.kind == "Rollout")
                .map(|o| o.name.clone());
            if let Some(owner) = owner
                && failed.insert(name)
                && tx.send((owner, at)).is_err()
            {
                return;
            }
        }
    });
    (rx, task)
}

// ---------------------------------------------------------------------------------------------
// Results

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Median, p99 and max of delays in milliseconds.
fn spread(mut ms: Vec<f64>) -> String {
    if ms.is_empty() {
        return "none measured".into();
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "median {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} measured)",
        at(0.5),
        at(0.99),
        at(1.0),
        thousands(ms.len())
    )
}

struct Row {
    measure: String,
    result: String,
}

// ---------------------------------------------------------------------------------------------
// The bench

struct Bench {
    p: Params,
    rows: Vec<Row>,
    apis: Apis,
    rx: mpsc::UnboundedReceiver<Watched>,
    runs_rx: mpsc::UnboundedReceiver<(String, Instant)>,
    /// The last state the watch delivered of each Rollout.
    seen: HashMap<String, Seen>,
    /// When each Rollout's (latest) AnalysisRun was seen Failed.
    run_failed: HashMap<String, Instant>,
    controller: Child,
    sim: Child,
    controller_pid: u32,
    sim_pid: u32,
    metrics: SocketAddr,
    peak: Peak,
    dir: PathBuf,
    /// The watch tasks, stopped before the processes are.
    watches: Vec<JoinHandle<()>>,
    /// What the current phase waits for, and how far it got: printed every 10 s.
    doing: (&'static str, usize, usize),
    doing_since: Instant,
    noted: Instant,
}

enum Change {
    Applied(Seen),
    Deleted(String),
}

impl Bench {
    fn row(&mut self, measure: impl Into<String>, result: impl Into<String>) {
        let row = Row {
            measure: measure.into(),
            result: result.into(),
        };
        println!(
            "N={} M={} routing={} | {} | {}",
            self.p.n,
            self.p.m,
            self.p.routing(),
            row.measure,
            row.result
        );
        self.rows.push(row);
    }

    /// The next change the watch delivered, or `None` once `deadline` has passed. Ends the
    /// bench (with the rows so far) if the controller or the simulator exits.
    async fn next(&mut self, deadline: Instant) -> Option<Change> {
        loop {
            let wake = deadline.min(Instant::now() + Duration::from_secs(1));
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(Watched::Applied(seen)) => {
                        self.seen.insert(seen.name.clone(), seen.clone());
                        return Some(Change::Applied(seen));
                    }
                    Some(Watched::Deleted(name)) => {
                        self.seen.remove(&name);
                        return Some(Change::Deleted(name));
                    }
                    Some(Watched::Relisted(names)) => self.seen.retain(|n, _| names.contains(n)),
                    None => self.fail("the Rollout watch ended"),
                },
                Some((owner, at)) = self.runs_rx.recv() => {
                    self.run_failed.insert(owner, at);
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.check_alive();
                    if self.noted.elapsed() >= Duration::from_secs(10) {
                        self.noted = Instant::now();
                        let (what, count, total) = self.doing;
                        eprintln!(
                            "scale: {:.0} s: {what}: {} of {}",
                            self.doing_since.elapsed().as_secs_f64(),
                            thousands(count),
                            thousands(total)
                        );
                    }
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    /// Records how far the current phase got (`count` of `total` `what`), for the progress
    /// line; a new `what` starts a new phase.
    fn note(&mut self, what: &'static str, count: usize, total: usize) {
        if self.doing.0 != what {
            self.doing_since = Instant::now();
        }
        self.doing = (what, count, total);
    }

    /// Takes in whatever the watches delivered so far.
    fn drain(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            match ev {
                Watched::Applied(seen) => {
                    self.seen.insert(seen.name.clone(), seen);
                }
                Watched::Deleted(name) => {
                    self.seen.remove(&name);
                }
                Watched::Relisted(names) => self.seen.retain(|n, _| names.contains(n)),
            }
        }
        while let Ok((owner, at)) = self.runs_rx.try_recv() {
            self.run_failed.insert(owner, at);
        }
    }

    fn check_alive(&mut self) {
        let exited = |child: &mut Child, what: &str, log: &str| {
            child.try_wait().ok().flatten().map(|status| {
                format!(
                    "the {what} exited ({status}); its log: {}",
                    self.dir.join(log).display()
                )
            })
        };
        let msg = exited(&mut self.controller, "controller", "controller.log")
            .or_else(|| exited(&mut self.sim, "simulator", "sim.log"));
        if let Some(msg) = msg {
            self.fail(&msg);
        }
    }

    /// Prints the table so far and `why`, and exits.
    fn fail(&mut self, why: &str) -> ! {
        self.row("stopped", why.to_string());
        self.print_markdown();
        std::process::exit(1);
    }

    /// CPU seconds used so far by the controller, the simulator and this tool.
    fn cpus(&self) -> [f64; 3] {
        [self.controller_pid, self.sim_pid, std::process::id()].map(|pid| proc_stats(pid).1)
    }

    async fn counters(&mut self) -> Counters {
        match scrape(self.metrics).await {
            Ok(text) => Counters::from_text(&text),
            Err(e) => self.fail(&format!("scraping the controller's metrics: {e}")),
        }
    }

    /// Waits until the controllers have reconciled nothing for 2 s (scraping `/metrics` every
    /// 500 ms, at most 60 s): the start of an idle window. (`rollout_rs_workqueue_depth` is no
    /// signal here: it keeps counting a deleted object that was triggered.)
    async fn settle(&mut self) {
        let start = Instant::now();
        let mut last: Option<(f64, Instant)> = None;
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(text) = scrape(self.metrics).await {
                let count = metric_sum(&text, "rollout_rs_reconcile_duration_seconds_count", &[]);
                match last {
                    Some((c, since)) if c == count => {
                        if since.elapsed() >= Duration::from_secs(2) {
                            return;
                        }
                    }
                    _ => last = Some((count, Instant::now())),
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("scale: the controllers did not go quiet within 60 s; measuring anyway");
    }

    /// The controller is up once it takes a probe Rollout to Healthy; with the probe deleted,
    /// its RSS is the one with no Rollouts.
    async fn probe(&mut self) -> u64 {
        let nginx = self.p.nginx;
        if let Err(e) = self.apis.create("probe", nginx).await {
            self.fail(&e);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.next(deadline).await {
                Some(Change::Applied(s)) if s.name == "probe" && s.healthy() => break,
                Some(_) => {}
                None => self.fail("the probe Rollout was not Healthy within 120 s"),
            }
        }
        if let Err(e) = self
            .apis
            .rollouts
            .delete("probe", &DeleteParams::default())
            .await
        {
            self.fail(&format!("deleting the probe: {e}"));
        }
        loop {
            match self.next(deadline).await {
                Some(Change::Deleted(name)) if name == "probe" => break,
                Some(_) => {}
                None => self.fail("the probe Rollout was not gone within 120 s"),
            }
        }
        self.settle().await;
        proc_stats(self.controller_pid).0
    }

    /// Phase 1: create N Rollouts and wait until all are Healthy.
    async fn create_all(&mut self) -> Vec<String> {
        let (n, nginx) = (self.p.n, self.p.nginx);
        let names: Vec<String> = (0..n).map(|i| format!("app-{i}")).collect();
        let wanted: HashSet<String> = names.iter().cloned().collect();
        let cpu0 = self.cpus();
        let t0 = Instant::now();
        let deadline = t0 + self.p.timeout;
        let apis = self.apis.clone();
        let mut creating = Some(each(names.clone(), move |name| {
            let apis = apis.clone();
            async move { apis.create(&name, nginx).await }
        }));
        let mut created_in: Option<Duration> = None;
        let mut healthy: HashSet<String> = HashSet::new();
        while healthy.len() < n {
            if creating.as_ref().is_some_and(|t| t.is_finished())
                && let Some(task) = creating.take()
            {
                match task.await {
                    Ok(Ok(d)) => created_in = Some(d),
                    Ok(Err(e)) => self.fail(&format!("creating the Rollouts: {e}")),
                    Err(e) => self.fail(&format!("creating the Rollouts: {e}")),
                }
            }
            match self.next(deadline).await {
                Some(Change::Applied(s)) if wanted.contains(&s.name) => {
                    if s.healthy() {
                        healthy.insert(s.name);
                    } else {
                        healthy.remove(&s.name);
                    }
                }
                Some(Change::Deleted(name)) => {
                    healthy.remove(&name);
                }
                Some(_) => {}
                None => break,
            }
            self.note("Healthy", healthy.len(), n);
        }
        let elapsed = t0.elapsed();
        let cpu1 = self.cpus();
        if let Some(task) = creating.take() {
            task.abort();
        }
        let created = created_in
            .map(|d| format!("all created after {:.2} s", d.as_secs_f64()))
            .unwrap_or_else(|| "not all created".into());
        let measure = format!(
            "1. first create -> all {} Rollouts Healthy (watch; {} each, {IN_FLIGHT} creates in flight)",
            thousands(n),
            self.p.objects()
        );
        if healthy.len() == n {
            self.row(
                measure,
                format!("{:.2} s ({created})", elapsed.as_secs_f64()),
            );
        } else {
            self.row(
                measure,
                format!(
                    "NOT REACHED: Healthy after {:.0} s: {} of {} ({created})",
                    elapsed.as_secs_f64(),
                    thousands(healthy.len()),
                    thousands(n)
                ),
            );
        }
        self.row(
            "1. CPU meanwhile (who is busy: 2 cores in all)",
            format!(
                "controller {:.1} s, simulator {:.1} s, this tool {:.1} s, over {:.1} s",
                cpu1[0] - cpu0[0],
                cpu1[1] - cpu0[1],
                cpu1[2] - cpu0[2],
                elapsed.as_secs_f64()
            ),
        );
        let mut healthy: Vec<String> = healthy.into_iter().collect();
        healthy.sort_by_key(|n| n.trim_start_matches("app-").parse::<usize>().unwrap_or(0));
        healthy
    }

    /// Phases 2 and 3 (idle): RSS and CPU with N Rollouts and nothing to do.
    async fn idle(&mut self, rss_empty: u64) {
        self.settle().await;
        let (_, cpu0) = proc_stats(self.controller_pid);
        tokio::time::sleep(IDLE_WINDOW).await;
        let (rss, cpu1) = proc_stats(self.controller_pid);
        let (sim_rss, _) = proc_stats(self.sim_pid);
        let n = self.p.n;
        self.row(
            "2. controller RSS, no Rollouts (probe Healthy, then deleted)",
            mib(rss_empty),
        );
        self.row(
            format!("2. controller RSS, {} Rollouts idle", thousands(n)),
            format!(
                "{} ({:.1} KiB per Rollout)",
                mib(rss),
                rss.saturating_sub(rss_empty) as f64 / n as f64
            ),
        );
        self.row(
            format!(
                "2. simulator RSS, {} Rollouts idle ({}, 1 ReplicaSet, 1 pod each)",
                thousands(n),
                self.p.objects()
            ),
            mib(sim_rss),
        );
        self.row(
            format!(
                "3. controller CPU, {} Rollouts idle ({} s window)",
                thousands(n),
                IDLE_WINDOW.as_secs()
            ),
            format!(
                "{:.2}% of one core ({:.2} s CPU; /proc counts 10 ms ticks)",
                (cpu1 - cpu0) / IDLE_WINDOW.as_secs_f64() * 100.0,
                cpu1 - cpu0
            ),
        );
    }

    /// Phases 3, 4 and 6 (busy): M Rollouts updated at once go through `[setWeight 50,
    /// pause 2s]` to Healthy.
    async fn progress(&mut self, names: &[String]) {
        self.drain();
        let m = names.len();
        let old: HashMap<String, Option<String>> = names
            .iter()
            .map(|n| (n.clone(), self.seen.get(n).and_then(|s| s.current.clone())))
            .collect();
        let before = self.counters().await;
        let (_, cpu0) = proc_stats(self.controller_pid);
        let (_, sim_cpu0) = proc_stats(self.sim_pid);
        let (_, own_cpu0) = proc_stats(std::process::id());
        self.peak.reset();
        let t0 = Instant::now();
        let deadline = t0 + self.p.timeout;
        let apis = self.apis.clone();
        let patching = each(names.to_vec(), move |name| {
            let apis = apis.clone();
            async move {
                let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
                apis.patch(&name, &patch).await
            }
        });
        let mut steps: HashMap<String, i32> = HashMap::new();
        let mut paused: HashMap<String, Timestamp> = HashMap::new();
        let mut delays: Vec<f64> = Vec::new();
        let mut done: HashSet<String> = HashSet::new();
        while done.len() < m {
            self.note("promoted", done.len(), m);
            let Some(change) = self.next(deadline).await else {
                break;
            };
            let Change::Applied(s) = change else { continue };
            let Some(old_hash) = old.get(&s.name) else {
                continue;
            };
            if s.current.is_none() || s.current == *old_hash {
                continue;
            }
            let step = steps.entry(s.name.clone()).or_insert(0);
            *step = (*step).max(s.step.unwrap_or(0));
            if let Some(start) = s.pause_start {
                paused.insert(s.name.clone(), start);
            } else if let Some(start) = paused.remove(&s.name) {
                // The pause condition is gone: the next step is written. Seen through the
                // watch, so the delay includes the watch's own latency.
                let due = start + SignedDuration::from_secs(PAUSE_SECONDS);
                delays.push(s.wall.duration_since(due).as_secs_f64() * 1000.0);
            }
            if s.promoted() {
                done.insert(s.name.clone());
            }
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let (_, cpu1) = proc_stats(self.controller_pid);
        let (_, sim_cpu1) = proc_stats(self.sim_pid);
        let (_, own_cpu1) = proc_stats(std::process::id());
        let after = self.counters().await;
        match patching.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("scale: updating the images: {e}"),
            Err(e) => eprintln!("scale: updating the images: {e}"),
        }
        let (n, m_label) = (self.p.n, thousands(m));
        let measure = format!(
            "4. M={m_label} of {} updated at once (new image) -> all through [setWeight 50, pause {PAUSE_SECONDS}s] and Healthy",
            thousands(n)
        );
        if done.len() == m {
            self.row(measure, format!("{elapsed:.2} s"));
        } else {
            self.row(
                measure,
                format!(
                    "NOT REACHED: promoted after {elapsed:.0} s: {} of {m_label}",
                    thousands(done.len())
                ),
            );
        }
        let taken: i32 = steps.values().sum();
        let reconciles = after.reconciles - before.reconciles;
        let requests = after.requests - before.requests;
        let cpu = cpu1 - cpu0;
        self.row(
            format!("2. controller RSS, peak while {m_label} progress"),
            mib(self.peak.get()),
        );
        self.row(
            format!("3. controller CPU while {m_label} progress"),
            format!(
                "{:.1}% of one core ({cpu:.2} s over {elapsed:.1} s; simulator {:.2} s, this tool {:.2} s)",
                cpu / elapsed * 100.0,
                sim_cpu1 - sim_cpu0,
                own_cpu1 - own_cpu0
            ),
        );
        self.row(
            format!("3. controller CPU per rollout reconcile, {m_label} progressing"),
            if reconciles > 0.0 {
                format!(
                    "{:.2} ms ({} reconciles of controller=\"rollout\")",
                    cpu / reconciles * 1000.0,
                    thousands(reconciles as usize)
                )
            } else {
                "no reconcile counted".into()
            },
        );
        let per_step = |x: f64| {
            if taken > 0 {
                x / taken as f64
            } else {
                f64::NAN
            }
        };
        self.row(
            format!("3. controller CPU per rollout step, {m_label} progressing"),
            format!(
                "{:.2} ms ({} steps: setWeight and pause, 2 per update)",
                per_step(cpu) * 1000.0,
                thousands(taken as usize)
            ),
        );
        self.row(
            format!(
                "4. pause end (startTime + {PAUSE_SECONDS} s) -> next step seen (watch), {m_label} at once"
            ),
            spread(delays),
        );
        self.row(
            format!("6. API requests per rollout step, {m_label} progressing"),
            format!(
                "{:.1} ({} requests, {:.1} reconciles per step)",
                per_step(requests),
                thousands(requests as usize),
                per_step(reconciles)
            ),
        );
    }

    /// Phase 5: background web analysis on M Rollouts at canary weight 50 (NGINX); the
    /// endpoint turns failing; from then to the abort with weight 0.
    async fn abort(&mut self, names: &[String], exporter: &Exporter) {
        self.drain();
        let m = names.len();
        let m_label = thousands(m);
        exporter.set_json(json!({"ok": 1}));
        let nginx = self.p.nginx;
        let old: HashMap<String, Option<String>> = names
            .iter()
            .map(|n| (n.clone(), self.seen.get(n).and_then(|s| s.current.clone())))
            .collect();
        let cpu0 = self.cpus();
        let t0 = Instant::now();
        let deadline = t0 + self.p.timeout;
        let apis = self.apis.clone();
        let patching = each(names.to_vec(), move |name| {
            let apis = apis.clone();
            async move {
                if !nginx {
                    apis.create_ingress(&name).await?;
                }
                let patch = json!({"spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": "app:3"}]}},
                    "strategy": {"canary": {
                        "trafficRouting": {"nginx": {"stableIngress": name}},
                        "analysis": {
                            "templates": [{"templateName": TEMPLATE}],
                            "args": [{"name": "rollout", "value": name}]
                        },
                        "steps": [{"setWeight": 50}, {"pause": {}}]
                    }}
                }});
                apis.patch(&name, &patch).await
            }
        });
        // Ready: the new template at a non-zero weight, its background run Running.
        let mut ready: HashSet<String> = HashSet::new();
        while ready.len() < m {
            self.note("at canary weight 50, analysis Running", ready.len(), m);
            let Some(change) = self.next(deadline).await else {
                break;
            };
            let Change::Applied(s) = change else { continue };
            let Some(old_hash) = old.get(&s.name) else {
                continue;
            };
            let at_weight = s.current.is_some()
                && s.current != *old_hash
                && s.weight
                    .as_ref()
                    .is_some_and(|(w, hash)| *w > 0 && *hash == s.current)
                && s.background.as_deref() == Some("Running");
            if at_weight {
                ready.insert(s.name);
            }
        }
        match patching.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("scale: adding the analysis: {e}"),
            Err(e) => eprintln!("scale: adding the analysis: {e}"),
        }
        let routing = if nginx {
            "NGINX"
        } else {
            "NGINX Ingress added for this phase"
        };
        self.row(
            format!(
                "5. M={m_label} updated with background web analysis (interval 1 s; {routing}) -> all at canary weight 50, run Running"
            ),
            if ready.len() == m {
                format!("{:.2} s", t0.elapsed().as_secs_f64())
            } else {
                format!(
                    "NOT REACHED: after {:.0} s: {} of {m_label} (the flip goes on with those)",
                    t0.elapsed().as_secs_f64(),
                    thousands(ready.len())
                )
            },
        );
        let cpu_ready = self.cpus();
        let cpu_split = |from: [f64; 3], to: [f64; 3], secs: f64| {
            format!(
                "controller {:.1} s, simulator {:.1} s, this tool (with the fixture endpoint) {:.1} s, over {secs:.1} s",
                to[0] - from[0],
                to[1] - from[1],
                to[2] - from[2]
            )
        };
        self.row(
            "5. CPU meanwhile (2 cores in all)",
            cpu_split(cpu0, cpu_ready, t0.elapsed().as_secs_f64()),
        );
        if ready.is_empty() {
            return;
        }
        self.drain();
        self.run_failed.clear();
        let flip = Instant::now();
        exporter.set_json_noting(json!({"ok": 0}));
        let deadline = flip + self.p.timeout;
        let mut zero: HashMap<String, Instant> = HashMap::new();
        while zero.len() < ready.len() {
            self.note("aborted, weight 0", zero.len(), ready.len());
            let Some(change) = self.next(deadline).await else {
                break;
            };
            let Change::Applied(s) = change else { continue };
            if ready.contains(&s.name) && s.abort && s.weight.as_ref().is_some_and(|(w, _)| *w == 0)
            {
                zero.entry(s.name).or_insert(s.at);
            }
        }
        let flipped_for = flip.elapsed().as_secs_f64();
        let cpu_zero = self.cpus();
        // The AnalysisRun watch may deliver the Failed runs later than the Rollout watch the
        // aborts: give it 30 s more to catch up.
        let catch_up = Instant::now() + Duration::from_secs(30);
        while ready.iter().any(|n| !self.run_failed.contains_key(n)) {
            if self.next(catch_up).await.is_none() {
                break;
            }
        }
        self.drain();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let from_flip: Vec<f64> = zero.values().map(|at| ms(*at - flip)).collect();
        let flip_to_failed: Vec<f64> = ready
            .iter()
            .filter_map(|name| {
                Some(ms(self
                    .run_failed
                    .get(name)?
                    .saturating_duration_since(flip)))
            })
            .collect();
        // Each run's first measurement after the flip is its failing one: taken when the
        // endpoint answered it (the run names its Rollout in the URL).
        let answered = exporter.first_answers();
        let from_measured: Vec<f64> = zero
            .iter()
            .filter_map(|(name, at)| Some(ms(at.saturating_duration_since(*answered.get(name)?))))
            .collect();
        let (mut from_failed, mut late) = (Vec::new(), 0usize);
        for (name, at) in &zero {
            match self.run_failed.get(name) {
                Some(failed) if failed <= at => from_failed.push(ms(*at - *failed)),
                Some(_) => late += 1,
                None => {}
            }
        }
        let result = if zero.len() == ready.len() {
            spread(from_flip)
        } else {
            format!(
                "NOT REACHED: weight 0 after {flipped_for:.0} s: {} of {}; of those {}",
                thousands(zero.len()),
                thousands(ready.len()),
                spread(from_flip)
            )
        };
        self.row(
            format!(
                "5. endpoint flipped failing -> status.abort and status.canary.weights.canary.weight 0 seen (watch), {} at once",
                thousands(ready.len())
            ),
            result,
        );
        self.row(
            "5. CPU from the flip to the last weight 0",
            cpu_split(cpu_ready, cpu_zero, flipped_for),
        );
        self.row(
            "5. failing measurement taken (the endpoint answered it) -> weight 0 seen, the target's measure",
            spread(from_measured),
        );
        self.row(
            "5. of which: flip -> AnalysisRun Failed seen (up to the 1 s interval, plus any backlog)",
            spread(flip_to_failed),
        );
        let lagged = if late > 0 {
            format!(
                "; {} more seen Failed only after their weight 0 (this watch of AnalysisRuns lagged)",
                thousands(late)
            )
        } else {
            String::new()
        };
        self.row(
            "5. of which: AnalysisRun Failed seen -> weight 0 seen (the controller's reaction)",
            format!("{}{lagged}", spread(from_failed)),
        );
    }

    fn print_markdown(&self) {
        println!();
        println!("| N | M | routing | measure | result |");
        println!("|---|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} |",
                thousands(self.p.n),
                thousands(self.p.m),
                self.p.routing(),
                r.measure.replace('|', "\\|"),
                r.result.replace('|', "\\|")
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let p = Params::from_env();
    let (controller_bin, sim_bin) = binaries();
    eprintln!(
        "scale: N={} M={} routing={} timeout {} s per phase",
        p.n,
        p.m,
        p.routing(),
        p.timeout.as_secs()
    );
    let dir = std::env::temp_dir().join(format!("rollout-rs-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");

    let (sim, kubeconfig) = start_sim(&sim_bin, &dir).await;
    let client = rollout_rs_controller::client(Some(&kubeconfig))
        .await
        .expect("a client of the simulator");
    rollout_rs_controller::install::install_crds(&client, Duration::from_secs(60))
        .await
        .expect("install the CRDs");
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": NS}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
    let exporter = Exporter::start().await.expect("the fixture exporter");
    exporter.set_json(json!({"ok": 1}));
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {"metrics": [{
            "name": "ok", "interval": "1s",
            "successCondition": "result >= 0.5", "failureCondition": "result < 0.5",
            "provider": {"web": {"url": format!("{}/json?who={{{{args.rollout}}}}", exporter.url()), "jsonPath": "{$.ok}"}}
        }], "args": [{"name": "rollout"}]}
    }))
    .expect("the AnalysisTemplate");
    Api::<AnalysisTemplate>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &template)
        .await
        .expect("create the AnalysisTemplate");

    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("metrics address");
    let health = format!("127.0.0.1:{}", free_port());
    let controller_log = std::fs::File::create(dir.join("controller.log")).expect("log file");
    let controller = Command::new(&controller_bin)
        .arg("controller")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--metrics-addr", &metrics.to_string()])
        .args(["--health-addr", &health])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(controller_log)
        .kill_on_drop(true)
        .spawn()
        .expect("start rollout-rs controller");
    let controller_pid = controller.id().expect("the controller's pid");
    let sim_pid = sim.id().expect("the simulator's pid");

    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NS);
    let (rx, rollout_watch) = watch_rollouts(rollouts.clone());
    let (runs_rx, run_watch) = watch_failed_runs(Api::namespaced(client.clone(), NS));
    let mut bench = Bench {
        rows: Vec::new(),
        apis: Apis {
            rollouts: rollouts.clone(),
            services: Api::namespaced(client.clone(), NS),
            ingresses: Api::namespaced(client.clone(), NS),
        },
        rx,
        runs_rx,
        seen: HashMap::new(),
        run_failed: HashMap::new(),
        controller,
        sim,
        controller_pid,
        sim_pid,
        metrics,
        peak: Peak::start(controller_pid),
        dir: dir.clone(),
        watches: vec![rollout_watch, run_watch],
        doing: ("", 0, 0),
        doing_since: Instant::now(),
        noted: Instant::now(),
        p,
    };

    let rss_empty = bench.probe().await;
    let healthy = bench.create_all().await;
    bench.idle(rss_empty).await;
    let chosen: Vec<String> = healthy.into_iter().take(bench.p.m).collect();
    if chosen.is_empty() {
        bench.fail("no Rollout became Healthy: nothing to progress");
    }
    bench.progress(&chosen).await;
    bench.drain();
    let promoted: Vec<String> = chosen
        .into_iter()
        .filter(|n| bench.seen.get(n).is_some_and(Seen::promoted))
        .collect();
    if promoted.is_empty() {
        bench.fail("no Rollout was promoted: nothing to abort");
    }
    bench.abort(&promoted, &exporter).await;

    for task in &bench.watches {
        task.abort();
    }
    let _ = bench.controller.kill().await;
    let _ = bench.sim.kill().await;
    bench.print_markdown();
    let _ = std::fs::remove_dir_all(&dir);
}
