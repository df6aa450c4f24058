//! `rollout-rs dev`: the simulated cluster, the CRDs and the controllers (the Git reconciler
//! included) in one process, for trying rollout-rs with nothing but this binary, git and
//! kubectl. It also makes a local GitOps repository from `examples/gitops` (`repo`) and a
//! GitSync delivering its `web` app, so a commit of a new image tag starts a canary.

mod repo;

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
    #[error("making the GitOps repository: {0}")]
    Repo(repo::RepoError),
    #[error("creating the GitSync of the GitOps repository: {0}")]
    GitSync(kube::Error),
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

/// Where the GitOps repository's `web` app is delivered, and how often it is looked at.
const DEV_NAMESPACE: &str = "web-dev";
const DEV_INTERVAL: &str = "5s";

/// The namespace of the dev environment and the GitSync delivering `apps/web/envs/dev` of the
/// local repository into it.
async fn deliver(client: &kube::Client, repo: &Path) -> Result<(), kube::Error> {
    use kube::api::{Api, Patch, PatchParams};
    use rollout_rs_crds::gitsync::GitSync;
    let params = PatchParams::apply("rollout-rs-dev").force();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEV_NAMESPACE}});
    namespaces
        .patch(DEV_NAMESPACE, &params, &Patch::Apply(&ns))
        .await?;
    let gitsyncs: Api<GitSync> = Api::namespaced(client.clone(), DEV_NAMESPACE);
    let gitsync = serde_json::json!({
        "apiVersion": "rollout-rs.io/v1alpha1", "kind": "GitSync",
        "metadata": {"name": "web", "namespace": DEV_NAMESPACE},
        "spec": {
            "interval": DEV_INTERVAL,
            "source": {"repoURL": format!("file://{}", repo.display()), "targetRevision": "main",
                       "path": "apps/web/envs/dev", "kustomize": {}},
            "destination": {"namespace": DEV_NAMESPACE},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        }
    });
    gitsyncs
        .patch("web", &params, &Patch::Apply(&gitsync))
        .await
        .map(|_| ())
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
    let base = kubeconfig
        .parent()
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let options = crate::Options {
        gitops: Some(base.join("gitops-cache")),
        ..Default::default()
    };
    let mut controllers = tokio::spawn(crate::controllers(client.clone(), options));
    let repo = base.join("gitops");
    repo::ensure(&repo).await.map_err(DevError::Repo)?;
    deliver(&client, &repo).await.map_err(DevError::GitSync)?;

    println!(
        "rollout-rs dev: simulated cluster at {} with the rollout-rs CRDs installed and the controllers (Rollouts, AnalysisRuns, GitSyncs) running",
        sim.url()
    );
    println!("Point kubectl at it:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!(
        "GitOps: the repository {} (from examples/gitops) is delivered by GitSync {DEV_NAMESPACE}/web every {DEV_INTERVAL}.",
        repo.display()
    );
    println!("Release a new version of web, then watch its canary:");
    println!(
        "  sed -i 's/newTag: \"1.0.0\"/newTag: \"1.1.0\"/' {0}/apps/web/envs/dev/kustomization.yaml && git -C {0} commit -qam 'web 1.1.0'",
        repo.display()
    );
    println!("  kubectl rollout-rs -n {DEV_NAMESPACE} get rollout web --watch");
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
