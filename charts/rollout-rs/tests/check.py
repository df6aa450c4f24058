#!/usr/bin/env python3
"""The chart's checks, with Helm's own engine (libhelm through PyPI's helm-python-sdk, the
virtualenv scripts/test creates). Run by e2e/tests/chart.rs; by hand:

    $ROLLOUT_RS_HELM_PYTHON charts/rollout-rs/tests/check.py check [--out DIR]
    $ROLLOUT_RS_HELM_PYTHON charts/rollout-rs/tests/check.py render [--values JSON] [--namespace NS]

`check` lints the chart (strict), renders it with the default values and with each value set of
CASES and checks the rendered objects, checks that values.schema.json refuses typos and wrong
types and that the renders that must fail do, and prints every failure (exit status 1 if any).
With --out it also writes each case's objects to DIR/<case>.yaml and the chart's CRDs to
DIR/crds.yaml, for the simulator's admission (e2e/tests/chart.rs).

`render` prints the objects one install renders (CRDs and NOTES.txt left out) as a JSON list:
how the RBAC check of e2e/src/chart.rs reads the rules.
"""

import argparse
import json
import os
import re
import sys

try:
    import helm_python as helm
except ImportError as e:
    sys.exit(f"check.py needs helm-python-sdk (scripts/test creates target/helm-python): {e}")

CHART = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(CHART))
RELEASE = "rollout-rs"
NAMESPACE = "rollout-rs"
WATCHED = "team-a"
KUBE_VERSION = "v1.32.0"
DEFAULT_ARGS = [
    "controller",
    "--metrics-addr=0.0.0.0:8090",
    "--health-addr=0.0.0.0:8081",
    "--log-format=json",
    "--traffic-split-api-version=split.smi-spec.io/v1alpha2",
]
GITOPS_ARGS = ["--gitops", "--gitops-cache=/var/cache/rollout-rs/gitops"]
CLUSTER_SCOPED = {
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterAnalysisTemplate",
    "CustomResourceDefinition",
    "Namespace",
}


# ---------------------------------------------------------------------------------------------
# Rendering


def documents(text):
    """A template's output split into its YAML documents, as Helm splits it."""
    return [d for d in re.split(r"(?m)^---[ \t]*$", text) if d.strip()]


def render(values, namespace=NAMESPACE, release=RELEASE):
    """The objects one install renders, in template order (CRDs and NOTES.txt left out)."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    objects = []
    for name in sorted(rendered):
        if name.endswith("NOTES.txt"):
            continue
        for doc in documents(rendered[name]):
            obj = helm.values_from_yaml(doc)
            if obj:
                objects.append(obj)
    return objects


def notes(values):
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next((v for k, v in rendered.items() if k.endswith("NOTES.txt")), "")


class Objects:
    """The rendered objects of one case, looked up by kind and name."""

    def __init__(self, objects):
        self.all = objects

    def kinds(self):
        return sorted({o["kind"] for o in self.all})

    def of(self, kind):
        return [o for o in self.all if o["kind"] == kind]

    def get(self, kind, name=None, namespace=None):
        found = [
            o
            for o in self.of(kind)
            if (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        if len(found) != 1:
            raise Failure(f"expected one {kind} {name or ''} {namespace or ''}, found {len(found)}")
        return found[0]

    def has(self, kind, name=None):
        return any(name is None or o["metadata"]["name"] == name for o in self.of(kind))

    def container(self):
        return self.get("Deployment")["spec"]["template"]["spec"]["containers"][0]

    def pod(self):
        return self.get("Deployment")["spec"]["template"]["spec"]

    def args(self):
        return self.container()["args"]

    def env(self):
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in self.container()["env"]}

    def rules(self, kind, name, namespace=None):
        return self.get(kind, name, namespace)["rules"]


class Failure(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise Failure(message)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {json.dumps(got)}, want {json.dumps(want)}")


def grants(rules, verb, group, resource):
    """Whether a rule of `rules` allows `verb` on `group`/`resource` (any name)."""
    return any(
        (verb in r.get("verbs", []) or "*" in r.get("verbs", []))
        and (group in r.get("apiGroups", []) or "*" in r.get("apiGroups", []))
        and (resource in r.get("resources", []) or "*" in r.get("resources", []))
        and not r.get("resourceNames")
        for r in rules
    )


# ---------------------------------------------------------------------------------------------
# What every render must satisfy


def common(o, values):
    """Invariants of every value set: namespaces, labels, the hardened pod, bindings."""
    hardened(o)
    for obj in o.all:
        meta = obj["metadata"]
        where = f"{obj['kind']} {meta['name']}"
        if obj["kind"] in CLUSTER_SCOPED:
            expect("namespace" not in meta, f"{where} is cluster-scoped but has a namespace")
        else:
            expect(meta.get("namespace") in (NAMESPACE, values.get("watchNamespace")),
                   f"{where}: namespace {meta.get('namespace')!r}")
        labels = meta.get("labels", {})
        equal(labels.get("app.kubernetes.io/managed-by"), "Helm", f"{where} managed-by label")
        equal(labels.get("app.kubernetes.io/instance"), RELEASE, f"{where} instance label")
    deployment = o.get("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    expect(all(pod_labels.get(k) == v for k, v in selector.items()),
           "the pod template's labels must match the Deployment's selector")
    # Nothing may grant everything except the Git reconciler's rules, which the user chooses.
    for kind in ("ClusterRole", "Role"):
        for role in o.of(kind):
            if role["metadata"]["name"].endswith("-gitops"):
                continue
            for rule in role["rules"]:
                for key in ("verbs", "apiGroups", "resources"):
                    expect("*" not in rule.get(key, []),
                           f"{kind} {role['metadata']['name']} grants * in {key}: {rule}")
    # Every binding names the ServiceAccount the pods run as, and a role the chart renders.
    sa = o.pod()["serviceAccountName"]
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in o.of(kind):
            equal(binding["subjects"],
                  [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}],
                  f"{kind} {binding['metadata']['name']} subjects")
            ref = binding["roleRef"]
            ns = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
            expect(o.has(ref["kind"], ref["name"]) and (ns is None or o.get(ref["kind"], ref["name"], ns)),
                   f"{kind} {binding['metadata']['name']} refers to a missing {ref['kind']} {ref['name']}")


def hardened(o):
    pod_sc = o.pod()["securityContext"]
    equal(pod_sc.get("runAsNonRoot"), True, "pod runAsNonRoot")
    equal(pod_sc.get("runAsUser"), 65532, "pod runAsUser")
    equal(pod_sc.get("seccompProfile"), {"type": "RuntimeDefault"}, "pod seccompProfile")
    sc = o.container()["securityContext"]
    equal(sc.get("runAsNonRoot"), True, "container runAsNonRoot")
    equal(sc.get("runAsUser"), 65532, "container runAsUser")
    equal(sc.get("readOnlyRootFilesystem"), True, "readOnlyRootFilesystem")
    equal(sc.get("allowPrivilegeEscalation"), False, "allowPrivilegeEscalation")
    equal(sc.get("capabilities"), {"drop": ["ALL"]}, "capabilities")
    equal(sc.get("seccompProfile"), {"type": "RuntimeDefault"}, "container seccompProfile")


def example_templates():
    """The ClusterAnalysisTemplates of examples/analysis/cluster, by set."""
    out = {}
    directory = os.path.join(REPO, "examples", "analysis", "cluster")
    for file in sorted(os.listdir(directory)):
        with open(os.path.join(directory, file), encoding="utf-8") as f:
            out[file[: -len(".yaml")]] = [
                helm.values_from_yaml(d) for d in documents(f.read()) if helm.values_from_yaml(d)
            ]
    return out


def without_labels(obj):
    obj = json.loads(json.dumps(obj))
    obj["metadata"].pop("labels", None)
    return obj


# ---------------------------------------------------------------------------------------------
# The value sets and what each must render


def defaults(o):
    equal(o.kinds(), ["ClusterAnalysisTemplate", "ClusterRole", "ClusterRoleBinding",
                      "Deployment", "Service", "ServiceAccount"], "kinds")
    deployment = o.get("Deployment", "rollout-rs")
    equal(deployment["spec"]["replicas"], 1, "replicas")
    c = o.container()
    equal(c["args"], DEFAULT_ARGS, "args")
    equal(c["image"], "rollout-rs:0.1.0", "image (tag = appVersion)")
    equal(c["imagePullPolicy"], "IfNotPresent", "pullPolicy")
    equal(o.env()["RUST_LOG"], "info", "RUST_LOG")
    equal(o.env()["POD_NAMESPACE"], {"fieldRef": {"fieldPath": "metadata.namespace"}}, "POD_NAMESPACE")
    equal({p["name"]: p["containerPort"] for p in c["ports"]}, {"metrics": 8090, "health": 8081}, "ports")
    equal(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "health"}, "liveness probe")
    equal(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "health"}, "readiness probe")
    equal(c["resources"], {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
          "resources")
    equal([m["mountPath"] for m in c["volumeMounts"]], ["/tmp"], "mounts")
    equal(o.pod()["serviceAccountName"], "rollout-rs", "serviceAccountName")
    expect("imagePullSecrets" not in o.pod(), "no imagePullSecrets by default")
    svc = o.get("Service", "rollout-rs-metrics")
    equal(svc["spec"]["ports"], [{"name": "metrics", "port": 8090, "targetPort": "metrics",
                                  "protocol": "TCP"}], "metrics Service ports")
    equal(svc["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"], "Service selector")
    rules = o.rules("ClusterRole", "rollout-rs")
    for verb, group, resource in [
        ("list", "rollout-rs.io", "rollouts"), ("watch", "rollout-rs.io", "rollouts"),
        ("update", "rollout-rs.io", "rollouts/status"),
        ("create", "rollout-rs.io", "analysisruns"), ("patch", "rollout-rs.io", "analysisruns/status"),
        ("watch", "rollout-rs.io", "clusteranalysistemplates"),
        ("create", "apps", "replicasets"), ("delete", "apps", "replicasets"),
        ("patch", "apps", "deployments"), ("delete", "", "pods"), ("patch", "", "services"),
        ("get", "", "secrets"), ("create", "events.k8s.io", "events"), ("patch", "", "events"),
        ("create", "networking.k8s.io", "ingresses"), ("patch", "gateway.networking.k8s.io", "httproutes"),
        ("patch", "networking.istio.io", "virtualservices"),
        ("patch", "networking.istio.io", "destinationrules"),
        ("create", "split.smi-spec.io", "trafficsplits"),
        ("watch", "apiextensions.k8s.io", "customresourcedefinitions"),
    ]:
        expect(grants(rules, verb, group, resource), f"the ClusterRole must allow {verb} {group}/{resource}")
    for verb, group, resource in [
        ("list", "", "secrets"), ("watch", "", "secrets"), ("update", "apps", "replicasets"),
        ("create", "", "services"), ("delete", "", "services"), ("list", "rollout-rs.io", "gitsyncs"),
        ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("update", "rollout-rs.io", "rollouts"), ("create", "coordination.k8s.io", "leases"),
    ]:
        expect(not grants(rules, verb, group, resource),
               f"the ClusterRole must not allow {verb} {group}/{resource}")
    for rule in rules:
        expect(rule.get("verbs"), f"a rule without verbs: {rule}")
    binding = o.get("ClusterRoleBinding", "rollout-rs")
    equal(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "rollout-rs"}, "ClusterRoleBinding roleRef")
    # The ready-made templates, as the examples write them.
    examples = example_templates()
    rendered = o.of("ClusterAnalysisTemplate")
    equal(sorted(t["metadata"]["name"] for t in rendered),
          sorted(t["metadata"]["name"] for ts in examples.values() for t in ts), "templates")
    for tset, templates in examples.items():
        for want in templates:
            got = o.get("ClusterAnalysisTemplate", want["metadata"]["name"])
            equal(without_labels(got), without_labels(want), f"template {want['metadata']['name']}")
            equal(got["metadata"]["labels"]["rollout-rs.io/analysis-set"], tset, "analysis-set label")


def namespace_scoped(o):
    equal(o.args(), DEFAULT_ARGS + [f"--namespace={WATCHED}"], "args")
    role = o.get("Role", "rollout-rs", WATCHED)
    expect(grants(role["rules"], "create", "apps", "replicasets"), "the Role has the namespaced rules")
    expect(grants(role["rules"], "update", "rollout-rs.io", "rollouts/status"), "the Role writes status")
    expect(not grants(role["rules"], "list", "rollout-rs.io", "clusteranalysistemplates"),
           "cluster-scoped reads are not in the Role")
    binding = o.get("RoleBinding", "rollout-rs", WATCHED)
    equal(binding["roleRef"]["kind"], "Role", "RoleBinding roleRef kind")
    cluster = o.get("ClusterRole", f"rollout-rs-{NAMESPACE}")
    equal(sorted(r for rule in cluster["rules"] for r in rule["resources"]),
          ["clusteranalysistemplates", "customresourcedefinitions"],
          "the ClusterRole of the namespace-scoped mode holds the cluster-scoped reads only")
    expect(all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in cluster["rules"]),
           "the cluster-scoped rules only read")
    o.get("ClusterRoleBinding", f"rollout-rs-{NAMESPACE}")
    equal(len(o.of("ClusterRole")), 1, "one ClusterRole")


def replicas_3(o):
    equal(o.get("Deployment")["spec"]["replicas"], 3, "replicas")
    equal(o.args(), DEFAULT_ARGS + ["--leader-elect"], "args")
    role = o.get("Role", "rollout-rs-leader-election", NAMESPACE)
    equal(role["rules"], [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["rollout-rs-controller"], "verbs": ["get", "list", "watch", "update", "patch"]},
    ], "leader election rules")
    binding = o.get("RoleBinding", "rollout-rs-leader-election", NAMESPACE)
    equal(binding["roleRef"]["name"], "rollout-rs-leader-election", "leader election binding")
    pdb = o.get("PodDisruptionBudget", "rollout-rs")
    equal(pdb["spec"], {"maxUnavailable": 1, "selector": {"matchLabels":
          o.get("Deployment")["spec"]["selector"]["matchLabels"]}}, "PodDisruptionBudget")


def leader_forced(o):
    equal(o.args(), DEFAULT_ARGS + ["--leader-elect"], "args")
    o.get("Role", "rollout-rs-leader-election", NAMESPACE)
    expect(not o.of("PodDisruptionBudget"), "no PDB with one replica unless asked")


def no_leader_election(o):
    expect("--leader-elect" not in o.args(), "--leader-elect off")
    expect(not o.has("Role", "rollout-rs-leader-election"), "no leader election Role")


def gitops_on(o):
    equal(o.args(), DEFAULT_ARGS + GITOPS_ARGS, "args")
    c = o.container()
    equal([m["mountPath"] for m in c["volumeMounts"]], ["/tmp", "/var/cache/rollout-rs/gitops"], "mounts")
    volumes = {v["name"]: v for v in o.pod()["volumes"]}
    equal(volumes["gitops-cache"], {"name": "gitops-cache", "emptyDir": {"sizeLimit": "1Gi"}}, "cache volume")
    rules = o.rules("ClusterRole", "rollout-rs")
    expect(grants(rules, "watch", "rollout-rs.io", "gitsyncs"), "GitSyncs watched")
    expect(grants(rules, "patch", "rollout-rs.io", "gitsyncs/status"), "GitSync status written")
    equal(o.rules("ClusterRole", "rollout-rs-gitops"), [
        {"apiGroups": ["*"], "resources": ["*"],
         "verbs": ["get", "list", "watch", "create", "patch", "delete"]}], "default gitops rules")
    equal(o.get("ClusterRoleBinding", "rollout-rs-gitops")["roleRef"]["name"], "rollout-rs-gitops",
          "gitops binding")


NARROW = [{"apiGroups": ["", "rollout-rs.io"], "resources": ["configmaps", "rollouts"],
           "verbs": ["get", "create", "patch", "delete"]}]
CLUSTER_NARROW = [{"apiGroups": [""], "resources": ["namespaces"],
                   "verbs": ["get", "list", "watch", "create", "patch"]}]


def gitops_narrow(o):
    equal(o.rules("ClusterRole", "rollout-rs-gitops"), NARROW + CLUSTER_NARROW, "gitops rules")


def gitops_namespaced(o):
    equal(o.args(), DEFAULT_ARGS + [f"--namespace={WATCHED}"] + GITOPS_ARGS, "args")
    role = o.get("Role", "rollout-rs-gitops", WATCHED)
    equal(role["rules"][0]["resources"], ["*"], "gitops Role: every namespaced resource")
    o.get("RoleBinding", "rollout-rs-gitops", WATCHED)
    expect(grants(o.rules("Role", "rollout-rs", WATCHED), "list", "rollout-rs.io", "gitsyncs"),
           "GitSyncs watched in the namespace")
    expect(not o.has("ClusterRole", f"rollout-rs-{NAMESPACE}-gitops"), "no cluster-wide gitops rules")


def gitops_namespaced_cluster_rules(o):
    equal(o.rules("Role", "rollout-rs-gitops", WATCHED), NARROW, "gitops Role")
    equal(o.rules("ClusterRole", f"rollout-rs-{NAMESPACE}-gitops"), CLUSTER_NARROW, "gitops ClusterRole")
    o.get("ClusterRoleBinding", f"rollout-rs-{NAMESPACE}-gitops")


def gitops_own_rbac(o):
    expect(GITOPS_ARGS[0] in o.args(), "--gitops")
    expect(not any(r["metadata"]["name"].endswith("-gitops") for r in o.of("ClusterRole") + o.of("Role")),
           "no gitops roles with gitops.rbac.create false")
    expect(grants(o.rules("ClusterRole", "rollout-rs"), "list", "rollout-rs.io", "gitsyncs"),
           "the controller still reads its GitSyncs")


def service_monitor(o):
    sm = o.get("ServiceMonitor", "rollout-rs")
    equal(sm["apiVersion"], "monitoring.coreos.com/v1", "apiVersion")
    equal(sm["spec"]["endpoints"], [{"port": "metrics", "path": "/metrics", "interval": "15s",
                                     "scrapeTimeout": "10s"}], "endpoints")
    equal(sm["metadata"]["labels"]["release"], "prometheus", "extra label")
    svc = o.get("Service", "rollout-rs-metrics")
    expect(all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()),
           "the ServiceMonitor selects the metrics Service")
    equal(sm["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]}, "namespaceSelector")


def pdb_on(o):
    equal(o.get("PodDisruptionBudget", "rollout-rs")["spec"]["maxUnavailable"], 1, "maxUnavailable")
    equal(o.get("Deployment")["spec"]["replicas"], 1, "replicas")


def pdb_min_available(o):
    spec = o.get("PodDisruptionBudget", "rollout-rs")["spec"]
    equal(spec.get("minAvailable"), 2, "minAvailable")
    expect("maxUnavailable" not in spec, "minAvailable replaces maxUnavailable")


def pdb_off(o):
    expect(not o.of("PodDisruptionBudget"), "no PDB when disabled")
    expect("--leader-elect" in o.args(), "replicas 3 still elect a leader")


def templates_off(o):
    expect(not o.of("ClusterAnalysisTemplate"), "no ClusterAnalysisTemplates")


def templates_istio(o):
    ts = o.of("ClusterAnalysisTemplate")
    equal(sorted(t["metadata"]["name"] for t in ts), ["istio-latency-p99", "istio-success-rate"], "templates")
    for t in ts:
        args = {a["name"]: a.get("value") for a in t["spec"]["args"]}
        equal(args["prometheus-address"], "http://prometheus.monitoring.svc:9090", "prometheus-address")


def extra_args_and_env(o):
    text = [a.replace("--log-format=json", "--log-format=text") for a in DEFAULT_ARGS]
    equal(o.args(), text + ["--some-flag=1", "--other"], "args (the chart's, then extraArgs)")
    env = o.container()["env"]
    equal(env[-1], {"name": "NO_COLOR", "value": "1"}, "extra env last")
    equal(o.env()["RUST_LOG"], "info,rollout_rs_controller=debug", "RUST_LOG")


def resources(o):
    equal(o.container()["resources"], {"requests": {"cpu": "200m", "memory": "256Mi"},
                                       "limits": {"cpu": "1", "memory": "1Gi"}}, "resources")


def scheduling(o):
    pod = o.pod()
    equal(pod["nodeSelector"], {"kubernetes.io/os": "linux"}, "nodeSelector")
    equal(pod["tolerations"], [{"key": "dedicated", "operator": "Equal", "value": "ops",
                                "effect": "NoSchedule"}], "tolerations")
    expect("nodeAffinity" in pod["affinity"], "affinity")
    equal(pod["priorityClassName"], "system-cluster-critical", "priorityClassName")
    meta = o.get("Deployment")["spec"]["template"]["metadata"]
    equal(meta["annotations"], {"example.com/team": "platform"}, "podAnnotations")
    equal(meta["labels"]["example.com/tier"], "ops", "podLabels")
    equal(len(pod["topologySpreadConstraints"]), 1, "topologySpreadConstraints")


def image(o):
    c = o.container()
    equal(c["image"], "registry.example.com/platform/rollout-rs:1.2.3", "image")
    equal(c["imagePullPolicy"], "Always", "pullPolicy")
    equal(o.pod()["imagePullSecrets"], [{"name": "registry-credentials"}], "imagePullSecrets")


def ports(o):
    c = o.container()
    expect("--metrics-addr=0.0.0.0:9100" in c["args"] and "--health-addr=0.0.0.0:9101" in c["args"], "addrs")
    equal({p["name"]: p["containerPort"] for p in c["ports"]}, {"metrics": 9100, "health": 9101}, "ports")
    equal(o.get("Service")["spec"]["ports"][0]["port"], 9100, "Service port")


def smi(o):
    expect("--traffic-split-api-version=split.smi-spec.io/v1alpha3" in o.args(), "SMI apiVersion flag")
    expect(grants(o.rules("ClusterRole", "rollout-rs"), "create", "split.smi-spec.io", "trafficsplits"),
           "TrafficSplits")


def existing_service_account(o):
    expect(not o.of("ServiceAccount"), "no ServiceAccount created")
    equal(o.pod()["serviceAccountName"], "platform-controller", "serviceAccountName")


def no_rbac(o):
    expect(not any(o.of(k) for k in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")),
           "no RBAC objects with rbac.create false")


def full_name(o):
    o.get("Deployment", "delivery")
    o.get("ClusterRole", "delivery")
    o.get("Service", "delivery-metrics")
    equal(o.pod()["serviceAccountName"], "delivery", "ServiceAccount")


# (name, values, check). Every case is linted, rendered, checked, and (by e2e/tests/chart.rs)
# applied to the simulator with a server-side dry run.
CASES = [
    ("defaults", {}, defaults),
    ("namespace-scoped", {"watchNamespace": WATCHED}, namespace_scoped),
    ("replicas-3", {"replicas": 3}, replicas_3),
    ("leader-election-forced", {"leaderElection": {"enabled": True}}, leader_forced),
    ("leader-election-off", {"leaderElection": {"enabled": False}}, no_leader_election),
    ("gitops", {"gitops": {"enabled": True}}, gitops_on),
    ("gitops-narrow", {"gitops": {"enabled": True, "rbac": {"rules": NARROW, "clusterRules": CLUSTER_NARROW}}},
     gitops_narrow),
    ("gitops-namespace-scoped", {"watchNamespace": WATCHED, "gitops": {"enabled": True}}, gitops_namespaced),
    ("gitops-namespace-scoped-cluster-rules",
     {"watchNamespace": WATCHED,
      "gitops": {"enabled": True, "rbac": {"rules": NARROW, "clusterRules": CLUSTER_NARROW}}},
     gitops_namespaced_cluster_rules),
    ("gitops-own-rbac", {"gitops": {"enabled": True, "rbac": {"create": False}}}, gitops_own_rbac),
    ("service-monitor",
     {"metrics": {"serviceMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "10s",
                                     "labels": {"release": "prometheus"}}}}, service_monitor),
    ("pdb", {"podDisruptionBudget": {"enabled": True}}, pdb_on),
    ("pdb-min-available", {"replicas": 3, "podDisruptionBudget": {"minAvailable": 2}}, pdb_min_available),
    ("pdb-off", {"replicas": 3, "podDisruptionBudget": {"enabled": False}}, pdb_off),
    ("analysis-templates-off", {"clusterAnalysisTemplates": {"enabled": False}}, templates_off),
    ("analysis-templates-istio",
     {"clusterAnalysisTemplates": {"include": ["istio"],
                                   "prometheusAddress": "http://prometheus.monitoring.svc:9090"}},
     templates_istio),
    ("extra-args-and-env",
     {"extraArgs": ["--some-flag=1", "--other"], "env": [{"name": "NO_COLOR", "value": "1"}],
      "logLevel": "info,rollout_rs_controller=debug", "logFormat": "text"}, extra_args_and_env),
    ("resources",
     {"resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
     resources),
    ("scheduling",
     {"nodeSelector": {"kubernetes.io/os": "linux"},
      "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
      "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
          {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
      "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                     "whenUnsatisfiable": "ScheduleAnyway",
                                     "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "rollout-rs"}}}],
      "priorityClassName": "system-cluster-critical",
      "podAnnotations": {"example.com/team": "platform"}, "podLabels": {"example.com/tier": "ops"}},
     scheduling),
    ("image",
     {"image": {"repository": "registry.example.com/platform/rollout-rs", "tag": "1.2.3", "pullPolicy": "Always"},
      "imagePullSecrets": [{"name": "registry-credentials"}]}, image),
    ("ports", {"metrics": {"port": 9100}, "health": {"port": 9101}}, ports),
    ("smi-v1alpha3", {"trafficRouting": {"smiApiVersion": "split.smi-spec.io/v1alpha3"}}, smi),
    ("existing-service-account", {"serviceAccount": {"create": False, "name": "platform-controller"}},
     existing_service_account),
    ("no-rbac", {"rbac": {"create": False}}, no_rbac),
    ("full-name", {"fullnameOverride": "delivery"}, full_name),
]

# Value sets the schema accepts but the chart refuses, with a word of the message.
REFUSED = [
    ("two writers", {"replicas": 2, "leaderElection": {"enabled": False}}, "leader election"),
    ("webhooks", {"webhooks": {"enabled": True}}, "no admission webhooks yet"),
    ("ServiceMonitor without Service",
     {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}, "metrics.service.enabled"),
    ("existing ServiceAccount without a name", {"serviceAccount": {"create": False}}, "serviceAccount.name"),
]

# Values values.schema.json must refuse: typos at each level and wrong types.
INVALID = [
    ("typo at the top", {"replicaCount": 3}),
    ("typo in image", {"image": {"tags": "1.0"}}),
    ("typo in a nested block", {"gitops": {"rbac": {"rule": []}}}),
    ("typo in securityContext", {"securityContext": {"runAsNonroot": True}}),
    ("typo in a probe", {"livenessProbe": {"periodSecond": 5}}),
    ("typo in a PolicyRule", {"gitops": {"rbac": {"rules": [{"apiGroup": [""], "verbs": ["get"]}]}}}),
    ("replicas as a string", {"replicas": "3"}),
    ("gitops.enabled as a string", {"gitops": {"enabled": "yes"}}),
    ("an unknown log format", {"logFormat": "xml"}),
    ("a namespace that cannot be one", {"watchNamespace": "Team_A"}),
    ("a port out of range", {"metrics": {"port": 70000}}),
    ("an unknown template set", {"clusterAnalysisTemplates": {"include": ["haproxy"]}}),
    ("a pull policy", {"image": {"pullPolicy": "Sometimes"}}),
    ("a PolicyRule without verbs", {"gitops": {"rbac": {"rules": [{"apiGroups": [""], "resources": ["pods"]}]}}}),
    ("an env var with a number value", {"env": [{"name": "N", "value": 1}]}),
]


# ---------------------------------------------------------------------------------------------
# The run


def lint(values, label, failures):
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=KUBE_VERSION)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    problems += [{"error": e} for e in report.get("errors", [])]
    for p in problems:
        failures.append(f"helm lint --strict ({label}): {p.get('path', '')}: {p['error'].strip()}")


def check(out):
    failures = []
    lint({}, "defaults", failures)
    rendered = {}
    with helm.Chart.load(CHART) as chart:
        crds = chart.crds
        if len(crds) != len(os.listdir(os.path.join(REPO, "crds", "yaml"))):
            failures.append(f"the chart has {len(crds)} CRDs, crds/yaml has another count")
        for name, values, _ in CASES:
            try:
                chart.validate_schema(values)
            except helm.HelmError as e:
                failures.append(f"case {name}: the schema refuses its values: {e}")
        for label, values in INVALID:
            try:
                chart.validate_schema(values)
                failures.append(f"the schema accepts {label}: {json.dumps(values)}")
            except helm.HelmValuesError:
                pass
    for name, values, assertions in CASES:
        if name != "defaults":
            lint(values, name, failures)
        try:
            objects = render(values)
        except helm.HelmError as e:
            failures.append(f"case {name}: render failed: {e}")
            continue
        rendered[name] = objects
        try:
            o = Objects(objects)
            common(o, values)
            assertions(o)
        except Failure as e:
            failures.append(f"case {name}: {e}")
        except (KeyError, IndexError, TypeError) as e:
            failures.append(f"case {name}: missing {e!r} in the rendered objects")
    for label, values, word in REFUSED:
        try:
            render(values)
            failures.append(f"the chart renders {label}: {json.dumps(values)}")
        except helm.HelmError as e:
            if word not in str(e):
                failures.append(f"{label}: the error does not say {word!r}: {e}")
    text = notes({"replicas": 2, "gitops": {"enabled": True}})
    for word in ("leader election on", "Git reconciler (GitSync): on", "rollout-rs crds | kubectl apply"):
        if word not in text:
            failures.append(f"NOTES.txt does not say {word!r}:\n{text}")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "crds.yaml"), "w", encoding="utf-8") as f:
            f.write("".join(f"---\n{c['data'].rstrip()}\n" for c in crds))
        for name, objects in rendered.items():
            with open(os.path.join(out, f"{name}.yaml"), "w", encoding="utf-8") as f:
                f.write("".join(f"---\n{json.dumps(obj)}\n" for obj in objects))
    for f in failures:
        print(f"FAIL {f}")
    print(f"{len(CASES)} value sets rendered and checked, {len(REFUSED)} refused renders, "
          f"{len(INVALID)} invalid value sets, {len(failures)} failure(s)")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="every check of the chart")
    c.add_argument("--out", help="write each case's rendered objects here")
    r = sub.add_parser("render", help="print the rendered objects as JSON")
    r.add_argument("--values", default="{}", help="values, as JSON")
    r.add_argument("--namespace", default=NAMESPACE, help="the release namespace")
    args = parser.parse_args()
    if args.command == "check":
        return check(args.out)
    try:
        json.dump(render(json.loads(args.values), namespace=args.namespace), sys.stdout)
    except (helm.HelmError, ValueError) as e:
        print(f"render: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
