//! The bundled Git reconciler behind the `GitSync` kind (arrives with the GitOps issue).
//!
//! It will own: fetching a revision through the `git` CLI, rendering plain YAML, kustomize and
//! Helm sources, diffing the rendered objects against live ones (honouring ignore rules and
//! fields other managers own), applying with one server-side-apply field manager, pruning by
//! inventory, health assessment, and the GitSync status.
//!
//! It must not: reach into rollout internals (a Rollout is just another object it applies and
//! whose health it reads), or apply or prune anything when the source cannot be read.

pub mod source;
