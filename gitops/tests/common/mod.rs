//! What the GitSync loop tests share: waiting on the GitSync `app`, reading its sync status
//! and `Ready` condition, the ConfigMaps it delivered, and the simulator's request log.

// Each test binary uses a part of it.
#![allow(dead_code)]

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

/// One request of the simulator's log: (verb, resource, name).
pub type Request = (String, String, String);

/// The simulator's request log since it was last cleared, and how many requests it has
/// recorded since start. With `after`, it answers once that count passes it.
async fn log(env: &Env, after: Option<u64>) -> R<(Vec<Request>, u64)> {
    let uri = match after {
        Some(n) => format!("/sim/requests?after={n}"),
        None => "/sim/requests".to_string(),
    };
    let text = admin(env, "GET", &uri).await?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| HarnessError::Manifest(format!("request log: {e}")))?;
    let items = value["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (field("verb"), field("resource"), field("name"))
        })
        .collect();
    Ok((items, value["recorded"].as_u64().unwrap_or_default()))
}

/// The simulator's request log since it was last cleared.
pub async fn requests(env: &Env) -> R<Vec<Request>> {
    Ok(log(env, None).await?.0)
}

/// Clears the simulator's request log.
pub async fn clear_requests(env: &Env) -> R {
    admin(env, "DELETE", "/sim/requests").await.map(|_| ())
}

async fn admin(env: &Env, method: &str, uri: &str) -> R<String> {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Vec::new())
        .map_err(|e| HarnessError::Manifest(e.to_string()))?;
    Ok(env.cluster.client.request_text(request).await?)
}

/// Waits until the request log holds `n` requests matching `which`: the loop has come round
/// that many times. Each read waits for new requests, so nothing polls.
pub async fn until_requests(
    env: &Env,
    n: usize,
    which: impl Fn(&Request) -> bool,
) -> R<Vec<Request>> {
    let timeout = Duration::from_secs(30);
    let wait = async {
        let mut after = 0;
        loop {
            let (log, recorded) = log(env, Some(after)).await?;
            if log.iter().filter(|r| which(r)).count() >= n {
                return Ok(log);
            }
            after = recorded;
        }
    };
    tokio::time::timeout(timeout, wait).await.map_err(|_| {
        HarnessError::Timeout(
            timeout,
            format!("{n} matching requests in the simulator's log"),
        )
    })?
}
