//! The resource types the simulated API server serves: the built-in kinds that GitOps repositories
//! and Helm charts commonly hold, plus every kind registered by a CustomResourceDefinition.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, JSONSchemaProps,
};

/// One served resource in one group-version.
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// `(specReplicasPath, statusReplicasPath, labelSelectorPath)` when the scale subresource is on.
    pub scale: Option<Scale>,
    /// Whether writes bump `metadata.generation` when anything but metadata and status changes.
    pub generation: bool,
    /// The validation schema (shared: a request clones its ResourceType, never the schema).
    pub schema: Option<Arc<JSONSchemaProps>>,
    pub printer_columns: Vec<CustomResourceColumnDefinition>,
    /// Name of the CRD that registered this type, if any.
    pub crd: Option<String>,
    /// A review API (SelfSubjectAccessReview, TokenReview...): only `create`, nothing stored;
    /// answered by [`crate::auth::review`].
    pub create_only: bool,
}

/// Paths of the scale subresource, as in `CustomResourceSubresourceScale`.
#[derive(Clone, Debug)]
pub struct Scale {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Key under which objects of this type are stored: objects are shared between versions of
    /// a group-resource, as the real API server stores one version. `events.k8s.io` Events
    /// live with core Events, as there (see [`crate::events`]).
    pub fn storage_key(&self) -> String {
        if crate::events::is_events_api(self) {
            return "/events".into();
        }
        format!("{}/{}", self.group, self.plural)
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
    create_only: bool,
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all: false,
        status: false,
        scale: false,
        create_only: false,
    }
}

impl Builtin {
    const fn all(mut self) -> Self {
        self.all = true;
        self
    }
    const fn status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
    const fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
}

const BUILTINS: &[Builtin] = &[
    b("", "v1", "Namespace", "namespaces", false, &["ns"]).status(),
    b("", "v1", "Node", "nodes", false, &["no"]).status(),
    b("", "v1", "Pod", "pods", true, &["po"]).all().status(),
    b("", "v1", "Service", "services", true, &["svc"])
        .all()
        .status(),
    b("", "v1", "Endpoints", "endpoints", true, &["ep"]),
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
    b("", "v1", "Secret", "secrets", true, &[]),
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    b("", "v1", "Event", "events", true, &["ev"]),
    b(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
    )
    .status(),
    b(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
    )
    .status(),
    b("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
    b("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"])
        .all()
        .status()
        .scale(),
    b("apps", "v1", "Deployment", "deployments", true, &["deploy"])
        .all()
        .status()
        .scale(),
    b("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"])
        .all()
        .status()
        .scale(),
    b("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"])
        .all()
        .status(),
    b("batch", "v1", "Job", "jobs", true, &[]).all().status(),
    b("batch", "v1", "CronJob", "cronjobs", true, &["cj"])
        .all()
        .status(),
    b(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
    ),
    b(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
    )
    .status(),
    b(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
    ),
    b(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
    )
    .status(),
    b(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
    )
    .all()
    .status(),
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    )
    .status(),
    // The review APIs every API server serves, whether or not it authorizes.
    b(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
        &[],
    )
    .create_only(),
    b(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        false,
        &[],
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
        &[],
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        &[],
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
        &[],
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
        &[],
    )
    .create_only(),
];

/// Every served resource type, built-in and custom.
#[derive(Clone, Debug)]
pub struct Registry {
    /// Keyed by (group, version, plural).
    types: BTreeMap<(String, String, String), ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        let mut types = BTreeMap::new();
        for bi in BUILTINS {
            let rt = ResourceType {
                group: bi.group.into(),
                version: bi.version.into(),
                kind: bi.kind.into(),
                plural: bi.plural.into(),
                singular: bi.kind.to_lowercase(),
                namespaced: bi.namespaced,
                short_names: bi.short.iter().map(|s| s.to_string()).collect(),
                categories: if bi.all { vec!["all".into()] } else { vec![] },
                status_subresource: bi.status,
                scale: bi.scale.then(|| Scale {
                    spec_replicas_path: ".spec.replicas".into(),
                    status_replicas_path: ".status.replicas".into(),
                    label_selector_path: Some(".status.selector".into()),
                }),
                generation: bi.status,
                schema: crate::builtin_schemas::schema(bi.group, bi.version, bi.kind),
                printer_columns: vec![],
                crd: None,
                create_only: bi.create_only,
            };
            types.insert(
                (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
                rt,
            );
        }
        Registry { types }
    }
}

impl Registry {
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.values()
    }

    /// Group → versions served, the preferred (first registered, or highest) version first.
    pub fn groups(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for rt in self.types.values() {
            let versions = out.entry(rt.group.as_str()).or_default();
            if !versions.contains(&rt.version.as_str()) {
                versions.push(rt.version.as_str());
            }
        }
        for versions in out.values_mut() {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    /// The types of one group-version.
    pub fn group_version(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types
            .values()
            .filter(|rt| rt.group == group && rt.version == version)
            .collect()
    }

    /// Registers (or re-registers) the served versions of a CRD. Returns the storage key.
    pub fn register_crd(&mut self, crd: &CustomResourceDefinition) -> String {
        self.unregister_crd(crd.metadata.name.as_deref().unwrap_or_default());
        let spec = &crd.spec;
        let names = &spec.names;
        for v in spec.versions.iter().filter(|v| v.served) {
            let sub = v.subresources.as_ref();
            let rt = ResourceType {
                group: spec.group.clone(),
                version: v.name.clone(),
                kind: names.kind.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .unwrap_or_else(|| names.kind.to_lowercase()),
                namespaced: spec.scope == "Namespaced",
                short_names: names.short_names.clone().unwrap_or_default(),
                categories: names.categories.clone().unwrap_or_default(),
                status_subresource: sub.is_some_and(|s| s.status.is_some()),
                scale: sub.and_then(|s| s.scale.as_ref()).map(|s| Scale {
                    spec_replicas_path: s.spec_replicas_path.clone(),
                    status_replicas_path: s.status_replicas_path.clone(),
                    label_selector_path: s.label_selector_path.clone(),
                }),
                generation: true,
                schema: v
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.clone())
                    .map(Arc::new),
                printer_columns: v.additional_printer_columns.clone().unwrap_or_default(),
                crd: crd.metadata.name.clone(),
                create_only: false,
            };
            self.types.insert(
                (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
                rt,
            );
        }
        format!("{}/{}", spec.group, names.plural)
    }

    /// Removes every type registered by the named CRD.
    pub fn unregister_crd(&mut self, crd_name: &str) {
        self.types
            .retain(|_, rt| rt.crd.as_deref() != Some(crd_name));
    }
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let major_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u32 = rest[..major_end].parse().unwrap_or(0);
    let tail = &rest[major_end..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1"]);
    }
}
