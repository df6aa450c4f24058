//! What the rollout reconciler watches and what of each object it keeps: Rollouts, their
//! ReplicaSets and AnalysisRuns (owned), and, as triggers of the Rollouts that name them,
//! Services, `workloadRef` Deployments, analysis templates and every routed kind in `ROUTERS`.
//! Cached objects are stripped of what is never read. No decision and no write here.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_crds::rollout::AnalysisTemplateRef;
use rollout_rs_crds::{
    AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, MANAGED_BY_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL, Rollout,
};

use crate::index::{Index, controller_key, reference_key};
use crate::io::{scoped, strip_meta};
use crate::lenient::Lenient;
use crate::process::Queue;

use super::memory::Memory;
use super::routers::{Config as RouterConfig, ROUTERS, Router};

/// Reconcile requests of Rollouts.
type Trigger = futures::stream::BoxStream<'static, ObjectRef<Lenient<Rollout>>>;
/// Watch events of an owned kind.
type Owned<K> = futures::stream::BoxStream<'static, Result<K, watcher::Error>>;

/// The reverse indexes kept beside the caches, so that neither a reconcile nor a trigger
/// scans a whole cache.
pub(super) struct Indexes {
    /// Rollouts by every object they name (Services, a Deployment, templates, routed objects).
    pub references: Arc<Index<Lenient<Rollout>>>,
    /// ReplicaSets by their controller's uid (orphans by namespace).
    pub replica_sets: Arc<Index<ReplicaSet>>,
    /// AnalysisRuns by their controller's uid.
    pub runs: Arc<Index<Lenient<AnalysisRun>>>,
    /// Services by the Rollout that manages them (the managed-by annotation).
    pub services: Arc<Index<Service>>,
    /// Routed objects the controller caches (DestinationRules), by the Rollout managing them.
    pub managed_routes: Arc<Index<DynamicObject>>,
}

impl Indexes {
    pub(super) fn new(config: &RouterConfig) -> Self {
        let config = config.clone();
        Indexes {
            references: Arc::new(Index::new(move |listed: &Lenient<Rollout>| {
                listed
                    .decoded
                    .as_ref()
                    .map(|ro| references(ro, &config))
                    .unwrap_or_default()
            })),
            replica_sets: Arc::new(Index::new(|rs: &ReplicaSet| vec![controller_key(rs)])),
            runs: Arc::new(Index::new(|run: &Lenient<AnalysisRun>| {
                vec![controller_key(run)]
            })),
            services: Arc::new(Index::new(managed_keys::<Service>)),
            managed_routes: Arc::new(Index::new(managed_keys::<DynamicObject>)),
        }
    }
}

/// An object's key in a managed-by index: its annotation's value, if it has one.
fn managed_keys<K: Resource>(o: &K) -> Vec<String> {
    o.annotations()
        .get(MANAGED_BY_ANNOTATION)
        .map(|mark| vec![managed_key(mark)])
        .unwrap_or_default()
}

/// The key of the objects a Rollout manages (the value of their managed-by annotation).
pub(super) fn managed_key(mark: &str) -> String {
    format!("managed/{mark}")
}

/// Every object a Rollout names, as [`reference_key`]s: what a change of which must reconcile it.
fn references(ro: &Rollout, config: &RouterConfig) -> Vec<String> {
    let ns = ro.namespace().unwrap_or_default();
    let mut keys: Vec<String> = ro
        .spec
        .services()
        .into_iter()
        .map(|(_, name)| reference_key("Service", &ns, name))
        .collect();
    if let Some(w) = &ro.spec.workload_ref {
        keys.push(reference_key("Deployment", &ns, &w.name));
    }
    for r in template_refs(ro) {
        keys.push(if r.cluster_scope {
            reference_key("ClusterAnalysisTemplate", "", &r.template_name)
        } else {
            reference_key("AnalysisTemplate", &ns, &r.template_name)
        });
    }
    for router in ROUTERS {
        for target in router.refers_to(ro, config) {
            keys.push(reference_key(
                router.kind(),
                &target.namespace,
                &target.name,
            ));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Feeds a watch's events to an index before they go on.
fn indexed<K, S>(stream: S, index: Arc<Index<K>>) -> impl futures::Stream<Item = S::Item> + Send
where
    K: Resource + Send + Sync + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    stream.inspect(move |event| {
        if let Ok(event) = event {
            index.apply(event);
        }
    })
}

/// The objects whose `signature` changed (what a reconcile reads of them), and deleted ones:
/// an update that changes nothing a decision reads (a run's new measurement, a ReplicaSet's
/// observedGeneration) triggers no reconcile. After a relist only the objects it listed are
/// remembered.
fn relevant<K, S>(
    stream: S,
    signature: fn(&K) -> u64,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut relisted: Option<HashMap<String, u64>> = None;
    stream.filter_map(move |event| {
        let changed = match event {
            Err(e) => Some(Err(e)),
            Ok(watcher::Event::Apply(o)) => {
                let sig = signature(&o);
                (seen.insert(identity(&o), sig) != Some(sig)).then_some(Ok(o))
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.remove(&identity(&o));
                Some(Ok(o))
            }
            Ok(watcher::Event::Init) => {
                relisted = Some(HashMap::new());
                None
            }
            Ok(watcher::Event::InitApply(o)) => {
                let sig = signature(&o);
                let before = seen.get(&identity(&o)).copied();
                relisted.get_or_insert_default().insert(identity(&o), sig);
                (before != Some(sig)).then_some(Ok(o))
            }
            Ok(watcher::Event::InitDone) => {
                seen = relisted.take().unwrap_or_default();
                None
            }
        };
        futures::future::ready(changed)
    })
}

/// An object's key in [`relevant`]: its uid, which a re-created namesake does not share.
fn identity<K: Resource>(o: &K) -> String {
    o.uid()
        .unwrap_or_else(|| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// Who controls an object, and whether it is going: part of every signature.
fn ownership<K: Resource>(o: &K) -> (Vec<(&str, Option<bool>)>, bool) {
    (
        o.owner_references()
            .iter()
            .map(|r| (r.uid.as_str(), r.controller))
            .collect(),
        o.meta().deletion_timestamp.is_some(),
    )
}

/// What a rollout decision reads of a ReplicaSet (see `owned_replica_sets`).
fn replica_set_signature(rs: &ReplicaSet) -> u64 {
    let spec = rs.spec.as_ref();
    let template = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .map(|m| (&m.labels, &m.annotations));
    let status = rs
        .status
        .as_ref()
        .map(|s| (s.replicas, s.ready_replicas, s.available_replicas));
    hash_of((
        ownership(rs),
        rs.labels(),
        rs.annotations(),
        spec.and_then(|s| s.replicas),
        template,
        status,
    ))
}

/// What a rollout decision reads of an AnalysisRun (see `owned_runs`).
fn run_signature(listed: &Lenient<AnalysisRun>) -> u64 {
    let decoded = listed.decoded.as_ref().map(|run| {
        let status = run.status.as_ref();
        (
            status.and_then(|s| s.phase).map(|p| p as u8),
            status.and_then(|s| s.message.as_deref()),
            run.spec.terminate,
        )
    });
    hash_of((ownership(listed), listed.labels(), decoded))
}

/// Marks each changed object's Rollout as waiting in the work queue.
pub(super) fn queued_objects<K>(events: Owned<K>, queue: Arc<Queue>) -> Owned<K>
where
    K: Resource + Send + 'static,
{
    events
        .inspect(move |e| {
            if let Ok(o) = e {
                queue.triggered(format!(
                    "{}/{}",
                    o.namespace().unwrap_or_default(),
                    o.name_any()
                ));
            }
        })
        .boxed()
}

/// Marks the Rollout controlling each changed object as waiting in the work queue, if that
/// Rollout still exists (the objects of a deleted one change as they are collected).
pub(super) fn queued_owners<K>(
    events: Owned<K>,
    queue: Arc<Queue>,
    rollouts: Store<Lenient<Rollout>>,
) -> Owned<K>
where
    K: Resource + Send + 'static,
{
    events
        .inspect(move |e| {
            let Ok(o) = e else { return };
            let ns = o.namespace().unwrap_or_default();
            for owner in o.owner_references() {
                let live = || {
                    rollouts
                        .get(&ObjectRef::new(&owner.name).within(&ns))
                        .is_some()
                };
                if owner.controller == Some(true) && owner.kind == "Rollout" && live() {
                    queue.triggered(format!("{ns}/{}", owner.name));
                }
            }
        })
        .boxed()
}

/// Marks each Rollout a trigger names as waiting in the work queue.
pub(super) fn queued_refs(trigger: Trigger, queue: Arc<Queue>) -> Trigger {
    trigger
        .inspect(move |r| {
            let ns = r.namespace.as_deref().unwrap_or_default();
            queue.triggered(format!("{ns}/{}", r.name));
        })
        .boxed()
}

/// The Rollouts, each decoded on its own (a malformed one is reported, the others go on).
/// What the controller remembers of one goes with it, also when a relist no longer has it.
pub(super) fn rollouts(
    client: &Client,
    namespace: Option<&str>,
    memory: Arc<Memory>,
    indexes: &Indexes,
    queue: Arc<Queue>,
) -> (Store<Lenient<Rollout>>, Owned<Lenient<Rollout>>) {
    let rollouts: Api<Lenient<Rollout>> = scoped(client, namespace);
    let (ro_reader, ro_writer) = reflector::store();
    let forget = memory;
    let ro_stream = watcher(rollouts, watcher::Config::default())
        .default_backoff()
        .modify(strip_meta)
        .reflect(ro_writer);
    let ro_stream = indexed(ro_stream, indexes.references.clone())
        .inspect({
            let live = ro_reader.clone();
            move |event| match event {
                // A copy of our own write is dropped once the cache has moved past it.
                Ok(watcher::Event::Apply(ro)) => {
                    forget.cache_moved(
                        ro.uid().as_deref().unwrap_or_default(),
                        ro.resource_version().as_deref(),
                    );
                }
                // What the controller remembers per Rollout goes with the Rollout (a deleted
                // one waits for no reconcile)...
                Ok(watcher::Event::Delete(gone)) => {
                    queue.started(&format!(
                        "{}/{}",
                        gone.namespace().unwrap_or_default(),
                        gone.name_any()
                    ));
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

    (ro_reader, ro_stream.boxed())
}

/// ReplicaSets carrying our hash label, only: Deployments' ReplicaSets are not cached.
pub(super) fn replica_sets(
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
) -> (Store<ReplicaSet>, Owned<ReplicaSet>) {
    let replica_sets: Api<ReplicaSet> = scoped(client, namespace);
    let (rs_reader, rs_writer) = reflector::store();
    let rs_stream = watcher(
        replica_sets,
        watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
    )
    .default_backoff()
    .modify(|rs: &mut ReplicaSet| {
        strip_meta(rs);
        // Of the status only the counts a decision reads.
        if let Some(status) = rs.status.as_mut() {
            *status = k8s_openapi::api::apps::v1::ReplicaSetStatus {
                replicas: status.replicas,
                ready_replicas: status.ready_replicas,
                available_replicas: status.available_replicas,
                ..Default::default()
            };
        }
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
    .reflect(rs_writer);
    let rs_stream = relevant(
        indexed(rs_stream, indexes.replica_sets.clone()),
        replica_set_signature,
    );
    (rs_reader, rs_stream.boxed())
}

/// Services, read only for their selector and whether a Rollout manages them.
pub(super) fn services(
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
) -> (Store<Service>, Trigger) {
    let services: Api<Service> = scoped(client, namespace);
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
        .reflect(svc_writer);
    let svc_stream = indexed(svc_stream, indexes.services.clone()).touched_objects();
    // A Service change matters to the Rollouts naming it.
    let svc_trigger = referenced_by(svc_stream, indexes.references.clone(), "Service");
    (svc_reader, svc_trigger.boxed())
}

/// Deployments a workloadRef names.
pub(super) fn deployments(
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
) -> (Store<Deployment>, Trigger) {
    // Deployments a workloadRef names: their template is the Rollout's, their replicas are
    // scaled down as it says. Of a Deployment only the template and replicas are kept.
    let deployments: Api<Deployment> = scoped(client, namespace);
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
    let deploy_trigger = referenced_by(deploy_stream, indexes.references.clone(), "Deployment");
    (deploy_reader, deploy_trigger.boxed())
}

/// Routing objects: an edit by hand (a weight changed by someone) is corrected at once, and a
/// stable Ingress or route that appears lets a waiting Rollout proceed. Watched from the same
/// list, and by the same references, that the routers read and write through. Returns the
/// triggers and the DestinationRules' managed-by cache.
pub(super) fn routers(
    config: &RouterConfig,
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
) -> (Trigger, Option<Store<DynamicObject>>) {
    let mut triggers = Vec::new();
    let mut destination_rules = None;
    for &router in ROUTERS {
        let (trigger, cache) = router_trigger(router, config, client, namespace, indexes);
        triggers.push(trigger);
        destination_rules = destination_rules.or(cache);
    }
    (
        futures::stream::select_all(triggers).boxed(),
        destination_rules,
    )
}

/// AnalysisRuns the Rollouts own: their phase decides steps and aborts.
pub(super) fn analysis_runs(
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
) -> (Store<Lenient<AnalysisRun>>, Owned<Lenient<AnalysisRun>>) {
    let runs: Api<Lenient<AnalysisRun>> = scoped(client, namespace);
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
        .reflect(run_writer);
    // A run writes its status at every measurement; only a new phase (or message, or a
    // terminate) is news to its Rollout.
    let run_stream = relevant(indexed(run_stream, indexes.runs.clone()), run_signature);
    (run_reader, run_stream.boxed())
}

/// AnalysisTemplates; a validation remembered for one is forgotten with it.
pub(super) fn templates(
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
    memory: Arc<Memory>,
) -> (Store<Lenient<AnalysisTemplate>>, Trigger) {
    // Templates are read whole when a run is created; a template that appears or changes
    // matters to the Rollouts naming it (a missing one holds them in InvalidSpec).
    let (tmpl_reader, tmpl_writer) = reflector::store();
    let tmpl_stream = watcher(
        scoped::<Lenient<AnalysisTemplate>>(client, namespace),
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
    let tmpl_trigger = referenced_by(tmpl_stream, indexes.references.clone(), "AnalysisTemplate");
    (tmpl_reader, tmpl_trigger.boxed())
}

/// ClusterAnalysisTemplates, likewise.
pub(super) fn cluster_templates(
    client: &Client,
    indexes: &Indexes,
    memory: Arc<Memory>,
) -> (Store<Lenient<ClusterAnalysisTemplate>>, Trigger) {
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
    let ctmpl_trigger = referenced_by(
        ctmpl_stream,
        indexes.references.clone(),
        "ClusterAnalysisTemplate",
    );

    (ctmpl_reader, ctmpl_trigger.boxed())
}

/// Every analysis template a Rollout names (steps, background, pre- and post-promotion).
pub(super) fn template_refs(ro: &Rollout) -> impl Iterator<Item = &AnalysisTemplateRef> {
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

/// Reconciles of the Rollouts that refer to an object of `router`'s kind, on every change of
/// one. Only the managed-by mark is kept of an object, and only when the router asks for it
/// (the cache returned): the routers read the objects when they write.
fn router_trigger(
    router: &'static dyn Router,
    config: &RouterConfig,
    client: &Client,
    namespace: Option<&str>,
    indexes: &Indexes,
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
        .inspect({
            let managed = indexes.managed_routes.clone();
            move |event| {
                if let (Some(w), Ok(event)) = (writer.as_mut(), event) {
                    w.apply_watcher_event(event);
                    managed.apply(event);
                }
            }
        })
        .touched_objects();
    let trigger = referenced_by(stream, indexes.references.clone(), router.kind());
    (trigger.boxed(), reader)
}

/// Turns changes of objects of `kind` into reconciles of every Rollout naming them, found in
/// the references index (not by scanning the Rollouts).
fn referenced_by<K, S>(
    stream: S,
    references: Arc<Index<Lenient<Rollout>>>,
    kind: &'static str,
) -> impl futures::Stream<Item = ObjectRef<Lenient<Rollout>>> + Send
where
    K: Resource + Send + 'static,
    S: futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
{
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
            let refs: Vec<ObjectRef<Lenient<Rollout>>> = references
                .get(&reference_key(kind, &ns, &name))
                .into_iter()
                .map(|(ns, name)| ObjectRef::new(&name).within(&ns))
                .collect();
            futures::stream::iter(refs)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};

    fn rs(uid: &str, rv: &str, ready: i32, observed_generation: i64) -> ReplicaSet {
        ReplicaSet {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("rs-{uid}")),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(2),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas: 2,
                ready_replicas: Some(ready),
                observed_generation: Some(observed_generation),
                ..Default::default()
            }),
        }
    }

    fn passed(events: Vec<watcher::Event<ReplicaSet>>) -> Vec<String> {
        let stream = futures::stream::iter(events.into_iter().map(Ok));
        let out = futures::executor::block_on(
            relevant(stream, replica_set_signature)
                .map(|r| r.map(|o| o.resource_version().unwrap_or_default()))
                .collect::<Vec<_>>(),
        );
        out.into_iter().map(|r| r.unwrap_or_default()).collect()
    }

    #[test]
    fn only_changes_a_decision_reads_pass() {
        use watcher::Event::*;
        let got = passed(vec![
            Init,
            InitApply(rs("a", "1", 0, 1)),
            InitApply(rs("b", "2", 0, 1)),
            InitDone,
            // What a decision reads is unchanged: dropped.
            Apply(rs("a", "3", 0, 2)),
            // A pod became ready: passed.
            Apply(rs("a", "4", 1, 2)),
            Delete(rs("b", "5", 0, 1)),
            // A relist: unchanged objects are not news, changed ones are.
            Init,
            InitApply(rs("a", "4", 1, 2)),
            InitApply(rs("c", "6", 0, 1)),
            InitDone,
            // "b" came back after the relist forgot it: news again.
            Apply(rs("b", "7", 0, 1)),
        ]);
        assert_eq!(got, ["1", "2", "4", "5", "6", "7"]);
    }

    #[test]
    fn a_run_passes_on_a_new_phase_not_on_a_new_measurement() {
        use rollout_rs_crds::analysis::{AnalysisPhase, AnalysisRunStatus};
        let run = |phase: AnalysisPhase, measured: usize| {
            let mut run = AnalysisRun::new("run", Default::default());
            run.metadata.uid = Some("u".into());
            run.status = Some(AnalysisRunStatus {
                phase: Some(phase),
                ..Default::default()
            });
            let mut value = serde_json::to_value(run).unwrap();
            value["status"]["metricResults"] =
                serde_json::json!([{"name": "ok", "phase": "Running", "count": measured}]);
            serde_json::from_str::<Lenient<AnalysisRun>>(&value.to_string()).unwrap()
        };
        let a = run_signature(&run(AnalysisPhase::Running, 1));
        assert_eq!(a, run_signature(&run(AnalysisPhase::Running, 2)));
        assert_ne!(a, run_signature(&run(AnalysisPhase::Failed, 2)));
    }
}
