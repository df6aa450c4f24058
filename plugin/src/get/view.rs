//! What `get rollout` shows, as data: the rollout's summary, its revisions (each with its
//! ReplicaSets and AnalysisRuns, metrics with their last value) and the routing objects with
//! the weights they carry. Built from the objects as read; pure. Serialized as is for `-o json`
//! and `-o yaml`; `render` draws it as a tree.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::labels::REVISION_ANNOTATION;
use rollout_rs_crds::{AnalysisRun, POD_TEMPLATE_HASH_LABEL, Rollout};
use serde::Serialize;

use crate::facts;

/// The objects a view is built from.
pub(crate) struct Snapshot {
    pub(crate) rollout: Rollout,
    /// The Rollout's ReplicaSets and AnalysisRuns (owned by it).
    pub(crate) replica_sets: Vec<ReplicaSet>,
    pub(crate) runs: Vec<AnalysisRun>,
    pub(crate) routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct View {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) strategy: &'static str,
    pub(crate) phase: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
    /// `current/total` of a canary with steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) set_weight: Option<i32>,
    /// The canary weight last written to the routers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) actual_weight: Option<i32>,
    pub(crate) images: Vec<Image>,
    pub(crate) replicas: Replicas,
    pub(crate) revisions: Vec<Revision>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Image {
    pub(crate) image: String,
    /// stable, canary, active, preview.
    pub(crate) roles: Vec<&'static str>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Replicas {
    pub(crate) desired: i32,
    pub(crate) current: i32,
    pub(crate) updated: i32,
    pub(crate) ready: i32,
    pub(crate) available: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Revision {
    pub(crate) revision: u64,
    pub(crate) replica_sets: Vec<ReplicaSetView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) analysis_runs: Vec<RunView>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplicaSetView {
    pub(crate) name: String,
    /// Healthy, Progressing or ScaledDown.
    pub(crate) status: &'static str,
    pub(crate) roles: Vec<&'static str>,
    pub(crate) desired: i32,
    pub(crate) ready: i32,
    pub(crate) available: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunView {
    pub(crate) name: String,
    pub(crate) phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    pub(crate) metrics: Vec<MetricView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricView {
    pub(crate) name: String,
    pub(crate) phase: String,
    /// The value of the last measurement taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_value: Option<String>,
    pub(crate) successful: i32,
    pub(crate) failed: i32,
    pub(crate) count: i32,
}

/// A routing object and the weight each backend gets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Route {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// `(backend, weight)`; a missing object has none and says so in `problem`.
    pub(crate) weights: Vec<(String, i64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
}

fn created<K: kube::Resource>(o: &K) -> Option<Timestamp> {
    o.meta().creation_timestamp.as_ref().map(|t| t.0)
}

fn hash_of<K: kube::Resource>(o: &K) -> String {
    o.labels()
        .get(POD_TEMPLATE_HASH_LABEL)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn phase_name(p: Option<AnalysisPhase>) -> String {
    p.map_or_else(|| "Pending".to_string(), |p| format!("{p:?}"))
}

impl View {
    pub(crate) fn of(s: &Snapshot) -> View {
        let ro = &s.rollout;
        let st = facts::status(ro);
        let blue_green = st.blue_green.clone().unwrap_or_default();
        let canary = ro.spec.strategy.canary.is_some();
        let roles = |hash: &str| -> Vec<&'static str> {
            let mut roles = Vec::new();
            if st.stable_rs.as_deref() == Some(hash) {
                roles.push("stable");
            }
            if canary
                && st.current_pod_hash.as_deref() == Some(hash)
                && st.stable_rs.as_deref() != Some(hash)
            {
                roles.push("canary");
            }
            if !canary {
                if blue_green.active_selector.as_deref() == Some(hash) {
                    roles.push("active");
                }
                if blue_green.preview_selector.as_deref() == Some(hash)
                    && blue_green.active_selector.as_deref() != Some(hash)
                {
                    roles.push("preview");
                }
            }
            roles
        };

        let mut revisions: Vec<Revision> = Vec::new();
        let mut images: Vec<Image> = Vec::new();
        let mut replica_sets: Vec<&ReplicaSet> = s.replica_sets.iter().collect();
        replica_sets.sort_by_key(|rs| std::cmp::Reverse(revision_of(rs)));
        for rs in replica_sets {
            let hash = hash_of(rs);
            let spec = rs.spec.clone().unwrap_or_default();
            let status = rs.status.clone().unwrap_or_default();
            let desired = spec.replicas.unwrap_or(1);
            let available = status.available_replicas.unwrap_or(0);
            let roles = roles(&hash);
            if !roles.is_empty() {
                let image = spec
                    .template
                    .and_then(|t| t.spec)
                    .map(|p| {
                        p.containers
                            .iter()
                            .map(|c| c.image.clone().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                images.push(Image {
                    image,
                    roles: roles.clone(),
                });
            }
            let view = ReplicaSetView {
                name: rs.name_any(),
                status: if desired == 0 {
                    "ScaledDown"
                } else if available >= desired {
                    "Healthy"
                } else {
                    "Progressing"
                },
                roles,
                desired,
                ready: status.ready_replicas.unwrap_or(0),
                available,
                created: created(rs),
            };
            let mut runs: Vec<&AnalysisRun> =
                s.runs.iter().filter(|r| hash_of(*r) == hash).collect();
            runs.sort_by_key(|r| (created(*r), r.name_any()));
            let runs: Vec<RunView> = runs.into_iter().map(run_view).collect();
            let number = revision_of(rs);
            match revisions.iter_mut().find(|r| r.revision == number) {
                Some(r) => {
                    r.replica_sets.push(view);
                    r.analysis_runs.extend(runs);
                }
                None => revisions.push(Revision {
                    revision: number,
                    replica_sets: vec![view],
                    analysis_runs: runs,
                }),
            }
        }
        View {
            name: ro.name_any(),
            namespace: ro.namespace().unwrap_or_default(),
            strategy: facts::strategy(ro),
            phase: facts::phase(ro),
            message: st.message.clone().unwrap_or_default(),
            step: facts::step(ro).map(|(at, of)| format!("{at}/{of}")),
            set_weight: facts::set_weight(ro),
            actual_weight: facts::actual_weight(ro),
            images,
            replicas: Replicas {
                desired: ro.spec.replicas.unwrap_or(1),
                current: st.replicas.unwrap_or(0),
                updated: st.updated_replicas.unwrap_or(0),
                ready: st.ready_replicas.unwrap_or(0),
                available: st.available_replicas.unwrap_or(0),
            },
            revisions,
            routes: s.routes.clone(),
            created: created(ro),
        }
    }
}

fn revision_of(rs: &ReplicaSet) -> u64 {
    rs.annotations()
        .get(REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn run_view(run: &AnalysisRun) -> RunView {
    let status = run.status.clone().unwrap_or_default();
    RunView {
        name: run.name_any(),
        phase: phase_name(status.phase),
        message: status.message.clone(),
        metrics: status
            .metric_results
            .iter()
            .map(|m| MetricView {
                name: m.name.clone(),
                phase: format!("{:?}", m.phase),
                last_value: m.measurements.last().and_then(|x| x.value.clone()),
                successful: m.successful,
                failed: m.failed,
                count: m.count,
            })
            .collect(),
        created: created(run),
    }
}
