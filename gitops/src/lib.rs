//! The bundled Git reconciler behind the `GitSync` kind.
//!
//! It owns: fetching a revision through the `git` CLI, rendering plain YAML, kustomize and
//! Helm sources, applying with one server-side-apply field manager, pruning by inventory,
//! health assessment, and the GitSync status.
//!
//! It must not: reach into rollout internals (a Rollout is just another object it applies and
//! whose health it reads), or apply or prune anything when the source cannot be read.
//!
//! Today: `render` (plain directories, Kustomize, Helm, confined to the repository), `health`
//! (the built-in health rules), `inventory` (what is applied in which order, and what may be
//! pruned), `apply` (dry-run, then server-side apply in that order, waiting for CRDs and
//! Namespaces; reads and deletes), `status` and `reconcile` (the GitSync loop). Fetching with
//! the git CLI arrives next.

pub mod apply;
pub mod health;
pub mod inventory;
pub mod reconcile;
pub mod render;
pub mod status;
