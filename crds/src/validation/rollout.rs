//! Rules for `Rollout` specs: those Argo Rollouts users rely on (`pkg/apis/rollouts/validation`)
//! plus name syntax and selector/template agreement.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Errors, FieldError, exactly_one, int_or_percent};
use crate::duration;
use crate::rollout::{
    AnalysisRunArgument, AnalysisTemplateRef, BlueGreenStrategy, CanaryStep, CanaryStrategy,
    DryRunMetric, MeasurementRetention, RolloutSpec, RolloutTrafficRouting, WorkloadRef,
};

const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
const DEFAULT_MAX_TRAFFIC_WEIGHT: i32 = 100;

/// Validates a Rollout spec. Paths start at `spec`.
pub fn rollout(spec: &RolloutSpec) -> Vec<FieldError> {
    let mut errs = Errors::default();
    errs.non_negative("spec.replicas", spec.replicas);
    errs.non_negative("spec.minReadySeconds", spec.min_ready_seconds);
    errs.non_negative("spec.revisionHistoryLimit", spec.revision_history_limit);
    if let Some(d) = spec.progress_deadline_seconds {
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if d <= 0 {
            errs.add(
                "spec.progressDeadlineSeconds",
                format!("must be > 0, got {d}"),
            );
        } else if d <= min_ready {
            errs.add(
                "spec.progressDeadlineSeconds",
                format!("must be greater than spec.minReadySeconds ({min_ready})"),
            );
        }
    } else if spec.min_ready_seconds.unwrap_or(0) >= DEFAULT_PROGRESS_DEADLINE_SECONDS {
        errs.add(
            "spec.minReadySeconds",
            format!("must be less than spec.progressDeadlineSeconds (default {DEFAULT_PROGRESS_DEADLINE_SECONDS})"),
        );
    }
    if let Some(a) = &spec.analysis {
        errs.non_negative(
            "spec.analysis.successfulRunHistoryLimit",
            a.successful_run_history_limit,
        );
        errs.non_negative(
            "spec.analysis.unsuccessfulRunHistoryLimit",
            a.unsuccessful_run_history_limit,
        );
    }
    if let Some(w) = &spec.rollback_window {
        errs.non_negative("spec.rollbackWindow.revisions", w.revisions);
    }
    match &spec.workload_ref {
        None if spec.template == PodTemplateSpec::default() => {
            errs.add("spec.template", "required, or spec.workloadRef")
        }
        None => selector_and_template(&mut errs, &spec.selector, &spec.template),
        Some(w) => workload_ref(&mut errs, spec, w),
    }

    let history = spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    match (&spec.strategy.canary, &spec.strategy.blue_green) {
        (Some(c), None) => canary(&mut errs, c, history),
        (None, Some(b)) => blue_green(&mut errs, b, history),
        (Some(_), Some(_)) => errs.add(
            "spec.strategy",
            "set exactly one of canary or blueGreen, not both",
        ),
        (None, None) => errs.add("spec.strategy", "set exactly one of canary or blueGreen"),
    }
    errs.into_vec()
}

/// `workloadRef` instead of `template`: the template comes from the Deployment, checked when
/// the controller reads it.
fn workload_ref(errs: &mut Errors, spec: &RolloutSpec, w: &WorkloadRef) {
    if spec.template != PodTemplateSpec::default() {
        errs.add("spec.template", "must not be set with spec.workloadRef");
    }
    if w.api_version != "apps/v1" || w.kind != "Deployment" {
        errs.add(
            "spec.workloadRef",
            format!(
                "{}/{} is not supported: only apps/v1 Deployment",
                w.api_version, w.kind
            ),
        );
    }
    if w.name.is_empty() {
        errs.add("spec.workloadRef.name", "required");
    }
    let selector = &spec.selector;
    if selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
    {
        errs.add(
            "spec.selector",
            "must not be empty: an empty selector would select every pod in the namespace",
        );
    }
}

fn selector_and_template(errs: &mut Errors, selector: &LabelSelector, template: &PodTemplateSpec) {
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let match_labels = selector.match_labels.clone().unwrap_or_default();
    let exprs = selector.match_expressions.as_deref().unwrap_or_default();
    if match_labels.is_empty() && exprs.is_empty() {
        errs.add(
            "spec.selector",
            "must not be empty: an empty selector would select every pod in the namespace",
        );
    }
    let mut matches = match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    for (i, e) in exprs.iter().enumerate() {
        let path = format!("spec.selector.matchExpressions[{i}]");
        let values = e.values.as_deref().unwrap_or_default();
        let actual = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                errs.add(
                    format!("{path}.values"),
                    format!("must not be empty for operator {}", e.operator),
                );
                true
            }
            "In" => actual.is_some_and(|a| values.contains(a)),
            "NotIn" => !actual.is_some_and(|a| values.contains(a)),
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errs.add(
                    format!("{path}.values"),
                    format!("must be empty for operator {}", e.operator),
                );
                true
            }
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            other => {
                errs.add(
                    format!("{path}.operator"),
                    format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                );
                true
            }
        };
        matches &= ok;
    }
    if !matches {
        errs.add("spec.selector", "does not match spec.template.metadata.labels: the Rollout would never see its own pods");
    }

    let Some(pod) = &template.spec else {
        errs.add("spec.template.spec", "required");
        return;
    };
    if pod.containers.is_empty() {
        errs.add(
            "spec.template.spec.containers",
            "must have at least one container",
        );
    }
    let mut seen = BTreeSet::new();
    let init = pod
        .init_containers
        .iter()
        .flatten()
        .map(|c| ("initContainers", c));
    let regular = pod.containers.iter().map(|c| ("containers", c));
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (list, c) in init.chain(regular) {
        let i = index.entry(list).or_default();
        let path = format!("spec.template.spec.{list}[{i}]");
        *i += 1;
        if c.name.is_empty() {
            errs.add(format!("{path}.name"), "required");
        } else if !seen.insert(c.name.as_str()) {
            errs.add(
                format!("{path}.name"),
                format!("duplicate container name {:?}", c.name),
            );
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            errs.add(format!("{path}.image"), "required");
        }
    }
    if let Some(policy) = pod.restart_policy.as_deref().filter(|p| *p != "Always") {
        errs.add(
            "spec.template.spec.restartPolicy",
            format!("{policy:?} is not supported: only \"Always\", as for Deployments"),
        );
    }
}

fn canary(errs: &mut Errors, c: &CanaryStrategy, history: i32) {
    const P: &str = "spec.strategy.canary";
    errs.service_name(format!("{P}.canaryService"), c.canary_service.as_deref());
    errs.service_name(format!("{P}.stableService"), c.stable_service.as_deref());
    if c.canary_service.is_some() && c.canary_service == c.stable_service {
        errs.add(
            format!("{P}.stableService"),
            "must differ from canaryService",
        );
    }

    let routed = c.traffic_routing.is_some();
    let max_weight = c
        .traffic_routing
        .as_ref()
        .and_then(|t| t.max_traffic_weight)
        .unwrap_or(DEFAULT_MAX_TRAFFIC_WEIGHT);
    if let Some(tr) = &c.traffic_routing {
        // An Istio subset-level split tells the sides apart by DestinationRule subsets, not
        // by Services (Argo Rollouts' TestIstioSubsetSplit); every other router needs both.
        let subsets_only = tr
            .istio
            .as_ref()
            .is_some_and(|i| i.destination_rule.is_some())
            && tr.nginx.is_none()
            && tr.gateway_api.is_none()
            && tr.smi.is_none();
        if !subsets_only {
            if c.canary_service.is_none() {
                errs.add(format!("{P}.canaryService"), "required with trafficRouting");
            }
            if c.stable_service.is_none() {
                errs.add(format!("{P}.stableService"), "required with trafficRouting");
            }
        }
        traffic_routing(errs, tr);
    }

    let surge_zero = c
        .max_surge
        .as_ref()
        .is_some_and(|v| int_or_percent(errs, &format!("{P}.maxSurge"), v, None));
    let unavailable_zero = c
        .max_unavailable
        .as_ref()
        .is_some_and(|v| int_or_percent(errs, &format!("{P}.maxUnavailable"), v, Some(100)));
    if surge_zero && unavailable_zero {
        errs.add(
            format!("{P}.maxUnavailable"),
            "must not be 0 when maxSurge is 0: no pod could ever be replaced",
        );
    }

    for (i, step) in c.steps.iter().enumerate() {
        canary_step(errs, &format!("{P}.steps[{i}]"), step, routed, max_weight);
    }

    if let Some(bg) = &c.analysis {
        let path = format!("{P}.analysis");
        analysis_refs(
            errs,
            &path,
            &bg.templates,
            &bg.args,
            &bg.dry_run,
            &bg.measurement_retention,
        );
        if let Some(s) = bg.starting_step {
            if s < 0 {
                errs.add(
                    format!("{path}.startingStep"),
                    format!("must be >= 0, got {s}"),
                );
            } else if s as usize > c.steps.len() {
                errs.add(
                    format!("{path}.startingStep"),
                    format!("must be <= the number of steps ({})", c.steps.len()),
                );
            }
        }
    }

    errs.non_negative(
        format!("{P}.scaleDownDelaySeconds"),
        c.scale_down_delay_seconds,
    );
    errs.non_negative(
        format!("{P}.abortScaleDownDelaySeconds"),
        c.abort_scale_down_delay_seconds,
    );
    scale_down_revision_limit(errs, P, c.scale_down_delay_revision_limit, history);
    if !routed {
        for (field, set) in [
            (
                "scaleDownDelaySeconds",
                c.scale_down_delay_seconds.is_some(),
            ),
            (
                "abortScaleDownDelaySeconds",
                c.abort_scale_down_delay_seconds.is_some(),
            ),
            ("dynamicStableScale", c.dynamic_stable_scale),
            ("minPodsPerReplicaSet", c.min_pods_per_replica_set.is_some()),
        ] {
            if set {
                errs.add(format!("{P}.{field}"), "requires trafficRouting");
            }
        }
    }
    if c.dynamic_stable_scale && c.scale_down_delay_seconds.is_some() {
        errs.add(
            format!("{P}.scaleDownDelaySeconds"),
            "cannot be set with dynamicStableScale",
        );
    }
    if let Some(m) = c.min_pods_per_replica_set.filter(|m| *m < 1) {
        errs.add(
            format!("{P}.minPodsPerReplicaSet"),
            format!("must be >= 1, got {m}"),
        );
    }
}

fn canary_step(errs: &mut Errors, path: &str, step: &CanaryStep, routed: bool, max_weight: i32) {
    exactly_one(
        errs,
        path,
        &[
            ("setWeight", step.set_weight.is_some()),
            ("pause", step.pause.is_some()),
            ("setCanaryScale", step.set_canary_scale.is_some()),
            ("analysis", step.analysis.is_some()),
        ],
    );
    if let Some(w) = step.set_weight {
        if w < 0 {
            errs.add(
                format!("{path}.setWeight"),
                format!("must be >= 0, got {w}"),
            );
        } else if w > max_weight {
            let bound = if max_weight == DEFAULT_MAX_TRAFFIC_WEIGHT {
                format!("must be <= {max_weight}")
            } else {
                format!("must be <= trafficRouting.maxTrafficWeight ({max_weight})")
            };
            errs.add(format!("{path}.setWeight"), format!("{bound}, got {w}"));
        }
    }
    if let Some(d) = step.pause.as_ref().and_then(|p| p.duration.as_ref())
        && let Err(e) = duration::from_int_or_string(d)
    {
        errs.add(format!("{path}.pause.duration"), e.to_string());
    }
    if let Some(s) = &step.set_canary_scale {
        let path = format!("{path}.setCanaryScale");
        if !routed {
            errs.add(
                &path,
                "requires trafficRouting: without a router the replica ratio is the traffic split",
            );
        }
        exactly_one(
            errs,
            &path,
            &[
                ("weight", s.weight.is_some()),
                ("replicas", s.replicas.is_some()),
                ("matchTrafficWeight", s.match_traffic_weight),
            ],
        );
        if let Some(w) = s.weight.filter(|w| !(0..=100).contains(w)) {
            errs.add(
                format!("{path}.weight"),
                format!("must be within 0..=100, got {w}"),
            );
        }
        errs.non_negative(format!("{path}.replicas"), s.replicas);
    }
    if let Some(a) = &step.analysis {
        analysis_refs(
            errs,
            &format!("{path}.analysis"),
            &a.templates,
            &a.args,
            &a.dry_run,
            &a.measurement_retention,
        );
    }
}

fn traffic_routing(errs: &mut Errors, tr: &RolloutTrafficRouting) {
    const P: &str = "spec.strategy.canary.trafficRouting";
    if tr.nginx.is_none() && tr.gateway_api.is_none() && tr.istio.is_none() && tr.smi.is_none() {
        errs.add(
            P,
            "set at least one router: nginx, gatewayAPI, istio or smi",
        );
    }
    if let Some(w) = tr.max_traffic_weight.filter(|w| *w <= 0) {
        errs.add(
            format!("{P}.maxTrafficWeight"),
            format!("must be > 0, got {w}"),
        );
    }
    if let Some(n) = &tr.nginx {
        let path = format!("{P}.nginx");
        exactly_one(
            errs,
            &path,
            &[
                ("stableIngress", n.stable_ingress.is_some()),
                ("stableIngresses", !n.stable_ingresses.is_empty()),
            ],
        );
        if let Some(name) = &n.stable_ingress {
            errs.object_name(format!("{path}.stableIngress"), name);
        }
        unique_names(
            errs,
            &format!("{path}.stableIngresses"),
            n.stable_ingresses.iter().map(String::as_str),
        );
    }
    if let Some(g) = &tr.gateway_api {
        let path = format!("{P}.gatewayAPI");
        exactly_one(
            errs,
            &path,
            &[
                ("httpRoute", g.http_route.is_some()),
                ("httpRoutes", !g.http_routes.is_empty()),
            ],
        );
        if let Some(name) = &g.http_route {
            errs.object_name(format!("{path}.httpRoute"), name);
        }
        unique_names(
            errs,
            &format!("{path}.httpRoutes"),
            g.http_routes.iter().map(|r| r.name.as_str()),
        );
    }
    if let Some(i) = &tr.istio {
        let path = format!("{P}.istio");
        exactly_one(
            errs,
            &path,
            &[
                ("virtualService", i.virtual_service.is_some()),
                ("virtualServices", !i.virtual_services.is_empty()),
            ],
        );
        let single = i
            .virtual_service
            .iter()
            .map(|vs| (format!("{path}.virtualService"), vs));
        let many = i
            .virtual_services
            .iter()
            .enumerate()
            .map(|(n, vs)| (format!("{path}.virtualServices[{n}]"), vs));
        for (vs_path, vs) in single.chain(many) {
            // `name.namespace` is allowed, so each dot-separated part is a name.
            errs.object_name(format!("{vs_path}.name"), &vs.name);
            let mut seen = BTreeSet::new();
            for (n, r) in vs.routes.iter().enumerate() {
                if r.is_empty() {
                    errs.add(format!("{vs_path}.routes[{n}]"), "must not be empty");
                } else if !seen.insert(r) {
                    errs.add(
                        format!("{vs_path}.routes[{n}]"),
                        format!("duplicate route {r:?}"),
                    );
                }
            }
        }
        if let Some(dr) = &i.destination_rule {
            let dr_path = format!("{path}.destinationRule");
            errs.object_name(format!("{dr_path}.name"), &dr.name);
            for (field, v) in [
                ("canarySubsetName", &dr.canary_subset_name),
                ("stableSubsetName", &dr.stable_subset_name),
            ] {
                if v.is_empty() {
                    errs.add(format!("{dr_path}.{field}"), "required");
                }
            }
            if dr.canary_subset_name == dr.stable_subset_name && !dr.canary_subset_name.is_empty() {
                errs.add(
                    format!("{dr_path}.stableSubsetName"),
                    "must differ from canarySubsetName",
                );
            }
        }
    }
    if let Some(s) = &tr.smi {
        errs.service_name(format!("{P}.smi.rootService"), s.root_service.as_deref());
        if let Some(name) = &s.traffic_split_name {
            errs.object_name(format!("{P}.smi.trafficSplitName"), name);
        }
    }
}

fn unique_names<'a>(errs: &mut Errors, path: &str, names: impl Iterator<Item = &'a str>) {
    let mut seen = BTreeSet::new();
    for (i, name) in names.enumerate() {
        errs.object_name(format!("{path}[{i}]"), name);
        if !seen.insert(name) {
            errs.add(format!("{path}[{i}]"), format!("duplicate name {name:?}"));
        }
    }
}

fn blue_green(errs: &mut Errors, b: &BlueGreenStrategy, history: i32) {
    const P: &str = "spec.strategy.blueGreen";
    match b.active_service.as_deref() {
        None => errs.add(format!("{P}.activeService"), "required"),
        active => errs.service_name(format!("{P}.activeService"), active),
    }
    errs.service_name(format!("{P}.previewService"), b.preview_service.as_deref());
    if b.preview_service.is_some() && b.preview_service == b.active_service {
        errs.add(
            format!("{P}.previewService"),
            "must differ from activeService",
        );
    }
    errs.non_negative(format!("{P}.previewReplicaCount"), b.preview_replica_count);
    errs.non_negative(
        format!("{P}.autoPromotionSeconds"),
        b.auto_promotion_seconds,
    );
    errs.non_negative(
        format!("{P}.scaleDownDelaySeconds"),
        b.scale_down_delay_seconds,
    );
    errs.non_negative(
        format!("{P}.abortScaleDownDelaySeconds"),
        b.abort_scale_down_delay_seconds,
    );
    scale_down_revision_limit(errs, P, b.scale_down_delay_revision_limit, history);
    if let Some(v) = &b.max_unavailable {
        int_or_percent(errs, &format!("{P}.maxUnavailable"), v, Some(100));
    }
    for (field, analysis) in [
        ("prePromotionAnalysis", &b.pre_promotion_analysis),
        ("postPromotionAnalysis", &b.post_promotion_analysis),
    ] {
        if let Some(a) = analysis {
            analysis_refs(
                errs,
                &format!("{P}.{field}"),
                &a.templates,
                &a.args,
                &a.dry_run,
                &a.measurement_retention,
            );
        }
    }
}

fn scale_down_revision_limit(errs: &mut Errors, prefix: &str, limit: Option<i32>, history: i32) {
    let path = format!("{prefix}.scaleDownDelayRevisionLimit");
    match limit {
        Some(l) if l < 0 => errs.add(path, format!("must be >= 0, got {l}")),
        Some(l) if l > history => errs.add(
            path,
            format!("must be <= spec.revisionHistoryLimit ({history}): older ReplicaSets are deleted first"),
        ),
        _ => {}
    }
}

/// Template references and arguments of an analysis in a Rollout (step, background, pre/post).
fn analysis_refs(
    errs: &mut Errors,
    path: &str,
    templates: &[AnalysisTemplateRef],
    args: &[AnalysisRunArgument],
    dry_run: &[DryRunMetric],
    retention: &[MeasurementRetention],
) {
    if templates.is_empty() {
        errs.add(
            format!("{path}.templates"),
            "at least one template is required",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, t) in templates.iter().enumerate() {
        let p = format!("{path}.templates[{i}].templateName");
        if t.template_name.is_empty() {
            errs.add(p, "required");
        } else {
            errs.object_name(&p, &t.template_name);
            if !seen.insert((t.template_name.as_str(), t.cluster_scope)) {
                errs.add(p, format!("duplicate template {:?}", t.template_name));
            }
        }
    }
    let mut names = BTreeSet::new();
    for (i, a) in args.iter().enumerate() {
        let p = format!("{path}.args[{i}]");
        if a.name.is_empty() {
            errs.add(format!("{p}.name"), "required");
        } else if !names.insert(a.name.as_str()) {
            errs.add(
                format!("{p}.name"),
                format!("duplicate argument {:?}", a.name),
            );
        }
        match (&a.value, &a.value_from) {
            (Some(_), Some(_)) => errs.add(&p, "set value or valueFrom, not both"),
            (None, None) => errs.add(&p, "set value or valueFrom"),
            (None, Some(from)) => {
                let vp = format!("{p}.valueFrom");
                exactly_one(
                    errs,
                    &vp,
                    &[
                        (
                            "podTemplateHashValue",
                            from.pod_template_hash_value.is_some(),
                        ),
                        ("fieldRef", from.field_ref.is_some()),
                    ],
                );
                if let Some(f) = &from.field_ref {
                    super::analysis::field_path(
                        errs,
                        &format!("{vp}.fieldRef.fieldPath"),
                        &f.field_path,
                    );
                }
            }
            (Some(_), None) => {}
        }
    }
    for (i, d) in dry_run.iter().enumerate() {
        if d.metric_name.is_empty() {
            errs.add(format!("{path}.dryRun[{i}].metricName"), "required");
        }
    }
    for (i, r) in retention.iter().enumerate() {
        if r.metric_name.is_empty() {
            errs.add(
                format!("{path}.measurementRetention[{i}].metricName"),
                "required",
            );
        }
        if r.limit < 1 {
            errs.add(
                format!("{path}.measurementRetention[{i}].limit"),
                format!("must be >= 1, got {}", r.limit),
            );
        }
    }
}
