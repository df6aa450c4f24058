//! Template and run validation: the field rules of `rollout_rs_crds::validation` plus the
//! conditions compiled with the CEL dialect this engine evaluates, so a condition that does
//! not compile is rejected where the template is checked, not at the first measurement.

use rollout_rs_crds::analysis::{AnalysisRunSpec, AnalysisTemplateSpec, Metric};
use rollout_rs_crds::manifest::Object;
use rollout_rs_crds::validation::{self, FieldError};

use crate::condition::check;

/// Every problem of an AnalysisTemplate or ClusterAnalysisTemplate spec.
pub fn template(spec: &AnalysisTemplateSpec) -> Vec<FieldError> {
    let mut errs = validation::analysis_template(spec);
    errs.extend(conditions(&spec.metrics));
    errs
}

/// Every problem of an AnalysisRun spec.
pub fn run(spec: &AnalysisRunSpec) -> Vec<FieldError> {
    let mut errs = validation::analysis_run(spec);
    errs.extend(conditions(&spec.metrics));
    errs
}

/// Every problem of a parsed manifest object: the field rules of its kind, and for analysis
/// kinds the compiled conditions too (what `kubectl rollout-rs lint` reports).
pub fn object(obj: &Object) -> Vec<FieldError> {
    match obj {
        Object::AnalysisTemplate(t) => template(&t.spec),
        Object::ClusterAnalysisTemplate(t) => template(&t.spec),
        Object::AnalysisRun(r) => run(&r.spec),
        other => other.validate(),
    }
}

fn conditions(metrics: &[Metric]) -> Vec<FieldError> {
    metrics
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            check(m).into_iter().map(move |e| FieldError {
                path: format!("spec.metrics[{i}].{}", e.field),
                message: format!("does not compile: {}", e.message),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_rs_crds::analysis::{MetricProvider, PrometheusMetric};

    #[test]
    fn a_cel_syntax_error_names_the_field() {
        let spec = AnalysisTemplateSpec {
            metrics: vec![Metric {
                name: "rate".into(),
                success_condition: Some("result[0] >=".into()),
                provider: MetricProvider {
                    prometheus: Some(PrometheusMetric {
                        address: Some("http://prometheus:9090".into()),
                        query: "up".into(),
                        ..Default::default()
                    }),
                    web: None,
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let errs = template(&spec);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "spec.metrics[0].successCondition");
        assert!(
            errs[0].message.starts_with("does not compile: "),
            "{}",
            errs[0].message
        );
    }
}
