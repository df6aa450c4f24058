//! Observe and execute around [`decide`]: reflector caches of Rollouts, their ReplicaSets and
//! Services (stripped of what is never read), the plan applied with one field manager, Events
//! recorded, and the next reconcile scheduled at the plan's exact deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_crds::analysis::AnalysisTemplateSpec;
use rollout_rs_crds::conditions::{INVALID_SPEC, TRAFFIC_ROUTING, reason};
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
use crate::io::{EXISTS, GONE, MANAGER, NOT_OURS, scoped, strip_meta, unless};
use crate::lenient::{Lenient, Reported};
use crate::per_object::PerObject;
use crate::retry::Retries;

use super::analysis::{RunKind, RunView};
use super::decide::{Observed, Plan, PodView, ReplicaSetView, Workload, decide, restart_pending};
use super::routers::{Config as RouterConfig, ROUTERS, Router};
use super::status_guard::Owned;

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

/// A template by (cluster scope, namespace or "", name).
type TemplateKey = (bool, String, String);
/// The resourceVersion a template was validated at, and why it is invalid (`None`: valid).
type TemplateCheck = (Option<String>, Option<String>);

struct Context {
    client: Client,
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
}

/// What the controller remembers between reconciles, per Rollout or per template, forgotten
/// when that object is deleted: churn leaves nothing behind.
#[derive(Default)]
struct Memory {
    /// Our own last status write per Rollout (uid → resourceVersion it replaced, object it
    /// produced). The cache can trail our own writes; deciding from the older copy would
    /// replay old steps, so until the cache moves past that resourceVersion, the written
    /// object is the truth.
    written: PerObject<(String, Arc<Rollout>)>,
    /// Rollouts that do not decode, reported once per reason.
    unreadable: Reported,
    /// The progress fields of each Rollout's status as this controller last wrote (or
    /// accepted) them: a different value seen later was written by someone else.
    owned: PerObject<Owned>,
    /// When to retry each failing Rollout.
    retries: Retries,
    /// Validation of each template by (kind, namespace, name) at the resourceVersion it was
    /// done for: conditions are compiled once per template version, not on every reconcile of
    /// every Rollout naming it.
    template_checks: std::sync::Mutex<std::collections::HashMap<TemplateKey, TemplateCheck>>,
}

impl Memory {
    fn keep_only(&self, live: &std::collections::HashSet<String>) {
        self.unreadable.keep_only(live);
        self.retries.keep_only(live);
        self.written.keep_only(live);
        self.owned.keep_only(live);
    }

    fn forget(&self, uid: &str) {
        self.written.forget(uid);
        self.unreadable.forget(uid);
        self.retries.forget(uid);
        self.owned.forget(uid);
    }

    fn owned(&self, uid: &str) -> Option<Owned> {
        self.owned.lock().get(uid).cloned()
    }

    fn keep_owned(&self, uid: &str, status: &rollout_rs_crds::rollout::RolloutStatus) {
        self.owned.lock().insert(uid.to_string(), Owned::of(status));
    }

    fn forget_template(&self, key: &TemplateKey) {
        self.template_checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

impl Context {
    /// The freshest known copy of a Rollout: ours, if the cache has not caught up with it.
    fn freshest(&self, cached: Arc<Rollout>) -> Arc<Rollout> {
        let uid = cached.uid().unwrap_or_default();
        let mut written = self.memory.written.lock();
        match written.get(&uid) {
            Some((replaced, ours))
                if cached.resource_version().as_deref() == Some(replaced.as_str()) =>
            {
                ours.clone()
            }
            Some(_) => {
                // The cache moved on (our write, or someone else's after it): trust it again.
                written.remove(&uid);
                cached
            }
            None => cached,
        }
    }

    fn remember(&self, replaced: Option<String>, ours: Rollout) {
        let (Some(uid), Some(rv)) = (ours.uid(), replaced) else {
            return;
        };
        self.memory
            .written
            .lock()
            .insert(uid, (rv, Arc::new(strip_owned(ours))));
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            traffic_split_api_version: super::routers::smi::DEFAULT_API_VERSION.into(),
        }
    }
}

/// Runs the rollout controller until the stream ends (on shutdown).
pub(crate) async fn run(client: Client, options: Options) {
    let namespace = options.namespace.clone();
    // Each Rollout decodes on its own: a malformed one is reported, the others go on.
    let rollouts: Api<Lenient<Rollout>> = scoped(&client, namespace.as_deref());
    let replica_sets: Api<ReplicaSet> = scoped(&client, namespace.as_deref());
    let services: Api<Service> = scoped(&client, namespace.as_deref());
    let runs: Api<Lenient<AnalysisRun>> = scoped(&client, namespace.as_deref());

    let memory = Arc::new(Memory::default());
    let (ro_reader, ro_writer) = reflector::store();
    let forget = memory.clone();
    let ro_stream = watcher(rollouts, watcher::Config::default())
        .default_backoff()
        .modify(strip_meta)
        .reflect(ro_writer)
        .inspect({
            let live = ro_reader.clone();
            move |event| match event {
                // What the controller remembers per Rollout goes with the Rollout...
                Ok(watcher::Event::Delete(gone)) => {
                    forget.forget(gone.uid().as_deref().unwrap_or_default());
                }
                // ...also when a relist (after a watch was lost) no longer has it.
                Ok(watcher::Event::InitDone) => {
                    forget.keep_only(&live.state().iter().filter_map(|ro| ro.uid()).collect())
                }
                _ => {}
            }
        })
        .applied_objects();

    // Only ReplicaSets carrying our hash label: Deployments' ReplicaSets are not cached.
    let (rs_reader, rs_writer) = reflector::store();
    let rs_stream = watcher(
        replica_sets,
        watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
    )
    .default_backoff()
    .modify(|rs: &mut ReplicaSet| {
        strip_meta(rs);
        // Of the template only the pods' labels and annotations are read back (role
        // metadata); the Rollout holds the rest.
        if let Some(template) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
            template.spec = None;
            if let Some(meta) = template.metadata.as_mut() {
                *meta = kube::api::ObjectMeta {
                    labels: meta.labels.take(),
                    annotations: meta.annotations.take(),
                    ..Default::default()
                };
            }
        }
    })
    .reflect(rs_writer)
    .touched_objects();

    // Services are only read for their selector and whether a Rollout manages them.
    let (svc_reader, svc_writer) = reflector::store();
    let svc_stream = watcher(services, watcher::Config::default())
        .default_backoff()
        .modify(|svc: &mut Service| {
            strip_meta(svc);
            svc.metadata.annotations = svc
                .metadata
                .annotations
                .take()
                .and_then(|mut a| a.remove_entry(MANAGED_BY_ANNOTATION))
                .map(|(k, v)| [(k, v)].into());
            svc.metadata.labels = None;
            svc.status = None;
            if let Some(spec) = svc.spec.as_mut() {
                *spec = k8s_openapi::api::core::v1::ServiceSpec {
                    selector: spec.selector.take(),
                    ..Default::default()
                };
            }
        })
        .reflect(svc_writer)
        .touched_objects();
    // A Service change matters to the Rollouts naming it.
    let svc_trigger = referenced_by(svc_stream, ro_reader.clone(), |ro, ns, name| {
        ro.namespace().as_deref() == Some(ns) && ro.spec.services().iter().any(|(_, s)| *s == name)
    });
    // Deployments a workloadRef names: their template is the Rollout's, their replicas are
    // scaled down as it says. Of a Deployment only the template and replicas are kept.
    let deployments: Api<Deployment> = scoped(&client, namespace.as_deref());
    let (deploy_reader, deploy_writer) = reflector::store();
    let deploy_stream = watcher(deployments, watcher::Config::default())
        .default_backoff()
        .modify(|d: &mut Deployment| {
            strip_meta(d);
            d.metadata.annotations = None;
            d.status = None;
            if let Some(spec) = d.spec.as_mut() {
                *spec = k8s_openapi::api::apps::v1::DeploymentSpec {
                    replicas: spec.replicas,
                    template: std::mem::take(&mut spec.template),
                    ..Default::default()
                };
            }
        })
        .reflect(deploy_writer)
        .touched_objects();
    let deploy_trigger = referenced_by(deploy_stream, ro_reader.clone(), |ro, ns, name| {
        ro.namespace().as_deref() == Some(ns)
            && ro
                .spec
                .workload_ref
                .as_ref()
                .is_some_and(|w| w.name == name)
    });
    // Routing objects: an edit by hand (a weight changed by someone) is corrected at once, and
    // a stable Ingress or route that appears lets a waiting Rollout proceed. Watched from the
    // same list, and by the same references, that the routers read and write through.
    let router_config = RouterConfig {
        split_api_version: options.traffic_split_api_version.clone(),
    };
    let mut router_triggers = Vec::new();
    let mut destination_rules = None;
    for &router in ROUTERS {
        let (trigger, cache) = router_trigger(
            router,
            &router_config,
            &client,
            namespace.as_deref(),
            ro_reader.clone(),
        );
        router_triggers.push(trigger);
        destination_rules = destination_rules.or(cache);
    }

    // AnalysisRuns the Rollouts own: their phase decides steps and aborts. Metrics and
    // measurements are never read here, so they are not cached.
    let (run_reader, run_writer) = reflector::store();
    let run_stream = watcher(runs, watcher::Config::default())
        .default_backoff()
        .modify(|listed: &mut Lenient<AnalysisRun>| {
            strip_meta(listed);
            if let Ok(run) = listed.decoded.as_mut() {
                run.spec.metrics.clear();
                run.spec.args.clear();
                if let Some(st) = run.status.as_mut() {
                    st.metric_results.clear();
                }
            }
        })
        .reflect(run_writer)
        .touched_objects();
    // Templates are read whole when a run is created; a template that appears or changes
    // matters to the Rollouts naming it (a missing one holds them in InvalidSpec).
    let (tmpl_reader, tmpl_writer) = reflector::store();
    let tmpl_stream = watcher(
        scoped::<Lenient<AnalysisTemplate>>(&client, namespace.as_deref()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(strip_meta)
    .reflect(tmpl_writer)
    .inspect({
        let memory = memory.clone();
        move |event| {
            if let Ok(watcher::Event::Delete(t)) = event {
                let ns = t.namespace().unwrap_or_default();
                memory.forget_template(&(false, ns, t.name_any()));
            }
        }
    })
    .touched_objects();
    let tmpl_trigger = referenced_by(tmpl_stream, ro_reader.clone(), |ro, ns, name| {
        ro.namespace().as_deref() == Some(ns)
            && template_refs(ro).any(|r| !r.cluster_scope && r.template_name == name)
    });
    let (ctmpl_reader, ctmpl_writer) = reflector::store();
    let ctmpl_stream = watcher(
        Api::<Lenient<ClusterAnalysisTemplate>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(strip_meta)
    .reflect(ctmpl_writer)
    .inspect({
        let memory = memory.clone();
        move |event| {
            if let Ok(watcher::Event::Delete(t)) = event {
                memory.forget_template(&(true, String::new(), t.name_any()));
            }
        }
    })
    .touched_objects();
    let ctmpl_trigger = referenced_by(ctmpl_stream, ro_reader.clone(), |ro, _, name| {
        template_refs(ro).any(|r| r.cluster_scope && r.template_name == name)
    });

    let ctx = Arc::new(Context {
        client: client.clone(),
        replica_sets: rs_reader,
        services: svc_reader,
        deployments: deploy_reader,
        destination_rules,
        runs: run_reader,
        templates: tmpl_reader,
        cluster_templates: ctmpl_reader,
        memory,
        recorder: Recorder::new(client, MANAGER),
        traffic_split_api_version: options.traffic_split_api_version.clone(),
    });
    Controller::for_stream(ro_stream, ro_reader)
        .owns_stream(rs_stream)
        .owns_stream(run_stream)
        .reconcile_on(svc_trigger)
        .reconcile_on(deploy_trigger)
        .reconcile_on(futures::stream::select_all(router_triggers))
        .reconcile_on(tmpl_trigger)
        .reconcile_on(ctmpl_trigger)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("reconcile: {e}");
            }
        })
        .await;
}

/// Every analysis template a Rollout names (steps, background, pre- and post-promotion).
fn template_refs(ro: &Rollout) -> impl Iterator<Item = &AnalysisTemplateRef> {
    let canary = ro.spec.strategy.canary.as_ref();
    let steps = canary
        .into_iter()
        .flat_map(|c| c.steps.iter())
        .filter_map(|s| s.analysis.as_ref())
        .flat_map(|a| a.templates.iter());
    let background = canary
        .and_then(|c| c.analysis.as_ref())
        .into_iter()
        .flat_map(|a| a.templates.iter());
    let blue_green = ro.spec.strategy.blue_green.as_ref();
    let promotion = blue_green
        .into_iter()
        .flat_map(|b| [&b.pre_promotion_analysis, &b.post_promotion_analysis])
        .flatten()
        .flat_map(|a| a.templates.iter());
    steps.chain(background).chain(promotion)
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
fn owned_runs(ro: &Rollout, store: &Store<Lenient<AnalysisRun>>) -> Vec<RunView> {
    let uid = ro.uid().unwrap_or_default();
    let ns = ro.namespace();
    store
        .state()
        .iter()
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

/// Reconciles of the Rollouts that refer to an object of `router`'s kind, on every change of
/// one. Only the managed-by mark is kept of an object, and only when the router asks for it
/// (the cache returned): the routers read the objects when they write.
fn router_trigger(
    router: &'static dyn Router,
    config: &RouterConfig,
    client: &Client,
    namespace: Option<&str>,
    rollouts: Store<Lenient<Rollout>>,
) -> (
    futures::stream::BoxStream<'static, ObjectRef<Lenient<Rollout>>>,
    Option<Store<DynamicObject>>,
) {
    let ar = router.resource(config);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let mut writer = router
        .caches_managed_by()
        .then(|| reflector::store::Writer::new(ar.clone()));
    let reader = writer.as_ref().map(|w| w.as_reader());
    // A kind served by a CRD is watched once the CRD is established: a cluster without Istio
    // (or Gateway API, or SMI) has no such API, and its watch would only fail and back off
    // forever.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = router.crd(config);
    let established = async move {
        if let Some(crd) = crd {
            let ready = kube::runtime::wait::conditions::is_crd_established();
            let _ = kube::runtime::wait::await_condition(crds, &crd, ready).await;
            tracing::debug!("{crd} is served: watching it");
        }
    };
    let stream = futures::stream::once(established)
        .flat_map(move |()| watcher(api.clone(), watcher::Config::default()))
        .default_backoff()
        .modify(|o: &mut DynamicObject| {
            strip_meta(o);
            o.data = serde_json::Value::Null;
            o.metadata.labels = None;
            o.metadata.annotations = o
                .metadata
                .annotations
                .take()
                .and_then(|mut a| a.remove_entry(MANAGED_BY_ANNOTATION))
                .map(|(k, v)| [(k, v)].into());
        })
        .inspect(move |event| {
            if let (Some(w), Ok(event)) = (writer.as_mut(), event) {
                w.apply_watcher_event(event);
            }
        })
        .touched_objects();
    let config = config.clone();
    let trigger = referenced_by(stream, rollouts, move |ro, ns, name| {
        router
            .refers_to(ro, &config)
            .iter()
            .any(|r| r.namespace == ns && r.name == name)
    });
    (trigger.boxed(), reader)
}

/// Turns changes of objects into reconciles of every Rollout that `refers` to them by
/// (namespace, name).
fn referenced_by<K, S>(
    stream: S,
    rollouts: Store<Lenient<Rollout>>,
    refers: impl Fn(&Rollout, &str, &str) -> bool + Send + Sync + 'static,
) -> impl futures::Stream<Item = ObjectRef<Lenient<Rollout>>> + Send
where
    K: Resource + Send + 'static,
    S: futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
{
    let refers = Arc::new(refers);
    stream
        .filter_map(|obj| async move {
            // Not dropped silently: a watch that fails (permissions, a CRD gone) leaves the
            // Rollouts naming its objects without their triggers.
            obj.inspect_err(|e| tracing::warn!("a watch of objects Rollouts name failed: {e}"))
                .ok()
        })
        .flat_map(move |obj| {
            let ns = obj.meta().namespace.clone().unwrap_or_default();
            let name = obj.meta().name.clone().unwrap_or_default();
            let refs: Vec<ObjectRef<Lenient<Rollout>>> = rollouts
                .state()
                .iter()
                .filter(|listed| {
                    listed
                        .decoded
                        .as_ref()
                        .is_ok_and(|ro| refers(ro, &ns, &name))
                })
                .map(|listed| ObjectRef::from_obj(listed.as_ref()))
                .collect();
            futures::stream::iter(refs)
        })
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

/// ReplicaSets controlled by this Rollout, and orphans it may adopt (no controller, labels
/// matching its selector), from the cache.
fn owned_replica_sets(ro: &Rollout, store: &Store<ReplicaSet>) -> Vec<ReplicaSetView> {
    let uid = ro.uid().unwrap_or_default();
    let ns = ro.namespace();
    let selector = ro.spec.selector.match_labels.clone().unwrap_or_default();
    store
        .state()
        .iter()
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
    ctx.caches_synced().await?;
    let ro = ctx.freshest(ro);
    // A workloadRef: the Deployment's template stands in for the Rollout's own from here on.
    let (ro, workload, workload_error) = resolve_workload(ro, &ns, &ctx.deployments);
    let replica_sets = owned_replica_sets(&ro, &ctx.replica_sets);
    let mark = managed_by(&ns, &ro.name_any());
    let pods = pods(&ro, &ns, &replica_sets, &ctx.client).await?;
    let observed = Observed {
        rollout: (*ro).clone(),
        replica_sets,
        pods,
        runs: owned_runs(&ro, &ctx.runs),
        remembered: ctx.memory.owned(ro.uid().as_deref().unwrap_or_default()),
        managed_destination_rules: ctx
            .destination_rules
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
            .iter()
            .filter(|dr| dr.annotations().get(MANAGED_BY_ANNOTATION) == Some(&mark))
            .map(|dr| (dr.namespace().unwrap_or_default(), dr.name_any()))
            .collect(),
        managed_services: ctx
            .services
            .state()
            .iter()
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
    execute(&ro, &ns, &plan, &ctx).await?;
    ctx.memory
        .retries
        .forget(ro.uid().as_deref().unwrap_or_default());
    Ok(match plan.requeue_after {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
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

async fn execute(ro: &Rollout, ns: &str, plan: &Plan, ctx: &Context) -> Result<(), ReconcileError> {
    // Routers first: traffic leaves pods before any ReplicaSet shrinks under it (an abort, a
    // lower step), and a routing failure leaves everything as it was.
    if let Some(weights) = &plan.weights
        && let Err(e) =
            super::traffic::apply(ro, weights, &ctx.client, &ctx.traffic_split_api_version).await
    {
        // A blip of the API server is retried quietly; only one that persists is reported.
        let failures = ctx
            .memory
            .retries
            .failures(ro.uid().as_deref().unwrap_or_default());
        if e.is_transient() && failures < QUIET_RETRIES {
            return Err(ReconcileError::Routing(e));
        }
        {
            // Nothing was written to any router (all are checked before any is written): say
            // why where users look, keep the weights as they were, and try again.
            let mut status = ro.status.clone().unwrap_or_default();
            let message = e.to_string();
            if !status.conditions.iter().any(|c| {
                c.type_ == TRAFFIC_ROUTING && c.message.as_deref() == Some(message.as_str())
            }) {
                status.conditions.retain(|c| c.type_ != TRAFFIC_ROUTING);
                status.conditions.push(rollout_rs_crds::Condition {
                    type_: TRAFFIC_ROUTING.into(),
                    status: "False".into(),
                    reason: Some(reason::ROUTING_FAILED.into()),
                    message: Some(message.clone()),
                    last_update_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())),
                    last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())),
                });
                // Where users look first: a promote that cannot take effect says why.
                status.phase = Some(rollout_rs_crds::rollout::RolloutPhase::Degraded);
                status.message = Some(format!("TrafficRoutingFailed: {message}"));
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
            return Err(ReconcileError::Routing(e));
        }
    }
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
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
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
        // The cache may lag behind a ReplicaSet created moments ago (by an earlier reconcile,
        // or one left to adopt): confirm with the API server before creating a duplicate.
        let existing = rs_api
            .list(&ListParams::default().labels(&format!("{POD_TEMPLATE_HASH_LABEL}={}", new.hash)))
            .await
            .map_err(api_err("listing", "ReplicaSet", &new.name))?;
        if !existing.items.is_empty() {
            return Err(ReconcileError::CacheBehind(format!(
                "the ReplicaSet of template {}",
                new.hash
            )));
        }
        let rs = new_replica_set(ro, new, &new.name);
        // Created by an earlier reconcile whose cache had not caught up yet.
        unless(
            rs_api
                .create(
                    &PostParams {
                        field_manager: Some(MANAGER.into()),
                        ..Default::default()
                    },
                    &rs,
                )
                .await,
            EXISTS,
        )
        .map_err(api_err("creating", "ReplicaSet", &new.name))?;
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
    runs(ro, ns, plan, ctx).await?;
    pod_metadata(ns, plan, ctx).await?;
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

    let reference = ro.object_ref(&());
    for e in &plan.events {
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
        if let Err(err) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(rollout = %ro.name_any(), "recording event {}: {err}", e.reason);
        }
    }

    // Status last, with the observed resourceVersion: a concurrent write of the control surface
    // (abort, promote) makes this a conflict and the reconcile runs again on fresh data.
    let uid = ro.uid().unwrap_or_default();
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
