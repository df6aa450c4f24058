//! One measurement, end to end: resolve the provider's arguments, query, judge the value.
//! Whatever goes wrong becomes an Error measurement with a message; nothing here panics or
//! returns early, so a run always moves on. Every text of the measurement (message, value,
//! metadata) is scrubbed of the run's secrets on the way out: this is what status and the
//! controller's log show.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollout_rs_crds::analysis::{AnalysisPhase, Measurement, Metric};

use crate::args::ArgValue;
use crate::condition::judge;
use crate::provider::{Http, measure, resolve};
use crate::secrets::Secrets;

/// Takes one measurement of `metric`.
pub async fn take(
    metric: &Metric,
    args: &BTreeMap<String, Option<ArgValue>>,
    http: &Http,
) -> Measurement {
    let started = jiff::Timestamp::now();
    let mut m = Measurement {
        phase: AnalysisPhase::Error,
        message: None,
        started_at: Some(Time(started)),
        finished_at: None,
        value: None,
        metadata: BTreeMap::new(),
        resume_at: None,
    };
    let resolved = resolve(metric, args);
    match &resolved {
        Err(e) => m.message = Some(e.to_string()),
        Ok(resolved) => {
            m.metadata = resolved.metadata.clone();
            match measure(resolved, http).await {
                Err(e) => m.message = Some(e.to_string()),
                Ok(value) => {
                    let verdict = judge(metric, &value);
                    m.phase = verdict.phase;
                    m.message = verdict.message;
                    m.value = Some(value.to_string());
                }
            }
        }
    }
    m.finished_at = Some(Time(jiff::Timestamp::now()));
    // The secrets the request was built with; built here only when it could not be.
    match &resolved {
        Ok(r) => scrub(&mut m, r.secrets()),
        Err(_) => scrub(&mut m, &Secrets::from_args(args)),
    }
    m
}

/// Scrubs every text of `m`. The value is an answer that may echo a secret sent with the
/// request; a condition's message may quote the value; metadata is redacted by position
/// already, but a plain argument may hold a secret's value too.
fn scrub(m: &mut Measurement, secrets: &Secrets) {
    if secrets.is_empty() {
        return;
    }
    let texts = m
        .message
        .iter_mut()
        .chain(m.value.iter_mut())
        .chain(m.metadata.values_mut());
    for text in texts {
        *text = secrets.scrub(text);
    }
}

#[cfg(test)]
#[path = "measurement_tests.rs"]
mod tests;
