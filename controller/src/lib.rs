//! The rollout-rs controllers and the wiring around them.
//!
//! Today: installing the CRDs into a cluster ([`install`]) and the one-command developer
//! cluster ([`dev`]). The rollout reconciler, traffic routers, AnalysisRun controller, metrics
//! and health server and leader election arrive with their issues; they follow observe → decide
//! (pure) → execute, and only the leader writes.

pub mod dev;
pub mod install;
pub mod rollout;
