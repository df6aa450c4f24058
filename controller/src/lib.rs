//! The rollout-rs controllers and the wiring around them.
//!
//! Today: the rollout reconciler (canary with its traffic routers, and blue-green: [`rollout`]),
//! the AnalysisRun controller ([`analysis_run`]), installing the CRDs ([`install`]) and the
//! one-command developer cluster ([`dev`]). Metrics and health endpoints and leader election arrive with
//! their issues; every controller follows observe → decide (pure) → execute.

mod analysis_run;
pub mod dev;
mod events;
pub mod install;
mod io;
mod lenient;
mod per_object;
mod retry;
mod rollout;

pub use rollout::hash::pod_template_hash;
pub use rollout::reconcile::Options;

use std::path::PathBuf;

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
}

// The cause is printed in the message, not chained as a source as well (it would read twice).
impl From<kube::Error> for RunError {
    fn from(e: kube::Error) -> Self {
        RunError::Client(e)
    }
}

/// A client from `kubeconfig`, or from the environment (KUBECONFIG, in-cluster) when `None`.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, RunError> {
    let config = match kubeconfig {
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
    };
    Ok(kube::Client::try_from(config)?)
}

/// `rollout-rs controller`: every controller, until Ctrl-C.
pub async fn run_controllers(
    kubeconfig: Option<PathBuf>,
    options: Options,
) -> Result<(), RunError> {
    let client = client(kubeconfig.as_deref()).await?;
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("<all>"),
        "rollout-rs controller starting"
    );
    tokio::select! {
        ended = controllers(client, options) => ended,
        signal = tokio::signal::ctrl_c() => signal.map_err(RunError::Signal),
    }
}

/// Every controller on one client, until their streams end. One that cannot start says why
/// (the process then exits non-zero) rather than leaving the others running without it.
pub async fn controllers(client: kube::Client, options: Options) -> Result<(), RunError> {
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
        )
    });
    tokio::join!(
        rollout::reconcile::run(client, options),
        analysis.run(namespace),
        async move {
            if let Some(gitops) = gitops {
                gitops.await;
            }
        },
    );
    Ok(())
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
