//! The analysis engine (being built with the analysis issue).
//!
//! It owns: the AnalysisRun state machine as pure functions of (run, measurements, now)
//! ([`assess`] so far: metric and run phases from measurement tallies and limits), metric
//! providers behind a `MetricProvider` trait (Prometheus through prometheus-http-query, JSON web
//! endpoints), CEL success/failure conditions with NaN/Inf guards and the no-data policy, and
//! `{{args.NAME}}` substitution with secret redaction ([`args`]).
//!
//! It must not: talk to the Kubernetes API (the AnalysisRun controller in `controller/` reads
//! and writes runs), or decide anything about traffic (the rollout reconciler reacts to a run's
//! phase).

pub mod args;
pub mod assess;
