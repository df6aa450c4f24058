//! Observe and execute around [`decide`]: the observed state read from the caches `watches`
//! keeps (never before they have listed), the plan carried out in named steps with one field
//! manager, Events recorded, the status written last, and the next reconcile scheduled at the
//! plan's exact deadline. What is remembered between reconciles lives in `memory`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_crds::analysis::AnalysisTemplateSpec;
use rollout_rs_crds::conditions::{INVALID_SPEC, reason};
use rollout_rs_crds::labels::{
    PROMOTED_ANNOTATION, REVISION_ANNOTATION, RUN_TYPE_LABEL, SCALE_DOWN_ANNOTATION,
    STEP_INDEX_LABEL,
};
use rollout_rs_crds::rollout::AnalysisTemplateRef;
use rollout_rs_crds::{
    AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, MANAGED_BY_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL, Rollout, managed_by,
};
use serde_json::json;

use crate::events::{Event, EventType, Recorder};
use crate::index::{orphan_key, owner_key};
use crate::io::{EXISTS, GONE, MANAGER, NOT_OURS, strip_meta, unless};
use crate::lenient::Lenient;
use crate::process::{errors_logged, on_own_task};

use super::analysis::{RunKind, RunView};
use super::decide::{
    Observed, Plan, PodView, ReplicaSetView, Workload, decide, restart_pending, routing_failed,
};
use super::memory::{Memory, TemplateKey};
use super::routers::Config as RouterConfig;
use super::watches::{self, Indexes, managed_key, template_refs};

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error("{action} {kind} {name}: {cause}")]
    Api {
        action: &'static str,
        kind: &'static str,
        name: String,
        cause: kube::Error,
    },
    #[error("the Rollout has no namespace")]
    NoNamespace,
    #[error("traffic routing: {0}")]
    Routing(super::traffic::TrafficError),
    /// The cache trails the API server (a ReplicaSet created moments ago, a concurrent write):
    /// not a failure, the watch delivers the change within moments.
    #[error("the cache is behind the API server for {0}")]
    CacheBehind(String),
    /// A cache has not listed its objects: nothing is decided until it has (a missing
    /// permission or CRD keeps it so; said at each retry).
    #[error(
        "the {0} cache has not listed its objects within {CACHE_SYNC_WAIT:?}: check the controller's permissions and that the CRDs are installed"
    )]
    NotSynced(&'static str),
    #[error("analysis: {0}")]
    Analysis(String),
}

/// Transient routing failures in a row retried before they are reported.
const QUIET_RETRIES: u32 = 2;

/// How long a reconcile waits for caches still listing before it gives up and retries.
const CACHE_SYNC_WAIT: Duration = Duration::from_secs(10);

/// Waits up to [`CACHE_SYNC_WAIT`] for a cache's first listing.
async fn synced<K>(kind: &'static str, store: &Store<K>) -> Result<(), ReconcileError>
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    tokio::time::timeout(CACHE_SYNC_WAIT, store.wait_until_ready())
        .await
        .map_err(|_| ReconcileError::NotSynced(kind))?
        .map_err(|_| ReconcileError::NotSynced(kind))
}

struct Context {
    client: Client,
    /// Who owns, names and manages what, kept beside the caches.
    indexes: Indexes,
    /// Leadership, metrics and readiness of the process.
    process: crate::process::Process,
    queue: Arc<crate::process::Queue>,
    replica_sets: Store<ReplicaSet>,
    services: Store<Service>,
    /// Deployments, for the pod template a workloadRef names.
    deployments: Store<Deployment>,
    /// DestinationRules, for the managed-by annotation only.
    destination_rules: Option<Store<kube::api::DynamicObject>>,
    runs: Store<Lenient<AnalysisRun>>,
    templates: Store<Lenient<AnalysisTemplate>>,
    cluster_templates: Store<Lenient<ClusterAnalysisTemplate>>,
    recorder: Recorder,
    memory: Arc<Memory>,
    traffic_split_api_version: String,
    /// The Rollouts as cached now: what a plan that waited for its turn is decided on again.
    rollouts: Store<Lenient<Rollout>>,
}

impl Context {
    /// The freshest known copy of a Rollout: ours, if the cache has not caught up with it.
    fn freshest(&self, cached: Arc<Rollout>) -> Arc<Rollout> {
        let uid = cached.uid().unwrap_or_default();
        self.memory
            .ours_over(&uid, cached.resource_version().as_deref())
            .unwrap_or(cached)
    }

    fn remember(&self, replaced: Option<String>, ours: Rollout) {
        let (Some(uid), Some(rv)) = (ours.uid(), replaced) else {
            return;
        };
        self.memory.wrote(uid, rv, Arc::new(strip_owned(ours)));
    }
}

fn strip_owned(mut ro: Rollout) -> Rollout {
    strip_meta(&mut ro);
    ro
}

/// Settings of the rollout controller.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    /// apiVersion of the SMI TrafficSplits written (Linkerd's SMI extension serves v1alpha2).
    pub traffic_split_api_version: String,
    /// Run the Git reconciler too (GitSyncs), with its clones cached in this directory.
    pub gitops: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            traffic_split_api_version: super::routers::smi::DEFAULT_API_VERSION.into(),
            gitops: None,
        }
    }
}

impl crate::process::Reason for ReconcileError {
    fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Api { .. } => "ApiError",
            ReconcileError::NoNamespace => "NoNamespace",
            ReconcileError::Routing(_) => "TrafficRouting",
            ReconcileError::CacheBehind(_) => "CacheBehind",
            ReconcileError::NotSynced(_) => "CacheNotSynced",
            ReconcileError::Analysis(_) => "Analysis",
        }
    }
}

/// The controller's name in metrics and log spans.
const CONTROLLER: &str = "rollout";

/// Runs the rollout controller until the stream ends (on shutdown).
pub(crate) async fn run(client: Client, options: Options, process: crate::process::Process) {
    let ns = options.namespace.as_deref();
    let memory = Arc::new(Memory::default());
    let queue = process.queue(CONTROLLER);
    let router_config = RouterConfig {
        split_api_version: options.traffic_split_api_version.clone(),
    };
    let indexes = Indexes::new(&router_config);
    let (rollouts, rollout_events) =
        watches::rollouts(&client, ns, memory.clone(), &indexes, queue.clone());
    let (replica_sets, replica_set_events) = watches::replica_sets(&client, ns, &indexes);
    let (runs, run_events) = watches::analysis_runs(&client, ns, &indexes);
    let (services, service_trigger) = watches::services(&client, ns, &indexes);
    let (deployments, deployment_trigger) = watches::deployments(&client, ns, &indexes);
    let (router_trigger, destination_rules) =
        watches::routers(&router_config, &client, ns, &indexes);
    let (templates, template_trigger) = watches::templates(&client, ns, &indexes, memory.clone());
    let (cluster_templates, cluster_template_trigger) =
        watches::cluster_templates(&client, &indexes, memory.clone());
    process.readiness.expect("rollout caches");
    {
        let (process, rollouts, replica_sets, services, runs) = (
            process.clone(),
            rollouts.clone(),
            replica_sets.clone(),
            services.clone(),
            runs.clone(),
        );
        tokio::spawn(async move {
            use crate::process::listed;
            if listed(&rollouts).await
                && listed(&replica_sets).await
                && listed(&services).await
                && listed(&runs).await
            {
                process.readiness.pass("rollout caches");
            }
        });
    }
    // Each change marks its Rollout as waiting: the work queue's depth.
    let rollout_events = watches::queued_objects(rollout_events, queue.clone());
    let replica_set_events =
        watches::queued_owners(replica_set_events, queue.clone(), rollouts.clone());
    let run_events = watches::queued_owners(run_events, queue.clone(), rollouts.clone());
    let [
        service_trigger,
        deployment_trigger,
        router_trigger,
        template_trigger,
        cluster_template_trigger,
    ] = [
        service_trigger,
        deployment_trigger,
        router_trigger,
        template_trigger,
        cluster_template_trigger,
    ]
    .map(|t| on_own_task(watches::queued_refs(t, queue.clone())));
    // Every watch decodes and caches on a task of its own, not in the controller's.
    let rollout_events = on_own_task(errors_logged(rollout_events, "Rollouts"));
    let replica_set_events = on_own_task(errors_logged(replica_set_events, "ReplicaSets"));
    let run_events = on_own_task(errors_logged(run_events, "AnalysisRuns"));

    let ctx = Arc::new(Context {
        client: client.clone(),
        replica_sets,
        services,
        deployments,
        destination_rules,
        runs,
        templates,
        cluster_templates,
        memory,
        recorder: Recorder::new(client, MANAGER),
        traffic_split_api_version: options.traffic_split_api_version.clone(),
        queue,
        process: process.clone(),
        indexes,
        rollouts: rollouts.clone(),
    });
    Controller::for_stream(rollout_events, rollouts)
        .owns_stream(replica_set_events)
        .owns_stream(run_events)
        .reconcile_on(service_trigger)
        .reconcile_on(deployment_trigger)
        .reconcile_on(router_trigger)
        .reconcile_on(template_trigger)
        .reconcile_on(cluster_template_trigger)
        .reconcile_all_on(process.leadership.gained())
        .graceful_shutdown_on(process.shutdown())
        .run(instrumented, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("reconcile: {e}");
            }
        })
        .await;
}

impl Context {
    /// Waits for the first listing of every cache the decision reads. Before it, a ReplicaSet
    /// or Service that exists looks missing, and a decision taken then would write weight 0 to
    /// a canary in flight (a restarted controller) or create a duplicate.
    async fn caches_synced(&self) -> Result<(), ReconcileError> {
        synced("ReplicaSet", &self.replica_sets).await?;
        synced("Service", &self.services).await?;
        synced("Deployment", &self.deployments).await?;
        synced("AnalysisRun", &self.runs).await
    }

    fn template(&self, ns: &str, r: &AnalysisTemplateRef) -> Option<AnalysisTemplateSpec> {
        if r.cluster_scope {
            self.cluster_templates
                .get(&ObjectRef::new(&r.template_name))
                .and_then(|t| t.decoded.as_ref().ok().map(|t| t.spec.0.clone()))
        } else {
            self.templates
                .get(&ObjectRef::new(&r.template_name).within(ns))
                .and_then(|t| t.decoded.as_ref().ok().map(|t| t.spec.clone()))
        }
    }

    /// Why a template is invalid (`None`: it is valid), validated once per resourceVersion.
    fn check(
        &self,
        key: TemplateKey,
        version: Option<String>,
        spec: &AnalysisTemplateSpec,
        kind: &str,
    ) -> Option<String> {
        let mut checks = self
            .memory
            .template_checks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((checked, verdict)) = checks.get(&key)
            && version.is_some()
            && *checked == version
        {
            return verdict.clone();
        }
        let errs = rollout_rs_analysis::validate::template(spec);
        let verdict = (!errs.is_empty()).then(|| {
            format!(
                "{kind} {:?} is invalid: {}",
                key.2,
                rollout_rs_crds::validation::summary(&errs)
            )
        });
        checks.insert(key, (version, verdict.clone()));
        verdict
    }

    /// Missing or invalid templates the Rollout names: each holds it in InvalidSpec. Waits
    /// for the template caches' first listing, so a template is never reported missing
    /// only because the controller has just started.
    async fn template_errors(&self, ro: &Rollout, ns: &str) -> Result<Vec<String>, ReconcileError> {
        if template_refs(ro).next().is_none() {
            return Ok(Vec::new());
        }
        synced("AnalysisTemplate", &self.templates).await?;
        synced("ClusterAnalysisTemplate", &self.cluster_templates).await?;
        let mut seen = std::collections::BTreeSet::new();
        Ok(template_refs(ro)
            .filter(|r| seen.insert((r.cluster_scope, r.template_name.clone())))
            .filter_map(|r| {
                let kind = if r.cluster_scope {
                    "ClusterAnalysisTemplate"
                } else {
                    "AnalysisTemplate"
                };
                let scope = if r.cluster_scope { "" } else { ns };
                let key = (r.cluster_scope, scope.to_string(), r.template_name.clone());
                let unreadable = |why: &String| {
                    Some(format!(
                        "{kind} {:?} cannot be read: {why}",
                        r.template_name
                    ))
                };
                let verdict = if r.cluster_scope {
                    let t = self
                        .cluster_templates
                        .get(&ObjectRef::new(&r.template_name));
                    t.map(|t| match &t.decoded {
                        Ok(c) => self.check(key, t.resource_version(), &c.spec.0, kind),
                        Err(why) => unreadable(why),
                    })
                } else {
                    let t = self
                        .templates
                        .get(&ObjectRef::new(&r.template_name).within(ns));
                    t.map(|t| match &t.decoded {
                        Ok(a) => self.check(key, t.resource_version(), &a.spec, kind),
                        Err(why) => unreadable(why),
                    })
                };
                verdict.unwrap_or_else(|| Some(format!("{kind} {:?} not found", r.template_name)))
            })
            .collect())
    }
}

/// The AnalysisRuns the Rollout controls, from the cache.
/// A run that cannot be read counts as Errored: a rollout never promotes on analysis nobody
/// can read, and the run controller reports why.
fn owned_runs(
    ro: &Rollout,
    store: &Store<Lenient<AnalysisRun>>,
    indexes: &Indexes,
) -> Vec<RunView> {
    let uid = ro.uid().unwrap_or_default();
    let ns = ro.namespace();
    cached(store, &indexes.runs, &owner_key(&uid))
        .filter(|r| r.namespace() == ns && r.meta().deletion_timestamp.is_none())
        .filter(|r| {
            r.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .filter_map(|r| {
            let labels = r.labels();
            let (phase, message, terminate) = match &r.decoded {
                Ok(run) => {
                    let status = run.status.as_ref();
                    (
                        status.and_then(|s| s.phase),
                        status.and_then(|s| s.message.clone()),
                        run.spec.terminate,
                    )
                }
                Err(why) => (
                    Some(rollout_rs_crds::analysis::AnalysisPhase::Error),
                    Some(format!("the AnalysisRun cannot be read: {why}")),
                    false,
                ),
            };
            Some(RunView {
                name: r.name_any(),
                kind: RunKind::from_label(labels.get(RUN_TYPE_LABEL)?)?,
                step: labels.get(STEP_INDEX_LABEL).and_then(|s| s.parse().ok()),
                hash: labels.get(POD_TEMPLATE_HASH_LABEL)?.clone(),
                phase,
                message,
                terminate,
                created: r
                    .meta()
                    .creation_timestamp
                    .as_ref()
                    .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
            })
        })
        .collect()
}

/// The Services the strategy names that do not exist, as `field: Service "name" not found`:
/// no selector can be pinned and no weight may move toward a backend that is not there.
fn missing_services(ro: &Rollout, ns: &str, store: &Store<Service>) -> Vec<String> {
    ro.spec
        .services()
        .into_iter()
        .filter(|(_, name)| store.get(&ObjectRef::new(name).within(ns)).is_none())
        .map(|(field, name)| format!("{field}: Service {name:?} not found"))
        .collect()
}

fn error_policy(ro: Arc<Lenient<Rollout>>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    if let ReconcileError::CacheBehind(_) = err {
        // Not a failure: the watch delivers the ReplicaSet within moments.
        return Action::requeue(Duration::from_millis(200));
    }
    let wait = ctx
        .memory
        .retries
        .failed(ro.uid().as_deref().unwrap_or_default());
    tracing::warn!(rollout = %ro.name_any(), "reconcile failed, retrying in {wait:?}: {err}");
    Action::requeue(wait)
}

/// The cached objects an index lists under `key` (one it lists that the cache no longer has is
/// left out: the next event fixes the index).
fn cached<K>(
    store: &Store<K>,
    index: &crate::index::Index<K>,
    key: &str,
) -> impl Iterator<Item = Arc<K>>
where
    K: kube::runtime::reflector::Lookup<DynamicType = ()> + Resource + Clone + 'static,
{
    let found: Vec<Arc<K>> = index
        .get(key)
        .into_iter()
        .filter_map(|(ns, name)| {
            let r = ObjectRef::new(&name);
            store.get(&if ns.is_empty() { r } else { r.within(&ns) })
        })
        .collect();
    found.into_iter()
}

/// ReplicaSets controlled by this Rollout, and orphans it may adopt (no controller, labels
/// matching its selector), from the cache.
fn owned_replica_sets(
    ro: &Rollout,
    store: &Store<ReplicaSet>,
    indexes: &Indexes,
) -> Vec<ReplicaSetView> {
    let uid = ro.uid().unwrap_or_default();
    let ns = ro.namespace();
    let selector = ro.spec.selector.match_labels.clone().unwrap_or_default();
    let orphans = orphan_key(ns.as_deref().unwrap_or_default());
    cached(store, &indexes.replica_sets, &owner_key(&uid))
        .chain(cached(store, &indexes.replica_sets, &orphans))
        .filter(|rs| rs.namespace() == ns && rs.metadata.deletion_timestamp.is_none())
        .filter_map(|rs| {
            let controller = rs
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true));
            let orphan = match controller {
                Some(o) if o.uid == uid => false,
                Some(_) => return None,
                None if !selector.is_empty()
                    && selector.iter().all(|(k, v)| rs.labels().get(k) == Some(v)) =>
                {
                    true
                }
                None => return None,
            };
            let status = rs.status.as_ref();
            Some(ReplicaSetView {
                name: rs.name_any(),
                hash: rs
                    .labels()
                    .get(POD_TEMPLATE_HASH_LABEL)
                    .cloned()
                    .unwrap_or_default(),
                revision: rs
                    .annotations()
                    .get(REVISION_ANNOTATION)
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                desired: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                replicas: status.map_or(0, |s| s.replicas),
                ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
                available: status.and_then(|s| s.available_replicas).unwrap_or(0),
                orphan,
                promoted: rs.annotations().contains_key(PROMOTED_ANNOTATION),
                scale_down_at: rs
                    .annotations()
                    .get(SCALE_DOWN_ANNOTATION)
                    .and_then(|t| t.parse().ok()),
                pod_metadata: rs
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .and_then(|t| t.metadata.as_ref())
                    .map(|m| rollout_rs_crds::ObjectMetadata {
                        labels: m.labels.clone().unwrap_or_default(),
                        annotations: m.annotations.clone().unwrap_or_default(),
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The Rollout's pods (those of its ReplicaSets' hashes), read only while a restart is pending.
async fn pods(
    ro: &Rollout,
    ns: &str,
    rss: &[ReplicaSetView],
    client: &Client,
) -> Result<Vec<PodView>, ReconcileError> {
    if !restart_pending(ro) {
        return Ok(Vec::new());
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let hashes: Vec<&str> = rss.iter().map(|r| r.hash.as_str()).collect();
    let selector = format!("{POD_TEMPLATE_HASH_LABEL} in ({})", hashes.join(","));
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_err("listing the pods of", "Rollout", &ro.name_any()))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| PodView {
            name: p.name_any(),
            created: p
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
            ready: p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        })
        .collect())
}

/// One reconcile in its span, timed and counted; none at all on a standby (the leader's
/// election makes it reconcile everything).
async fn instrumented(
    listed: Arc<Lenient<Rollout>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let (ns, name) = (listed.namespace().unwrap_or_default(), listed.name_any());
    if !ctx.process.leadership.is_leader() {
        ctx.queue.started(&format!("{ns}/{name}"));
        return Ok(Action::await_change());
    }
    let process = ctx.process.clone();
    let queue = ctx.queue.clone();
    let result = process
        .reconcile(
            CONTROLLER,
            &queue,
            &ns,
            &name,
            reconcile(listed.clone(), ctx),
        )
        .await;
    if listed.meta().deletion_timestamp.is_some() {
        process.metrics.rollout(&ns, &name, None);
    }
    result
}

async fn reconcile(
    listed: Arc<Lenient<Rollout>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ro = match &listed.decoded {
        Ok(ro) => Arc::new(ro.clone()),
        Err(why) => {
            // Nothing of it is acted on until it is fixed.
            crate::lenient::report(
                &listed,
                why,
                &ctx.memory.unreadable,
                &ctx.recorder,
                &ctx.client,
                reason::INVALID_SPEC,
                |message| {
                    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::now(),
                    );
                    json!({
                        "phase": "Degraded",
                        "message": format!("InvalidSpec: {message}"),
                        "conditions": [{
                            "type": INVALID_SPEC, "status": "True", "reason": reason::INVALID_SPEC,
                            "message": message, "lastUpdateTime": now, "lastTransitionTime": now,
                        }],
                    })
                },
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    // Readable (again): a later breakage is news.
    ctx.memory
        .unreadable
        .forget(ro.uid().as_deref().unwrap_or_default());
    if ro.metadata.deletion_timestamp.is_some() {
        // Owner references let the garbage collector remove the ReplicaSets.
        ctx.memory.forget(ro.uid().as_deref().unwrap_or_default());
        return Ok(Action::await_change());
    }
    let ns = ro.namespace().ok_or(ReconcileError::NoNamespace)?;
    let (mut ro, mut plan) = decided(ro, &ns, &ctx).await?;
    // The plan's deadlines count from its decision, not from when the reconcile returns: a
    // pause whose start was written after a wait for a turn, or a slow write, still ends at
    // its start plus its duration.
    let mut decided_at = std::time::Instant::now();
    // A plan waits for its turn by urgency. While it waits the world may move: a change of the
    // Rollout or what it owns (which kube-runtime holds back while this reconcile runs), or the
    // plan's own deadline (a pause that ends while a bulk plan waits). Either decides again, so
    // a plan that became urgent is not stuck behind bulk work; one that got its turn after
    // waiting is decided again on what the caches hold now (a user's abort, a newer status).
    let parked = ctx.queue.park(&format!("{ns}/{}", listed.name_any()));
    let _turn = loop {
        // A deadline already due ("look again at once") would only spin here.
        let deadline = plan.requeue_after.filter(|d| !d.is_zero());
        let woken = tokio::select! {
            (turn, waited) = ctx.process.gate.enter(plan.urgency(ro.status.as_ref())) => {
                if !waited {
                    break turn;
                }
                Some(turn)
            }
            () = parked.changed() => None,
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => None,
        };
        match ctx.rollouts.get(&ObjectRef::from_obj(&*listed)).as_deref() {
            // Gone, going or unreadable meanwhile: the change that said so reconciles it again.
            None => return Ok(Action::await_change()),
            Some(Lenient {
                decoded: Ok(now), ..
            }) if now.metadata.deletion_timestamp.is_none() => {
                (ro, plan) = decided(Arc::new(now.clone()), &ns, &ctx).await?;
                decided_at = std::time::Instant::now();
            }
            Some(_) => return Ok(Action::await_change()),
        }
        if let Some(turn) = woken {
            break turn;
        }
    };
    // Leadership may have gone while the plan waited: only the leader writes.
    if !ctx.process.leadership.is_leader() {
        return Ok(Action::await_change());
    }
    execute(&ro, &ns, &plan, &ctx).await?;
    ctx.memory
        .retries
        .forget(ro.uid().as_deref().unwrap_or_default());
    Ok(match plan.requeue_after {
        Some(d) => Action::requeue(d.saturating_sub(decided_at.elapsed())),
        None => Action::await_change(),
    })
}

/// Observes the Rollout and what it owns and names, from the caches, and decides.
async fn decided(
    ro: Arc<Rollout>,
    ns: &str,
    ctx: &Context,
) -> Result<(Arc<Rollout>, Plan), ReconcileError> {
    let ns = ns.to_string();
    ctx.caches_synced().await?;
    let ro = ctx.freshest(ro);
    // A workloadRef: the Deployment's template stands in for the Rollout's own from here on.
    let (ro, workload, workload_error) = resolve_workload(ro, &ns, &ctx.deployments);
    let replica_sets = owned_replica_sets(&ro, &ctx.replica_sets, &ctx.indexes);
    let mark = managed_by(&ns, &ro.name_any());
    let pods = pods(&ro, &ns, &replica_sets, &ctx.client).await?;
    let observed = Observed {
        rollout: (*ro).clone(),
        replica_sets,
        pods,
        runs: owned_runs(&ro, &ctx.runs, &ctx.indexes),
        remembered: ctx.memory.owned(ro.uid().as_deref().unwrap_or_default()),
        managed_destination_rules: ctx
            .destination_rules
            .as_ref()
            .map(|_| ctx.indexes.managed_routes.get(&managed_key(&mark)))
            .unwrap_or_default(),
        managed_services: cached(&ctx.services, &ctx.indexes.services, &managed_key(&mark))
            .filter(|svc| {
                svc.namespace().as_deref() == Some(ns.as_str())
                    && svc.annotations().get(MANAGED_BY_ANNOTATION) == Some(&mark)
            })
            .map(|svc| svc.name_any())
            .collect(),
        workload,
        reference_errors: {
            let mut errors = missing_services(&ro, &ns, &ctx.services);
            errors.extend(workload_error);
            errors.extend(ctx.template_errors(&ro, &ns).await?);
            errors
        },
        now: jiff::Timestamp::now(),
    };
    let plan = decide(&observed);
    tracing::debug!(
        rollout = %ro.name_any(),
        step = ?plan.status.current_step_index,
        phase = ?plan.status.phase,
        requeue = ?plan.requeue_after,
        "decided"
    );
    Ok((ro, plan))
}

/// The Rollout with the template of the Deployment its workloadRef names (and no
/// workloadRef), what to do with that Deployment, or why it cannot be read.
fn resolve_workload(
    ro: Arc<Rollout>,
    ns: &str,
    deployments: &Store<Deployment>,
) -> (Arc<Rollout>, Option<Workload>, Option<String>) {
    let Some(w) = ro.spec.workload_ref.clone() else {
        return (ro, None, None);
    };
    // A reference that breaks its own rules (another kind, a template beside it) is not
    // followed: `decide` validates the Rollout as written and says why.
    if rollout_rs_crds::validation::rollout(&ro.spec)
        .iter()
        .any(|e| e.path.starts_with("spec.workloadRef") || e.path == "spec.template")
    {
        return (ro, None, None);
    }
    let found = deployments
        .get(&ObjectRef::new(&w.name).within(ns))
        .and_then(|d| d.spec.clone());
    let Some(spec) = found else {
        let why = format!("spec.workloadRef: Deployment {:?} not found", w.name);
        return (ro, None, Some(why));
    };
    let mut resolved = (*ro).clone();
    resolved.spec.template = spec.template;
    resolved.spec.workload_ref = None;
    let workload = Workload {
        name: w.name,
        scale_down: w.scale_down.unwrap_or_default(),
        replicas: spec.replicas.unwrap_or(1),
    };
    (Arc::new(resolved), Some(workload), None)
}

fn api_err(
    action: &'static str,
    kind: &'static str,
    name: &str,
) -> impl FnOnce(kube::Error) -> ReconcileError {
    let name = name.to_string();
    move |source| ReconcileError::Api {
        action,
        kind,
        name,
        cause: source,
    }
}

/// Carries out a plan, in an order that keeps traffic safe: routers, ReplicaSets and pods,
/// AnalysisRuns, pod metadata, Services, the `workloadRef` Deployment, releases, Events, and the
/// status last (with the observed resourceVersion).
async fn execute(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    route(ro, ns, plan, ctx).await?;
    replica_sets_and_pods(ro, ns, plan, ctx).await?;
    runs(ro, ns, plan, ctx).await?;
    pod_metadata(ns, plan, ctx).await?;
    selectors(ro, ns, plan, ctx).await?;
    scale_workload(ns, plan, ctx).await?;
    release(ro, ns, plan, ctx).await?;
    publish_events(ro, plan, ctx).await;
    status(ro, ns, plan, ctx).await
}

fn merge_params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Routers first: traffic leaves pods before any ReplicaSet shrinks under it (an abort, a lower
/// step), and a routing failure leaves everything as it was.
async fn route(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    let Some(weights) = &plan.weights else {
        return Ok(());
    };
    let metrics = ctx.process.metrics.clone();
    let wrote = move |router, took| metrics.router_write(router, took);
    let Err(e) = super::traffic::apply(
        ro,
        weights,
        &ctx.client,
        &ctx.traffic_split_api_version,
        &wrote,
    )
    .await
    else {
        return Ok(());
    };
    // A blip of the API server is retried quietly; only one that persists is reported.
    let failures = ctx
        .memory
        .retries
        .failures(ro.uid().as_deref().unwrap_or_default());
    if e.is_transient() && failures < QUIET_RETRIES {
        return Err(ReconcileError::Routing(e));
    }
    // Nothing was written to any router (all are checked before any is written): say why where
    // users look, keep the weights as they were, and try again.
    let message = e.to_string();
    if let Some(status) = routing_failed(ro.status.as_ref(), &message, jiff::Timestamp::now()) {
        // Best effort: the retry that follows reports it again if this write is lost.
        let _ = write_status(ro, ns, status, ctx).await;
        let event = Event {
            type_: EventType::Warning,
            reason: "TrafficRoutingFailed".into(),
            note: Some(message),
            action: "Route".into(),
            secondary: None,
        };
        let _ = ctx.recorder.publish(&event, &ro.object_ref(&())).await;
    }
    Err(ReconcileError::Routing(e))
}

/// Deadlines and annotations on ReplicaSets, the new one created, scales, adoptions, pods
/// restarted, history deleted.
async fn replica_sets_and_pods(
    ro: &Rollout,
    ns: &str,
    plan: &Plan,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    for (name, at) in &plan.scale_down_deadlines {
        let patch = json!({"metadata": {"annotations": {SCALE_DOWN_ANNOTATION: at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}}});
        rs_api
            .patch(
                name,
                &PatchParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                },
                &Patch::Merge(patch),
            )
            .await
            .map_err(api_err(
                "setting the scale-down deadline of",
                "ReplicaSet",
                name,
            ))?;
    }
    let params = merge_params();
    let reused = plan
        .clear_deadlines
        .iter()
        .map(|name| (name, json!({SCALE_DOWN_ANNOTATION: null})))
        .chain(
            plan.revisions
                .iter()
                .map(|(name, revision)| (name, json!({REVISION_ANNOTATION: revision.to_string()}))),
        )
        .chain(
            plan.mark_promoted
                .iter()
                .map(|name| (name, json!({PROMOTED_ANNOTATION: "true"}))),
        );
    for (name, annotations) in reused {
        rs_api
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .map_err(api_err("annotating", "ReplicaSet", name))?;
    }

    if let Some(new) = &plan.create {
        let rs = new_replica_set(ro, new, &new.name);
        let created = rs_api
            .create(
                &PostParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                },
                &rs,
            )
            .await;
        // Already there: made by an earlier reconcile (or left to adopt) that the cache has
        // not caught up with. Its name is the template's, so the create itself is the check
        // (a list by label would read every ReplicaSet of the namespace): decide again once
        // the cache has it.
        if unless(created, EXISTS)
            .map_err(api_err("creating", "ReplicaSet", &new.name))?
            .is_none()
        {
            return Err(ReconcileError::CacheBehind(format!(
                "the ReplicaSet of template {}",
                new.hash
            )));
        }
    }
    for (name, replicas) in &plan.scale {
        rs_api
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(api_err("scaling", "ReplicaSet", name))?;
    }
    for name in &plan.adopt {
        let Some(rs) = ctx.replica_sets.get(&ObjectRef::new(name).within(ns)) else {
            continue;
        };
        let mut owners = rs.owner_references().to_vec();
        owners.extend(ro.controller_owner_ref(&()));
        rs_api
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"metadata": {"ownerReferences": owners}})),
            )
            .await
            .map_err(api_err("adopting", "ReplicaSet", name))?;
    }
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for name in &plan.restart_pods {
        unless(pod_api.delete(name, &DeleteParams::default()).await, GONE).map_err(api_err(
            "restarting",
            "Pod",
            name,
        ))?;
    }
    for name in &plan.delete {
        unless(rs_api.delete(name, &DeleteParams::background()).await, GONE).map_err(api_err(
            "deleting",
            "ReplicaSet",
            name,
        ))?;
    }
    Ok(())
}

/// Each Service the plan names selects the pod-template hash it says, and carries the
/// Rollout's managed-by mark.
async fn selectors(
    ro: &Rollout,
    ns: &str,
    plan: &Plan,
    ctx: &Context,
) -> Result<(), ReconcileError> {
    let params = merge_params();
    let svc_api: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    for (svc, hash) in &plan.selectors {
        // A missing Service is an InvalidSpec of the decision; one deleted since is seen then.
        let Some(cached) = ctx.services.get(&ObjectRef::new(svc).within(ns)) else {
            continue;
        };
        let current = cached
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL));
        let mark = managed_by(ns, &ro.name_any());
        let managed = cached.annotations().get(MANAGED_BY_ANNOTATION) == Some(&mark);
        if current != Some(hash) || !managed {
            let patch = json!({
                "metadata": {"annotations": {MANAGED_BY_ANNOTATION: mark}},
                "spec": {"selector": {POD_TEMPLATE_HASH_LABEL: hash}},
            });
            svc_api
                .patch(svc, &params, &Patch::Merge(patch))
                .await
                .map_err(api_err("pinning the selector of", "Service", svc))?;
        }
    }
    Ok(())
}

/// The pods of a `workloadRef` Deployment are handed over as the plan says.
async fn scale_workload(ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    let params = merge_params();
    if let Some((name, replicas)) = &plan.scale_workload {
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
        deployments
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(api_err("scaling down", "Deployment", name))?;
    }
    Ok(())
}

/// DestinationRules and Services the spec stopped naming are given back.
async fn release(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    let params = merge_params();
    let svc_api: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    for (dr_ns, dr) in &plan.release_destination_rules {
        super::traffic::release_destination_rule(
            &ctx.client,
            dr_ns,
            dr,
            &managed_by(ns, &ro.name_any()),
        )
        .await
        .map_err(ReconcileError::Routing)?;
    }
    for svc in &plan.release_services {
        // Only while it is still ours: the patch tests the mark, so a Service another Rollout
        // has pinned since is left alone.
        let mark = managed_by(ns, &ro.name_any());
        let pinned = ctx
            .services
            .get(&ObjectRef::new(svc).within(ns))
            .and_then(|s| s.spec.clone())
            .and_then(|s| s.selector)
            .is_some_and(|s| s.contains_key(POD_TEMPLATE_HASH_LABEL));
        let path = format!(
            "/metadata/annotations/{}",
            MANAGED_BY_ANNOTATION.replace('/', "~1")
        );
        let mut ops = vec![
            json!({"op": "test", "path": path, "value": mark}),
            json!({"op": "remove", "path": path}),
        ];
        if pinned {
            ops.push(json!({"op": "remove", "path": format!("/spec/selector/{POD_TEMPLATE_HASH_LABEL}")}));
        }
        let patch: json_patch::Patch = serde_json::from_value(serde_json::Value::Array(ops))
            .map_err(|e| api_err("releasing", "Service", svc)(kube::Error::SerdeError(e)))?;
        // Gone, or no longer ours (the test failed): nothing to release.
        unless(
            svc_api.patch(svc, &params, &Patch::Json::<()>(patch)).await,
            NOT_OURS,
        )
        .map_err(api_err("releasing", "Service", svc))?;
    }

    Ok(())
}

/// The plan's Events, all at once (each its own series): they are written before the status
/// that says why, and a step's status write waits for them. One that cannot be recorded is
/// logged, never a failure.
async fn publish_events(ro: &Rollout, plan: &Plan, ctx: &Context) {
    let reference = ro.object_ref(&());
    let published = plan.events.iter().map(|e| {
        let event = Event {
            type_: if e.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: e.reason.into(),
            note: Some(e.message.clone()),
            action: e.reason.into(),
            secondary: None,
        };
        let reference = &reference;
        async move {
            if let Err(err) = ctx.recorder.publish(&event, reference).await {
                tracing::warn!(rollout = %ro.name_any(), "recording event {}: {err}", e.reason);
            }
        }
    });
    futures::future::join_all(published).await;
}

/// Status last, with the observed resourceVersion: a concurrent write of the control surface
/// (abort, promote) makes this a conflict and the reconcile runs again on fresh data.
async fn status(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    let uid = ro.uid().unwrap_or_default();
    let strategy = if ro.spec.strategy.blue_green.is_some() {
        "blueGreen"
    } else {
        "canary"
    };
    let phase = plan
        .status
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "Unknown".into());
    ctx.process.metrics.rollout(
        ns,
        &ro.name_any(),
        Some((strategy, &phase, plan.status.current_step_index)),
    );
    if ro.status.as_ref() == Some(&plan.status) {
        ctx.memory.keep_owned(&uid, &plan.status);
    } else {
        let written = write_status(ro, ns, plan.status.clone(), ctx).await;
        match written {
            Ok(ours) => {
                ctx.memory.keep_owned(&uid, &plan.status);
                ctx.remember(ro.resource_version(), ours);
            }
            // Someone else wrote since we read (a user's abort or promote): decide again on
            // their write, which the watch is about to deliver.
            Err(kube::Error::Api(s)) if s.code == 409 => {
                return Err(ReconcileError::CacheBehind(ro.name_any()));
            }
            Err(e) => {
                return Err(api_err("writing the status of", "Rollout", &ro.name_any())(
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Brings role metadata onto ReplicaSets' pod templates (for pods to come) and onto their
/// running pods, in place: nothing restarts.
async fn pod_metadata(ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    if plan.pod_metadata.is_empty() {
        return Ok(());
    }
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let rs_api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), ns);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for u in &plan.pod_metadata {
        let mut labels = serde_json::Map::new();
        let mut annotations = serde_json::Map::new();
        for (k, v) in &u.set.labels {
            labels.insert(k.clone(), json!(v));
        }
        for (k, v) in &u.set.annotations {
            annotations.insert(k.clone(), json!(v));
        }
        for k in &u.remove_labels {
            labels.insert(k.clone(), serde_json::Value::Null);
        }
        for k in &u.remove_annotations {
            annotations.insert(k.clone(), serde_json::Value::Null);
        }
        let meta = json!({"labels": labels, "annotations": annotations});
        rs_api
            .patch(
                &u.replica_set,
                &params,
                &Patch::Merge(json!({"spec": {"template": {"metadata": meta}}})),
            )
            .await
            .map_err(api_err(
                "setting the pod metadata of",
                "ReplicaSet",
                &u.replica_set,
            ))?;
        let pods = pod_api
            .list(&ListParams::default().labels(&format!("{POD_TEMPLATE_HASH_LABEL}={}", u.hash)))
            .await
            .map_err(api_err("listing the pods of", "ReplicaSet", &u.replica_set))?;
        for pod in pods.items {
            let name = pod.name_any();
            // Gone meanwhile: its replacement comes from the updated template.
            unless(
                pod_api
                    .patch(&name, &params, &Patch::Merge(json!({"metadata": meta})))
                    .await,
                GONE,
            )
            .map_err(api_err("setting the metadata of", "Pod", &name))?;
        }
    }
    Ok(())
}

/// Creates, terminates and deletes AnalysisRuns as planned.
async fn runs(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    let api: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), ns);
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    for name in &plan.terminate_runs {
        unless(
            api.patch(
                name,
                &params,
                &Patch::Merge(json!({"spec": {"terminate": true}})),
            )
            .await,
            GONE,
        )
        .map_err(api_err("terminating", "AnalysisRun", name))?;
    }
    let stable = plan.status.stable_rs.as_deref();
    for new in &plan.create_runs {
        let run = super::run_spec::build(ro, new, |r| ctx.template(ns, r), stable)
            .map_err(|e| ReconcileError::Analysis(format!("AnalysisRun {}: {e}", new.name)))?;
        // Created by an earlier reconcile whose status write was lost.
        unless(
            api.create(
                &PostParams {
                    field_manager: Some(MANAGER.into()),
                    ..Default::default()
                },
                &run,
            )
            .await,
            EXISTS,
        )
        .map_err(api_err("creating", "AnalysisRun", &new.name))?;
    }
    for name in &plan.delete_runs {
        unless(api.delete(name, &DeleteParams::background()).await, GONE).map_err(api_err(
            "deleting",
            "AnalysisRun",
            name,
        ))?;
    }
    Ok(())
}

/// Replaces the Rollout's status, guarded by the resourceVersion it was read at.
async fn write_status(
    ro: &Rollout,
    ns: &str,
    status: rollout_rs_crds::rollout::RolloutStatus,
    ctx: &Context,
) -> Result<Rollout, kube::Error> {
    let mut updated = ro.clone();
    updated.status = Some(status);
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), ns);
    let params = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    api.replace_status(&ro.name_any(), &params, &updated).await
}

/// A ReplicaSet for the Rollout's current template, its pods carrying their role metadata.
fn new_replica_set(ro: &Rollout, new: &super::decide::NewReplicaSet, name: &str) -> ReplicaSet {
    let (hash, revision, replicas) = (new.hash.as_str(), new.revision, new.replicas);
    let mut template = ro.spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(new.role_metadata.labels.clone());
    if !new.role_metadata.annotations.is_empty() {
        meta.annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(new.role_metadata.annotations.clone());
    }
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let labels = meta.labels.clone().unwrap_or_default();
    let mut selector = ro.spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let owner = ro.controller_owner_ref(&());
    ReplicaSet {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: ro.namespace(),
            labels: Some(labels),
            annotations: Some([(REVISION_ANNOTATION.to_string(), revision.to_string())].into()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(k8s_openapi::api::apps::v1::ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: ro.spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}
