//! A timeline of what traffic safety depends on, recorded from watches while a test runs:
//! ReplicaSet counts, Service selectors, SMI TrafficSplit weights and Rollout aborts in one
//! namespace, ordered by resourceVersion. Safety tests replay it and check every state in
//! between, not only the end state: the rules of `shared/design.md` must hold at each step.
//!
//! resourceVersions are compared as numbers: the simulated cluster (like etcd) draws them from
//! one counter, so they order writes across kinds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};

/// One observed state of one object.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// A ReplicaSet of the Rollout whose pods carry `app=<app>`.
    ReplicaSet {
        app: String,
        hash: String,
        desired: i32,
        available: i32,
    },
    /// A Service and the pod-template hash its selector pins (if any).
    Service {
        name: String,
        hash: Option<String>,
    },
    /// A TrafficSplit: weight per backend Service.
    Split {
        name: String,
        weights: BTreeMap<String, i32>,
    },
    Rollout {
        name: String,
        abort: bool,
    },
}

impl Seen {
    /// The same object, deleted: nothing of it serves any more.
    fn gone(self) -> Seen {
        match self {
            Seen::ReplicaSet { app, hash, .. } => Seen::ReplicaSet {
                app,
                hash,
                desired: 0,
                available: 0,
            },
            Seen::Service { name, .. } => Seen::Service { name, hash: None },
            Seen::Split { name, .. } => Seen::Split {
                name,
                weights: BTreeMap::new(),
            },
            Seen::Rollout { name, .. } => Seen::Rollout { name, abort: false },
        }
    }
}

/// What was seen, in resourceVersion order once [`Recorder::entries`] is read. Dropping it
/// stops the watches.
pub struct Recorder {
    entries: Arc<Mutex<Vec<(u64, Seen)>>>,
    /// How many states were seen: (all kinds, TrafficSplits).
    seen: tokio::sync::watch::Receiver<(usize, usize)>,
    counter: Arc<tokio::sync::watch::Sender<(usize, usize)>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Recorder {
    /// Starts watching `namespace`; SMI TrafficSplits are watched at `split.smi-spec.io/v1alpha2`.
    pub fn start(client: &Client, namespace: &str) -> Recorder {
        let (tx, rx) = tokio::sync::watch::channel((0usize, 0usize));
        let mut rec = Recorder {
            entries: Default::default(),
            seen: rx,
            counter: Arc::new(tx),
            tasks: Vec::new(),
        };
        let rs: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
        rec.spawn(
            watcher(
                rs,
                watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
            ),
            |rs: &ReplicaSet| {
                let labels = rs.labels();
                Some(Seen::ReplicaSet {
                    app: labels.get("app")?.clone(),
                    hash: labels.get(POD_TEMPLATE_HASH_LABEL)?.clone(),
                    desired: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
                    available: rs
                        .status
                        .as_ref()
                        .and_then(|s| s.available_replicas)
                        .unwrap_or(0),
                })
            },
        );
        let svc: Api<Service> = Api::namespaced(client.clone(), namespace);
        rec.spawn(watcher(svc, watcher::Config::default()), |svc: &Service| {
            Some(Seen::Service {
                name: svc.name_any(),
                hash: svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL).cloned()),
            })
        });
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("split.smi-spec.io", "v1alpha2", "TrafficSplit"),
            "trafficsplits",
        );
        let splits: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        rec.spawn(
            watcher(splits, watcher::Config::default()),
            |ts: &DynamicObject| {
                let backends = ts.data.pointer("/spec/backends")?.as_array()?;
                Some(Seen::Split {
                    name: ts.name_any(),
                    weights: backends
                        .iter()
                        .filter_map(|b| {
                            Some((
                                b.get("service")?.as_str()?.to_string(),
                                i32::try_from(b.get("weight")?.as_i64()?).ok()?,
                            ))
                        })
                        .collect(),
                })
            },
        );
        let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);
        rec.spawn(
            watcher(rollouts, watcher::Config::default()),
            |ro: &Rollout| {
                Some(Seen::Rollout {
                    name: ro.name_any(),
                    abort: ro.status.as_ref().is_some_and(|s| s.abort),
                })
            },
        );
        rec
    }

    fn spawn<K, S>(&mut self, stream: S, view: fn(&K) -> Option<Seen>)
    where
        K: Resource + Clone + std::fmt::Debug + Send + 'static,
        S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    {
        let entries = self.entries.clone();
        let counter = self.counter.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut stream = Box::pin(stream.default_backoff());
            while let Some(event) = stream.next().await {
                // The first listing is the state at the start: earlier than anything written
                // after it, whatever its resourceVersions (an object's older states are not seen).
                let (obj, baseline, deleted) = match event {
                    Ok(watcher::Event::InitApply(obj)) => (obj, true, false),
                    Ok(watcher::Event::Apply(obj)) => (obj, false, false),
                    Ok(watcher::Event::Delete(obj)) => (obj, false, true),
                    _ => continue,
                };
                let rv = obj
                    .meta()
                    .resource_version
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|_| !baseline)
                    .unwrap_or(0);
                let Some(seen) = view(&obj).map(|s| if deleted { s.gone() } else { s }) else {
                    continue;
                };
                let split = matches!(seen, Seen::Split { .. });
                if let Ok(mut e) = entries.lock() {
                    e.push((rv, seen));
                }
                counter.send_modify(|(all, splits)| {
                    *all += 1;
                    *splits += usize::from(split);
                });
            }
        }));
    }

    /// Waits until `n` TrafficSplit states have been seen in all.
    pub async fn splits_seen(&self, n: usize) {
        let mut rx = self.seen.clone();
        let _ = rx.wait_for(|(_, splits)| *splits >= n).await;
    }

    /// Waits until the latest state seen satisfies `cond`.
    pub async fn until(&self, cond: impl Fn(&State) -> bool) {
        let mut rx = self.seen.clone();
        loop {
            rx.borrow_and_update();
            let mut state = State::default();
            self.entries().iter().for_each(|(_, e)| state.apply(e));
            if cond(&state) || rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Every state seen so far, in resourceVersion order (one entry per distinct write).
    pub fn entries(&self) -> Vec<(u64, Seen)> {
        let mut all = self.entries.lock().map(|e| e.clone()).unwrap_or_default();
        all.sort_by_key(|(rv, _)| *rv);
        all.dedup();
        all
    }

    /// Stops watching.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cluster as of one point of a timeline.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// (app, hash) -> (desired, available).
    pub replica_sets: BTreeMap<(String, String), (i32, i32)>,
    pub services: BTreeMap<String, Option<String>>,
    pub splits: BTreeMap<String, BTreeMap<String, i32>>,
    pub aborted: BTreeMap<String, bool>,
}

impl State {
    pub fn apply(&mut self, seen: &Seen) {
        match seen.clone() {
            Seen::ReplicaSet {
                app,
                hash,
                desired,
                available,
            } => {
                self.replica_sets.insert((app, hash), (desired, available));
            }
            Seen::Service { name, hash } => {
                self.services.insert(name, hash);
            }
            Seen::Split { name, weights } => {
                self.splits.insert(name, weights);
            }
            Seen::Rollout { name, abort } => {
                self.aborted.insert(name, abort);
            }
        }
    }

    /// Available pods of the ReplicaSet of `app` running `hash`.
    pub fn available(&self, app: &str, hash: &str) -> i32 {
        self.replica_sets
            .get(&(app.to_string(), hash.to_string()))
            .map_or(0, |(_, a)| *a)
    }

    /// Available pods behind a Service of `app` (the ReplicaSet its selector pins).
    pub fn available_behind(&self, app: &str, service: &str) -> i32 {
        match self.services.get(service) {
            Some(Some(hash)) => self.available(app, hash),
            _ => 0,
        }
    }
}

/// Calls `check` with the state after each write of the timeline; the first listing counts as
/// one write (the state the recording started from).
pub fn replay(entries: &[(u64, Seen)], mut check: impl FnMut(u64, &State)) {
    let mut state = State::default();
    for (i, (rv, seen)) in entries.iter().enumerate() {
        state.apply(seen);
        if entries.get(i + 1).is_none_or(|(next, _)| next != rv) {
            check(*rv, &state);
        }
    }
}

/// Pods needed to carry `weight` of `total` with `replicas` pods for all of it.
pub fn pods_for(replicas: i32, weight: i32, total: i32) -> i32 {
    let total = total.max(1);
    (replicas * weight + total - 1) / total
}
