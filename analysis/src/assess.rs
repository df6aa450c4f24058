//! Phases from tallies, as Argo Rollouts users know them: a metric is Failed when its failed
//! measurements exceed `failureLimit` (-1 disables), Inconclusive past `inconclusiveLimit`,
//! Error past `consecutiveErrorLimit` (in that order of precedence, the last one winning);
//! Successful after `consecutiveSuccessLimit` consecutive successes or once `count` measurements
//! are done; a run takes the worst completed phase of its metrics, dry-run ones excepted, and is
//! Running until every metric has completed. Pure functions only.

use rollout_rs_crds::analysis::AnalysisPhase;

/// Limits of one metric, resolved (defaults: failure 0, inconclusive 0, consecutive errors 4,
/// consecutive successes 0 = off; count 0 = until terminated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub count: i64,
    pub failure: i64,
    pub inconclusive: i64,
    pub consecutive_error: i64,
    pub consecutive_success: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            count: 1,
            failure: 0,
            inconclusive: 0,
            consecutive_error: 4,
            consecutive_success: 0,
        }
    }
}

/// Counts of one metric's measurements so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub measured: i64,
    pub successful: i64,
    pub failed: i64,
    pub inconclusive: i64,
    pub error: i64,
    pub consecutive_error: i64,
    pub consecutive_success: i64,
    /// A measurement is in flight.
    pub running: bool,
}

/// The phase of a metric and, when it completed, why.
pub fn metric_phase(
    name: &str,
    t: &Tally,
    l: &Limits,
    terminating: bool,
) -> (AnalysisPhase, Option<String>) {
    if t.measured == 0 && t.error == 0 {
        return if terminating {
            (AnalysisPhase::Successful, None)
        } else {
            (AnalysisPhase::Pending, None)
        };
    }
    if t.running {
        return (AnalysisPhase::Running, None);
    }
    let mut verdict: Option<(AnalysisPhase, String)> = None;
    if l.failure >= 0 && t.failed > l.failure {
        verdict = Some((
            AnalysisPhase::Failed,
            format!("failed ({}) > failureLimit ({})", t.failed, l.failure),
        ));
    }
    if t.inconclusive > l.inconclusive {
        verdict = Some((
            AnalysisPhase::Inconclusive,
            format!(
                "inconclusive ({}) > inconclusiveLimit ({})",
                t.inconclusive, l.inconclusive
            ),
        ));
    }
    if t.consecutive_error > l.consecutive_error {
        verdict = Some((
            AnalysisPhase::Error,
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({})",
                t.consecutive_error, l.consecutive_error
            ),
        ));
    }
    if let Some((phase, why)) = verdict {
        return (
            phase,
            Some(format!("metric \"{name}\" assessed {phase:?}: {why}")),
        );
    }
    if l.consecutive_success > 0 && t.consecutive_success >= l.consecutive_success {
        return (AnalysisPhase::Successful, None);
    }
    if l.count > 0 && t.measured >= l.count {
        if l.consecutive_success > 0 {
            let why = format!(
                "consecutiveSuccessLimit ({}) not reached in {} measurements",
                l.consecutive_success, t.measured
            );
            return (
                AnalysisPhase::Failed,
                Some(format!("metric \"{name}\" assessed Failed: {why}")),
            );
        }
        return (AnalysisPhase::Successful, None);
    }
    if terminating {
        return (AnalysisPhase::Successful, None);
    }
    (AnalysisPhase::Running, None)
}

fn severity(p: AnalysisPhase) -> u8 {
    match p {
        AnalysisPhase::Successful => 0,
        AnalysisPhase::Running => 1,
        AnalysisPhase::Pending => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
    }
}

fn completed(p: AnalysisPhase) -> bool {
    matches!(
        p,
        AnalysisPhase::Successful
            | AnalysisPhase::Failed
            | AnalysisPhase::Error
            | AnalysisPhase::Inconclusive
    )
}

/// Whether a run must stop measuring: asked to, or a non-dry-run metric already decided it.
pub fn terminating(terminate: bool, metrics: &[(AnalysisPhase, bool)]) -> bool {
    terminate
        || metrics.iter().any(|(p, dry)| {
            !dry && matches!(
                p,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            )
        })
}

/// The phase of a run from its metrics' phases (`(phase, dry_run)`): Running until every metric
/// completed, then the worst non-dry-run phase.
pub fn run_phase(metrics: &[(AnalysisPhase, bool)]) -> AnalysisPhase {
    if metrics.iter().any(|(p, _)| !completed(*p)) {
        return AnalysisPhase::Running;
    }
    metrics
        .iter()
        .filter(|(_, dry)| !dry)
        .map(|(p, _)| *p)
        .max_by_key(|p| severity(*p))
        .unwrap_or(AnalysisPhase::Successful)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisPhase::*;

    fn tally(
        measured: i64,
        successful: i64,
        failed: i64,
        inconclusive: i64,
        consecutive_error: i64,
    ) -> Tally {
        Tally {
            measured,
            successful,
            failed,
            inconclusive,
            error: consecutive_error,
            consecutive_error,
            consecutive_success: successful,
            running: false,
        }
    }

    #[test]
    fn metric_phase_table() {
        let three = Limits {
            count: 3,
            ..Default::default()
        };
        let one_failure = Limits {
            count: 3,
            failure: 1,
            ..Default::default()
        };
        type Case<'a> = (&'a str, Tally, Limits, bool, AnalysisPhase, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("nothing yet", Tally::default(), three, false, Pending, None),
            (
                "nothing, terminating",
                Tally::default(),
                three,
                true,
                Successful,
                None,
            ),
            (
                "in flight",
                Tally {
                    running: true,
                    ..tally(1, 1, 0, 0, 0)
                },
                three,
                false,
                Running,
                None,
            ),
            (
                "A1: all pass",
                tally(3, 3, 0, 0, 0),
                three,
                false,
                Successful,
                None,
            ),
            (
                "still measuring",
                tally(2, 2, 0, 0, 0),
                three,
                false,
                Running,
                None,
            ),
            (
                "first failure with limit 0",
                tally(1, 0, 1, 0, 0),
                three,
                false,
                Failed,
                Some("metric \"m\" assessed Failed: failed (1) > failureLimit (0)"),
            ),
            (
                "A2: second failure with limit 1",
                tally(2, 0, 2, 0, 0),
                one_failure,
                false,
                Failed,
                Some("metric \"m\" assessed Failed: failed (2) > failureLimit (1)"),
            ),
            (
                "one failure within limit 1",
                tally(1, 0, 1, 0, 0),
                one_failure,
                false,
                Running,
                None,
            ),
            (
                "failure limit -1 disables",
                tally(3, 0, 3, 0, 0),
                Limits {
                    count: 3,
                    failure: -1,
                    ..Default::default()
                },
                false,
                Successful,
                None,
            ),
            (
                "A4: inconclusive past limit",
                tally(1, 0, 0, 1, 0),
                three,
                false,
                Inconclusive,
                Some(
                    "metric \"m\" assessed Inconclusive: inconclusive (1) > inconclusiveLimit (0)",
                ),
            ),
            (
                "A5: 5th consecutive error",
                tally(0, 0, 0, 0, 5),
                three,
                false,
                Error,
                Some(
                    "metric \"m\" assessed Error: consecutiveErrors (5) > consecutiveErrorLimit (4)",
                ),
            ),
            (
                "4 errors still measuring",
                tally(0, 0, 0, 0, 4),
                three,
                false,
                Running,
                None,
            ),
            (
                "error wins over failure",
                tally(2, 0, 2, 0, 5),
                three,
                false,
                Error,
                Some(
                    "metric \"m\" assessed Error: consecutiveErrors (5) > consecutiveErrorLimit (4)",
                ),
            ),
            (
                "consecutive successes end early",
                tally(2, 2, 0, 0, 0),
                Limits {
                    count: 10,
                    consecutive_success: 2,
                    ..Default::default()
                },
                false,
                Successful,
                None,
            ),
            (
                "indefinite metric ends Successful when terminated",
                tally(5, 5, 0, 0, 0),
                Limits {
                    count: 0,
                    ..Default::default()
                },
                true,
                Successful,
                None,
            ),
            (
                "indefinite metric keeps running",
                tally(5, 5, 0, 0, 0),
                Limits {
                    count: 0,
                    ..Default::default()
                },
                false,
                Running,
                None,
            ),
        ];
        for (what, t, l, term, phase, message) in cases {
            let (p, m) = metric_phase("m", &t, &l, term);
            assert_eq!((p, m.as_deref()), (phase, message), "{what}");
        }
    }

    #[test]
    fn run_phase_takes_the_worst_completed_non_dry_run_metric() {
        assert_eq!(run_phase(&[(Successful, false), (Running, false)]), Running);
        assert_eq!(
            run_phase(&[(Successful, false), (Inconclusive, false)]),
            Inconclusive
        );
        assert_eq!(run_phase(&[(Error, false), (Failed, false)]), Failed);
        assert_eq!(
            run_phase(&[(Successful, false), (Failed, true)]),
            Successful,
            "dry-run metrics never decide"
        );
        assert_eq!(run_phase(&[]), Successful);
        assert!(terminating(false, &[(Running, false), (Failed, false)]));
        assert!(!terminating(false, &[(Running, false), (Failed, true)]));
        assert!(terminating(true, &[]));
    }
}
