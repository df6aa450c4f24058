//! The AnalysisRun state machine, pure: which metrics are due now and when the next one is
//! ([`schedule`]), and the status after new measurements ([`record`]). Intervals count from the
//! previous measurement's end; an errored measurement is retried after the interval or 10 s,
//! whichever is shorter; the first waits for `initialDelay`. The controller measures what is
//! due, records, writes status and requeues at `next` exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollout_rs_crds::analysis::{
    AnalysisPhase, AnalysisRunSpec, AnalysisRunStatus, Measurement, Metric, MetricResult,
    RunSummary,
};
use rollout_rs_crds::duration;

use crate::assess::{Limits, Tally, metric_phase, run_phase, terminating};

/// Measurements kept per metric unless measurementRetention says otherwise.
pub const DEFAULT_RETENTION: usize = 10;
/// Retry delay after an errored measurement (shorter if the metric's interval is).
pub const ERROR_RETRY: Duration = Duration::from_secs(10);

/// What to measure now, and when to look again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// Names of the metrics due now.
    pub due: Vec<String>,
    /// The earliest future measurement.
    pub next: Option<Timestamp>,
}

/// Whether a phase is final.
pub fn completed(p: Option<AnalysisPhase>) -> bool {
    matches!(
        p,
        Some(
            AnalysisPhase::Successful
                | AnalysisPhase::Failed
                | AnalysisPhase::Error
                | AnalysisPhase::Inconclusive
        )
    )
}

fn is_dry_run(spec: &AnalysisRunSpec, name: &str) -> bool {
    spec.dry_run
        .iter()
        .any(|d| d.metric_name == "*" || d.metric_name == name)
}

fn retention(spec: &AnalysisRunSpec, name: &str) -> usize {
    spec.measurement_retention
        .iter()
        .find(|r| r.metric_name == name)
        .or_else(|| {
            spec.measurement_retention
                .iter()
                .find(|r| r.metric_name == "*")
        })
        .map_or(DEFAULT_RETENTION, |r| r.limit.max(1) as usize)
}

fn int(v: Option<&IntOrString>, field: &str, default: i64) -> Result<i64, String> {
    match v {
        None => Ok(default),
        Some(IntOrString::Int(i)) => Ok(i64::from(*i)),
        Some(IntOrString::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{field} {s:?} is not a number")),
    }
}

fn optional_duration(text: Option<&str>, field: &str) -> Result<Option<Duration>, String> {
    text.map(|t| duration::parse(t).map_err(|e| format!("{field}: {e}")))
        .transpose()
}

/// The metric's limits. No interval means one measurement; an interval without a count
/// means measuring until the run is terminated (count 0).
pub fn limits(m: &Metric) -> Result<Limits, String> {
    let interval = optional_duration(m.interval.as_deref(), "interval")?;
    let count = match (int(m.count.as_ref(), "count", 0)?, interval) {
        (0, None) => 1,
        (c, _) => c.max(0),
    };
    Ok(Limits {
        count,
        failure: int(m.failure_limit.as_ref(), "failureLimit", 0)?,
        inconclusive: int(m.inconclusive_limit.as_ref(), "inconclusiveLimit", 0)?,
        consecutive_error: int(
            m.consecutive_error_limit.as_ref(),
            "consecutiveErrorLimit",
            4,
        )?,
        consecutive_success: int(
            m.consecutive_success_limit.as_ref(),
            "consecutiveSuccessLimit",
            0,
        )?,
    })
}

fn tally(r: &MetricResult) -> Tally {
    Tally {
        measured: i64::from(r.count),
        successful: i64::from(r.successful),
        failed: i64::from(r.failed),
        inconclusive: i64::from(r.inconclusive),
        error: i64::from(r.error),
        consecutive_error: i64::from(r.consecutive_error),
        consecutive_success: i64::from(r.consecutive_success),
        running: false,
    }
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.saturating_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
        .unwrap_or(t)
}

fn run_terminating(spec: &AnalysisRunSpec, status: &AnalysisRunStatus) -> bool {
    let phases: Vec<(AnalysisPhase, bool)> = status
        .metric_results
        .iter()
        .map(|r| (r.phase, r.dry_run))
        .collect();
    terminating(spec.terminate, &phases)
}

/// Which metrics are due at `now`, and the next time one will be.
pub fn schedule(spec: &AnalysisRunSpec, status: &AnalysisRunStatus, now: Timestamp) -> Schedule {
    let mut out = Schedule::default();
    if completed(status.phase) || run_terminating(spec, status) {
        return out;
    }
    let started = status.started_at.as_ref().map_or(now, |t| t.0);
    for m in &spec.metrics {
        let result = status.metric_results.iter().find(|r| r.name == m.name);
        if result.is_some_and(|r| completed(Some(r.phase))) {
            continue;
        }
        let (Ok(l), Ok(interval), Ok(delay)) = (
            limits(m),
            optional_duration(m.interval.as_deref(), "interval"),
            optional_duration(m.initial_delay.as_deref(), "initialDelay"),
        ) else {
            // Reported by `record`, which marks the metric Error.
            continue;
        };
        let last = result.and_then(|r| r.measurements.last());
        let at = match last {
            None => after(started, delay.unwrap_or_default()),
            Some(prev) => {
                let end = prev.finished_at.as_ref().map_or(now, |t| t.0);
                if prev.phase == AnalysisPhase::Error {
                    after(end, interval.map_or(ERROR_RETRY, |i| i.min(ERROR_RETRY)))
                } else {
                    let measured = result.map_or(0, |r| i64::from(r.count));
                    match interval {
                        Some(i) if l.count == 0 || measured < l.count => after(end, i),
                        _ => continue,
                    }
                }
            }
        };
        if at <= now {
            out.due.push(m.name.clone());
        } else {
            out.next = Some(out.next.map_or(at, |n: Timestamp| n.min(at)));
        }
    }
    out
}

/// The status after `measurements` (metric name, measurement), with every phase recomputed.
pub fn record(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    measurements: Vec<(String, Measurement)>,
    now: Timestamp,
) -> AnalysisRunStatus {
    let mut st = status.clone();
    st.started_at.get_or_insert(Time(now));
    let mut by_name: BTreeMap<String, Vec<Measurement>> = BTreeMap::new();
    for (name, m) in measurements {
        by_name.entry(name).or_default().push(m);
    }
    let mut results = Vec::with_capacity(spec.metrics.len());
    for m in &spec.metrics {
        let mut r = st
            .metric_results
            .iter()
            .find(|r| r.name == m.name)
            .cloned()
            .unwrap_or_else(|| MetricResult {
                name: m.name.clone(),
                phase: AnalysisPhase::Pending,
                measurements: Vec::new(),
                message: None,
                count: 0,
                successful: 0,
                failed: 0,
                inconclusive: 0,
                error: 0,
                consecutive_error: 0,
                consecutive_success: 0,
                dry_run: false,
                metadata: BTreeMap::new(),
            });
        r.dry_run = is_dry_run(spec, &m.name);
        for new in by_name.remove(&m.name).unwrap_or_default() {
            count(&mut r, &new);
            r.metadata.extend(new.metadata.clone());
            r.measurements.push(new);
        }
        let keep = retention(spec, &m.name);
        if r.measurements.len() > keep {
            r.measurements.drain(..r.measurements.len() - keep);
        }
        results.push(r);
    }
    st.metric_results = results;
    // Phases first as things stand, then again if a metric that just completed ends the run.
    assess_metrics(spec, &mut st, run_terminating(spec, status));
    let now_terminating = run_terminating(spec, &st);
    if now_terminating {
        assess_metrics(spec, &mut st, true);
    }
    let phases: Vec<(AnalysisPhase, bool)> = st
        .metric_results
        .iter()
        .map(|r| (r.phase, r.dry_run))
        .collect();
    let phase = run_phase(&phases);
    st.phase = Some(phase);
    st.run_summary = Some(summary(&st.metric_results, false));
    let dry = summary(&st.metric_results, true);
    st.dry_run_summary = (dry.count > 0).then_some(dry);
    if completed(Some(phase)) {
        st.completed_at.get_or_insert(Time(now));
        st.message = st
            .metric_results
            .iter()
            .filter(|r| !r.dry_run && r.phase == phase)
            .find_map(|r| r.message.clone())
            .or_else(|| {
                (spec.terminate && phase == AnalysisPhase::Successful)
                    .then(|| "Run Terminated".to_string())
            });
    } else {
        st.message = None;
    }
    st
}

/// Ends the run as Error before any measurement (an argument without a value, a Secret that
/// cannot be read).
pub fn errored(status: &AnalysisRunStatus, message: String, now: Timestamp) -> AnalysisRunStatus {
    let mut st = status.clone();
    st.started_at.get_or_insert(Time(now));
    st.completed_at = Some(Time(now));
    st.phase = Some(AnalysisPhase::Error);
    st.message = Some(message);
    st
}

fn count(r: &mut MetricResult, m: &Measurement) {
    match m.phase {
        AnalysisPhase::Error => {
            r.error += 1;
            r.consecutive_error += 1;
            r.consecutive_success = 0;
            return;
        }
        AnalysisPhase::Successful => {
            r.successful += 1;
            r.consecutive_success += 1;
        }
        AnalysisPhase::Failed => {
            r.failed += 1;
            r.consecutive_success = 0;
        }
        AnalysisPhase::Inconclusive => {
            r.inconclusive += 1;
            r.consecutive_success = 0;
        }
        AnalysisPhase::Pending | AnalysisPhase::Running => return,
    }
    r.count += 1;
    r.consecutive_error = 0;
}

fn assess_metrics(spec: &AnalysisRunSpec, st: &mut AnalysisRunStatus, terminating: bool) {
    for r in &mut st.metric_results {
        if completed(Some(r.phase)) {
            continue;
        }
        let Some(m) = spec.metrics.iter().find(|m| m.name == r.name) else {
            continue;
        };
        match limits(m) {
            Ok(l) => {
                let (phase, message) = metric_phase(&r.name, &tally(r), &l, terminating);
                r.phase = phase;
                r.message = message;
            }
            Err(e) => {
                r.phase = AnalysisPhase::Error;
                r.message = Some(format!("metric {:?}: {e}", r.name));
            }
        }
    }
}

fn summary(results: &[MetricResult], dry: bool) -> RunSummary {
    let mut s = RunSummary::default();
    for r in results.iter().filter(|r| r.dry_run == dry) {
        s.count += 1;
        match r.phase {
            AnalysisPhase::Successful => s.successful += 1,
            AnalysisPhase::Failed => s.failed += 1,
            AnalysisPhase::Inconclusive => s.inconclusive += 1,
            AnalysisPhase::Error => s.error += 1,
            AnalysisPhase::Pending | AnalysisPhase::Running => {}
        }
    }
    s
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
