//! `{{args.NAME}}` in a metric's own fields, not only its provider's (Argo Rollouts'
//! TestAnalysisWithSecret): `interval`, `initialDelay`, `count`, the limits and the
//! conditions. Resolved once when the run is read, from its plain arguments: these fields end
//! up in status and messages, so an argument from a Secret is refused there (it may only reach
//! a provider, which redacts it). Provider fields are resolved per measurement elsewhere.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollout_rs_crds::analysis::{AnalysisRunSpec, Argument, Metric};

use crate::args::{ArgError, ArgValue, substitute};

/// Why a metric's fields could not be resolved; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec.metrics[{index}].{field}: {why}")]
pub struct FieldArgError {
    pub index: usize,
    pub field: &'static str,
    pub why: String,
}

/// The run spec with every placeholder of the metrics' own fields replaced.
pub fn resolve(spec: &AnalysisRunSpec) -> Result<AnalysisRunSpec, FieldArgError> {
    let args = plain(&spec.args);
    let mut out = spec.clone();
    for (index, metric) in out.metrics.iter_mut().enumerate() {
        resolve_metric(metric, &args).map_err(|(field, why)| FieldArgError {
            index,
            field,
            why,
        })?;
    }
    Ok(out)
}

/// Plain values as they are; a Secret's as a marked blank, so using one can be told apart
/// from a missing argument.
fn plain(args: &[Argument]) -> BTreeMap<String, Option<ArgValue>> {
    args.iter()
        .map(|a| {
            let value = match (&a.value, &a.value_from) {
                (Some(v), _) => Some(ArgValue {
                    value: v.clone(),
                    secret: false,
                }),
                (None, Some(from)) if from.secret_key_ref.is_some() => Some(ArgValue {
                    value: String::new(),
                    secret: true,
                }),
                _ => None,
            };
            (a.name.clone(), value)
        })
        .collect()
}

fn text(
    field: &'static str,
    value: &mut String,
    args: &BTreeMap<String, Option<ArgValue>>,
) -> Result<(), (&'static str, String)> {
    if !value.contains("{{") {
        return Ok(());
    }
    let (resolved, redacted) =
        substitute(value, args).map_err(|e: ArgError| (field, e.to_string()))?;
    if resolved != redacted {
        return Err((
            field,
            "uses an argument from a Secret: only provider fields may".into(),
        ));
    }
    *value = resolved;
    Ok(())
}

fn resolve_metric(
    m: &mut Metric,
    args: &BTreeMap<String, Option<ArgValue>>,
) -> Result<(), (&'static str, String)> {
    for (field, value) in [
        ("interval", &mut m.interval),
        ("initialDelay", &mut m.initial_delay),
        ("successCondition", &mut m.success_condition),
        ("failureCondition", &mut m.failure_condition),
    ] {
        if let Some(v) = value.as_mut() {
            text(field, v, args)?;
        }
    }
    for (field, value) in [
        ("count", &mut m.count),
        ("failureLimit", &mut m.failure_limit),
        ("inconclusiveLimit", &mut m.inconclusive_limit),
        ("consecutiveErrorLimit", &mut m.consecutive_error_limit),
        ("consecutiveSuccessLimit", &mut m.consecutive_success_limit),
    ] {
        if let Some(IntOrString::String(s)) = value.as_mut() {
            text(field, s, args)?;
            let n: i32 = s
                .trim()
                .parse()
                .map_err(|_| (field, format!("{s:?} is not an integer")))?;
            *value = Some(IntOrString::Int(n));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(metric: serde_json::Value, args: serde_json::Value) -> AnalysisRunSpec {
        serde_json::from_value(serde_json::json!({"metrics": [metric], "args": args}))
            .expect("spec")
    }

    #[test]
    fn every_metric_field_takes_arguments() {
        let s = spec(
            serde_json::json!({
                "name": "rate", "interval": "{{args.every}}", "initialDelay": "{{ args.wait }}",
                "count": "{{args.count}}", "failureLimit": "{{args.failures}}",
                "successCondition": "result >= {{args.min}}",
                "provider": {"web": {"url": "http://x/{{args.token}}"}}
            }),
            serde_json::json!([
                {"name": "every", "value": "5s"}, {"name": "wait", "value": "1m"},
                {"name": "count", "value": "3"}, {"name": "failures", "value": "2"},
                {"name": "min", "value": "0.95"},
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
            ]),
        );
        let r = resolve(&s).expect("resolves");
        let m = &r.metrics[0];
        assert_eq!(m.interval.as_deref(), Some("5s"));
        assert_eq!(m.initial_delay.as_deref(), Some("1m"));
        assert_eq!(m.count, Some(IntOrString::Int(3)));
        assert_eq!(m.failure_limit, Some(IntOrString::Int(2)));
        assert_eq!(m.success_condition.as_deref(), Some("result >= 0.95"));
        assert_eq!(
            m.provider.web.as_ref().map(|w| w.url.as_str()),
            Some("http://x/{{args.token}}"),
            "provider fields are resolved per measurement"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let s = spec(
            serde_json::json!({"name": "rate", "count": "{{args.n}}",
                "provider": {"web": {"url": "http://x"}}}),
            serde_json::json!([{"name": "n", "value": "three"}]),
        );
        assert_eq!(
            resolve(&s).map_err(|e| e.to_string()),
            Err("spec.metrics[0].count: \"three\" is not an integer".into())
        );
        let s = spec(
            serde_json::json!({"name": "rate", "successCondition": "result > {{args.secret}}",
                "provider": {"web": {"url": "http://x"}}}),
            serde_json::json!([{"name": "secret", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        );
        let e = resolve(&s).expect_err("a Secret in a condition");
        assert_eq!(e.field, "successCondition");
        assert!(e.why.contains("Secret"), "{e}");
        let s = spec(
            serde_json::json!({"name": "rate", "interval": "{{args.missing}}",
                "provider": {"web": {"url": "http://x"}}}),
            serde_json::json!([]),
        );
        assert!(resolve(&s).is_err_and(|e| e.field == "interval"));
    }
}
