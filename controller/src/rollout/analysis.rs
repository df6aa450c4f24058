//! The Rollout's side of analysis, pure: which AnalysisRuns the current step and the
//! background analysis need, their names and labels, which runs to terminate, and which old
//! ones to delete beyond the history limits. `decide` calls these; nothing here does I/O.

use jiff::Timestamp;
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::rollout::{
    RolloutAnalysis, RolloutAnalysisBackground, RolloutAnalysisRunStatus,
};

/// Default `successfulRunHistoryLimit` and `unsuccessfulRunHistoryLimit`.
pub(crate) const DEFAULT_RUN_HISTORY: i32 = 5;

/// What a run was created for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunKind {
    Step,
    Background,
    /// Blue-green: before the active Service switches.
    PrePromotion,
    /// Blue-green: after the switch, before the new version is marked stable.
    PostPromotion,
}

impl RunKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            RunKind::Step => "Step",
            RunKind::Background => "Background",
            RunKind::PrePromotion => "PrePromotion",
            RunKind::PostPromotion => "PostPromotion",
        }
    }

    pub(crate) fn from_label(v: &str) -> Option<Self> {
        match v {
            "Step" => Some(RunKind::Step),
            "Background" => Some(RunKind::Background),
            "PrePromotion" => Some(RunKind::PrePromotion),
            "PostPromotion" => Some(RunKind::PostPromotion),
            _ => None,
        }
    }
}

/// An AnalysisRun owned by the Rollout, as observed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunView {
    pub(crate) name: String,
    pub(crate) kind: RunKind,
    pub(crate) step: Option<i32>,
    /// Its `rollouts-pod-template-hash` label: the template it analyses.
    pub(crate) hash: String,
    pub(crate) phase: Option<AnalysisPhase>,
    pub(crate) message: Option<String>,
    pub(crate) terminate: bool,
    pub(crate) created: Timestamp,
}

impl RunView {
    pub(crate) fn completed(&self) -> bool {
        rollout_rs_analysis::run::completed(self.phase)
    }

    /// The summary shown in the Rollout's status.
    pub(crate) fn status(&self) -> RolloutAnalysisRunStatus {
        RolloutAnalysisRunStatus {
            name: self.name.clone(),
            status: format!("{:?}", self.phase.unwrap_or(AnalysisPhase::Pending)),
            message: self.message.clone(),
        }
    }
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NewRun {
    pub(crate) name: String,
    pub(crate) kind: RunKind,
    pub(crate) step: Option<i32>,
    pub(crate) hash: String,
    pub(crate) revision: u64,
    pub(crate) analysis: RolloutAnalysis,
}

/// The background analysis as the shape steps use.
pub(crate) fn background(b: &RolloutAnalysisBackground) -> RolloutAnalysis {
    RolloutAnalysis {
        templates: b.templates.clone(),
        args: b.args.clone(),
        dry_run: b.dry_run.clone(),
        measurement_retention: b.measurement_retention.clone(),
        analysis_run_metadata: b.analysis_run_metadata.clone(),
    }
}

/// The run a step or the background analysis is on: the one the status recorded, else a
/// live one with the right labels (the status write that recorded it may have been lost).
pub(crate) fn current<'a>(
    runs: &'a [RunView],
    recorded: Option<&str>,
    kind: RunKind,
    step: Option<i32>,
    hash: &str,
) -> Option<&'a RunView> {
    let fits = |r: &&RunView| r.kind == kind && r.step == step && r.hash == hash;
    recorded
        .and_then(|name| runs.iter().filter(fits).find(|r| r.name == name))
        .or_else(|| {
            runs.iter()
                .filter(fits)
                .filter(|r| !r.terminate && !r.completed())
                .max_by_key(|r| r.created)
        })
}

/// `<rollout>-<hash>-<revision>` plus `-<step>`, `-pre` or `-post`, with `.N` appended when an
/// earlier attempt (before a retry) took the name.
pub(crate) fn run_name(
    rollout: &str,
    hash: &str,
    revision: u64,
    kind: RunKind,
    step: Option<i32>,
    runs: &[RunView],
    planned: &[NewRun],
) -> String {
    let suffix = match (kind, step) {
        (RunKind::PrePromotion, _) => format!("-{hash}-{revision}-pre"),
        (RunKind::PostPromotion, _) => format!("-{hash}-{revision}-post"),
        (_, Some(i)) => format!("-{hash}-{revision}-{i}"),
        (_, None) => format!("-{hash}-{revision}"),
    };
    let taken = |n: &str| runs.iter().any(|r| r.name == n) || planned.iter().any(|p| p.name == n);
    let base = super::names::analysis_run(rollout, &suffix);
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|i| super::names::analysis_run(rollout, &format!("{suffix}.{i}")))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Live runs that are not current any more (the step moved on, the template changed, the
/// rollout was promoted or aborted): terminated, so indefinite ones end Successful.
pub(crate) fn to_terminate(runs: &[RunView], current: &[&str]) -> Vec<String> {
    runs.iter()
        .filter(|r| !r.terminate && !r.completed() && !current.contains(&r.name.as_str()))
        .map(|r| r.name.clone())
        .collect()
}

/// Completed runs beyond the history limits, oldest first out; current runs are kept.
pub(crate) fn beyond_history(
    runs: &[RunView],
    current: &[&str],
    successful_limit: i32,
    unsuccessful_limit: i32,
) -> Vec<String> {
    let mut done: Vec<&RunView> = runs
        .iter()
        .filter(|r| r.completed() && !current.contains(&r.name.as_str()))
        .collect();
    done.sort_by_key(|r| std::cmp::Reverse(r.created));
    let (ok, not_ok): (Vec<&RunView>, Vec<&RunView>) = done
        .into_iter()
        .partition(|r| r.phase == Some(AnalysisPhase::Successful));
    ok.iter()
        .skip(successful_limit.max(0) as usize)
        .chain(not_ok.iter().skip(unsuccessful_limit.max(0) as usize))
        .map(|r| r.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisPhase::*;

    fn run(
        name: &str,
        kind: RunKind,
        step: Option<i32>,
        phase: Option<AnalysisPhase>,
        at: i64,
    ) -> RunView {
        RunView {
            name: name.into(),
            kind,
            step,
            hash: "h1".into(),
            phase,
            message: None,
            terminate: false,
            created: Timestamp::from_second(1_800_000_000 + at).expect("valid"),
        }
    }

    #[test]
    fn current_prefers_the_recorded_run_then_a_live_one() {
        let runs = vec![
            run("web-h1-2-1", RunKind::Step, Some(1), Some(Failed), 0),
            run("web-h1-2-1.1", RunKind::Step, Some(1), Some(Running), 5),
            run("web-h1-2", RunKind::Background, None, Some(Running), 1),
        ];
        let pick = |recorded, kind, step| {
            current(&runs, recorded, kind, step, "h1").map(|r| r.name.as_str())
        };
        assert_eq!(
            pick(Some("web-h1-2-1"), RunKind::Step, Some(1)),
            Some("web-h1-2-1")
        );
        assert_eq!(
            pick(None, RunKind::Step, Some(1)),
            Some("web-h1-2-1.1"),
            "a finished run is never adopted"
        );
        assert_eq!(pick(None, RunKind::Step, Some(2)), None);
        assert_eq!(
            pick(Some("web-h1-2"), RunKind::Step, Some(1)),
            Some("web-h1-2-1.1"),
            "the wrong kind is ignored"
        );
        assert_eq!(
            current(&runs, None, RunKind::Background, None, "h2"),
            None,
            "another template"
        );
    }

    #[test]
    fn names_follow_argo_and_avoid_earlier_attempts() {
        let runs = vec![run("web-h1-2-1", RunKind::Step, Some(1), Some(Failed), 0)];
        assert_eq!(
            run_name("web", "h1", 2, RunKind::Background, None, &runs, &[]),
            "web-h1-2"
        );
        assert_eq!(
            run_name("web", "h1", 2, RunKind::Step, Some(1), &runs, &[]),
            "web-h1-2-1.1"
        );
        assert_eq!(
            run_name("web", "h1", 2, RunKind::PrePromotion, None, &runs, &[]),
            "web-h1-2-pre"
        );
    }

    #[test]
    fn terminate_and_history() {
        let mut runs = vec![
            run("live-old-step", RunKind::Step, Some(1), Some(Running), 0),
            run("current", RunKind::Step, Some(3), Some(Running), 1),
        ];
        let mut already = run("stopping", RunKind::Background, None, Some(Running), 2);
        already.terminate = true;
        runs.push(already);
        assert_eq!(
            to_terminate(&runs, &["current"]),
            vec!["live-old-step".to_string()]
        );
        let runs: Vec<RunView> = (0..8)
            .map(|i| {
                run(
                    &format!("r{i}"),
                    RunKind::Step,
                    Some(i),
                    Some(if i % 2 == 0 { Successful } else { Failed }),
                    i.into(),
                )
            })
            .collect();
        assert_eq!(beyond_history(&runs, &[], 2, 3), vec!["r2", "r0", "r1"]);
        assert_eq!(beyond_history(&runs, &["r0"], 2, 3), vec!["r2", "r1"]);
    }
}
