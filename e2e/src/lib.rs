//! End-to-end harness: a cluster to test against and helpers to drive it.
//!
//! By default every [`Cluster`] is a fresh simulated control plane (`rollout-rs-sim`) in this
//! process. With `ROLLOUT_RS_E2E_REAL=1` it is the cluster of `KUBECONFIG` instead, and tests
//! isolate themselves in namespaces of their own ([`Cluster::namespace`]). Helpers wait on
//! conditions through watches with a timeout: no sleeps, no polling.
//!
//! The scenarios of `shared/scenarios.md` live under `e2e/tests/`, each suite starting from
//! an [`Env`] and building its Rollouts with [`RolloutFixture`].
//!
//! The in-process controllers talk through a client of their own whose user agent is
//! [`CONTROLLER_USER_AGENT`], so the simulator's request log tells their calls from the
//! harness's: [`Cluster::check_controller_rbac`] holds them against the rules the Helm chart
//! grants ([`chart`], [`rbac`]).

pub mod chart;
pub mod fixture;
pub mod metrics;
pub mod process_stats;
pub mod rbac;
pub mod rollouts;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

pub use fixture::{Env, RolloutFixture};

/// Field manager of everything the harness applies.
pub const MANAGER: &str = "rollout-rs-e2e";

/// The user agent of the in-process controllers' requests (the harness's own send none).
pub const CONTROLLER_USER_AGENT: &str = "rollout-rs-controller/e2e";

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("starting the simulated cluster: {0}")]
    Sim(#[from] rollout_rs_sim::StartError),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Install(#[from] rollout_rs_controller::install::InstallError),
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the Helm chart: {0}")]
    Chart(String),
    #[error("calls of the controller the chart's RBAC rules do not allow:\n  {}", .0.join("\n  "))]
    Rbac(Vec<String>),
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// A cluster under test.
pub struct Cluster {
    pub client: Client,
    /// The in-process controllers' client: [`CONTROLLER_USER_AGENT`] on every request.
    controller_client: Client,
    controller: Option<tokio::task::JoinHandle<()>>,
    kubeconfig: PathBuf,
    dir: PathBuf,
    real: bool,
    namespaces: Vec<String>,
    // Kept last: dropping it stops the simulator after everything else is gone.
    sim: Option<rollout_rs_sim::Handle>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Whether a Rollout has reached `phase` for its current spec (the status was written for its
/// generation): what the scenarios wait on.
pub fn in_phase(
    ro: &rollout_rs_crds::Rollout,
    phase: rollout_rs_crds::rollout::RolloutPhase,
) -> bool {
    let st = ro.status.as_ref();
    st.and_then(|s| s.phase) == Some(phase)
        && st.is_some_and(|s| s.observed_generation == ro.metadata.generation)
}

/// The image of a ReplicaSet's first container: how the scenarios tell versions apart.
pub fn image_of(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The pod-template hash a ReplicaSet's labels carry.
pub fn hash_of(rs: &k8s_openapi::api::apps::v1::ReplicaSet) -> String {
    rs.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(rollout_rs_crds::POD_TEMPLATE_HASH_LABEL).cloned())
        .unwrap_or_default()
}

/// The simulator's request log (`GET /sim/requests`), and how many requests it has recorded
/// since it started (answered with `?after=` only).
#[derive(serde::Deserialize)]
struct RequestLog {
    items: Vec<rbac::Call>,
    #[serde(default)]
    recorded: u64,
}

/// Whether tests run against the real cluster of `KUBECONFIG`.
pub fn real_cluster() -> bool {
    std::env::var("ROLLOUT_RS_E2E_REAL").is_ok_and(|v| v == "1")
}

impl Cluster {
    /// A fresh simulated cluster, or the real one when `ROLLOUT_RS_E2E_REAL=1`.
    pub async fn start() -> Result<Cluster> {
        Self::start_with(rollout_rs_sim::Config::default()).await
    }

    /// Like [`Cluster::start`], with simulator settings (ignored for a real cluster).
    pub async fn start_with(config: rollout_rs_sim::Config) -> Result<Cluster> {
        // One crypto provider for the whole process; a second install is a harmless no-op.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rollout-rs-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if real_cluster() {
            let kubeconfig = std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    HarnessError::Kubeconfig("ROLLOUT_RS_E2E_REAL=1 needs KUBECONFIG".into())
                })?;
            let config = kube::Config::infer()
                .await
                .map_err(|e| HarnessError::Kubeconfig(e.to_string()))?;
            let client = Client::try_from(config.clone())?;
            return Ok(Cluster {
                client,
                controller_client: controller_client(config)?,
                controller: None,
                kubeconfig,
                dir,
                real: true,
                namespaces: vec![],
                sim: None,
            });
        }
        let sim = rollout_rs_sim::start(config).await?;
        let kubeconfig = dir.join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig)?;
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig)
            .map_err(|e| HarnessError::Kubeconfig(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| HarnessError::Kubeconfig(e.to_string()))?;
        let client = Client::try_from(config.clone())?;
        Ok(Cluster {
            client,
            controller_client: controller_client(config)?,
            controller: None,
            kubeconfig,
            dir,
            real: false,
            namespaces: vec![],
            sim: Some(sim),
        })
    }

    /// Starts the rollout-rs controllers in this process (stopping any running ones first).
    pub fn start_controller(&mut self) {
        self.start_controller_with(Default::default());
    }

    /// Starts the controllers with `options` (one namespace, the Git reconciler...), on their
    /// own client ([`CONTROLLER_USER_AGENT`]).
    pub fn start_controller_with(&mut self, options: rollout_rs_controller::Options) {
        self.stop_controller();
        let client = self.controller_client.clone();
        self.controller = Some(tokio::spawn(async move {
            if let Err(e) = rollout_rs_controller::controllers(client, options).await {
                tracing::error!("the controllers stopped: {e}");
            }
        }));
    }

    /// Sends a request to the simulator's own admin endpoints (`/sim/faults`, `/sim/requests`)
    /// and returns the answer's text. A `null` body sends none.
    pub async fn sim_admin(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<String> {
        let body = match body {
            serde_json::Value::Null => Vec::new(),
            body => body.to_string().into_bytes(),
        };
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| HarnessError::Manifest(e.to_string()))?;
        Ok(self.client.request_text(request).await?)
    }

    /// The simulator's request log, every client's requests in the order they came.
    pub async fn requests(&self) -> Result<Vec<rbac::Call>> {
        Ok(self.request_log("/sim/requests").await?.items)
    }

    /// Waits until the request log holds `count` calls that `which` picks, woken by the log
    /// itself (`?after=`) rather than by polling it.
    pub async fn wait_for_calls(
        &self,
        count: usize,
        timeout: Duration,
        which: impl Fn(&rbac::Call) -> bool,
    ) -> Result<()> {
        let waited = tokio::time::timeout(timeout, async {
            let mut after = 0;
            loop {
                let log = self
                    .request_log(&format!("/sim/requests?after={after}"))
                    .await?;
                if log.items.iter().filter(|c| which(c)).count() >= count {
                    return Ok(());
                }
                after = log.recorded;
            }
        });
        waited.await.map_err(|_| {
            HarnessError::Timeout(
                timeout,
                format!("{count} such requests in the simulator's log"),
            )
        })?
    }

    /// The request log as `path` answers it (with `?after=N`, once more than N were recorded).
    async fn request_log(&self, path: &str) -> Result<RequestLog> {
        if self.real {
            return Err(HarnessError::Manifest(
                "a real cluster has no request log; the RBAC check needs the simulator".into(),
            ));
        }
        let text = self.sim_admin("GET", path, serde_json::Value::Null).await?;
        serde_json::from_str(&text)
            .map_err(|e| HarnessError::Manifest(format!("the request log: {e}")))
    }

    /// Fails with the list of the in-process controllers' calls so far that `grants` (the
    /// rules a rendering of the chart gives the controller's ServiceAccount) do not allow.
    pub async fn check_controller_rbac(&self, grants: &rbac::Grants) -> Result<usize> {
        let log = self.requests().await?;
        let ours = |c: &rbac::Call| c.user_agent == CONTROLLER_USER_AGENT;
        let calls = log.iter().filter(|c| ours(c)).count();
        let refused = rbac::disallowed(grants, &log, ours);
        if refused.is_empty() {
            Ok(calls)
        } else {
            Err(HarnessError::Rbac(refused))
        }
    }

    /// Stops the in-process controllers, as a crash would: nothing is flushed or handed over.
    pub fn stop_controller(&mut self) {
        if let Some(task) = self.controller.take() {
            task.abort();
        }
    }

    /// Path of a kubeconfig for this cluster (for kubectl and child processes).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A scratch directory removed with the cluster.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_real(&self) -> bool {
        self.real
    }

    /// The simulator behind this cluster, when it is simulated.
    pub fn sim(&self) -> Option<&rollout_rs_sim::Handle> {
        self.sim.as_ref()
    }

    /// Creates a namespace of this test's own (`<prefix>-<n>`), deleted with the cluster when
    /// the cluster is real.
    pub async fn namespace(&mut self, prefix: &str) -> Result<String> {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .map_err(|e| HarnessError::Manifest(e.to_string()))?;
        api.create(&PostParams::default(), &ns).await?;
        self.namespaces.push(name.clone());
        Ok(name)
    }

    /// Installs (server-side applies) every rollout-rs CRD and waits until each is Established.
    pub async fn install_crds(&self) -> Result<()> {
        Ok(
            rollout_rs_controller::install::install_crds(&self.client, Duration::from_secs(30))
                .await?,
        )
    }

    /// Installs the trimmed CRDs of the third-party routers the tests use (SMI TrafficSplit,
    /// Istio VirtualService and DestinationRule, Gateway API HTTPRoute, from
    /// `e2e/fixtures/crds/`) and waits until each is Established.
    pub async fn install_router_crds(&self) -> Result<()> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        for (file, names) in [
            (
                "smi-trafficsplit.yaml",
                &["trafficsplits.split.smi-spec.io"][..],
            ),
            (
                "istio-networking.yaml",
                &[
                    "virtualservices.networking.istio.io",
                    "destinationrules.networking.istio.io",
                ][..],
            ),
            (
                "gateway-api-httproute.yaml",
                &["httproutes.gateway.networking.k8s.io"][..],
            ),
        ] {
            let text = std::fs::read_to_string(format!(
                "{}/fixtures/crds/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))?;
            self.apply_yaml(&text, "default").await?;
            for name in names {
                self.wait(
                    &crds,
                    name,
                    Duration::from_secs(30),
                    "Established",
                    conditions::is_crd_established(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Server-side applies every document of a YAML stream into `namespace` (for namespaced
    /// kinds without one) and returns what the API server stored.
    pub async fn apply_yaml(&self, yaml: &str, namespace: &str) -> Result<Vec<DynamicObject>> {
        let docs = rollout_rs_crds::manifest::documents(yaml)
            .map_err(|e| HarnessError::Manifest(e.to_string()))?;
        let mut out = Vec::new();
        for doc in docs {
            let obj: DynamicObject =
                serde_json::from_value(doc).map_err(|e| HarnessError::Manifest(e.to_string()))?;
            let tm = obj.types.clone().ok_or_else(|| {
                HarnessError::Manifest("a document has no apiVersion/kind".into())
            })?;
            let gvk = GroupVersionKind::try_from(&tm)
                .map_err(|e| HarnessError::Manifest(e.to_string()))?;
            let (ar, caps) = discovery::pinned_kind(&self.client, &gvk).await?;
            let name = obj
                .metadata
                .name
                .clone()
                .ok_or_else(|| HarnessError::Manifest(format!("a {} has no name", tm.kind)))?;
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => Api::namespaced_with(
                    self.client.clone(),
                    obj.metadata.namespace.as_deref().unwrap_or(namespace),
                    &ar,
                ),
                Scope::Cluster => Api::all_with(self.client.clone(), &ar),
            };
            let mut obj = obj;
            if caps.scope == Scope::Namespaced {
                obj.metadata.namespace = Some(
                    obj.metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| namespace.to_string()),
                );
            }
            out.push(
                api.patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&obj),
                )
                .await?,
            );
        }
        Ok(out)
    }

    /// Waits, through a watch, until `cond` holds for the named object; returns the object.
    pub async fn wait<K>(
        &self,
        api: &Api<K>,
        name: &str,
        timeout: Duration,
        what: &str,
        cond: impl kube::runtime::wait::Condition<K>,
    ) -> Result<K>
    where
        K: Resource + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
    {
        match tokio::time::timeout(timeout, await_condition(api.clone(), name, cond)).await {
            Ok(Ok(Some(obj))) => Ok(obj),
            Ok(Ok(None)) => Err(HarnessError::Timeout(
                timeout,
                format!("{what} ({name} was deleted)"),
            )),
            Ok(Err(e)) => Err(HarnessError::Manifest(format!("watching {name}: {e}"))),
            Err(_) => Err(HarnessError::Timeout(timeout, format!("{what} on {name}"))),
        }
    }

    /// Waits until the named object no longer exists.
    pub async fn wait_deleted<K>(&self, api: &Api<K>, name: &str, timeout: Duration) -> Result<()>
    where
        K: Resource + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
    {
        let uid = match api.get_opt(name).await? {
            None => return Ok(()),
            Some(obj) => obj.meta().uid.clone().unwrap_or_default(),
        };
        match tokio::time::timeout(
            timeout,
            await_condition(api.clone(), name, conditions::is_deleted(&uid)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(HarnessError::Manifest(format!("watching {name}: {e}"))),
            Err(_) => Err(HarnessError::Timeout(
                timeout,
                format!("deletion of {name}"),
            )),
        }
    }

    /// Collects `n` events of a watch stream, or fails after `timeout`.
    pub async fn collect<S, T, E>(stream: S, n: usize, timeout: Duration) -> Result<Vec<T>>
    where
        S: futures::Stream<Item = std::result::Result<T, E>>,
        E: std::fmt::Display,
    {
        let fut = stream
            .map_err(|e| HarnessError::Manifest(e.to_string()))
            .take(n)
            .try_collect::<Vec<T>>();
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| HarnessError::Timeout(timeout, format!("{n} watch events")))?
    }
}

/// A client like the harness's, whose requests carry [`CONTROLLER_USER_AGENT`].
fn controller_client(mut config: kube::Config) -> Result<Client> {
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(CONTROLLER_USER_AGENT),
    ));
    Ok(Client::try_from(config)?)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_controller();
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.real && !self.namespaces.is_empty() {
            // Best effort: a real cluster keeps no test namespaces behind.
            let client = self.client.clone();
            let names = std::mem::take(&mut self.namespaces);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let api: Api<Namespace> = Api::all(client);
                    for n in names {
                        let _ = api.delete(&n, &Default::default()).await;
                    }
                });
            }
        }
    }
}
