//! Installs (server-side applies) the rollout-rs CRDs into a cluster and waits until the API
//! server serves them.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use crate::io::MANAGER;

/// Why the CRDs could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("applying CRD {name}: {cause}")]
    Apply { name: String, cause: kube::Error },
    #[error("waiting for CRD {name} to be Established: {reason}")]
    Establish { name: String, reason: String },
}

/// Applies every CRD (forcing ownership of its fields) and waits up to `timeout` for each to be
/// Established.
pub async fn install_crds(client: &Client, timeout: Duration) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    for crd in rollout_rs_crds::crd::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| InstallError::Apply {
                name: name.clone(),
                cause: source,
            })?;
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, established).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Err(InstallError::Establish {
                    name,
                    reason: "it was deleted".into(),
                });
            }
            Ok(Err(e)) => {
                return Err(InstallError::Establish {
                    name,
                    reason: e.to_string(),
                });
            }
            Err(_) => {
                return Err(InstallError::Establish {
                    name,
                    reason: format!("not within {timeout:?}"),
                });
            }
        }
    }
    Ok(())
}
