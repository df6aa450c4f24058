//! Driving the Rollouts of one namespace as users do: waiting for a phase or a step through a
//! watch (saying where the Rollout stood when the wait times out), changing the image, and
//! writing the control surface of the status.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;
use serde_json::json;

use crate::{HarnessError, Result, in_phase};

/// The Rollouts of one namespace.
#[derive(Clone)]
pub struct Rollouts {
    pub api: Api<Rollout>,
    /// How long each wait may take.
    pub timeout: Duration,
}

impl Rollouts {
    pub fn new(client: &kube::Client, namespace: &str, timeout: Duration) -> Rollouts {
        Rollouts {
            api: Api::namespaced(client.clone(), namespace),
            timeout,
        }
    }

    /// Waits until `cond` holds for the Rollout `name`; on a timeout the error carries its
    /// status, which says why far better than the timeout alone.
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&Rollout) -> bool + Send + 'static,
    ) -> Result<Rollout> {
        let waited = tokio::time::timeout(
            self.timeout,
            await_condition(self.api.clone(), name, move |ro: Option<&Rollout>| {
                ro.is_some_and(&cond)
            }),
        )
        .await;
        match waited {
            Ok(Ok(Some(ro))) => Ok(ro),
            Ok(Ok(None)) => Err(HarnessError::Timeout(
                self.timeout,
                format!("{what} ({name} was deleted)"),
            )),
            Ok(Err(e)) => Err(HarnessError::Manifest(format!("watching {name}: {e}"))),
            Err(_) => {
                let status = self.api.get(name).await?.status;
                Err(HarnessError::Timeout(
                    self.timeout,
                    format!("{what} on {name}; status: {status:?}"),
                ))
            }
        }
    }

    /// In `phase` for its current spec.
    pub async fn phase(&self, name: &str, phase: RolloutPhase) -> Result<Rollout> {
        self.wait(name, &format!("phase {phase:?}"), move |ro| {
            in_phase(ro, phase)
        })
        .await
    }

    /// Healthy for its current spec.
    pub async fn healthy(&self, name: &str) -> Result<Rollout> {
        self.phase(name, RolloutPhase::Healthy).await
    }

    /// Paused at step `index`.
    pub async fn paused_at(&self, name: &str, index: i32) -> Result<Rollout> {
        self.wait(name, &format!("paused at step {index}"), move |ro| {
            ro.status.as_ref().is_some_and(|s| {
                s.phase == Some(RolloutPhase::Paused) && s.current_step_index == Some(index)
            })
        })
        .await
    }

    /// Sets the image of the pod template's container `container`.
    pub async fn set_image(&self, name: &str, container: &str, image: &str) -> Result<()> {
        self.patch_spec(
            name,
            json!({"template": {"spec": {"containers": [{"name": container, "image": image}]}}}),
        )
        .await
    }

    /// Merges `spec` into the Rollout's spec.
    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) -> Result<()> {
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await?;
        Ok(())
    }

    /// Merges `status` into the Rollout's status (the control surface: abort, promote...).
    pub async fn patch_status(&self, name: &str, status: serde_json::Value) -> Result<()> {
        merge_status(&self.api, name, status).await
    }
}

/// Merges `status` into the status of the object `name` of `api`: a Rollout's, or, through a
/// dynamic API, the status of one that does not decode as a Rollout.
pub async fn merge_status<K>(api: &Api<K>, name: &str, status: serde_json::Value) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await?;
    Ok(())
}
