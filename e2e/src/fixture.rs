//! What every scenario suite starts from: [`Env`], a namespace of its own on a fresh cluster
//! (CRDs installed, the controller running, the suite's Services created), and
//! [`RolloutFixture`], the one builder of the Rollouts the suites apply. The helpers read the
//! namespace the way the scenarios check it: ReplicaSet counts by image (waited for through a
//! watch), the hash a Service selects, the Events about an object.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use rollout_rs_crds::POD_TEMPLATE_HASH_LABEL;
use serde_json::{Value, json};

use crate::metrics::Exporter;
use crate::rollouts::Rollouts;
use crate::{Cluster, HarnessError, Result, image_of};

/// The pod annotation that tells the simulator how many milliseconds a pod takes to become
/// ready.
pub const READY_AFTER_MS: &str = "sim.rollout-rs.io/ready-after-ms";

/// A pod annotation that keeps the simulated pods from ever becoming ready.
pub const NEVER_READY: &str = "sim.rollout-rs.io/never-ready";

/// A namespace on a cluster under test, and its Rollouts.
pub struct Env {
    pub cluster: Cluster,
    pub ns: String,
    pub ro: Rollouts,
}

/// How to start an [`Env`].
pub struct EnvBuilder {
    prefix: String,
    services: Vec<String>,
    router_crds: bool,
    controller: bool,
    timeout: Duration,
}

impl EnvBuilder {
    /// Services (port 80) selecting the pods of `app=web`, created once the controller runs.
    pub fn services(mut self, names: &[&str]) -> EnvBuilder {
        self.services = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Also installs the third-party routers' CRDs ([`Cluster::install_router_crds`]).
    pub fn router_crds(mut self, install: bool) -> EnvBuilder {
        self.router_crds = install;
        self
    }

    /// Leaves the controller stopped, for tests that change the cluster before it starts.
    pub fn without_controller(mut self) -> EnvBuilder {
        self.controller = false;
        self
    }

    /// How long each wait may take (30 s unless said).
    pub fn timeout(mut self, timeout: Duration) -> EnvBuilder {
        self.timeout = timeout;
        self
    }

    /// A fresh cluster with the CRDs, then the namespace, the controller and the Services, in
    /// the order the suites always started them.
    pub async fn start(self) -> Result<Env> {
        let mut cluster = Cluster::start().await?;
        cluster.install_crds().await?;
        if self.router_crds {
            cluster.install_router_crds().await?;
        }
        let ns = cluster.namespace(&self.prefix).await?;
        if self.controller {
            cluster.start_controller();
        }
        let ro = Rollouts::new(&cluster.client, &ns, self.timeout);
        let env = Env { cluster, ns, ro };
        for name in &self.services {
            env.apply(&service(name, "web")).await?;
        }
        Ok(env)
    }
}

/// A Service `name` (port 80) selecting the pods labelled `app=<app>`.
pub fn service(name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}
    })
}

impl Env {
    /// An environment in a namespace named after `prefix`.
    pub fn builder(prefix: &str) -> EnvBuilder {
        EnvBuilder {
            prefix: prefix.to_string(),
            services: vec![],
            router_crds: false,
            controller: true,
            timeout: Duration::from_secs(30),
        }
    }

    /// What the canary scenarios start from: the controller running and the Services
    /// `web-canary` and `web-stable`.
    pub async fn canary(prefix: &str) -> Result<Env> {
        Env::builder(prefix)
            .services(&["web-canary", "web-stable"])
            .start()
            .await
    }

    /// How long each wait may take.
    pub fn timeout(&self) -> Duration {
        self.ro.timeout
    }

    /// The API of a namespaced kind in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.cluster.client.clone(), &self.ns)
    }

    /// The API of a kind this crate has no type for (the routers' objects).
    pub fn dynamic_api(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
    ) -> Api<DynamicObject> {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        Api::namespaced_with(self.cluster.client.clone(), &self.ns, &ar)
    }

    /// An object of a kind this crate has no type for, as plain JSON.
    pub async fn get_json(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        name: &str,
    ) -> Result<Value> {
        let obj = self
            .dynamic_api(group, version, kind, plural)
            .get(name)
            .await?;
        serde_json::to_value(obj).map_err(|e| HarnessError::Manifest(e.to_string()))
    }

    /// Server-side applies one object into this namespace.
    pub async fn apply(&self, obj: &Value) -> Result<()> {
        // JSON is YAML: one document.
        self.cluster
            .apply_yaml(&obj.to_string(), &self.ns)
            .await
            .map(|_| ())
    }

    /// Server-side applies a Rollout.
    pub async fn deploy(&self, rollout: &RolloutFixture) -> Result<()> {
        self.apply(&rollout.to_value()).await
    }

    /// The Services `<app>-canary` and `<app>-stable`, selecting the pods of `app`.
    pub async fn canary_services(&self, app: &str) -> Result<()> {
        for role in ["canary", "stable"] {
            self.apply(&service(&format!("{app}-{role}"), app)).await?;
        }
        Ok(())
    }

    /// An AnalysisTemplate `name` with `spec`.
    pub async fn analysis_template(&self, name: &str, spec: Value) -> Result<()> {
        self.apply(&json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "AnalysisTemplate",
            "metadata": {"name": name}, "spec": spec
        }))
        .await
    }

    /// An AnalysisTemplate `name` whose one metric `rate` passes when the exporter's JSON
    /// `rate` is at least 0.95, and a fresh exporter answering `rate` (keep it alive while
    /// runs query it).
    pub async fn web_template(&self, name: &str, rate: f64) -> Result<Exporter> {
        let exporter = Exporter::start().await?;
        exporter.set_json(json!({"rate": rate}));
        self.analysis_template(
            name,
            json!({"metrics": [{"name": "rate", "successCondition": "result >= 0.95",
                "provider": {"web": {"url": format!("{}/json", exporter.url()), "jsonPath": "{$.rate}"}}}]}),
        )
        .await?;
        Ok(exporter)
    }

    /// The ReplicaSets of this namespace's Rollouts (those carrying a pod-template hash).
    pub async fn replica_sets(&self) -> Result<Vec<ReplicaSet>> {
        Ok(self
            .api::<ReplicaSet>()
            .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
            .await?
            .items)
    }

    /// (image, spec.replicas, availableReplicas) of every ReplicaSet, sorted.
    pub async fn counts(&self) -> Result<Vec<(String, i32, i32)>> {
        self.counts_by(image_of).await
    }

    /// (`key` of the ReplicaSet, spec.replicas, availableReplicas) of every ReplicaSet, sorted.
    pub async fn counts_by(
        &self,
        key: impl Fn(&ReplicaSet) -> String,
    ) -> Result<Vec<(String, i32, i32)>> {
        Ok(counts_of(&self.replica_sets().await?, key))
    }

    /// Waits, through a watch, until the ReplicaSets satisfy `cond`; on a timeout the error
    /// carries their last counts.
    pub async fn replica_sets_until(
        &self,
        what: &str,
        cond: impl Fn(&[ReplicaSet]) -> bool,
    ) -> Result<()> {
        let watch = kube::runtime::watcher(
            self.api::<ReplicaSet>(),
            kube::runtime::watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
        );
        let mut events = Box::pin(kube::runtime::WatchStreamExt::default_backoff(watch));
        let check = async {
            loop {
                if cond(&self.replica_sets().await?) {
                    return Ok(());
                }
                // Any ReplicaSet change: look again.
                if events.next().await.is_none() {
                    return Err(HarnessError::Manifest("ReplicaSet watch ended".into()));
                }
            }
        };
        match tokio::time::timeout(self.timeout(), check).await {
            Ok(r) => r,
            Err(_) => Err(HarnessError::Timeout(
                self.timeout(),
                format!("{what}; last counts {:?}", self.counts().await?),
            )),
        }
    }

    /// Waits until the ReplicaSets of the images have exactly these (desired, available) counts.
    pub async fn wait_counts(&self, want: &[(&str, i32, i32)]) -> Result<()> {
        let want: BTreeMap<String, (i32, i32)> = want
            .iter()
            .map(|(i, d, a)| (i.to_string(), (*d, *a)))
            .collect();
        let what = format!("ReplicaSet counts {want:?}");
        self.replica_sets_until(&what, |rss| {
            let got: BTreeMap<String, (i32, i32)> = counts_of(rss, image_of)
                .into_iter()
                .map(|(i, d, a)| (i, (d, a)))
                .collect();
            got == want
        })
        .await
    }

    /// The pod-template hash the Service `svc` selects, if it selects one.
    pub async fn selects(&self, svc: &str) -> Result<Option<String>> {
        Ok(self
            .api::<Service>()
            .get(svc)
            .await?
            .spec
            .and_then(|s| s.selector)
            .and_then(|mut m| m.remove(POD_TEMPLATE_HASH_LABEL)))
    }

    /// (reason, note) of the Events about the object `about`, or of every Event with `None`.
    pub async fn events(&self, about: Option<&str>) -> Result<Vec<(String, String)>> {
        Ok(self
            .api::<Event>()
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| {
                about.is_none() || e.regarding.as_ref().and_then(|r| r.name.as_deref()) == about
            })
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect())
    }

    /// `reason: note` of the Events about the object `about`.
    pub async fn event_notes(&self, about: &str) -> Result<Vec<String>> {
        Ok(self
            .events(Some(about))
            .await?
            .into_iter()
            .map(|(reason, note)| format!("{reason}: {note}"))
            .collect())
    }

    /// Waits, through a watch, for an Event about `about` with `reason` whose note contains
    /// `text`; returns the note.
    pub async fn wait_event(&self, about: &str, reason: &str, text: &str) -> Result<String> {
        let watch = kube::runtime::watcher(self.api::<Event>(), Default::default());
        let mut stream = Box::pin(kube::runtime::WatchStreamExt::default_backoff(watch));
        let found = async {
            loop {
                if let Some((_, note)) = self
                    .events(Some(about))
                    .await?
                    .into_iter()
                    .find(|(r, n)| r == reason && n.contains(text))
                {
                    return Ok::<_, HarnessError>(note);
                }
                stream.next().await;
            }
        };
        tokio::time::timeout(self.timeout(), found)
            .await
            .map_err(|_| {
                HarnessError::Timeout(
                    self.timeout(),
                    format!("a {reason} Event about {about} with {text:?}"),
                )
            })?
    }
}

fn counts_of(rss: &[ReplicaSet], key: impl Fn(&ReplicaSet) -> String) -> Vec<(String, i32, i32)> {
    let mut out: Vec<(String, i32, i32)> = rss
        .iter()
        .map(|rs| {
            let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let available = rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            (key(rs), desired, available)
        })
        .collect();
    out.sort();
    out
}

/// A Rollout to apply, built up as JSON: `name` selects and labels its pods `app=<name>`, runs
/// one container (named `name` unless [`RolloutFixture::container`] says otherwise) and
/// carries the pod annotation [`READY_AFTER_MS`] `"20"` unless replaced.
#[derive(Clone, Debug)]
pub struct RolloutFixture {
    manifest: Value,
    strategy: &'static str,
    container: String,
    image: String,
}

impl RolloutFixture {
    /// A canary Rollout with the Services `<name>-canary` and `<name>-stable`.
    pub fn canary(name: &str) -> RolloutFixture {
        Self::new(
            name,
            "canary",
            json!({"canaryService": format!("{name}-canary"), "stableService": format!("{name}-stable")}),
        )
    }

    /// A blue-green Rollout with the active Service `<name>-active`.
    pub fn blue_green(name: &str) -> RolloutFixture {
        Self::new(
            name,
            "blueGreen",
            json!({"activeService": format!("{name}-active")}),
        )
    }

    fn new(name: &str, strategy: &'static str, fields: Value) -> RolloutFixture {
        let manifest = json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout", "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": {READY_AFTER_MS: "20"}},
                    "spec": {}
                },
                "strategy": {strategy: fields}
            }
        });
        RolloutFixture {
            manifest,
            strategy,
            container: name.to_string(),
            image: format!("{name}:1"),
        }
    }

    /// The same Rollout under another name (its pods, selector and Services unchanged).
    pub fn named(mut self, name: &str) -> RolloutFixture {
        json_patch::merge(&mut self.manifest, &json!({"metadata": {"name": name}}));
        self
    }

    pub fn replicas(self, replicas: i64) -> RolloutFixture {
        self.spec(json!({"replicas": replicas}))
    }

    pub fn image(mut self, image: &str) -> RolloutFixture {
        self.image = image.to_string();
        self
    }

    /// The name of the pod's container.
    pub fn container(mut self, name: &str) -> RolloutFixture {
        self.container = name.to_string();
        self
    }

    pub fn steps(self, steps: Value) -> RolloutFixture {
        self.strategy(json!({"steps": steps}))
    }

    /// `trafficRouting` of the canary strategy.
    pub fn routing(self, routing: Value) -> RolloutFixture {
        self.strategy(json!({"trafficRouting": routing}))
    }

    /// Merges `fields` (a JSON merge patch: `null` removes) into the strategy's object.
    pub fn strategy(self, fields: Value) -> RolloutFixture {
        let strategy = self.strategy;
        self.spec(json!({"strategy": {strategy: fields}}))
    }

    /// Merges `fields` (a JSON merge patch: `null` removes) into `spec`.
    pub fn spec(mut self, fields: Value) -> RolloutFixture {
        json_patch::merge(&mut self.manifest, &json!({"spec": fields}));
        self
    }

    /// Sets one pod annotation, keeping the others.
    pub fn annotation(self, key: &str, value: &str) -> RolloutFixture {
        self.spec(json!({"template": {"metadata": {"annotations": {key: value}}}}))
    }

    /// Replaces every pod annotation (the default one included) with `annotations`.
    pub fn pod_annotations(self, annotations: Value) -> RolloutFixture {
        self.spec(json!({"template": {"metadata": {"annotations": null}}}))
            .spec(json!({"template": {"metadata": {"annotations": annotations}}}))
    }

    /// Runs the pod template of the workload `reference` (`spec.workloadRef`) instead of one
    /// of its own.
    pub fn workload_ref(self, reference: Value) -> RolloutFixture {
        self.spec(json!({"template": null, "workloadRef": reference}))
    }

    /// The manifest, as applied.
    pub fn to_value(&self) -> Value {
        let mut manifest = self.manifest.clone();
        // Written last, so that the container follows whatever image or name was set after.
        if let Some(Value::Object(pod)) = manifest.pointer_mut("/spec/template/spec") {
            pod.insert(
                "containers".into(),
                json!([{"name": self.container, "image": self.image}]),
            );
        }
        manifest
    }
}
