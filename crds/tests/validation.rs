//! Table tests of spec validation and of the strict manifest parser: each invalid spec must
//! produce an error naming the field path, and the valid bases must produce none.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollout_rs_crds::analysis::{AnalysisTemplateSpec, WebMethod};
use rollout_rs_crds::gitsync::{GitSyncSpec, HelmSource, KustomizeSource};
use rollout_rs_crds::manifest::{self, ManifestError, Object};
use rollout_rs_crds::rollout::*;
use rollout_rs_crds::validation;
use rollout_rs_crds::{AnalysisTemplate, GitSync, Rollout};

const CANARY: &str = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        nginx: {stableIngress: web}
      steps:
        - setWeight: 20
        - pause: {duration: 30s}
        - analysis: {templates: [{templateName: success-rate}]}
        - setCanaryScale: {replicas: 2}
"#;

const BLUE_GREEN: &str = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
  strategy:
    blueGreen:
      activeService: web-active
      previewService: web-preview
"#;

const TEMPLATE: &str = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}]
  metrics:
    - name: success
      interval: 30s
      count: 3
      successCondition: result[0] >= 0.95
      provider:
        prometheus:
          address: http://prometheus:9090
          query: 'sum(rate(ok{svc="{{args.service}}"}[1m]))'
"#;

const GITSYNC: &str = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: GitSync
metadata: {name: web}
spec:
  interval: 1m
  source: {repoURL: "https://git.example.com/gitops.git", targetRevision: main, path: apps/web}
  syncPolicy: {automated: {prune: true}}
"#;

fn parse_one(text: &str) -> Object {
    let mut docs = manifest::parse_all(text).expect("valid YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0).expect("base parses")
}

fn rollout(text: &str) -> Rollout {
    match parse_one(text) {
        Object::Rollout(r) => r,
        other => panic!("not a Rollout: {}", other.describe()),
    }
}

fn canary(spec: &mut RolloutSpec) -> &mut CanaryStrategy {
    spec.strategy.canary.as_mut().expect("canary base")
}

fn blue_green(spec: &mut RolloutSpec) -> &mut BlueGreenStrategy {
    spec.strategy.blue_green.as_mut().expect("blue-green base")
}

/// Runs `cases` of (name, base, mutation, expected error) and reports every mismatch at once.
fn check_table<S: Clone>(
    base: &S,
    validate: impl Fn(&S) -> Vec<validation::FieldError>,
    cases: Vec<Case<S>>,
) -> usize {
    assert_eq!(validate(base), vec![], "the base spec must be valid");
    let mut failures = Vec::new();
    let n = cases.len();
    for (name, mutate, expected) in cases {
        let mut spec = base.clone();
        mutate(&mut spec);
        let errors: Vec<String> = validate(&spec).iter().map(ToString::to_string).collect();
        if !errors.iter().any(|e| e == expected) {
            failures.push(format!("{name}: expected {expected:?}, got {errors:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

type Case<S> = (&'static str, Box<dyn Fn(&mut S)>, &'static str);

fn case<S>(name: &'static str, f: impl Fn(&mut S) + 'static, expected: &'static str) -> Case<S> {
    (name, Box::new(f), expected)
}

#[test]
fn invalid_canary_specs() {
    let base = rollout(CANARY).spec;
    let cases: Vec<Case<RolloutSpec>> = vec![
        case::<RolloutSpec>(
            "setWeight above 100",
            |s| canary(s).steps[0].set_weight = Some(150),
            "spec.strategy.canary.steps[0].setWeight: must be <= 100, got 150",
        ),
        case::<RolloutSpec>(
            "negative setWeight",
            |s| canary(s).steps[0].set_weight = Some(-1),
            "spec.strategy.canary.steps[0].setWeight: must be >= 0, got -1",
        ),
        case::<RolloutSpec>(
            "setWeight above maxTrafficWeight",
            |s| {
                canary(s)
                    .traffic_routing
                    .as_mut()
                    .unwrap()
                    .max_traffic_weight = Some(10);
            },
            "spec.strategy.canary.steps[0].setWeight: must be <= trafficRouting.maxTrafficWeight (10), got 20",
        ),
        case::<RolloutSpec>(
            "step with two fields",
            |s| canary(s).steps[1].set_weight = Some(10),
            "spec.strategy.canary.steps[1]: set exactly one of setWeight, pause, setCanaryScale, analysis, found setWeight and pause",
        ),
        case::<RolloutSpec>(
            "empty step",
            |s| canary(s).steps.push(CanaryStep::default()),
            "spec.strategy.canary.steps[4]: set exactly one of setWeight, pause, setCanaryScale, analysis",
        ),
        case::<RolloutSpec>(
            "canaryService == stableService",
            |s| canary(s).stable_service = Some("web-canary".into()),
            "spec.strategy.canary.stableService: must differ from canaryService",
        ),
        case::<RolloutSpec>(
            "invalid Service name",
            |s| canary(s).canary_service = Some("Web_Canary".into()),
            "spec.strategy.canary.canaryService: \"Web_Canary\" is not a valid Service name: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        ),
        case::<RolloutSpec>(
            "trafficRouting without canaryService",
            |s| canary(s).canary_service = None,
            "spec.strategy.canary.canaryService: required with trafficRouting",
        ),
        case::<RolloutSpec>(
            "bad pause duration",
            |s| {
                canary(s).steps[1].pause = Some(RolloutPause {
                    duration: Some(IntOrString::String("ten minutes".into())),
                });
            },
            "spec.strategy.canary.steps[1].pause.duration: invalid duration \"ten minutes\": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1h30m\"",
        ),
        case::<RolloutSpec>(
            "negative pause",
            |s| {
                canary(s).steps[1].pause = Some(RolloutPause {
                    duration: Some(IntOrString::Int(-5)),
                });
            },
            "spec.strategy.canary.steps[1].pause.duration: invalid duration \"-5\": must not be negative",
        ),
        case::<RolloutSpec>(
            "setCanaryScale without trafficRouting",
            |s| canary(s).traffic_routing = None,
            "spec.strategy.canary.steps[3].setCanaryScale: requires trafficRouting: without a router the replica ratio is the traffic split",
        ),
        case::<RolloutSpec>(
            "setCanaryScale with two fields",
            |s| {
                canary(s).steps[3].set_canary_scale.as_mut().unwrap().weight = Some(50);
            },
            "spec.strategy.canary.steps[3].setCanaryScale: set exactly one of weight, replicas, matchTrafficWeight, found weight and replicas",
        ),
        case::<RolloutSpec>(
            "setCanaryScale weight above 100",
            |s| {
                canary(s).steps[3].set_canary_scale = Some(SetCanaryScale {
                    weight: Some(101),
                    ..Default::default()
                });
            },
            "spec.strategy.canary.steps[3].setCanaryScale.weight: must be within 0..=100, got 101",
        ),
        case::<RolloutSpec>(
            "dynamicStableScale without trafficRouting",
            |s| {
                let c = canary(s);
                c.traffic_routing = None;
                c.steps.truncate(3);
                c.dynamic_stable_scale = true;
            },
            "spec.strategy.canary.dynamicStableScale: requires trafficRouting",
        ),
        case::<RolloutSpec>(
            "dynamicStableScale with scaleDownDelaySeconds",
            |s| {
                let c = canary(s);
                c.dynamic_stable_scale = true;
                c.scale_down_delay_seconds = Some(30);
            },
            "spec.strategy.canary.scaleDownDelaySeconds: cannot be set with dynamicStableScale",
        ),
        case::<RolloutSpec>(
            "maxSurge and maxUnavailable both 0",
            |s| {
                let c = canary(s);
                c.max_surge = Some(IntOrString::Int(0));
                c.max_unavailable = Some(IntOrString::String("0%".into()));
            },
            "spec.strategy.canary.maxUnavailable: must not be 0 when maxSurge is 0: no pod could ever be replaced",
        ),
        case::<RolloutSpec>(
            "maxSurge not a percentage",
            |s| canary(s).max_surge = Some(IntOrString::String("lots".into())),
            "spec.strategy.canary.maxSurge: must be an integer or a percentage like \"25%\", got \"lots\"",
        ),
        case::<RolloutSpec>(
            "maxUnavailable above 100%",
            |s| canary(s).max_unavailable = Some(IntOrString::String("150%".into())),
            "spec.strategy.canary.maxUnavailable: must be <= 100%, got \"150%\"",
        ),
        case::<RolloutSpec>(
            "no router in trafficRouting",
            |s| canary(s).traffic_routing = Some(RolloutTrafficRouting::default()),
            "spec.strategy.canary.trafficRouting: set at least one router: nginx, gatewayAPI, istio or smi",
        ),
        case::<RolloutSpec>(
            "nginx with both stableIngress and stableIngresses",
            |s| {
                canary(s)
                    .traffic_routing
                    .as_mut()
                    .unwrap()
                    .nginx
                    .as_mut()
                    .unwrap()
                    .stable_ingresses = vec!["other".into()];
            },
            "spec.strategy.canary.trafficRouting.nginx: set exactly one of stableIngress, stableIngresses, found stableIngress and stableIngresses",
        ),
        case::<RolloutSpec>(
            "gatewayAPI without a route",
            |s| {
                canary(s).traffic_routing.as_mut().unwrap().gateway_api =
                    Some(GatewayApiTrafficRouting::default());
            },
            "spec.strategy.canary.trafficRouting.gatewayAPI: set exactly one of httpRoute, httpRoutes",
        ),
        case::<RolloutSpec>(
            "istio subsets equal",
            |s| {
                canary(s).traffic_routing.as_mut().unwrap().istio = Some(IstioTrafficRouting {
                    virtual_service: Some(IstioVirtualService {
                        name: "web".into(),
                        ..Default::default()
                    }),
                    destination_rule: Some(IstioDestinationRule {
                        name: "web".into(),
                        canary_subset_name: "v".into(),
                        stable_subset_name: "v".into(),
                    }),
                    ..Default::default()
                });
            },
            "spec.strategy.canary.trafficRouting.istio.destinationRule.stableSubsetName: must differ from canarySubsetName",
        ),
        case::<RolloutSpec>(
            "analysis step without templates",
            |s| {
                canary(s).steps[2].analysis = Some(RolloutAnalysis::default());
            },
            "spec.strategy.canary.steps[2].analysis.templates: at least one template is required",
        ),
        case::<RolloutSpec>(
            "analysis arg with value and valueFrom",
            |s| {
                canary(s).steps[2]
                    .analysis
                    .as_mut()
                    .unwrap()
                    .args
                    .push(AnalysisRunArgument {
                        name: "x".into(),
                        value: Some("1".into()),
                        value_from: Some(ArgumentValueFrom {
                            pod_template_hash_value: Some(PodTemplateHashValue::Stable),
                            field_ref: None,
                        }),
                    });
            },
            "spec.strategy.canary.steps[2].analysis.args[0]: set value or valueFrom, not both",
        ),
        case::<RolloutSpec>(
            "duplicate analysis arg",
            |s| {
                let a = canary(s).steps[2].analysis.as_mut().unwrap();
                for _ in 0..2 {
                    a.args.push(AnalysisRunArgument {
                        name: "svc".into(),
                        value: Some("web".into()),
                        value_from: None,
                    });
                }
            },
            "spec.strategy.canary.steps[2].analysis.args[1].name: duplicate argument \"svc\"",
        ),
        case::<RolloutSpec>(
            "background analysis startingStep past the steps",
            |s| {
                canary(s).analysis = Some(RolloutAnalysisBackground {
                    templates: vec![AnalysisTemplateRef {
                        template_name: "success-rate".into(),
                        cluster_scope: false,
                    }],
                    starting_step: Some(9),
                    ..Default::default()
                });
            },
            "spec.strategy.canary.analysis.startingStep: must be <= the number of steps (4)",
        ),
        case::<RolloutSpec>(
            "empty templateName",
            |s| {
                canary(s).steps[2].analysis.as_mut().unwrap().templates[0].template_name =
                    String::new();
            },
            "spec.strategy.canary.steps[2].analysis.templates[0].templateName: required",
        ),
        case::<RolloutSpec>(
            "scaleDownDelayRevisionLimit above revisionHistoryLimit",
            |s| {
                s.revision_history_limit = Some(2);
                canary(s).scale_down_delay_revision_limit = Some(5);
            },
            "spec.strategy.canary.scaleDownDelayRevisionLimit: must be <= spec.revisionHistoryLimit (2): older ReplicaSets are deleted first",
        ),
        case::<RolloutSpec>(
            "both strategies",
            |s| s.strategy.blue_green = Some(BlueGreenStrategy::default()),
            "spec.strategy: set exactly one of canary or blueGreen, not both",
        ),
        case::<RolloutSpec>(
            "no strategy",
            |s| s.strategy.canary = None,
            "spec.strategy: set exactly one of canary or blueGreen",
        ),
        case::<RolloutSpec>(
            "negative replicas",
            |s| s.replicas = Some(-1),
            "spec.replicas: must be >= 0, got -1",
        ),
        case::<RolloutSpec>(
            "progress deadline not above minReadySeconds",
            |s| {
                s.min_ready_seconds = Some(30);
                s.progress_deadline_seconds = Some(30);
            },
            "spec.progressDeadlineSeconds: must be greater than spec.minReadySeconds (30)",
        ),
        case::<RolloutSpec>(
            "selector does not match template",
            |s| {
                s.selector.match_labels = Some([("app".to_string(), "api".to_string())].into());
            },
            "spec.selector: does not match spec.template.metadata.labels: the Rollout would never see its own pods",
        ),
        case::<RolloutSpec>(
            "empty selector",
            |s| s.selector = Default::default(),
            "spec.selector: must not be empty: an empty selector would select every pod in the namespace",
        ),
        case::<RolloutSpec>(
            "no containers",
            |s| s.template.spec.as_mut().unwrap().containers.clear(),
            "spec.template.spec.containers: must have at least one container",
        ),
        case::<RolloutSpec>(
            "container without image",
            |s| s.template.spec.as_mut().unwrap().containers[0].image = None,
            "spec.template.spec.containers[0].image: required",
        ),
        case::<RolloutSpec>(
            "restartPolicy Never",
            |s| s.template.spec.as_mut().unwrap().restart_policy = Some("Never".into()),
            "spec.template.spec.restartPolicy: \"Never\" is not supported: only \"Always\", as for Deployments",
        ),
    ];
    let n = check_table(&base, validation::rollout, cases);
    assert!(n >= 30);
}

#[test]
fn invalid_blue_green_specs() {
    let base = rollout(BLUE_GREEN).spec;
    let cases: Vec<Case<RolloutSpec>> = vec![
        case::<RolloutSpec>(
            "no activeService",
            |s| blue_green(s).active_service = None,
            "spec.strategy.blueGreen.activeService: required",
        ),
        case::<RolloutSpec>(
            "activeService == previewService",
            |s| blue_green(s).preview_service = Some("web-active".into()),
            "spec.strategy.blueGreen.previewService: must differ from activeService",
        ),
        case::<RolloutSpec>(
            "negative autoPromotionSeconds",
            |s| blue_green(s).auto_promotion_seconds = Some(-2),
            "spec.strategy.blueGreen.autoPromotionSeconds: must be >= 0, got -2",
        ),
        case::<RolloutSpec>(
            "prePromotionAnalysis without templates",
            |s| {
                blue_green(s).pre_promotion_analysis = Some(RolloutAnalysis::default());
            },
            "spec.strategy.blueGreen.prePromotionAnalysis.templates: at least one template is required",
        ),
        case::<RolloutSpec>(
            "negative previewReplicaCount",
            |s| blue_green(s).preview_replica_count = Some(-1),
            "spec.strategy.blueGreen.previewReplicaCount: must be >= 0, got -1",
        ),
    ];
    check_table(&base, validation::rollout, cases);
}

fn template(text: &str) -> AnalysisTemplateSpec {
    match parse_one(text) {
        Object::AnalysisTemplate(AnalysisTemplate { spec, .. }) => spec,
        other => panic!("not an AnalysisTemplate: {}", other.describe()),
    }
}

fn prom(s: &mut AnalysisTemplateSpec) -> &mut rollout_rs_crds::analysis::PrometheusMetric {
    s.metrics[0]
        .provider
        .prometheus
        .as_mut()
        .expect("prometheus base")
}

#[test]
fn invalid_analysis_templates() {
    let base = template(TEMPLATE);
    let cases: Vec<Case<AnalysisTemplateSpec>> = vec![
        case::<AnalysisTemplateSpec>(
            "no metrics",
            |s| s.metrics.clear(),
            "spec.metrics: at least one metric is required",
        ),
        case::<AnalysisTemplateSpec>(
            "duplicate metric",
            |s| {
                let m = s.metrics[0].clone();
                s.metrics.push(m);
            },
            "spec.metrics[1].name: duplicate metric name \"success\"",
        ),
        case::<AnalysisTemplateSpec>(
            "no provider",
            |s| s.metrics[0].provider = Default::default(),
            "spec.metrics[0].provider: set exactly one of prometheus, web",
        ),
        case::<AnalysisTemplateSpec>(
            "undeclared argument",
            |s| prom(s).query = "up{job=\"{{args.job}}\"}".into(),
            "spec.metrics[0].provider.prometheus.query: references undeclared argument \"job\"",
        ),
        case::<AnalysisTemplateSpec>(
            "bad interval",
            |s| s.metrics[0].interval = Some("often".into()),
            "spec.metrics[0].interval: invalid duration \"often\": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1h30m\"",
        ),
        case::<AnalysisTemplateSpec>(
            "count > 1 without interval",
            |s| s.metrics[0].interval = None,
            "spec.metrics[0].interval: required when count > 1",
        ),
        case::<AnalysisTemplateSpec>(
            "failureLimit below -1",
            |s| s.metrics[0].failure_limit = Some(IntOrString::Int(-2)),
            "spec.metrics[0].failureLimit: must be >= -1, got -2",
        ),
        case::<AnalysisTemplateSpec>(
            "count not a number",
            |s| s.metrics[0].count = Some(IntOrString::String("three".into())),
            "spec.metrics[0].count: \"three\" must be an integer or an argument placeholder like \"{{args.count}}\"",
        ),
        case::<AnalysisTemplateSpec>(
            "address not a URL",
            |s| prom(s).address = Some("prometheus:9090".into()),
            "spec.metrics[0].provider.prometheus.address: \"prometheus:9090\" must be an http:// or https:// URL",
        ),
        case::<AnalysisTemplateSpec>(
            "empty query",
            |s| prom(s).query = " ".into(),
            "spec.metrics[0].provider.prometheus.query: required",
        ),
        case::<AnalysisTemplateSpec>(
            "dryRun of an unknown metric",
            |s| {
                s.dry_run.push(DryRunMetric {
                    metric_name: "latency".into(),
                });
            },
            "spec.dryRun[0].metricName: \"latency\" is not a metric of this template (use \"*\" for all)",
        ),
        case::<AnalysisTemplateSpec>(
            "web body with GET",
            |s| {
                s.metrics[0].provider = rollout_rs_crds::analysis::MetricProvider {
                    web: Some(rollout_rs_crds::analysis::WebMetric {
                        url: "http://x".into(),
                        method: Some(WebMethod::Get),
                        body: Some("{}".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
            },
            "spec.metrics[0].provider.web.method: a request body requires method POST or PUT",
        ),
        case::<AnalysisTemplateSpec>(
            "secretKeyRef without key",
            |s| {
                s.args[0].value_from = Some(rollout_rs_crds::analysis::ValueFrom {
                    secret_key_ref: Some(rollout_rs_crds::SecretKeyRef {
                        name: "creds".into(),
                        key: String::new(),
                    }),
                    field_ref: None,
                });
            },
            "spec.args[0].valueFrom.secretKeyRef.key: required",
        ),
    ];
    check_table(&base, validation::analysis_template, cases);
}

#[test]
fn invalid_git_syncs() {
    let base = match parse_one(GITSYNC) {
        Object::GitSync(GitSync { spec, .. }) => spec,
        other => panic!("not a GitSync: {}", other.describe()),
    };
    let cases: Vec<Case<GitSyncSpec>> = vec![
        case::<GitSyncSpec>(
            "empty repoURL",
            |s| s.source.repo_url.clear(),
            "spec.source.repoURL: required",
        ),
        case::<GitSyncSpec>(
            "repoURL without scheme",
            |s| s.source.repo_url = "git.example.com/repo".into(),
            "spec.source.repoURL: \"git.example.com/repo\" is not a Git URL: use https://, http://, ssh://, git://, file:// or user@host:path",
        ),
        case::<GitSyncSpec>(
            "path escaping the repository",
            |s| s.source.path = Some("../secrets".into()),
            "spec.source.path: \"../secrets\" must stay inside the repository (no '..')",
        ),
        case::<GitSyncSpec>(
            "two renderers",
            |s| {
                s.source.kustomize = Some(KustomizeSource::default());
                s.source.helm = Some(HelmSource::default());
            },
            "spec.source: set at most one of directory, kustomize, helm, found kustomize and helm",
        ),
        case::<GitSyncSpec>(
            "interval below 1s",
            |s| s.interval = Some("100ms".into()),
            "spec.interval: must be at least 1s, got \"100ms\"",
        ),
        case::<GitSyncSpec>(
            "bad revision",
            |s| s.source.target_revision = Some("main..dev".into()),
            "spec.source.targetRevision: \"main..dev\" is not a valid branch, tag or commit",
        ),
        case::<GitSyncSpec>(
            "ignore rule without fields",
            |s| {
                s.ignore_differences
                    .push(rollout_rs_crds::gitsync::IgnoreDifferences {
                        kind: "Deployment".into(),
                        ..Default::default()
                    });
            },
            "spec.ignoreDifferences[0]: set jsonPointers or managedFieldsManagers",
        ),
        case::<GitSyncSpec>(
            "bad JSON pointer",
            |s| {
                s.ignore_differences
                    .push(rollout_rs_crds::gitsync::IgnoreDifferences {
                        kind: "Deployment".into(),
                        json_pointers: vec!["spec/replicas".into()],
                        ..Default::default()
                    });
            },
            "spec.ignoreDifferences[0].jsonPointers[0]: \"spec/replicas\" is not a JSON pointer: must start with '/'",
        ),
        case::<GitSyncSpec>(
            "bad destination namespace",
            |s| s.destination.namespace = Some("Prod_NS".into()),
            "spec.destination.namespace: \"Prod_NS\" is not a valid namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit",
        ),
    ];
    check_table(&base, validation::git_sync, cases);
}

fn parse_error(text: &str) -> ManifestError {
    let mut docs = manifest::parse_all(text).expect("valid YAML");
    docs.remove(0).expect_err("must fail to parse")
}

#[test]
fn parser_names_unknown_fields() {
    let text = CANARY.replace(
        "      steps:\n",
        "      stepz:\n        - setWeight: 1\n      steps:\n",
    );
    let text = text.replace(
        "metadata: {name: web}",
        "metadata: {name: web, lables: {a: b}}",
    );
    let err = parse_error(&text);
    assert_eq!(
        err.to_string(),
        "Rollout \"web\": metadata.lables: unknown field; spec.strategy.canary.stepz: unknown field"
    );
    // Unknown fields inside embedded Kubernetes types are reported too.
    let text = CANARY.replace(
        "image: \"web:1\"",
        "image: \"web:1\", imagePullPolice: Always",
    );
    assert_eq!(
        parse_error(&text).to_string(),
        "Rollout \"web\": spec.template.spec.containers[0].imagePullPolice: unknown field"
    );
}

#[test]
fn parser_names_type_errors() {
    let text = CANARY.replace("replicas: 4", "replicas: four");
    assert_eq!(
        parse_error(&text).to_string(),
        "Rollout \"web\": spec.replicas: invalid type: string \"four\", expected i32"
    );
    let text = CANARY.replace("- setWeight: 20", "- setWeight: [20]");
    assert_eq!(
        parse_error(&text).to_string(),
        "Rollout \"web\": spec.strategy.canary.steps[0].setWeight: invalid type: sequence, expected i32"
    );
}

#[test]
fn parser_names_missing_template() {
    let text = BLUE_GREEN.replace(
        "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: \"web:1\"}]\n",
        "",
    );
    // It parses (a workloadRef may stand in for it); validation says what is missing.
    let errs: Vec<String> = validation::rollout(&rollout(&text).spec)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errs, ["spec.template: required, or spec.workloadRef"]);
}

/// Issue 12, point 13: `workloadRef` instead of `template`, with its own rules.
#[test]
fn workload_ref_stands_in_for_the_template() {
    let text = BLUE_GREEN.replace(
        "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: \"web:1\"}]\n",
        "  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}\n",
    );
    assert_eq!(validation::rollout(&rollout(&text).spec), vec![]);
    let both = BLUE_GREEN.replace(
        "  template:\n",
        "  workloadRef: {apiVersion: apps/v1, kind: StatefulSet, name: web}\n  template:\n",
    );
    let errs: Vec<String> = validation::rollout(&rollout(&both).spec)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errs,
        [
            "spec.template: must not be set with spec.workloadRef",
            "spec.workloadRef: apps/v1/StatefulSet is not supported: only apps/v1 Deployment"
        ]
    );
}

#[test]
fn parser_points_argo_users_at_the_api_version() {
    let text = CANARY.replace("rollout-rs.io/v1alpha1", "argoproj.io/v1alpha1");
    assert_eq!(
        parse_error(&text).to_string(),
        "Rollout \"web\": argoproj.io/v1alpha1 is an Argo Rollouts apiVersion; change it to rollout-rs.io/v1alpha1"
    );
    let text = CANARY.replace("rollout-rs.io/v1alpha1", "rollout-rs.io/v1beta1");
    assert!(matches!(
        parse_error(&text),
        ManifestError::UnsupportedVersion { .. }
    ));
}

#[test]
fn parser_reports_yaml_syntax_errors_and_skips_empty_documents() {
    let err = manifest::parse_all("kind: Rollout\n  bad: [indent").expect_err("syntax error");
    assert!(err.to_string().starts_with("not valid YAML"), "{err}");
    let docs = manifest::parse_all(
        "---\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
    )
    .expect("valid YAML");
    assert_eq!(docs.len(), 1);
    assert!(matches!(docs[0], Ok(Object::Other(_))));
    let docs = manifest::parse_all("- 1\n- 2\n").expect("valid YAML");
    assert_eq!(
        docs[0].as_ref().unwrap_err(),
        &ManifestError::NotAnObject { index: 0 }
    );
}

#[test]
fn argo_manifest_becomes_ours_by_changing_api_version() {
    // An Argo Rollouts manifest as its users write it, with only the apiVersion changed.
    let text = r#"
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  replicas: 5
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        resources:
          requests:
            memory: 32Mi
            cpu: 5m
  strategy:
    canary:
      canaryService: rollouts-demo-canary
      stableService: rollouts-demo-stable
      trafficRouting:
        nginx:
          stableIngress: rollouts-demo-stable
      analysis:
        templates:
        - templateName: success-rate
        startingStep: 2
        args:
        - name: service-name
          value: rollouts-demo-canary
      steps:
      - setWeight: 5
      - pause: {}
      - setWeight: 20
      - pause: {duration: 10}
      - setWeight: 40
      - pause: {duration: 10m}
"#;
    let r = rollout(text);
    assert_eq!(validation::rollout(&r.spec), vec![]);
    let c = r.spec.strategy.canary.as_ref().unwrap();
    assert_eq!(c.steps.len(), 6);
    assert_eq!(c.steps[1].pause, Some(RolloutPause { duration: None }));
    assert_eq!(
        c.steps[3].pause.as_ref().unwrap().duration,
        Some(IntOrString::Int(10))
    );
    // Round trip: what we serialise parses back to the same spec.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["apiVersion"], "rollout-rs.io/v1alpha1");
    assert_eq!(
        json["spec"]["strategy"]["canary"]["steps"][1]["pause"],
        serde_json::json!({})
    );
    match manifest::parse_value(0, json).unwrap() {
        Object::Rollout(back) => assert_eq!(back.spec, r.spec),
        other => panic!("{}", other.describe()),
    }
}

/// Issue 12, point 6 (Argo Rollouts' TestIstioSubsetSplit): an Istio subset-level split needs
/// no canary or stable Service; a host-level one still does.
#[test]
fn istio_subset_level_needs_no_services() {
    let base = "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: web:1}]}\n  strategy:\n    canary:\n      steps: [{setWeight: 10}]\n";
    let subset = format!(
        "{base}      trafficRouting: {{istio: {{virtualService: {{name: web}}, destinationRule: {{name: web, canarySubsetName: canary, stableSubsetName: stable}}}}}}\n"
    );
    assert_eq!(validation::rollout(&rollout(&subset).spec), vec![]);
    let host =
        format!("{base}      trafficRouting: {{istio: {{virtualService: {{name: web}}}}}}\n");
    let errs: Vec<String> = validation::rollout(&rollout(&host).spec)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        errs.iter()
            .any(|e| e.contains("canaryService: required with trafficRouting")),
        "{errs:?}"
    );
}
