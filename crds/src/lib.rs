//! rollout-rs API types (group `rollout-rs.io`, version `v1alpha1`): `Rollout`,
//! `AnalysisTemplate`, `ClusterAnalysisTemplate`, `AnalysisRun` and `GitSync`, with
//!
//! - pure spec validation ([`validation`]) that names the field path of every failure,
//! - a strict manifest parser ([`manifest`]) that reports unknown fields and type errors by path,
//! - the generated CustomResourceDefinitions ([`crd`]) committed under `crds/yaml/`.
//!
//! This crate does no I/O and talks to no cluster: every other crate builds on it.

mod common;

pub mod analysis;
pub mod crd;
pub mod duration;
pub mod gitsync;
pub mod manifest;
pub mod rollout;
pub mod structural;
pub mod validation;

pub use analysis::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate};
pub use common::{Condition, FieldRef, ObjectMetadata, SecretKeyRef};
pub use gitsync::GitSync;
pub use rollout::Rollout;

/// API group of every rollout-rs kind.
pub const GROUP: &str = "rollout-rs.io";
/// API version of every rollout-rs kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every rollout-rs kind.
pub const API_VERSION: &str = "rollout-rs.io/v1alpha1";
/// Label carrying the pod-template hash on ReplicaSets, pods and Service selectors.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// Annotation on a Service or DestinationRule whose hashes a Rollout pins: [`managed_by`] of
/// that Rollout. When its spec stops naming the object, the Rollout releases it.
pub const MANAGED_BY_ANNOTATION: &str = "rollout-rs.io/managed-by";

/// The [`MANAGED_BY_ANNOTATION`] value of the Rollout `name` in `namespace`.
pub fn managed_by(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}
