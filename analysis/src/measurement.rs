//! One measurement, end to end: resolve the provider's arguments, query, judge the value.
//! Whatever goes wrong becomes an Error measurement with a message; nothing here panics or
//! returns early, so a run always moves on.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollout_rs_crds::analysis::{AnalysisPhase, Measurement, Metric};

use crate::args::ArgValue;
use crate::condition::judge;
use crate::provider::{Http, measure, resolve};

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
    match resolve(metric, args) {
        Err(e) => m.message = Some(e.to_string()),
        Ok(resolved) => {
            m.metadata = resolved.metadata.clone();
            match measure(&resolved, http).await {
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
    m
}
