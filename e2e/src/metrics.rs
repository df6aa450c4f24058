//! Metrics for the analysis scenarios: a fixture exporter serving per-service request
//! counters (and JSON endpoints for web metrics: `/json` answers what the test set, `/echo`
//! answers the body it was sent), and a real Prometheus server (Debian's
//! `prometheus`) scraping it every second on a free loopback port. Both stop when dropped.
//!
//! The exporter advances its counters by 100 requests per scrape, `error_ratio` of them with
//! code 500, so `rate()` ratios are exact and a change of error ratio shows at the next scrape.
//! It also counts the scrapes it serves: Prometheus offers no way to watch for data, but a
//! scrape it has started proves the one before it is stored, so tests wait on scrapes
//! ([`Exporter::scraped`]) rather than polling queries.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::{HarnessError, Result};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    code: String,
}

#[derive(Default)]
struct ExporterState {
    /// Service → share of requests answered 500.
    error_ratio: BTreeMap<String, f64>,
    /// What the JSON endpoint answers.
    json: serde_json::Value,
    /// Bearer token the JSON endpoint requires, if any.
    token: Option<String>,
    /// Since [`Exporter::set_json_noting`]: when each `?who=` first had `/json` answered.
    first_answers: Option<std::collections::HashMap<String, std::time::Instant>>,
}

/// The fixture exporter.
pub struct Exporter {
    pub addr: SocketAddr,
    state: Arc<Mutex<ExporterState>>,
    scrapes: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    state: Arc<Mutex<ExporterState>>,
    requests: Family<RequestLabels, Counter>,
    registry: Registry,
    scrapes: tokio::sync::watch::Sender<u64>,
}

impl Exporter {
    /// Serves `/metrics` (Prometheus text) and `/json` on a free loopback port.
    pub async fn start() -> Result<Exporter> {
        let state = Arc::new(Mutex::new(ExporterState::default()));
        let requests = Family::<RequestLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "http_requests",
            "Requests served, by service and code",
            requests.clone(),
        );
        let (scrapes_tx, scrapes) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            state: state.clone(),
            requests,
            registry,
            scrapes: scrapes_tx,
        });
        let app = axum::Router::new()
            .route("/metrics", get(scrape))
            .route("/json", get(json))
            .route("/echo", axum::routing::post(echo))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Exporter {
            addr,
            state,
            scrapes,
            task,
        })
    }

    /// Sets the share of `service`'s requests that fail (0.0-1.0); the service appears at
    /// the next scrape.
    pub fn set_error_ratio(&self, service: &str, ratio: f64) {
        self.lock().error_ratio.insert(service.to_string(), ratio);
    }

    /// Sets what `/json` answers.
    pub fn set_json(&self, value: serde_json::Value) {
        self.lock().json = value;
    }

    /// Sets what `/json` answers and, from then on, notes when each caller naming itself with
    /// `?who=NAME` is first answered: when a measurement of the new value was taken.
    pub fn set_json_noting(&self, value: serde_json::Value) {
        let mut st = self.lock();
        st.json = value;
        st.first_answers = Some(Default::default());
    }

    /// When each `?who=` caller was first answered since [`Exporter::set_json_noting`].
    pub fn first_answers(&self) -> std::collections::HashMap<String, std::time::Instant> {
        self.lock().first_answers.clone().unwrap_or_default()
    }

    /// Makes `/json` answer 401 unless `Authorization: Bearer <token>` is sent.
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_string());
    }

    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until `n` more scrapes than now have been served (at most `timeout`). After
    /// `n` of them, the data of the first `n - 1` is stored and queryable.
    pub async fn scraped(&self, n: u64, timeout: Duration) -> Result<()> {
        let mut rx = self.scrapes.clone();
        let target = *rx.borrow_and_update() + n;
        match tokio::time::timeout(timeout, rx.wait_for(|c| *c >= target)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(HarnessError::Timeout(
                timeout,
                format!("{n} scrapes by Prometheus"),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExporterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn scrape(State(s): State<Arc<Shared>>) -> (StatusCode, String) {
    let ratios = s
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .error_ratio
        .clone();
    for (service, ratio) in ratios {
        let errors = (100.0 * ratio.clamp(0.0, 1.0)).round() as u64;
        let count = |code: &str, n: u64| {
            s.requests
                .get_or_create(&RequestLabels {
                    service: service.clone(),
                    code: code.into(),
                })
                .inc_by(n);
        };
        count("200", 100 - errors);
        count("500", errors);
    }
    s.scrapes.send_modify(|c| *c += 1);
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &s.registry) {
        Ok(()) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn json(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    query: axum::extract::Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, String) {
    let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(token) = &st.token {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if sent != format!("Bearer {token}") {
            return (
                StatusCode::UNAUTHORIZED,
                "{\"error\":\"unauthorized\"}".into(),
            );
        }
    }
    if let (Some(first), Some(who)) = (st.first_answers.as_mut(), query.get("who")) {
        first
            .entry(who.clone())
            .or_insert_with(std::time::Instant::now);
    }
    (StatusCode::OK, st.json.to_string())
}

/// Answers the JSON body it was sent (web metrics with a `jsonBody`).
async fn echo(body: String) -> (StatusCode, String) {
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(v) => (StatusCode::OK, v.to_string()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// A Prometheus server scraping the exporter every second.
pub struct Prometheus {
    pub url: String,
    child: Option<tokio::process::Child>,
    dir: PathBuf,
}

/// The Prometheus binary: `ROLLOUT_RS_PROMETHEUS`, else `prometheus` on PATH (Debian's
/// package, which `.ci/run` installs).
fn binary() -> String {
    std::env::var("ROLLOUT_RS_PROMETHEUS").unwrap_or_else(|_| "prometheus".into())
}

/// How long Prometheus may take to start scraping.
const START: Duration = Duration::from_secs(30);

impl Prometheus {
    /// Starts Prometheus scraping `exporter` on a free loopback port, and waits until it
    /// scrapes (which it does only once its configuration is loaded and its API ready).
    pub async fn start(exporter: &Exporter, dir: &std::path::Path) -> Result<Prometheus> {
        let mut prometheus = Prometheus::spawn(&exporter.addr.to_string(), dir)?;
        if let Some(child) = prometheus.child.as_mut() {
            // Two scrapes: the first may come while the API is being switched to ready.
            tokio::select! {
                scraped = exporter.scraped(2, START) => scraped?,
                exited = child.wait() => {
                    return Err(HarnessError::Manifest(format!("{} exited at start: {exited:?}", binary())));
                }
            }
        }
        Ok(prometheus)
    }

    /// Starts Prometheus scraping `target` (`host:port`, path `/metrics`) every second, and
    /// waits for `scraped`: the target's own sign that it was scraped (twice: the first scrape
    /// may come while the API is being switched to ready), since Prometheus has no way to watch.
    pub async fn scraping(
        target: &str,
        dir: &std::path::Path,
        scraped: impl std::future::Future<Output = ()>,
    ) -> Result<Prometheus> {
        let mut prometheus = Prometheus::spawn(target, dir)?;
        if let Some(child) = prometheus.child.as_mut() {
            tokio::select! {
                () = scraped => {}
                exited = child.wait() => {
                    return Err(HarnessError::Manifest(format!("{} exited at start: {exited:?}", binary())));
                }
            }
        }
        Ok(prometheus)
    }

    /// An instant query through prometheus-http-query (the analysis provider's client): each
    /// series' labels and value.
    pub async fn query(&self, promql: &str) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
        let failed = |e: prometheus_http_query::Error| {
            HarnessError::Manifest(format!("querying Prometheus for {promql}: {e}"))
        };
        let client = prometheus_http_query::Client::try_from(self.url.as_str()).map_err(failed)?;
        let answer = client.query(promql).get().await.map_err(failed)?;
        Ok(match answer.data() {
            prometheus_http_query::response::Data::Vector(v) => v
                .iter()
                .map(|s| {
                    let labels = s
                        .metric()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    (labels, s.sample().value())
                })
                .collect(),
            prometheus_http_query::response::Data::Scalar(s) => vec![(BTreeMap::new(), s.value())],
            _ => Vec::new(),
        })
    }

    /// A Prometheus server started on a free port, scraping `target`; not yet waited for.
    fn spawn(target: &str, dir: &std::path::Path) -> Result<Prometheus> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = dir.join(format!("prometheus-{port}"));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: fixture\n    static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )?;
        let child = tokio::process::Command::new(binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                HarnessError::Manifest(format!(
                    "starting {} (install Debian's prometheus package): {e}",
                    binary()
                ))
            })?;
        Ok(Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            dir,
        })
    }

    /// The server's process id (for CPU accounting in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
