//! Builds the AnalysisRun a Rollout asks for: the referenced templates merged (metrics, args,
//! dry-run and retention settings), the Rollout's argument values filled in (literal values,
//! pod-template hashes, fields of the Rollout), named and labelled so users find it
//! (`rollout-type`, `step-index`, `rollouts-pod-template-hash`) and owned by the Rollout.
//! Secret arguments stay references: the AnalysisRun controller reads them when measuring.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};
use rollout_rs_crds::analysis::{AnalysisRunSpec, AnalysisTemplateSpec, Argument};
use rollout_rs_crds::rollout::{AnalysisTemplateRef, PodTemplateHashValue};
use rollout_rs_crds::{AnalysisRun, POD_TEMPLATE_HASH_LABEL, Rollout};

use super::analysis::NewRun;
use rollout_rs_crds::labels::{REVISION_ANNOTATION, RUN_TYPE_LABEL, STEP_INDEX_LABEL};

/// The AnalysisRun for `new`, or why it cannot be built (a template that vanished, an
/// argument source that does not resolve).
pub(crate) fn build(
    ro: &Rollout,
    new: &NewRun,
    template: impl Fn(&AnalysisTemplateRef) -> Option<AnalysisTemplateSpec>,
    stable_hash: Option<&str>,
) -> Result<AnalysisRun, String> {
    let mut spec = AnalysisRunSpec::default();
    for r in &new.analysis.templates {
        let t = template(r).ok_or_else(|| format!("{} not found", describe(r)))?;
        for m in t.metrics {
            if spec.metrics.iter().any(|have| have.name == m.name) {
                return Err(format!(
                    "metric {:?} is defined by more than one template",
                    m.name
                ));
            }
            spec.metrics.push(m);
        }
        for a in t.args {
            match spec.args.iter_mut().find(|have| have.name == a.name) {
                // The same argument in two templates: a value wins over none.
                Some(have) if have.value.is_none() && have.value_from.is_none() => *have = a,
                Some(_) => {}
                None => spec.args.push(a),
            }
        }
        spec.dry_run.extend(t.dry_run);
        spec.measurement_retention.extend(t.measurement_retention);
    }
    spec.dry_run.extend(new.analysis.dry_run.iter().cloned());
    spec.measurement_retention
        .extend(new.analysis.measurement_retention.iter().cloned());
    let rollout_json = serde_json::to_value(ro).unwrap_or_default();
    // Template arguments taken from the Rollout's fields are resolved now, against it.
    for a in &mut spec.args {
        if let Some(path) = a
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone())
        {
            a.value = Some(
                field(&rollout_json, &path)
                    .map_err(|e| format!("argument {:?}: fieldRef {path:?}: {e}", a.name))?,
            );
            a.value_from = None;
        }
    }
    for given in &new.analysis.args {
        let value = match (&given.value, &given.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match (&from.pod_template_hash_value, &from.field_ref) {
                (Some(PodTemplateHashValue::Latest), _) => new.hash.clone(),
                (Some(PodTemplateHashValue::Stable), _) => stable_hash
                    .ok_or_else(|| {
                        format!(
                            "argument {:?}: there is no stable ReplicaSet yet",
                            given.name
                        )
                    })?
                    .to_string(),
                (None, Some(f)) => field(&rollout_json, &f.field_path).map_err(|e| {
                    format!(
                        "argument {:?}: fieldRef {:?}: {e}",
                        given.name, f.field_path
                    )
                })?,
                (None, None) => continue,
            },
            (None, None) => continue,
        };
        match spec.args.iter_mut().find(|a| a.name == given.name) {
            Some(a) => {
                a.value = Some(value);
                a.value_from = None;
            }
            None => spec.args.push(Argument {
                name: given.name.clone(),
                value: Some(value),
                value_from: None,
            }),
        }
    }

    let meta = new
        .analysis
        .analysis_run_metadata
        .clone()
        .unwrap_or_default();
    let mut labels: BTreeMap<String, String> = meta.labels;
    labels.insert(POD_TEMPLATE_HASH_LABEL.into(), new.hash.clone());
    labels.insert(RUN_TYPE_LABEL.into(), new.kind.label().into());
    if let Some(step) = new.step {
        labels.insert(STEP_INDEX_LABEL.into(), step.to_string());
    }
    let mut annotations = meta.annotations;
    annotations.insert(REVISION_ANNOTATION.into(), new.revision.to_string());
    Ok(AnalysisRun {
        metadata: kube::api::ObjectMeta {
            name: Some(new.name.clone()),
            namespace: ro.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: ro.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

fn describe(r: &AnalysisTemplateRef) -> String {
    if r.cluster_scope {
        format!("ClusterAnalysisTemplate {:?}", r.template_name)
    } else {
        format!("AnalysisTemplate {:?}", r.template_name)
    }
}

/// The text of a field addressed like the downward API: `metadata.name`,
/// `metadata.labels['app']`, `spec.template.spec.containers[0].image`.
fn field(obj: &serde_json::Value, path: &str) -> Result<String, String> {
    let mut at = obj;
    let mut rest = path.trim();
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        if !name.is_empty() {
            at = at.get(name).ok_or("no such field")?;
        }
        rest = tail;
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').ok_or("unclosed [")?;
            let key = &inner[..close];
            let quoted = key
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .or_else(|| key.strip_prefix('"').and_then(|k| k.strip_suffix('"')));
            at = match (quoted, key.parse::<usize>()) {
                (Some(k), _) => at.get(k),
                (None, Ok(i)) => at.get(i),
                (None, Err(_)) => at.get(key),
            }
            .ok_or("no such field")?;
            rest = &inner[close + 1..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Ok(match at {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => return Err("no such field".into()),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::analysis::RunKind;
    use rollout_rs_crds::analysis::{Metric, ValueFrom};
    use rollout_rs_crds::rollout::{AnalysisRunArgument, ArgumentValueFrom, RolloutAnalysis};
    use rollout_rs_crds::{FieldRef, SecretKeyRef};

    fn rollout() -> Rollout {
        let mut ro: Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {},
                     "strategy": {"canary": {}}}
        }))
        .expect("a rollout");
        ro.metadata.namespace = Some("shop".into());
        ro.metadata.uid = Some("uid-1".into());
        ro.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        ro
    }

    fn template(args: Vec<Argument>) -> AnalysisTemplateSpec {
        AnalysisTemplateSpec {
            metrics: vec![Metric {
                name: "success-rate".into(),
                ..Default::default()
            }],
            args,
            ..Default::default()
        }
    }

    fn arg(name: &str) -> Argument {
        Argument {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn merges_templates_and_fills_the_rollout_args() {
        let new = NewRun {
            name: "web-abc-2-1".into(),
            kind: RunKind::Step,
            step: Some(1),
            hash: "abc".into(),
            revision: 2,
            analysis: RolloutAnalysis {
                templates: vec![AnalysisTemplateRef {
                    template_name: "rate".into(),
                    cluster_scope: false,
                }],
                args: vec![
                    AnalysisRunArgument {
                        name: "service-name".into(),
                        value: Some("web-canary".into()),
                        value_from: None,
                    },
                    AnalysisRunArgument {
                        name: "canary-hash".into(),
                        value: None,
                        value_from: Some(ArgumentValueFrom {
                            pod_template_hash_value: Some(PodTemplateHashValue::Latest),
                            field_ref: None,
                        }),
                    },
                    AnalysisRunArgument {
                        name: "app".into(),
                        value: None,
                        value_from: Some(ArgumentValueFrom {
                            pod_template_hash_value: None,
                            field_ref: Some(FieldRef {
                                field_path: "metadata.labels['app']".into(),
                            }),
                        }),
                    },
                ],
                ..Default::default()
            },
        };
        let token = Argument {
            name: "token".into(),
            value: None,
            value_from: Some(ValueFrom {
                secret_key_ref: Some(SecretKeyRef {
                    name: "prom".into(),
                    key: "token".into(),
                }),
                field_ref: None,
            }),
        };
        let t = template(vec![
            arg("service-name"),
            arg("canary-hash"),
            arg("app"),
            token.clone(),
        ]);
        let run = build(&rollout(), &new, |_| Some(t.clone()), Some("old")).expect("builds");
        let value = |n: &str| {
            run.spec
                .args
                .iter()
                .find(|a| a.name == n)
                .and_then(|a| a.value.clone())
        };
        assert_eq!(value("service-name").as_deref(), Some("web-canary"));
        assert_eq!(value("canary-hash").as_deref(), Some("abc"));
        assert_eq!(value("app").as_deref(), Some("web"));
        assert_eq!(
            run.spec.args.iter().find(|a| a.name == "token"),
            Some(&token),
            "secrets stay references"
        );
        let labels = run.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(RUN_TYPE_LABEL).map(String::as_str), Some("Step"));
        assert_eq!(labels.get(STEP_INDEX_LABEL).map(String::as_str), Some("1"));
        assert_eq!(
            labels.get(POD_TEMPLATE_HASH_LABEL).map(String::as_str),
            Some("abc")
        );
        assert_eq!(
            run.metadata
                .owner_references
                .as_ref()
                .map(|o| o[0].uid.as_str()),
            Some("uid-1")
        );
        let missing = build(&rollout(), &new, |_| None, None).unwrap_err();
        assert_eq!(missing, "AnalysisTemplate \"rate\" not found");
    }

    #[test]
    fn field_paths() {
        let obj = serde_json::json!({"metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "shop"}},
            "spec": {"containers": [{"image": "web:2"}], "replicas": 3}});
        assert_eq!(field(&obj, "metadata.name").as_deref(), Ok("web"));
        assert_eq!(
            field(&obj, "metadata.labels['app.kubernetes.io/name']").as_deref(),
            Ok("shop")
        );
        assert_eq!(
            field(&obj, "spec.containers[0].image").as_deref(),
            Ok("web:2")
        );
        assert_eq!(field(&obj, "spec.replicas").as_deref(), Ok("3"));
        assert!(field(&obj, "metadata.labels['nope']").is_err());
    }
}
