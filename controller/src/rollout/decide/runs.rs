//! The AnalysisRuns a plan needs, for both strategies: which run is current for a step, the
//! background or a promotion, starting one, recording it in status, turning a Failed or
//! Errored run into an abort and an Inconclusive one into a pause, terminating runs that are
//! not current any more and deleting those beyond the history limits.

use jiff::Timestamp;
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::conditions::{PROGRESSING, reason};
use rollout_rs_crds::rollout::{PauseReason, RolloutStatus};

use crate::rollout::analysis::{self as an, NewRun, RunKind, RunView};
use crate::rollout::decide::observed::Observed;
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::status::{enter_pause, set_condition};

/// Forgets the runs of an earlier attempt (a new template, a retry): new ones are created.
pub(super) fn forget_runs(st: &mut RolloutStatus) {
    if let Some(c) = st.canary.as_mut() {
        c.current_step_analysis_run_status = None;
        c.current_background_analysis_run_status = None;
    }
    if let Some(b) = st.blue_green.as_mut() {
        b.pre_promotion_analysis_run_status = None;
        b.post_promotion_analysis_run_status = None;
    }
}

pub(super) fn set_run_status(st: &mut RolloutStatus, kind: RunKind, run: Option<&RunView>) {
    record_run(st, kind, run.map(RunView::status));
}

fn record_run(
    st: &mut RolloutStatus,
    kind: RunKind,
    status: Option<rollout_rs_crds::rollout::RolloutAnalysisRunStatus>,
) {
    match kind {
        RunKind::Step => {
            st.canary
                .get_or_insert_with(Default::default)
                .current_step_analysis_run_status = status
        }
        RunKind::Background => {
            st.canary
                .get_or_insert_with(Default::default)
                .current_background_analysis_run_status = status
        }
        RunKind::PrePromotion => {
            st.blue_green
                .get_or_insert_with(Default::default)
                .pre_promotion_analysis_run_status = status
        }
        RunKind::PostPromotion => {
            st.blue_green
                .get_or_insert_with(Default::default)
                .post_promotion_analysis_run_status = status
        }
    }
}

/// The name of the run of `kind` the status records.
pub(super) fn recorded_run(st: &RolloutStatus, kind: RunKind) -> Option<String> {
    let canary = st.canary.as_ref();
    let blue_green = st.blue_green.as_ref();
    match kind {
        RunKind::Step => canary.and_then(|c| c.current_step_analysis_run_status.as_ref()),
        RunKind::Background => {
            canary.and_then(|c| c.current_background_analysis_run_status.as_ref())
        }
        RunKind::PrePromotion => {
            blue_green.and_then(|b| b.pre_promotion_analysis_run_status.as_ref())
        }
        RunKind::PostPromotion => {
            blue_green.and_then(|b| b.post_promotion_analysis_run_status.as_ref())
        }
    }
    .map(|r| r.name.clone())
}

/// A Failed or Errored run aborts the update (`what` names it in the message, e.g.
/// "Step-based"). Returns whether it did.
pub(super) fn abort_for_run(
    st: &mut RolloutStatus,
    run: Option<&RunView>,
    what: &str,
    new_hash: &str,
    now: Timestamp,
) -> bool {
    let Some(r) = run else { return false };
    let Some(phase @ (AnalysisPhase::Failed | AnalysisPhase::Error)) = r.phase else {
        return false;
    };
    if st.abort {
        return false;
    }
    let why = r
        .message
        .clone()
        .unwrap_or_else(|| format!("AnalysisRun {} ended {phase:?}", r.name));
    st.abort = true;
    st.promote_full = false;
    set_run_status(st, r.kind, Some(r));
    set_condition(
        st,
        PROGRESSING,
        "False",
        reason::ROLLOUT_ABORTED,
        &format!(
            "Rollout aborted update to template {new_hash}: {what} analysis phase {phase:?}: {why}"
        ),
        now,
    );
    true
}

/// An Inconclusive run pauses the rollout (reason InconclusiveAnalysisRun). Returns true once
/// a user has cleared that pause (promote): the caller moves past the analysis.
pub(super) fn inconclusive_pause(
    st: &mut RolloutStatus,
    plan: &mut Plan,
    now: Timestamp,
    run: &str,
) -> bool {
    let held = st
        .pause_conditions
        .iter()
        .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun);
    if held {
        return false;
    }
    if st.controller_pause && st.pause_conditions.is_empty() {
        st.controller_pause = false;
        plan.events
            .push(event(false, "RolloutResumed", "Rollout resumed"));
        return true;
    }
    enter_pause(
        st,
        plan,
        PauseReason::InconclusiveAnalysisRun,
        now,
        event(
            true,
            reason::ROLLOUT_PAUSED,
            format!("Rollout paused: AnalysisRun {run} is Inconclusive"),
        ),
    );
    false
}

/// Where the background analysis stands.
pub(super) struct BackgroundAt<'a> {
    /// An update is in progress (not initial, promoted, aborted or promoted in full).
    pub(crate) active: bool,
    pub(crate) index: i32,
    pub(crate) hash: &'a str,
    pub(crate) revision: u64,
    pub(crate) recorded: Option<&'a str>,
}

/// `strategy.canary.analysis`: one run for the whole update from `startingStep` on, replaced
/// after an Inconclusive pause is promoted; a failure was already turned into an abort.
pub(super) fn background_analysis(
    obs: &Observed,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    at: BackgroundAt,
) {
    let Some(bg) = obs
        .rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.analysis.as_ref())
    else {
        set_run_status(st, RunKind::Background, None);
        return;
    };
    if !at.active || at.index < bg.starting_step.unwrap_or(0) {
        if !st.abort {
            set_run_status(st, RunKind::Background, None);
        }
        return;
    }
    let run = an::current(&obs.runs, at.recorded, RunKind::Background, None, at.hash);
    let replace = match run {
        Some(r) if r.phase == Some(AnalysisPhase::Inconclusive) => {
            inconclusive_pause(st, plan, obs.now, &r.name)
        }
        Some(_) => false,
        None => true,
    };
    if !replace {
        set_run_status(st, RunKind::Background, run);
        return;
    }
    start_run(
        obs,
        st,
        plan,
        NewRun {
            name: String::new(),
            kind: RunKind::Background,
            step: None,
            hash: at.hash.to_string(),
            revision: at.revision,
            analysis: an::background(bg),
        },
    );
}

/// Plans a new run: named (after any earlier attempt's), recorded in status as Pending so the
/// next reconcile finds it, and announced.
pub(super) fn start_run(obs: &Observed, st: &mut RolloutStatus, plan: &mut Plan, mut new: NewRun) {
    let rollout = obs.rollout.metadata.name.as_deref().unwrap_or_default();
    new.name = an::run_name(
        rollout,
        &new.hash,
        new.revision,
        new.kind,
        new.step,
        &obs.runs,
        &plan.create_runs,
    );
    plan.events.push(event(
        false,
        "AnalysisRunCreated",
        format!("{} analysis run {} created", new.kind.label(), new.name),
    ));
    record_run(
        st,
        new.kind,
        Some(rollout_rs_crds::rollout::RolloutAnalysisRunStatus {
            name: new.name.clone(),
            status: "Pending".into(),
            message: None,
        }),
    );
    plan.create_runs.push(new);
}

/// Runs that are not current any more are terminated; finished ones beyond the history
/// limits are deleted.
pub(super) fn runs_lifecycle(obs: &Observed, st: &RolloutStatus, plan: &mut Plan, hash: &str) {
    let live = !st.abort && st.stable_rs.as_deref() != Some(hash);
    let canary = st.canary.as_ref();
    let blue_green = st.blue_green.as_ref();
    let current: Vec<&str> = [
        canary.and_then(|c| c.current_step_analysis_run_status.as_ref()),
        canary.and_then(|c| c.current_background_analysis_run_status.as_ref()),
        blue_green.and_then(|b| b.pre_promotion_analysis_run_status.as_ref()),
        blue_green.and_then(|b| b.post_promotion_analysis_run_status.as_ref()),
    ]
    .into_iter()
    .flatten()
    .map(|r| r.name.as_str())
    .collect();
    if live {
        plan.terminate_runs = an::to_terminate(&obs.runs, &current);
    } else {
        plan.terminate_runs = an::to_terminate(&obs.runs, &[]);
    }
    let limits = obs.rollout.spec.analysis.as_ref();
    plan.delete_runs = an::beyond_history(
        &obs.runs,
        &current,
        limits
            .and_then(|l| l.successful_run_history_limit)
            .unwrap_or(an::DEFAULT_RUN_HISTORY),
        limits
            .and_then(|l| l.unsuccessful_run_history_limit)
            .unwrap_or(an::DEFAULT_RUN_HISTORY),
    );
    for name in &plan.terminate_runs {
        plan.events.push(event(
            false,
            "AnalysisRunTerminated",
            format!("AnalysisRun {name} terminated"),
        ));
    }
}
