//! The rollout reconciler: observe (reflector caches) → [`decide`] (pure) → execute (one field
//! manager, Events, exact requeue). This module tree owns the ReplicaSets of Rollouts and the
//! selectors of their Services, and creates, terminates and deletes the AnalysisRuns it needs;
//! it never edits the user's Rollout spec.

pub(crate) mod analysis;
pub(crate) mod decide;
pub(crate) mod hash;
mod names;
pub(crate) mod reconcile;
pub(crate) mod replicas;
pub(crate) mod routers;
mod run_spec;
pub(crate) mod status_guard;
mod traffic;
mod weight;
