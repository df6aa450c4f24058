//! The analysis engine (arrives with the analysis issue).
//!
//! It will own: the AnalysisRun state machine as a pure function of (run, measurements, now),
//! metric providers behind a `MetricProvider` trait (Prometheus through prometheus-http-query,
//! JSON web endpoints), CEL success/failure conditions with NaN/Inf guards and the no-data
//! policy, and `{{args.NAME}}` substitution with secret redaction.
//!
//! It must not: talk to the Kubernetes API (the AnalysisRun controller in `controller/` reads
//! and writes runs), or decide anything about traffic (the rollout reconciler reacts to a run's
//! phase).
