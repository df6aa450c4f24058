//! The bundled Git reconciler behind the `GitSync` kind.
//!
//! It owns: fetching a revision through the `git` CLI, rendering plain YAML, kustomize and
//! Helm sources, applying with one server-side-apply field manager, pruning by inventory,
//! health assessment, and the GitSync status.
//!
//! It must not: reach into rollout internals (a Rollout is just another object it applies and
//! whose health it reads), or apply or prune anything when the source cannot be read.
//!
//! The parts: `source` (fetching with the git CLI; credentials never in arguments or logs),
//! `render` (plain directories, Kustomize, Helm, confined to the repository), `ignore` (fields
//! `ignoreDifferences` leaves to others), `inventory` (what
//! is applied in which order, and what may be pruned), `apply` (dry-run, then server-side apply
//! in that order, waiting for CRDs and Namespaces; reads and deletes), `health` (the built-in
//! health rules), `status` (what a sync writes), `retry` (when a failed sync is tried again) and `reconcile`
//! (the GitSync loop).

pub mod apply;
pub mod health;
pub mod ignore;
pub mod inventory;
pub mod reconcile;
pub mod render;
pub mod retry;
pub mod source;
pub mod status;
