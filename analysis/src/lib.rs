//! The analysis engine: everything about an AnalysisRun that is not Kubernetes I/O. It owns
//! the metric and run phases (`assess`), the measurement schedule and status bookkeeping
//! (`run`), CEL conditions (`condition`), `{{args.NAME}}` substitution with secret redaction
//! (`args`), scrubbing secrets from every text that leaves the engine (`secrets`) and the
//! Prometheus and web providers (`provider`). It never talks to the API server: the
//! controller reads Secrets and writes status.

pub mod args;
pub mod assess;
pub mod condition;
pub mod measured;
pub mod measurement;
pub mod provider;
pub mod run;
pub mod secrets;
pub mod templated;
#[cfg(test)]
mod test_http;
pub mod validate;
