//! Rules for `AnalysisTemplate`, `ClusterAnalysisTemplate` and `AnalysisRun` specs: metric
//! fields, providers, limits, and that every `{{args.NAME}}` placeholder names a declared argument.
//! Condition expressions are compiled by the analysis engine, which owns the CEL dialect.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Errors, FieldError, exactly_one};
use crate::analysis::{AnalysisRunSpec, AnalysisTemplateSpec, Argument, Metric, WebMethod};
use crate::duration;
use crate::rollout::{DryRunMetric, MeasurementRetention};

/// Validates an AnalysisTemplate (or ClusterAnalysisTemplate) spec. Paths start at `spec`.
pub fn analysis_template(spec: &AnalysisTemplateSpec) -> Vec<FieldError> {
    let mut errs = Errors::default();
    metrics_and_args(
        &mut errs,
        &spec.metrics,
        &spec.args,
        &spec.dry_run,
        &spec.measurement_retention,
    );
    errs.into_vec()
}

/// Validates an AnalysisRun spec. An argument without a value is not an error here: the run
/// itself reports it as Error, naming the argument, when it starts.
pub fn analysis_run(spec: &AnalysisRunSpec) -> Vec<FieldError> {
    let mut errs = Errors::default();
    metrics_and_args(
        &mut errs,
        &spec.metrics,
        &spec.args,
        &spec.dry_run,
        &spec.measurement_retention,
    );
    errs.into_vec()
}

fn metrics_and_args(
    errs: &mut Errors,
    metrics: &[Metric],
    args: &[Argument],
    dry_run: &[DryRunMetric],
    retention: &[MeasurementRetention],
) {
    let declared = arguments(errs, args);
    if metrics.is_empty() {
        errs.add("spec.metrics", "at least one metric is required");
    }
    let mut names = BTreeSet::new();
    for (i, m) in metrics.iter().enumerate() {
        let path = format!("spec.metrics[{i}]");
        if m.name.is_empty() {
            errs.add(format!("{path}.name"), "required");
        } else if !names.insert(m.name.as_str()) {
            errs.add(
                format!("{path}.name"),
                format!("duplicate metric name {:?}", m.name),
            );
        }
        metric(errs, &path, m);
        placeholders(errs, &path, m, &declared);
    }
    for (i, d) in dry_run.iter().enumerate() {
        metric_ref(
            errs,
            &format!("spec.dryRun[{i}].metricName"),
            &d.metric_name,
            &names,
        );
    }
    for (i, r) in retention.iter().enumerate() {
        metric_ref(
            errs,
            &format!("spec.measurementRetention[{i}].metricName"),
            &r.metric_name,
            &names,
        );
        if r.limit < 1 {
            errs.add(
                format!("spec.measurementRetention[{i}].limit"),
                format!("must be >= 1, got {}", r.limit),
            );
        }
    }
}

fn metric_ref(errs: &mut Errors, path: &str, name: &str, metrics: &BTreeSet<&str>) {
    if name != "*" && !metrics.contains(name) {
        errs.add(
            path,
            format!("{name:?} is not a metric of this template (use \"*\" for all)"),
        );
    }
}

/// Checks the argument list and returns the declared names.
fn arguments<'a>(errs: &mut Errors, args: &'a [Argument]) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    for (i, a) in args.iter().enumerate() {
        let path = format!("spec.args[{i}]");
        if a.name.is_empty() {
            errs.add(format!("{path}.name"), "required");
        } else if !names.insert(a.name.as_str()) {
            errs.add(
                format!("{path}.name"),
                format!("duplicate argument {:?}", a.name),
            );
        }
        if a.value.is_some() && a.value_from.is_some() {
            errs.add(&path, "set value or valueFrom, not both");
        }
        if let Some(from) = &a.value_from {
            let vp = format!("{path}.valueFrom");
            exactly_one(
                errs,
                &vp,
                &[
                    ("secretKeyRef", from.secret_key_ref.is_some()),
                    ("fieldRef", from.field_ref.is_some()),
                ],
            );
            if let Some(s) = &from.secret_key_ref {
                for (field, v) in [("name", &s.name), ("key", &s.key)] {
                    if v.is_empty() {
                        errs.add(format!("{vp}.secretKeyRef.{field}"), "required");
                    }
                }
            }
            if let Some(f) = &from.field_ref {
                field_path(errs, &format!("{vp}.fieldRef.fieldPath"), &f.field_path);
            }
        }
    }
    names
}

/// A downward-API style field path of the owning object.
pub(super) fn field_path(errs: &mut Errors, path: &str, value: &str) {
    let known = ["metadata.", "spec.", "status."];
    if !known.iter().any(|p| value.starts_with(p)) || value.ends_with('.') {
        errs.add(
            path,
            format!("{value:?} must be a field path under metadata., spec. or status., e.g. metadata.labels['app']"),
        );
    }
}

fn is_placeholder(s: &str) -> bool {
    let s = s.trim();
    s.starts_with("{{") && s.ends_with("}}")
}

fn metric(errs: &mut Errors, path: &str, m: &Metric) {
    for (field, value) in [
        ("interval", &m.interval),
        ("initialDelay", &m.initial_delay),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !is_placeholder(v))
            && let Err(e) = duration::parse(v)
        {
            errs.add(format!("{path}.{field}"), e.to_string());
        }
    }
    let count = limit(errs, &format!("{path}.count"), m.count.as_ref(), 0);
    if count.is_some_and(|c| c > 1) && m.interval.is_none() {
        errs.add(format!("{path}.interval"), "required when count > 1");
    }
    limit(
        errs,
        &format!("{path}.failureLimit"),
        m.failure_limit.as_ref(),
        -1,
    );
    limit(
        errs,
        &format!("{path}.inconclusiveLimit"),
        m.inconclusive_limit.as_ref(),
        0,
    );
    limit(
        errs,
        &format!("{path}.consecutiveErrorLimit"),
        m.consecutive_error_limit.as_ref(),
        0,
    );
    let success = limit(
        errs,
        &format!("{path}.consecutiveSuccessLimit"),
        m.consecutive_success_limit.as_ref(),
        0,
    );
    if let (Some(s), Some(c)) = (success, count)
        && c > 0
        && s > c
    {
        errs.add(
            format!("{path}.consecutiveSuccessLimit"),
            format!("({s}) can never be reached with count {c}"),
        );
    }
    for (field, cond) in [
        ("successCondition", &m.success_condition),
        ("failureCondition", &m.failure_condition),
    ] {
        if cond.as_deref().is_some_and(|c| c.trim().is_empty()) {
            errs.add(format!("{path}.{field}"), "must not be empty when set");
        }
    }

    let p = &m.provider;
    let pp = format!("{path}.provider");
    exactly_one(
        errs,
        &pp,
        &[
            ("prometheus", p.prometheus.is_some()),
            ("web", p.web.is_some()),
        ],
    );
    if let Some(prom) = &p.prometheus {
        let pp = format!("{pp}.prometheus");
        if prom.query.trim().is_empty() {
            errs.add(format!("{pp}.query"), "required");
        }
        if let Some(addr) = &prom.address {
            http_url(errs, &format!("{pp}.address"), addr);
        }
        if let Some(t) = prom.timeout.filter(|t| *t < 0) {
            errs.add(
                format!("{pp}.timeout"),
                format!("must be >= 0 seconds, got {t}"),
            );
        }
        if let Some(r) = &prom.range_query {
            let rp = format!("{pp}.rangeQuery");
            for (field, v) in [
                ("start", Some(&r.start)),
                ("end", r.end.as_ref()),
                ("step", Some(&r.step)),
            ] {
                if let Some(v) = v.filter(|v| !is_placeholder(v))
                    && let Err(e) = duration::parse(v)
                {
                    errs.add(format!("{rp}.{field}"), e.to_string());
                }
            }
        }
    }
    if let Some(web) = &p.web {
        let wp = format!("{pp}.web");
        http_url(errs, &format!("{wp}.url"), &web.url);
        if web.body.is_some() && web.json_body.is_some() {
            errs.add(&wp, "set body or jsonBody, not both");
        }
        let method = web.method.unwrap_or(WebMethod::Get);
        if method == WebMethod::Get && (web.body.is_some() || web.json_body.is_some()) {
            errs.add(
                format!("{wp}.method"),
                "a request body requires method POST or PUT",
            );
        }
        if let Some(t) = web.timeout_seconds.filter(|t| *t < 0) {
            errs.add(
                format!("{wp}.timeoutSeconds"),
                format!("must be >= 0, got {t}"),
            );
        }
        if let Some(jp) = web.json_path.as_deref()
            && !(jp.starts_with('{') && jp.ends_with('}'))
        {
            errs.add(
                format!("{wp}.jsonPath"),
                format!("{jp:?} must be a JSONPath template such as \"{{$.data.ok}}\""),
            );
        }
    }
}

/// Checks an int-or-string limit (a number, a numeric string or an argument placeholder) and
/// returns its value when it is known now.
fn limit(errs: &mut Errors, path: &str, value: Option<&IntOrString>, min: i64) -> Option<i64> {
    let n = match value? {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(s) if is_placeholder(s) => return None,
        IntOrString::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                errs.add(path, format!("{s:?} must be an integer or an argument placeholder like \"{{{{args.count}}}}\""));
                return None;
            }
        },
    };
    if n < min {
        errs.add(path, format!("must be >= {min}, got {n}"));
    }
    Some(n)
}

fn http_url(errs: &mut Errors, path: &str, url: &str) {
    if url.trim().is_empty() {
        errs.add(path, "required");
    } else if !(url.starts_with("http://")
        || url.starts_with("https://")
        || url.trim_start().starts_with("{{"))
    {
        errs.add(path, format!("{url:?} must be an http:// or https:// URL"));
    }
}

/// Every `{{...}}` in a metric's string fields must be `args.NAME` with NAME declared.
fn placeholders(errs: &mut Errors, path: &str, m: &Metric, declared: &BTreeSet<&str>) {
    let Ok(value) = serde_json::to_value(m) else {
        return;
    };
    let mut strings = Vec::new();
    collect_strings(&value, path.to_string(), &mut strings);
    for (field_path, s) in strings {
        let mut rest = s.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                errs.add(&field_path, "unterminated \"{{\" placeholder");
                break;
            };
            let inner = after[..end].trim();
            match inner.strip_prefix("args.") {
                Some(name) if declared.contains(name) => {}
                Some(name) => errs.add(
                    &field_path,
                    format!("references undeclared argument {name:?}"),
                ),
                None => errs.add(
                    &field_path,
                    format!(
                        "unknown placeholder {{{{{inner}}}}}: only {{{{args.NAME}}}} is supported"
                    ),
                ),
            }
            rest = &after[end + 2..];
        }
    }
}

fn collect_strings(v: &serde_json::Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((path, s.clone())),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                collect_strings(item, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}
