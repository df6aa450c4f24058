//! The rollout-rs controllers and the wiring around them.
//!
//! Today: the rollout reconciler (canary with its traffic routers, and blue-green: [`rollout`]),
//! the AnalysisRun controller ([`analysis_run`]), installing the CRDs ([`install`]) and the
//! one-command developer cluster ([`dev`]). Metrics and health endpoints and leader election arrive with
//! their issues; every controller follows observe → decide (pure) → execute.

pub mod analysis_run;
pub mod dev;
mod events;
pub mod install;
pub(crate) mod io;
mod lenient;
mod per_object;
mod retry;
pub mod rollout;

use std::path::PathBuf;

/// Why the controllers could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("loading the kubeconfig: {0}")]
    Config(String),
    #[error("connecting to the cluster: {0}")]
    Client(#[from] kube::Error),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// A client from `kubeconfig`, or from the environment (KUBECONFIG, in-cluster) when `None`.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, RunError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| RunError::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| RunError::Config(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| RunError::Config(e.to_string()))?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// `rollout-rs controller`: every controller, until Ctrl-C.
pub async fn run_controllers(
    kubeconfig: Option<PathBuf>,
    options: rollout::reconcile::Options,
) -> Result<(), RunError> {
    let client = client(kubeconfig.as_deref()).await?;
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("<all>"),
        "rollout-rs controller starting"
    );
    tokio::select! {
        () = controllers(client, options) => Ok(()),
        signal = tokio::signal::ctrl_c() => signal.map_err(RunError::Signal),
    }
}

/// Every controller on one client, until their streams end.
pub async fn controllers(client: kube::Client, options: rollout::reconcile::Options) {
    let namespace = options.namespace.clone();
    tokio::join!(
        rollout::reconcile::run(client.clone(), options),
        analysis_run::run(client, namespace),
    );
}
