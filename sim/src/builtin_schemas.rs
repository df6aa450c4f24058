//! Schemas of the built-in kinds, generated from k8s-openapi's types (the Kubernetes OpenAPI
//! definitions) with every sub-schema inlined, so built-in objects are pruned, type-checked and
//! strictly field-validated like custom resources, and the OpenAPI documents describe them.
//! Descriptions are dropped: they would multiply the memory of every simulator by megabytes.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::{
    apps, authentication, authorization, autoscaling, batch, coordination, core, events,
    networking, policy, rbac, scheduling,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

fn generate<T: JsonSchema>() -> Option<JSONSchemaProps> {
    let settings = SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut value = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    strip(&mut value);
    serde_json::from_value(value).ok()
}

/// Removes prose and JSON-Schema-only keys that JSONSchemaProps does not model.
fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for key in ["description", "title", "$schema", "examples", "example"] {
                map.remove(key);
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    // Field names, not keywords: a field may be called `description`.
                    ("properties", serde_json::Value::Object(fields)) => {
                        fields.values_mut().for_each(strip)
                    }
                    (_, value) => strip(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The schema of a built-in kind, keyed by (group, version, kind). CustomResourceDefinition is
/// absent on purpose: its schema is recursive, and CRDs are checked by `crd.rs`.
pub fn schema(group: &str, version: &str, kind: &str) -> Option<Arc<JSONSchemaProps>> {
    type Schemas = BTreeMap<(&'static str, &'static str, &'static str), Arc<JSONSchemaProps>>;
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let mut m = BTreeMap::new();
            let mut add = |g, v, k, s: Option<JSONSchemaProps>| {
                if let Some(s) = s {
                    m.insert((g, v, k), Arc::new(s));
                }
            };
            add("", "v1", "Namespace", generate::<core::v1::Namespace>());
            add("", "v1", "Node", generate::<core::v1::Node>());
            add("", "v1", "Pod", generate::<core::v1::Pod>());
            add("", "v1", "Service", generate::<core::v1::Service>());
            add("", "v1", "Endpoints", generate::<core::v1::Endpoints>());
            add("", "v1", "ConfigMap", generate::<core::v1::ConfigMap>());
            add("", "v1", "Secret", generate::<core::v1::Secret>());
            add(
                "",
                "v1",
                "ServiceAccount",
                generate::<core::v1::ServiceAccount>(),
            );
            add("", "v1", "Event", generate::<core::v1::Event>());
            add(
                "",
                "v1",
                "PersistentVolumeClaim",
                generate::<core::v1::PersistentVolumeClaim>(),
            );
            add(
                "events.k8s.io",
                "v1",
                "Event",
                generate::<events::v1::Event>(),
            );
            add(
                "apps",
                "v1",
                "ReplicaSet",
                generate::<apps::v1::ReplicaSet>(),
            );
            add(
                "apps",
                "v1",
                "Deployment",
                generate::<apps::v1::Deployment>(),
            );
            add(
                "apps",
                "v1",
                "StatefulSet",
                generate::<apps::v1::StatefulSet>(),
            );
            add("apps", "v1", "DaemonSet", generate::<apps::v1::DaemonSet>());
            add("batch", "v1", "Job", generate::<batch::v1::Job>());
            add("batch", "v1", "CronJob", generate::<batch::v1::CronJob>());
            add(
                "",
                "v1",
                "ResourceQuota",
                generate::<core::v1::ResourceQuota>(),
            );
            add(
                "scheduling.k8s.io",
                "v1",
                "PriorityClass",
                generate::<scheduling::v1::PriorityClass>(),
            );
            add(
                "networking.k8s.io",
                "v1",
                "Ingress",
                generate::<networking::v1::Ingress>(),
            );
            add(
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                generate::<networking::v1::NetworkPolicy>(),
            );
            add(
                "policy",
                "v1",
                "PodDisruptionBudget",
                generate::<policy::v1::PodDisruptionBudget>(),
            );
            add(
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                generate::<autoscaling::v2::HorizontalPodAutoscaler>(),
            );
            add(
                "coordination.k8s.io",
                "v1",
                "Lease",
                generate::<coordination::v1::Lease>(),
            );
            add(
                "rbac.authorization.k8s.io",
                "v1",
                "Role",
                generate::<rbac::v1::Role>(),
            );
            add(
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                generate::<rbac::v1::RoleBinding>(),
            );
            add(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
                generate::<rbac::v1::ClusterRole>(),
            );
            add(
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRoleBinding",
                generate::<rbac::v1::ClusterRoleBinding>(),
            );
            let authn = "authentication.k8s.io";
            add(
                authn,
                "v1",
                "SelfSubjectReview",
                generate::<authentication::v1::SelfSubjectReview>(),
            );
            add(
                authn,
                "v1",
                "TokenReview",
                generate::<authentication::v1::TokenReview>(),
            );
            let authz = "authorization.k8s.io";
            add(
                authz,
                "v1",
                "LocalSubjectAccessReview",
                generate::<authorization::v1::LocalSubjectAccessReview>(),
            );
            add(
                authz,
                "v1",
                "SelfSubjectAccessReview",
                generate::<authorization::v1::SelfSubjectAccessReview>(),
            );
            add(
                authz,
                "v1",
                "SelfSubjectRulesReview",
                generate::<authorization::v1::SelfSubjectRulesReview>(),
            );
            add(
                authz,
                "v1",
                "SubjectAccessReview",
                generate::<authorization::v1::SubjectAccessReview>(),
            );
            m
        })
        .get(&(group, version, kind))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_but_crds_has_a_structural_schema() {
        let registry = crate::registry::Registry::default();
        for rt in registry.all() {
            if rt.kind == "CustomResourceDefinition" {
                continue;
            }
            let s = schema(&rt.group, &rt.version, &rt.kind)
                .unwrap_or_else(|| panic!("no schema for {}", rt.kind));
            let spec_like = s.properties.as_ref().map(|p| p.len()).unwrap_or_default();
            assert!(spec_like >= 3, "{} schema has too few properties", rt.kind);
        }
    }

    #[test]
    fn fields_named_like_schema_keywords_are_kept() {
        let pc = schema("scheduling.k8s.io", "v1", "PriorityClass").unwrap();
        let fields = pc.properties.as_ref().unwrap();
        assert!(fields.contains_key("description"), "{:?}", fields.keys());
    }
}
