//! The rollout-rs controllers and the wiring around them.
//!
//! The rollout reconciler (canary with its traffic routers, and blue-green: [`rollout`]), the
//! AnalysisRun controller ([`analysis_run`]), the Git reconciler's wiring, installing the CRDs
//! ([`install`]) and the one-command developer cluster ([`dev`]); around them the process
//! ([`process`]): metrics, health, logs and leader election. Every controller follows observe →
//! decide (pure) → execute.

mod analysis_run;
#[cfg(feature = "sim")]
pub mod dev;
mod events;
mod index;
pub mod install;
mod io;
mod lenient;
mod per_object;
mod process;
mod retry;
mod rollout;

pub use process::logs::{self, LogFormat, LogLevel};
pub use rollout::hash::pod_template_hash;
pub use rollout::reconcile::Options;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use process::Process;
use process::leader::{Election, Leadership};

/// Why the controllers could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("loading the kubeconfig {path}: {cause}")]
    Kubeconfig {
        path: PathBuf,
        cause: kube::config::KubeconfigError,
    },
    #[error("finding the cluster (KUBECONFIG, ~/.kube/config or in-cluster): {0}")]
    Infer(kube::config::InferConfigError),
    #[error("connecting to the cluster: {0}")]
    Client(kube::Error),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(std::io::Error),
    #[error("the AnalysisRun controller cannot start: {0}")]
    AnalysisRuns(rollout_rs_analysis::provider::ProviderError),
    /// The metrics or health address cannot be served (taken, not allowed).
    #[error("{0}")]
    Serve(String),
    #[error("{0}")]
    Election(String),
}

/// How the process runs beside its controllers: the `rollout-rs controller` flags.
#[derive(Clone)]
pub struct ProcessOptions {
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/debug/log-level` are served.
    pub health_addr: SocketAddr,
    /// Elect a leader on a Lease: only it writes; the others keep warm caches.
    pub leader_elect: bool,
    /// The running log filter, which `/debug/log-level` changes.
    pub log_level: LogLevel,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], 8090)),
            health_addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            leader_elect: false,
            log_level: LogLevel::fixed(),
        }
    }
}

// The cause is printed in the message, not chained as a source as well (it would read twice).
impl From<kube::Error> for RunError {
    fn from(e: kube::Error) -> Self {
        RunError::Client(e)
    }
}

/// A client from `kubeconfig`, or from the environment (KUBECONFIG, in-cluster) when `None`.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, RunError> {
    Ok(kube::Client::try_from(config(kubeconfig).await?)?)
}

async fn config(kubeconfig: Option<&std::path::Path>) -> Result<kube::Config, RunError> {
    Ok(match kubeconfig {
        Some(path) => {
            let failed = |cause| RunError::Kubeconfig {
                path: path.to_path_buf(),
                cause,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(failed)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(failed)?
        }
        None => kube::Config::infer().await.map_err(RunError::Infer)?,
    })
}

/// `rollout-rs controller`: every controller, with the metrics and health endpoints and (if
/// asked) leader election, until SIGTERM or Ctrl-C. Then the reconciles in flight finish and
/// the leader releases its Lease at once.
pub async fn run_controllers(
    kubeconfig: Option<PathBuf>,
    options: Options,
    run: ProcessOptions,
) -> Result<(), RunError> {
    let metrics = Arc::new(process::metrics::Metrics::default());
    let identity = identity();
    let mut config = config(kubeconfig.as_deref()).await?;
    // As client-go's binaries do: the API server's audit log and request metrics (and the
    // simulator's request log) tell this replica's requests apart.
    let agent = format!("rollout-rs/{} ({identity})", env!("CARGO_PKG_VERSION"));
    if let Ok(agent) = http::HeaderValue::from_str(&agent) {
        config.headers.push((http::header::USER_AGENT, agent));
    }
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&process::api_requests::CountRequests(metrics.clone()))
        .build();
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("<all>"),
        leader_elect = run.leader_elect,
        "rollout-rs controller starting"
    );
    let election = if run.leader_elect {
        let namespace = lease_namespace(options.namespace.as_deref());
        let m = metrics.clone();
        let election = Election::start(client.clone(), &namespace, &identity, move |l| m.leader(l))
            .await
            .map_err(|e| RunError::Election(e.to_string()))?;
        tracing::info!(%namespace, %identity, lease = process::leader::LEASE_NAME, "joined the leader election");
        Some(election)
    } else {
        metrics.leader(true);
        None
    };
    let leadership = election
        .as_ref()
        .map(|e| e.leadership.clone())
        .unwrap_or_else(Leadership::always);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let process = Process::with_metrics(metrics, leadership, stopped);
    process::trim::after_bursts(process.activity.clone());
    let server = process::server::serve(&process, run.metrics_addr, run.health_addr, run.log_level)
        .await
        .map_err(|e| RunError::Serve(e.to_string()))?;
    let signals = tokio::spawn(async move {
        match stop_signal().await {
            Ok(which) => {
                tracing::info!("{which}: finishing the reconciles in flight, then stopping")
            }
            Err(e) => tracing::error!("waiting for a stop signal: {e}"),
        }
        let _ = stop.send(true);
    });
    let ended = controllers_in(client, options, process).await;
    if let Some(election) = election {
        election.resign().await;
    }
    signals.abort();
    server.abort();
    ended
}

/// SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn stop_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            c = tokio::signal::ctrl_c() => c.map(|()| "interrupted"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "interrupted")
    }
}

/// Where the Lease lives: the pod's namespace (the chart passes it as `POD_NAMESPACE`), else
/// the one watched, else `default`.
fn lease_namespace(watched: Option<&str>) -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|ns| !ns.is_empty())
        .or_else(|| watched.map(str::to_string))
        .unwrap_or_else(|| "default".into())
}

/// This replica's name in the election: the pod's name (`POD_NAME`, else the host name) and
/// the process id, unique even for two processes on one machine.
fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "rollout-rs".into());
    format!("{host}-{}", std::process::id())
}

/// Every controller on one client, until their streams end. One that cannot start says why
/// (the process then exits non-zero) rather than leaving the others running without it.
pub async fn controllers(client: kube::Client, options: Options) -> Result<(), RunError> {
    controllers_in(client, options, Process::standalone()).await
}

async fn controllers_in(
    client: kube::Client,
    options: Options,
    process: Process,
) -> Result<(), RunError> {
    let namespace = options.namespace.clone();
    let analysis =
        analysis_run::AnalysisRuns::new(client.clone()).map_err(RunError::AnalysisRuns)?;
    // The Git reconciler delivers what the rollout controller then moves; each runs on its own.
    let gitops = options.gitops.clone().map(|cache| {
        rollout_rs_gitops::reconcile::run(
            client.clone(),
            namespace.clone(),
            rollout_rs_gitops::source::GitCli::new(cache),
            rollout_rs_gitops::render::Renderers::from_env(),
            gitops_hooks(&process),
        )
    });
    tokio::join!(
        rollout::reconcile::run(client, options, process.clone()),
        analysis.run(namespace, process),
        async move {
            if let Some(gitops) = gitops {
                gitops.await;
            }
        },
    );
    Ok(())
}

/// The Git reconciler's view of the process: it writes only while this replica leads, and its
/// syncs count in the metrics as the `gitsync` controller's reconciles.
fn gitops_hooks(process: &Process) -> rollout_rs_gitops::reconcile::Hooks {
    use futures::StreamExt;
    const CONTROLLER: &str = "gitsync";
    let queue = process.queue(CONTROLLER);
    process.readiness.expect("gitsync cache");
    let (leadership, metrics, readiness) = (
        process.leadership.clone(),
        process.metrics.clone(),
        process.readiness.clone(),
    );
    rollout_rs_gitops::reconcile::Hooks {
        may_write: Box::new(move || leadership.is_leader()),
        gained: process.leadership.gained().boxed(),
        shutdown: Box::pin(process.shutdown()),
        synced: Box::new({
            let queue = queue.clone();
            move |ns, name, took, failure| {
                queue.started(&format!("{ns}/{name}"));
                metrics.reconciled(CONTROLLER, took, failure);
            }
        }),
        listed: Box::new(move || readiness.pass("gitsync cache")),
        changed: Box::new(move |ns, name| queue.triggered(format!("{ns}/{name}"))),
    }
}

/// What the benches measure of the decision, without the reconciler's types.
#[doc(hidden)]
pub mod bench {
    use rollout_rs_crds::Rollout;

    use crate::rollout::decide::{Observed, ReplicaSetView, decide};

    /// A Rollout and its ReplicaSets as observed now.
    pub struct Decision(Observed);

    impl Decision {
        /// `replica_sets`: (pod-template hash, revision, pods all available) each.
        pub fn new(rollout: Rollout, replica_sets: &[(String, u64, i32)]) -> Decision {
            let name = rollout.metadata.name.clone().unwrap_or_default();
            let views = replica_sets
                .iter()
                .map(|(hash, revision, n)| ReplicaSetView {
                    name: format!("{name}-{hash}"),
                    hash: hash.clone(),
                    revision: *revision,
                    desired: *n,
                    replicas: *n,
                    ready: *n,
                    available: *n,
                    ..Default::default()
                })
                .collect();
            Decision(Observed {
                rollout,
                replica_sets: views,
                pods: vec![],
                runs: vec![],
                reference_errors: vec![],
                remembered: None,
                managed_services: vec![],
                managed_destination_rules: vec![],
                workload: None,
                now: jiff::Timestamp::now(),
            })
        }

        /// One decision; the plan is only kept from being optimised away.
        pub fn decide(&self) {
            std::hint::black_box(decide(std::hint::black_box(&self.0)));
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// An error prints its cause or chains it, never both: a reporter printing the chain
    /// would say it twice.
    #[test]
    fn errors_print_their_cause_once() {
        let cause = || {
            kube::Error::SerdeError(
                serde_json::from_str::<serde_json::Value>("{").expect_err("not JSON"),
            )
        };
        let errors: Vec<Box<dyn std::error::Error>> = vec![
            Box::new(RunError::from(cause())),
            Box::new(rollout::reconcile::ReconcileError::Api {
                action: "scaling",
                kind: "ReplicaSet",
                name: "web".into(),
                cause: cause(),
            }),
            Box::new(install::InstallError::Apply {
                name: "rollouts.rollout-rs.io".into(),
                cause: cause(),
            }),
        ];
        for e in errors {
            assert_eq!(e.to_string().matches("EOF while parsing").count(), 1, "{e}");
            assert!(e.source().is_none(), "{e} also chains its cause");
        }
    }
}
