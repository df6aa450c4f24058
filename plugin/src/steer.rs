//! Carries out a control command: reads the Rollout, lets `control` decide the write, makes it
//! with the resourceVersion it was decided on, and on a conflict decides again on what is there
//! now. Prints the one line that says what changed.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch as KubePatch, PatchParams};
use rollout_rs_crds::labels::REVISION_ANNOTATION;
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};

use crate::cluster::Cluster;
use crate::control::{Change, Patch, Refusal, Revision};
use crate::failure::{self, Failure};

/// The field manager of every write the plugin makes.
pub(crate) const MANAGER: &str = "kubectl-rollout-rs";

/// Conflicts tolerated before giving up: the Rollout moves on its own (the controller writes
/// its status), so a write may lose a race or two.
const ATTEMPTS: usize = 5;

/// What a command needs besides the Rollout to decide.
pub(crate) enum Needs {
    Rollout,
    Revisions,
}

/// Reads the Rollout `name`, or says it is not there and what was probably meant.
pub(crate) async fn read(cluster: &Cluster, name: &str) -> Result<Rollout, Failure> {
    let api: Api<Rollout> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match api.get_opt(name).await {
        Ok(Some(ro)) => Ok(ro),
        Ok(None) => {
            let existing: Vec<String> = api
                .list_metadata(&ListParams::default())
                .await
                .map(|l| l.items.iter().map(|m| m.name_any()).collect())
                .unwrap_or_default();
            Err(Failure::NotFound {
                name: name.to_string(),
                namespace: cluster.namespace.clone(),
                hint: failure::did_you_mean(name, &existing),
            })
        }
        Err(e) => Err(failure::api(cluster, "get", "rollouts", e)),
    }
}

/// Whether `o` is owned by the object with `uid` (a Rollout's ReplicaSets, runs, Ingresses).
pub(crate) fn owned_by<K: kube::Resource>(o: &K, uid: &str) -> bool {
    o.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid)
}

/// The revisions of the Rollout: its ReplicaSets' numbers and templates.
pub(crate) async fn revisions(cluster: &Cluster, ro: &Rollout) -> Result<Vec<Revision>, Failure> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let uid = ro.uid().unwrap_or_default();
    let list = api
        .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
        .await
        .map_err(|e| failure::api(cluster, "list", "replicasets", e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|rs| owned_by(rs, &uid))
        .filter_map(|rs| {
            let number = rs.annotations().get(REVISION_ANNOTATION)?.parse().ok()?;
            let hash = rs.labels().get(POD_TEMPLATE_HASH_LABEL)?.clone();
            let template = rs.spec?.template?;
            Some(Revision {
                number,
                hash,
                template,
            })
        })
        .collect())
}

/// Decides and writes until the write lands on the Rollout it was decided for.
pub(crate) async fn steer(
    cluster: &Cluster,
    name: &str,
    needs: Needs,
    decide: impl Fn(&Rollout, &[Revision]) -> Result<Change, Refusal>,
) -> Result<String, Failure> {
    let api: Api<Rollout> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mut attempt = 0;
    'decide: loop {
        attempt += 1;
        let ro = read(cluster, name).await?;
        let revisions = match needs {
            Needs::Revisions => revisions(cluster, &ro).await?,
            Needs::Rollout => vec![],
        };
        let change = decide(&ro, &revisions).map_err(Failure::Refused)?;
        for (i, patch) in change.patches.iter().enumerate() {
            // Later writes of one decision follow the first, which moved the resourceVersion.
            let patch = if i == 0 {
                patch.clone()
            } else {
                unguarded(patch)
            };
            let written = match &patch {
                Patch::Status(v) => api
                    .patch_status(name, &params, &KubePatch::Merge(v))
                    .await
                    .map(|_| ()),
                Patch::Spec(v) => api
                    .patch(name, &params, &KubePatch::Merge(v))
                    .await
                    .map(|_| ()),
                Patch::Json(v) => match serde_json::from_value::<json_patch::Patch>(v.clone()) {
                    Ok(p) => api
                        .patch(name, &params, &KubePatch::Json::<()>(p))
                        .await
                        .map(|_| ()),
                    Err(e) => Err(kube::Error::SerdeError(e)),
                },
            };
            match written {
                Ok(()) => {}
                // Moved since it was read (a conflict, or a `test` of the JSON patch that
                // failed): decide again.
                Err(kube::Error::Api(s))
                    if (s.code == 409 || s.code == 422) && attempt < ATTEMPTS =>
                {
                    continue 'decide;
                }
                Err(e) => {
                    let resource = match &patch {
                        Patch::Status(_) => "rollouts/status",
                        _ => "rollouts",
                    };
                    return Err(failure::api(cluster, "patch", resource, e));
                }
            }
        }
        return Ok(change.summary);
    }
}

/// A merge patch without its resourceVersion guard.
fn unguarded(patch: &Patch) -> Patch {
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
        }
        v
    };
    match patch {
        Patch::Status(v) => Patch::Status(strip(v)),
        Patch::Spec(v) => Patch::Spec(strip(v)),
        Patch::Json(v) => Patch::Json(v.clone()),
    }
}
