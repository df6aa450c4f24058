use super::*;
use AnalysisPhase::*;
use rollout_rs_crds::rollout::{DryRunMetric, MeasurementRetention};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("valid")
}

fn metric(name: &str, interval: Option<&str>, count: Option<i32>) -> Metric {
    Metric {
        name: name.into(),
        interval: interval.map(String::from),
        count: count.map(IntOrString::Int),
        ..Default::default()
    }
}

fn spec(metrics: Vec<Metric>) -> AnalysisRunSpec {
    AnalysisRunSpec {
        metrics,
        ..Default::default()
    }
}

fn measured(phase: AnalysisPhase, at: i64) -> Measurement {
    Measurement {
        phase,
        message: None,
        started_at: Some(Time(t(at))),
        finished_at: Some(Time(t(at))),
        value: Some("[0.5]".into()),
        metadata: BTreeMap::new(),
        resume_at: None,
    }
}

/// Runs the machine: at each due time, every due metric gets the next outcome of its script.
fn drive(
    spec: &AnalysisRunSpec,
    outcomes: &[AnalysisPhase],
    until: i64,
) -> (AnalysisRunStatus, Vec<i64>) {
    let mut st = AnalysisRunStatus::default();
    let mut now = 0;
    let mut times = Vec::new();
    let mut script = outcomes.iter();
    st = record(spec, &st, vec![], t(now));
    while now <= until {
        let plan = schedule(spec, &st, t(now));
        if !plan.due.is_empty() {
            times.push(now);
            let ms = plan
                .due
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        measured(*script.next().unwrap_or(&Successful), now),
                    )
                })
                .collect();
            st = record(spec, &st, ms, t(now));
            continue;
        }
        match plan.next {
            Some(next) => now = next.as_second() - t(0).as_second(),
            None => break,
        }
    }
    (st, times)
}

#[test]
fn a1_three_passing_measurements_one_second_apart() {
    let s = spec(vec![metric("rate", Some("1s"), Some(3))]);
    let (st, times) = drive(&s, &[Successful; 3], 100);
    assert_eq!(times, vec![0, 1, 2]);
    assert_eq!(st.phase, Some(Successful));
    assert_eq!(st.metric_results[0].count, 3);
    assert_eq!(st.completed_at, Some(Time(t(2))));
}

#[test]
fn a2_fails_after_the_second_failure_with_limit_one() {
    let mut m = metric("rate", Some("1s"), Some(5));
    m.failure_limit = Some(IntOrString::Int(1));
    let (st, times) = drive(&spec(vec![m]), &[Failed; 5], 100);
    assert_eq!(times, vec![0, 1], "stops measuring once decided");
    assert_eq!(st.phase, Some(Failed));
    assert_eq!(
        st.message.as_deref(),
        Some("metric \"rate\" assessed Failed: failed (2) > failureLimit (1)")
    );
}

#[test]
fn a5_errors_retry_at_the_shorter_of_interval_and_ten_seconds() {
    let (st, times) = drive(
        &spec(vec![metric("rate", Some("1s"), Some(3))]),
        &[Error; 9],
        100,
    );
    assert_eq!(
        times,
        vec![0, 1, 2, 3, 4],
        "the 5th consecutive error ends it"
    );
    assert_eq!(st.phase, Some(Error));
    assert_eq!(
        st.metric_results[0].count, 0,
        "errors do not count as measurements"
    );
    let (_, times) = drive(
        &spec(vec![metric("rate", Some("1m"), Some(3))]),
        &[Error; 9],
        1000,
    );
    assert_eq!(times, vec![0, 10, 20, 30, 40]);
}

#[test]
fn errors_between_successes_reset() {
    let (st, _) = drive(
        &spec(vec![metric("rate", Some("1s"), Some(3))]),
        &[
            Error, Error, Error, Error, Successful, Error, Successful, Successful,
        ],
        100,
    );
    assert_eq!(st.phase, Some(Successful));
    assert_eq!(st.metric_results[0].error, 5);
}

#[test]
fn single_measurement_without_interval_and_initial_delay() {
    let mut m = metric("once", None, None);
    m.initial_delay = Some("30s".into());
    let s = spec(vec![m]);
    let st = record(&s, &AnalysisRunStatus::default(), vec![], t(0));
    assert_eq!(st.phase, Some(Running));
    assert_eq!(
        schedule(&s, &st, t(0)),
        Schedule {
            due: vec![],
            next: Some(t(30))
        }
    );
    let (st, times) = drive(&s, &[Successful], 100);
    assert_eq!(times, vec![30]);
    assert_eq!(st.phase, Some(Successful));
}

#[test]
fn indefinite_metric_runs_until_terminated_then_succeeds() {
    let mut s = spec(vec![metric("bg", Some("5s"), None)]);
    let (st, times) = drive(&s, &[Successful; 100], 60);
    assert_eq!(times.len(), 13, "every 5 s up to 60 s: {times:?}");
    assert_eq!(st.phase, Some(Running));
    s.terminate = true;
    assert_eq!(schedule(&s, &st, t(61)), Schedule::default());
    let st = record(&s, &st, vec![], t(61));
    assert_eq!(st.phase, Some(Successful));
    assert_eq!(st.message.as_deref(), Some("Run Terminated"));
}

#[test]
fn a4_inconclusive_past_the_limit() {
    let (st, _) = drive(
        &spec(vec![metric("m", Some("1s"), Some(3))]),
        &[Inconclusive],
        100,
    );
    assert_eq!(st.phase, Some(Inconclusive));
}

#[test]
fn one_failed_metric_terminates_the_others_and_the_run_takes_the_worst() {
    let mut failing = metric("errors", Some("1s"), Some(3));
    failing.failure_limit = Some(IntOrString::Int(0));
    let s = spec(vec![metric("bg", Some("1s"), None), failing]);
    // Both due at 0: "bg" succeeds, "errors" fails.
    let (st, times) = drive(&s, &[Successful, Failed], 100);
    assert_eq!(times, vec![0]);
    assert_eq!(st.phase, Some(Failed));
    assert_eq!(st.metric_results[0].phase, Successful, "terminated early");
    assert_eq!(st.run_summary.as_ref().map(|r| r.failed), Some(1));
}

#[test]
fn dry_run_metrics_never_decide() {
    let mut s = spec(vec![
        metric("real", Some("1s"), Some(2)),
        metric("trial", Some("1s"), Some(2)),
    ]);
    s.dry_run = vec![DryRunMetric {
        metric_name: "trial".into(),
    }];
    // Order per tick: real, trial.
    let (st, _) = drive(&s, &[Successful, Failed, Successful, Failed], 100);
    assert_eq!(st.phase, Some(Successful));
    assert_eq!(st.dry_run_summary.as_ref().map(|d| d.failed), Some(1));
}

#[test]
fn measurements_are_trimmed_to_the_retention() {
    let (st, _) = drive(
        &spec(vec![metric("m", Some("1s"), Some(15))]),
        &[Successful; 15],
        100,
    );
    assert_eq!(st.metric_results[0].measurements.len(), DEFAULT_RETENTION);
    assert_eq!(st.metric_results[0].count, 15);
    let mut s = spec(vec![metric("m", Some("1s"), Some(5))]);
    s.measurement_retention = vec![MeasurementRetention {
        metric_name: "*".into(),
        limit: 2,
    }];
    let (st, _) = drive(&s, &[Successful; 5], 100);
    assert_eq!(st.metric_results[0].measurements.len(), 2);
}

#[test]
fn bad_limits_make_the_metric_error_with_the_field() {
    let mut m = metric("m", Some("1s"), None);
    m.count = Some(IntOrString::String("{{args.n}}".into()));
    let st = record(&spec(vec![m]), &AnalysisRunStatus::default(), vec![], t(0));
    assert_eq!(st.phase, Some(Error));
    assert_eq!(
        st.message.as_deref(),
        Some("metric \"m\": count \"{{args.n}}\" is not a number")
    );
}

#[test]
fn argument_errors_end_the_run() {
    let st = errored(
        &AnalysisRunStatus::default(),
        "argument \"service-name\" has no value".into(),
        t(0),
    );
    assert_eq!(st.phase, Some(Error));
    assert!(completed(st.phase));
    assert_eq!(
        schedule(&spec(vec![metric("m", None, None)]), &st, t(1)),
        Schedule::default()
    );
}
