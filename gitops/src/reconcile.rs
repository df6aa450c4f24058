//! The GitSync controller: observe (the GitSync, its credentials Secret, the fetched revision,
//! the rendered objects) → decide (`inventory`, `status`) → execute (`apply`, prune, status),
//! then look again at the next interval. A source that cannot be fetched or rendered, or one
//! object the API server refuses, applies and prunes nothing and says why in the `Ready`
//! condition; the last good revision stays applied. Fetching and rendering are behind
//! [`Fetcher`] and [`Render`] so the loop is tested without a Git server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use rollout_rs_crds::conditions::git_sync as reason;
use rollout_rs_crds::gitsync::{GitSource, GitSync, GitSyncStatus};
use rollout_rs_crds::labels::tracked_by;
use serde_json::Value;

use crate::apply::{Applier, Discovery, MANAGER};
use crate::health;
use crate::inventory::{self, Key, LiveMarks};
use crate::source::{Credentials, FetchRequest, FetchedRevision, Fetcher, poll_interval};
use crate::status::{self, Revision};

/// How a checkout becomes objects: directories, Kustomize, Helm.
pub trait Render: Send + Sync + 'static {
    /// The objects of `source` in `checkout`; the error names the file and line.
    fn render(
        &self,
        checkout: &FetchedRevision,
        source: &GitSource,
        release: &str,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<Value>, String>> + Send;
}

/// Called after each sync of `namespace/name` with its duration and failure reason.
pub type Synced = Box<dyn Fn(&str, &str, Duration, Option<&'static str>) + Send + Sync>;

/// Called when a GitSync `namespace/name` changed.
pub type Changed = Box<dyn Fn(&str, &str) + Send>;

/// What the process running the reconciler decides for it: whether this replica may write
/// (leader election), when it stops, and where each sync's outcome is counted. The defaults:
/// always write, never stop from outside, count nothing.
pub struct Hooks {
    /// Checked before every sync: a standby keeps its cache warm and writes nothing.
    pub may_write: Box<dyn Fn() -> bool + Send + Sync>,
    /// Yields when this replica becomes the one that writes: every GitSync is synced then.
    pub gained: futures::stream::BoxStream<'static, ()>,
    /// Resolves when the process stops: syncs in flight finish, no new one starts.
    pub shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    /// After each sync of `namespace/name`: how long it took and, if it failed, the `Ready`
    /// reason (or `StatusWrite` when even the status could not be written).
    pub synced: Synced,
    /// Once the GitSync cache has listed.
    pub listed: Box<dyn FnOnce() + Send>,
    /// For each change of a GitSync `namespace/name`: it now waits for a sync.
    pub changed: Changed,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            may_write: Box::new(|| true),
            gained: futures::stream::empty().boxed(),
            shutdown: Box::pin(std::future::pending()),
            synced: Box::new(|_, _, _, _| {}),
            listed: Box::new(|| {}),
            changed: Box::new(|_, _| {}),
        }
    }
}

/// While applied objects are still progressing, their health is looked at this often.
const HEALTH_RECHECK: Duration = Duration::from_secs(5);

/// Why a reconcile could not even report.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("writing the status of GitSync {name}: {cause}")]
    Status { name: String, cause: kube::Error },
}

struct Context<S, R> {
    client: Client,
    may_write: Box<dyn Fn() -> bool + Send + Sync>,
    synced: Synced,
    source: S,
    render: R,
    /// Where kinds are served, shared by every sync.
    discovery: Discovery,
    /// Failed syncs in a row, per GitSync uid: the retry backoff. Forgotten on success.
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

/// Runs the GitSync controller until the stream ends.
pub async fn run<S: Fetcher + 'static, R: Render>(
    client: Client,
    namespace: Option<String>,
    source: S,
    render: R,
    hooks: Hooks,
) {
    let api: Api<GitSync> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let Hooks {
        may_write,
        gained,
        shutdown,
        synced,
        listed,
        changed,
    } = hooks;
    let ctx = Arc::new(Context {
        client,
        may_write,
        synced,
        source,
        render,
        failures: Default::default(),
        discovery: Discovery::default(),
    });
    // The cache keeps GitSyncs without their managedFields: never read, and as large as the
    // inventory they describe.
    let (reader, writer) = reflector::store();
    let gitsyncs = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|gs: &mut GitSync| gs.metadata.managed_fields = None)
        .reflect(writer)
        .applied_objects()
        // Errors stop here: the watcher retries on its own backoff, and one passed on would
        // also pause the controller's whole queue, longer with each error in a row.
        .filter_map(|gs| {
            let gs = gs.inspect_err(|e| tracing::warn!("watching GitSyncs failed, retrying: {e}"));
            std::future::ready(gs.ok().map(Ok))
        })
        .inspect(move |gs: &Result<GitSync, watcher::Error>| {
            if let Ok(gs) = gs {
                changed(&gs.namespace().unwrap_or_default(), &gs.name_any());
            }
        });
    {
        let reader = reader.clone();
        // kube-runtime's wait_until_ready wakes only the last of several waiters (the
        // controller's runner waits too): ask again every half second until it has listed.
        tokio::spawn(async move {
            loop {
                let ask =
                    tokio::time::timeout(Duration::from_millis(500), reader.wait_until_ready());
                match ask.await {
                    Ok(Ok(())) => return listed(),
                    Ok(Err(_)) => return,
                    Err(_) => {}
                }
            }
        });
    }
    Controller::for_stream(gitsyncs, reader)
        .reconcile_all_on(gained)
        .graceful_shutdown_on(shutdown)
        .run(instrumented, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("gitsync reconcile: {e}");
            }
        })
        .await;
}

fn error_policy<S, R>(_: Arc<GitSync>, err: &SyncError, _: Arc<Context<S, R>>) -> Action {
    tracing::warn!("{err}");
    Action::requeue(Duration::from_secs(10))
}

/// The poll interval, with this GitSync's jitter; an invalid one falls back to the default
/// (validation reports it).
fn interval(gs: &GitSync) -> Duration {
    let key = format!("{}/{}", gs.namespace().unwrap_or_default(), gs.name_any());
    poll_interval(gs.spec.interval.as_deref(), &key)
        .or_else(|_| poll_interval(None, &key))
        .unwrap_or(crate::source::DEFAULT_INTERVAL)
}

async fn credentials(client: &Client, gs: &GitSync) -> Result<Option<Credentials>, String> {
    let Some(reference) = &gs.spec.source.secret_ref else {
        return Ok(None);
    };
    let ns = gs.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(|e| format!("reading Secret {ns}/{}: {e}", reference.name))?
        .ok_or_else(|| format!("Secret {ns}/{} not found", reference.name))?;
    let data = secret.data.unwrap_or_default();
    let field = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    Ok(Some(Credentials {
        username: field("username"),
        password: field("password"),
        ssh_private_key: field("sshPrivateKey"),
        known_hosts: field("knownHosts"),
    }))
}

/// Why a sync stopped before it finished: the `Ready` reason, the message, and the revision
/// fetched (when it got that far).
struct Stopped {
    why: &'static str,
    message: String,
    fetched: Option<Revision>,
}

impl Stopped {
    fn at(why: &'static str, message: impl Into<String>, fetched: Option<&Revision>) -> Stopped {
        Stopped {
            why,
            message: message.into(),
            fetched: fetched.cloned(),
        }
    }
}

/// One sync in its span, timed and counted; none on a standby.
async fn instrumented<S: Fetcher + 'static, R: Render>(
    gs: Arc<GitSync>,
    ctx: Arc<Context<S, R>>,
) -> Result<Action, SyncError> {
    use tracing::Instrument;
    if !(ctx.may_write)() {
        return Ok(Action::await_change());
    }
    let (ns, name) = (gs.namespace().unwrap_or_default(), gs.name_any());
    let span =
        tracing::info_span!("reconcile", controller = "gitsync", namespace = %ns, name = %name);
    let start = std::time::Instant::now();
    let result = reconcile(gs, ctx.clone()).instrument(span).await;
    let failure = match &result {
        Ok((_, failure)) => *failure,
        Err(SyncError::Status { .. }) => Some("StatusWrite"),
    };
    (ctx.synced)(&ns, &name, start.elapsed(), failure);
    result.map(|(action, _)| action)
}

/// A sync, and the `Ready` reason when it failed.
async fn reconcile<S: Fetcher + 'static, R: Render>(
    gs: Arc<GitSync>,
    ctx: Arc<Context<S, R>>,
) -> Result<(Action, Option<&'static str>), SyncError> {
    let prev = gs.status.clone().unwrap_or_default();
    let generation = gs.metadata.generation;
    let now = jiff::Timestamp::now();
    let every = interval(&gs);
    let uid = gs.metadata.uid.clone().unwrap_or_default();
    let mut failed = None;
    let st = match sync(&gs, &ctx, &prev, now).await {
        Ok(st) => st,
        Err(s) => {
            // Waiting for a human (suspended, no automated sync) is not a failure to retry.
            if s.why != reason::SUSPENDED && s.why != reason::OUT_OF_SYNC {
                failed = Some(s.why);
            }
            status::failed(
                &prev,
                s.why,
                &s.message,
                s.fetched.as_ref(),
                generation,
                now,
            )
        }
    };
    let failures = {
        let mut all = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_some() {
            let n = all.entry(uid).or_default();
            *n += 1;
            *n
        } else {
            all.remove(&uid);
            0
        }
    };
    // While applied objects settle, their health is looked at again soon.
    let settling = st
        .health
        .as_ref()
        .is_some_and(|h| h.status == rollout_rs_crds::gitsync::HealthStatusCode::Progressing)
        && st
            .conditions
            .iter()
            .any(|c| c.reason.as_deref() == Some(reason::SYNCED));
    write_status(&ctx.client, &gs, st).await?;
    let retry = gs.spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref());
    let next = if failures > 0 {
        crate::retry::after(retry, failures, every)
    } else if settling {
        HEALTH_RECHECK.min(every)
    } else {
        every
    };
    Ok((Action::requeue(next), failed))
}

/// One sync: fetch, render, apply, prune, health. The status it ends with, or where it stopped
/// (nothing applied or pruned then, except for a prune that failed half way).
async fn sync<S: Fetcher + 'static, R: Render>(
    gs: &GitSync,
    ctx: &Context<S, R>,
    prev: &GitSyncStatus,
    now: jiff::Timestamp,
) -> Result<GitSyncStatus, Stopped> {
    let name = gs.name_any();
    let ns = gs.namespace().unwrap_or_default();
    if gs.spec.suspend {
        return Err(Stopped::at(reason::SUSPENDED, "spec.suspend is set", None));
    }
    let creds = credentials(&ctx.client, gs)
        .await
        .map_err(|e| Stopped::at(reason::FETCH_FAILED, e, None))?;
    let request = FetchRequest::new(&gs.spec.source, creds.unwrap_or_default());
    let checkout = ctx
        .source
        .fetch(&request)
        .await
        .map_err(|e| Stopped::at(reason::FETCH_FAILED, e.to_string(), None))?;
    let revision = Revision {
        sha: checkout.sha().to_string(),
        subject: checkout.subject().to_string(),
    };
    let fetched = Some(&revision);
    let target_ns = gs
        .spec
        .destination
        .namespace
        .clone()
        .unwrap_or_else(|| ns.clone());
    let rendered = ctx
        .render
        .render(&checkout, &gs.spec.source, &name, &target_ns)
        .await
        .map_err(|e| Stopped::at(reason::RENDER_FAILED, e, fetched))?;
    let Some(automated) = gs
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.automated.clone())
    else {
        let message = format!(
            "revision {} is not applied: no syncPolicy.automated",
            revision.sha
        );
        return Err(Stopped::at(reason::OUT_OF_SYNC, message, fetched));
    };
    let tracking = tracked_by(&ns, &name);
    let mut applier = Applier::with_discovery(ctx.client.clone(), ctx.discovery.clone());
    let written = applier
        .apply(
            &rendered,
            &target_ns,
            &tracking,
            &gs.spec.ignore_differences,
        )
        .await
        .map_err(|e| Stopped::at(reason::APPLY_FAILED, e.to_string(), fetched))?;
    let applied: Vec<Key> = written.iter().map(|(k, _)| k.clone()).collect();

    // Prune: what the inventory holds, Git no longer renders, and still carries our mark.
    let inventory: Vec<Key> = prev.resources.iter().map(Key::from_status).collect();
    let mut marks = Vec::new();
    for key in inventory.iter().filter(|k| !applied.contains(k)) {
        let live = applier.live(key).await.ok().flatten();
        marks.push((key.clone(), live.as_ref().map(LiveMarks::of)));
    }
    let live_marks = |k: &Key| {
        marks
            .iter()
            .find(|(m, _)| m == k)
            .and_then(|(_, l)| l.clone())
    };
    let decision = inventory::prune(
        &inventory,
        &applied,
        live_marks,
        &tracking,
        automated.allow_empty,
    )
    .map_err(|empty| Stopped::at(reason::EMPTY_RENDER, empty.to_string(), fetched))?;
    for key in &decision.released {
        tracing::info!(gitsync = %name, "{} no longer carries this GitSync's tracking annotation: left alone and forgotten", key.describe());
    }
    let mut left: Vec<Key> = decision.kept.clone();
    if automated.prune {
        for key in &decision.delete {
            applier
                .delete(key)
                .await
                .map_err(|e| Stopped::at(reason::PRUNE_FAILED, e.to_string(), fetched))?;
        }
        for key in &decision.kept {
            tracing::info!(gitsync = %name, "not pruning {}: rollout-rs.io/prune is \"false\"", key.describe());
        }
    } else {
        left.extend(decision.delete.iter().cloned());
    }

    // Health from the objects as the applies answered: no read after each write.
    let healths: Vec<_> = written
        .iter()
        .map(|(key, live)| (key.clone(), health::of(Some(live))))
        .collect();
    Ok(status::synced(
        prev,
        &revision,
        &healths,
        &left,
        gs.metadata.generation,
        now,
    ))
}

async fn write_status(client: &Client, gs: &GitSync, st: GitSyncStatus) -> Result<(), SyncError> {
    if gs.status.as_ref() == Some(&st) {
        return Ok(());
    }
    let api: Api<GitSync> = Api::namespaced(client.clone(), &gs.namespace().unwrap_or_default());
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    api.patch_status(
        &gs.name_any(),
        &params,
        &Patch::Merge(serde_json::json!({ "status": st })),
    )
    .await
    .map(|_| ())
    .map_err(|cause| SyncError::Status {
        name: gs.name_any(),
        cause,
    })
}

impl Render for crate::render::Renderers {
    async fn render(
        &self,
        checkout: &FetchedRevision,
        source: &GitSource,
        release: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, String> {
        crate::render::Renderers::render(self, checkout.path(), source, release, namespace)
            .await
            .map(|objects| objects.into_iter().map(|r| r.object).collect())
            .map_err(|e| e.to_string())
    }
}
