//! `rollout-rs dev`: the simulated cluster, the CRDs and the controllers in one process, for
//! trying rollout-rs with nothing but this binary and kubectl.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::install;

/// Why the developer cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("starting the simulated cluster: {0}")]
    Sim(rollout_rs_sim::StartError),
    #[error("writing the kubeconfig {path}: {cause}")]
    Kubeconfig {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("connecting to the simulated cluster: {0}")]
    Client(String),
    #[error("installing the CRDs: {0}")]
    Install(install::InstallError),
    #[error("{0}")]
    Controllers(String),
    #[error("waiting for Ctrl-C: {0}")]
    Signal(std::io::Error),
}

// The causes are printed in the messages above, not chained as sources as well: a reporter
// that prints the chain would say each twice.
impl From<rollout_rs_sim::StartError> for DevError {
    fn from(e: rollout_rs_sim::StartError) -> Self {
        DevError::Sim(e)
    }
}

impl From<install::InstallError> for DevError {
    fn from(e: install::InstallError) -> Self {
        DevError::Install(e)
    }
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
        cause: source,
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
    let mut controllers = tokio::spawn(crate::controllers(client, Default::default()));

    println!(
        "rollout-rs dev: simulated cluster at {} with the rollout-rs CRDs installed and the controllers (Rollouts, AnalysisRuns) running",
        sim.url()
    );
    println!("Point kubectl at it:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl apply -f examples/namespaces.yaml -f examples/rollouts/canary-basic.yaml");
    println!("Ctrl-C stops it.");
    tokio::select! {
        // The controllers end only when they cannot start (or at shutdown): say why.
        ended = &mut controllers => {
            if let Ok(Err(e)) = ended {
                return Err(DevError::Controllers(e.to_string()));
            }
        }
        stopped = tokio::signal::ctrl_c() => {
            controllers.abort();
            stopped.map_err(DevError::Signal)?;
        }
    }
    println!("rollout-rs dev: stopped");
    Ok(())
}
