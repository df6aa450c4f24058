//! The control surface of design.md section 3, as the one precise write each command makes:
//! from the Rollout as read to the patch and a line saying what changed, or why there is
//! nothing to do (and so nothing is written). Pure, so every command is table-tested; it only
//! ever writes `status.abort`, `status.pauseConditions`, `status.promoteFull`, `spec.paused`,
//! `spec.restartAt` and, for `undo` and `set image`, the pod template: never a field the
//! controller owns.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use rollout_rs_crds::{POD_TEMPLATE_HASH_LABEL, Rollout};
use serde_json::{Value, json};

use crate::facts::{self, fully_promoted, status};

/// One write of the Rollout. Each carries the resourceVersion it was computed from, so a
/// Rollout that moved meanwhile (a pause that ended, another user's promote) is a conflict
/// and the command decides again on what is there now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Patch {
    /// Merge patch of the status subresource.
    Status(Value),
    /// Merge patch of the Rollout.
    Spec(Value),
    /// JSON patch of the Rollout.
    Json(Value),
}

/// What a command does: its writes (none when the Rollout is already as asked) and the line
/// that confirms it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    pub(crate) patches: Vec<Patch>,
    pub(crate) summary: String,
}

/// Why a command has nothing to do. Nothing is written; the command exits non-zero.
pub(crate) type Refusal = String;

fn name(ro: &Rollout) -> String {
    ro.metadata.name.clone().unwrap_or_default()
}

fn version(ro: &Rollout) -> Value {
    json!(ro.metadata.resource_version)
}

/// Where a canary stands, for messages: ` at step 2/4`, or nothing.
fn at_step(ro: &Rollout) -> String {
    match (status(ro).current_step_index, facts::step(ro)) {
        (Some(_), Some((at, of))) => format!(" at step {at}/{of}"),
        _ => String::new(),
    }
}

fn status_patch(ro: &Rollout, fields: Value) -> Patch {
    Patch::Status(json!({"metadata": {"resourceVersion": version(ro)}, "status": fields}))
}

fn spec_patch(ro: &Rollout, fields: Value) -> Patch {
    Patch::Spec(json!({"metadata": {"resourceVersion": version(ro)}, "spec": fields}))
}

/// `promote`: releases the pause the rollout waits at (a pause step, a blue-green preview, an
/// inconclusive analysis, a manual pause). `--full`: skips every remaining step and analysis.
pub(crate) fn promote(ro: &Rollout, full: bool) -> Result<Change, Refusal> {
    let st = status(ro);
    let n = name(ro);
    if full {
        if fully_promoted(&st) && !st.abort {
            return Err(format!(
                "rollout {n:?} is fully promoted: nothing to promote"
            ));
        }
        if st.promote_full {
            return Err(format!("rollout {n:?} is already being promoted in full"));
        }
        let mut patches = vec![status_patch(ro, json!({"promoteFull": true}))];
        if ro.spec.paused {
            patches.push(spec_patch(ro, json!({"paused": false})));
        }
        return Ok(Change {
            patches,
            summary: format!(
                "rollout {n:?} promoted in full: remaining steps and analysis skipped"
            ),
        });
    }
    if st.abort {
        return Err(format!(
            "rollout {n:?} is aborted: nothing to promote (`retry` starts the update again, `promote --full` promotes it anyway)"
        ));
    }
    let paused_by_steps = !st.pause_conditions.is_empty();
    if !paused_by_steps && !ro.spec.paused {
        let phase = st.phase.map_or("unknown".to_string(), |p| format!("{p:?}"));
        return Err(format!(
            "rollout {n:?} is not paused ({phase}{}): nothing to promote (`promote --full` skips the remaining steps)",
            at_step(ro)
        ));
    }
    let mut patches = Vec::new();
    let mut released = Vec::new();
    if paused_by_steps {
        patches.push(status_patch(ro, json!({"pauseConditions": null})));
        released.extend(
            st.pause_conditions
                .iter()
                .map(|c| format!("{:?}", c.reason)),
        );
    }
    if ro.spec.paused {
        patches.push(spec_patch(ro, json!({"paused": false})));
        released.push("manual pause".to_string());
    }
    Ok(Change {
        patches,
        summary: format!(
            "rollout {n:?} promoted{}: {} released",
            at_step(ro),
            released.join(", ")
        ),
    })
}

/// `abort`: the update stops and all traffic goes back to the stable version.
pub(crate) fn abort(ro: &Rollout) -> Result<Change, Refusal> {
    let st = status(ro);
    let n = name(ro);
    if st.abort {
        return Err(format!("rollout {n:?} is already aborted"));
    }
    if fully_promoted(&st) {
        return Err(format!(
            "rollout {n:?} is fully promoted: no update to abort"
        ));
    }
    Ok(Change {
        patches: vec![status_patch(ro, json!({"abort": true}))],
        summary: format!(
            "rollout {n:?} aborted{}: traffic goes back to stable",
            at_step(ro)
        ),
    })
}

/// `retry`: an aborted update starts again from its first step.
pub(crate) fn retry(ro: &Rollout) -> Result<Change, Refusal> {
    let n = name(ro);
    if !status(ro).abort {
        return Err(format!("rollout {n:?} is not aborted: nothing to retry"));
    }
    Ok(Change {
        patches: vec![status_patch(ro, json!({"abort": false}))],
        summary: format!("rollout {n:?} retried: the update starts again"),
    })
}

/// `pause`: steps stop advancing until `resume` (or `promote`).
pub(crate) fn pause(ro: &Rollout) -> Result<Change, Refusal> {
    let n = name(ro);
    if ro.spec.paused {
        return Err(format!("rollout {n:?} is already paused"));
    }
    Ok(Change {
        patches: vec![spec_patch(ro, json!({"paused": true}))],
        summary: format!("rollout {n:?} paused{}", at_step(ro)),
    })
}

/// `resume`: undoes `pause`.
pub(crate) fn resume(ro: &Rollout) -> Result<Change, Refusal> {
    let n = name(ro);
    if !ro.spec.paused {
        let waiting = !status(ro).pause_conditions.is_empty();
        return Err(if waiting {
            format!(
                "rollout {n:?} was not paused by a user: it waits at a pause{} (`promote` continues)",
                at_step(ro)
            )
        } else {
            format!("rollout {n:?} is not paused: nothing to resume")
        });
    }
    Ok(Change {
        patches: vec![spec_patch(ro, json!({"paused": false}))],
        summary: format!("rollout {n:?} resumed{}", at_step(ro)),
    })
}

/// `restart`: every pod created before now is replaced, a few at a time.
pub(crate) fn restart(ro: &Rollout, now: Timestamp) -> Change {
    let at = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    Change {
        patches: vec![spec_patch(ro, json!({"restartAt": at}))],
        summary: format!("rollout {:?} restarts its pods (restartAt {at})", name(ro)),
    }
}

/// A revision of the rollout: its number and the pod template its ReplicaSet runs.
#[derive(Clone, Debug)]
pub(crate) struct Revision {
    pub(crate) number: u64,
    pub(crate) hash: String,
    pub(crate) template: PodTemplateSpec,
}

/// `undo [--to-revision N]`: the pod template of revision N (default: the one before the
/// current) becomes the rollout's template again, which starts an update to it.
pub(crate) fn undo(
    ro: &Rollout,
    revisions: &[Revision],
    to: Option<u64>,
) -> Result<Change, Refusal> {
    let n = name(ro);
    if ro.spec.workload_ref.is_some() {
        return Err(format!(
            "rollout {n:?} takes its template from a Deployment (workloadRef): undo there"
        ));
    }
    let st = status(ro);
    let current = revisions
        .iter()
        .find(|r| st.current_pod_hash.as_deref() == Some(r.hash.as_str()))
        .map(|r| r.number)
        .or_else(|| revisions.iter().map(|r| r.number).max())
        .unwrap_or(0);
    let target = match to {
        Some(wanted) => revisions.iter().find(|r| r.number == wanted),
        None => revisions
            .iter()
            .filter(|r| r.number < current)
            .max_by_key(|r| r.number),
    };
    let Some(target) = target else {
        let mut known: Vec<u64> = revisions.iter().map(|r| r.number).collect();
        known.sort_unstable();
        let known = known
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(match to {
            Some(wanted) => format!("rollout {n:?} has no revision {wanted} (revisions: {known})"),
            None => format!(
                "rollout {n:?} has no revision before {current} to go back to (revisions: {known})"
            ),
        });
    };
    if target.number == current {
        return Err(format!(
            "rollout {n:?} already runs revision {current}: nothing to undo"
        ));
    }
    let mut template = target.template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    Ok(Change {
        patches: vec![Patch::Json(json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": version(ro)},
            {"op": "replace", "path": "/spec/template", "value": template},
        ]))],
        summary: format!(
            "rollout {n:?} goes back to revision {} ({}): a new update starts",
            target.number,
            images(&template)
        ),
    })
}

/// The images of a template, for messages.
fn images(t: &PodTemplateSpec) -> String {
    t.spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| c.image.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `set image NAME CONTAINER=IMAGE`: the image of one container (or `*`: every container), in
/// `containers` or `initContainers`.
pub(crate) fn set_image(ro: &Rollout, container: &str, image: &str) -> Result<Change, Refusal> {
    let n = name(ro);
    if ro.spec.workload_ref.is_some() {
        return Err(format!(
            "rollout {n:?} takes its template from a Deployment (workloadRef): set the image there"
        ));
    }
    let spec = ro.spec.template.spec.clone().unwrap_or_default();
    let lists = [
        ("containers", spec.containers),
        ("initContainers", spec.init_containers.unwrap_or_default()),
    ];
    let mut ops =
        vec![json!({"op": "test", "path": "/metadata/resourceVersion", "value": version(ro)})];
    let mut changed = Vec::new();
    let mut found = false;
    let mut all = Vec::new();
    for (list, containers) in &lists {
        for (i, c) in containers.iter().enumerate() {
            all.push(c.name.clone());
            if container != "*" && c.name != container {
                continue;
            }
            found = true;
            if c.image.as_deref() == Some(image) {
                continue;
            }
            let path = format!("/spec/template/spec/{list}/{i}");
            // The container must still be the one named at that index when the patch lands.
            ops.push(json!({"op": "test", "path": format!("{path}/name"), "value": c.name}));
            ops.push(json!({"op": "add", "path": format!("{path}/image"), "value": image}));
            changed.push(c.name.clone());
        }
    }
    if !found {
        return Err(format!(
            "rollout {n:?} has no container {container:?}; its containers: {}",
            all.join(", ")
        ));
    }
    if changed.is_empty() {
        return Ok(Change {
            patches: vec![],
            summary: format!("rollout {n:?} already runs {image}: nothing changed"),
        });
    }
    Ok(Change {
        patches: vec![Patch::Json(Value::Array(ops))],
        summary: format!(
            "rollout {n:?} container{} {} set to {image}: a new update starts",
            if changed.len() > 1 { "s" } else { "" },
            changed.join(", ")
        ),
    })
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
