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
pub mod conditions;
pub mod crd;
pub mod duration;
pub mod gitsync;
pub mod labels;
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
pub use labels::{MANAGED_BY_ANNOTATION, POD_TEMPLATE_HASH_LABEL, managed_by};
