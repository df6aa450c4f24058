//! The rollout reconciler: observe (reflector caches) → [`decide`] (pure) → execute (one field
//! manager, Events, exact requeue). This module tree owns the ReplicaSets of Rollouts and the
//! selectors of their Services, and creates, terminates and deletes the AnalysisRuns it needs;
//! it never edits the user's Rollout spec.

pub mod analysis;
pub mod decide;
pub mod hash;
mod names;
pub mod reconcile;
pub mod replicas;
pub mod routers;
mod run_spec;
pub mod status_guard;
mod traffic;
mod weight;
