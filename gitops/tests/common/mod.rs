//! What the GitSync loop tests share: waiting on the GitSync `app`, reading its sync status
//! and `Ready` condition, and the ConfigMaps it delivered.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use rollout_rs_crds::gitsync::{GitSync, SyncStatusCode};
use rollout_rs_e2e::HarnessError;
use rollout_rs_e2e::fixture::Env;

pub type R<T = ()> = Result<T, HarnessError>;

/// Waits until the GitSync `app` satisfies `cond`.
pub async fn until(
    env: &Env,
    api: &Api<GitSync>,
    what: &str,
    cond: impl Fn(&GitSync) -> bool + Send + 'static,
) -> R<GitSync> {
    env.cluster
        .wait(
            api,
            "app",
            Duration::from_secs(30),
            what,
            move |gs: Option<&GitSync>| gs.is_some_and(&cond),
        )
        .await
}

/// At revision `sha` with sync status `code`.
pub fn at(gs: &GitSync, sha: &str, code: SyncStatusCode) -> bool {
    gs.status
        .as_ref()
        .and_then(|s| s.sync.as_ref())
        .is_some_and(|s| s.revision.as_deref() == Some(sha) && s.status == code)
}

/// The reason and message of the `Ready` condition (empty without one).
pub fn ready(gs: &GitSync) -> (String, String) {
    gs.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
        .unwrap_or_default()
}

/// The ConfigMaps of the env's namespace, sorted.
pub async fn config_maps(env: &Env) -> R<Vec<String>> {
    let api: Api<ConfigMap> = env.api();
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n != "kube-root-ca.crt")
        .collect();
    names.sort();
    Ok(names)
}
