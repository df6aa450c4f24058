//! `rollout-rs dev`: the simulated cluster, the CRDs and the controllers in one process, for
//! trying rollout-rs with nothing but this binary and kubectl.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::install;

/// Why the developer cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("starting the simulated cluster: {0}")]
    Sim(#[from] rollout_rs_sim::StartError),
    #[error("writing the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("connecting to the simulated cluster: {0}")]
    Client(String),
    #[error("installing the CRDs: {0}")]
    Install(#[from] install::InstallError),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

/// Default kubeconfig location: a fixed path, so `export KUBECONFIG=...` keeps working across
/// restarts of `rollout-rs dev`.
pub fn default_kubeconfig_path() -> PathBuf {
    std::env::temp_dir()
        .join("rollout-rs-dev")
        .join("kubeconfig")
}

/// Runs the developer cluster until Ctrl-C.
pub async fn run(port: u16, kubeconfig: &Path) -> Result<(), DevError> {
    let sim = rollout_rs_sim::start(rollout_rs_sim::Config {
        port,
        ..Default::default()
    })
    .await?;
    let write_err = |source| DevError::Kubeconfig {
        path: kubeconfig.to_path_buf(),
        source,
    };
    if let Some(parent) = kubeconfig.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    sim.write_kubeconfig(kubeconfig).map_err(write_err)?;
    let kubeconfig = std::path::absolute(kubeconfig).unwrap_or_else(|_| kubeconfig.to_path_buf());

    let client = crate::client(Some(&kubeconfig))
        .await
        .map_err(|e| DevError::Client(e.to_string()))?;
    install::install_crds(&client, Duration::from_secs(30)).await?;
    let controllers = tokio::spawn(crate::controllers(client, Default::default()));

    println!(
        "rollout-rs dev: simulated cluster at {} with the rollout-rs CRDs installed and the controllers (Rollouts, AnalysisRuns) running",
        sim.url()
    );
    println!("Point kubectl at it:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl apply -f examples/namespaces.yaml -f examples/rollouts/canary-basic.yaml");
    println!("Ctrl-C stops it.");
    let stopped = tokio::signal::ctrl_c().await;
    controllers.abort();
    stopped.map_err(DevError::Signal)?;
    println!("rollout-rs dev: stopped");
    Ok(())
}
