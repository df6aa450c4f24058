//! The blue-green half of `decide`, pure: the new version runs in full (or `previewReplicaCount`
//! pods) beside the old one, the preview Service shows it, pre-promotion analysis and a pause
//! (manual, or `autoPromotionSeconds`) gate the switch, the new ReplicaSet is scaled to full,
//! then the active Service's selector flips to it. Post-promotion analysis must pass before the
//! new version is stable; its failure flips the active Service back. The old ReplicaSet keeps
//! its pods for `scaleDownDelaySeconds` after the switch.
//!
//! Traffic safety: the active Service only ever selects a ReplicaSet whose pods are all
//! available, and on abort it selects the stable version in the same plan.
//!
//! What both strategies share (ReplicaSet bookkeeping, deadlines, AnalysisRun lifecycle, phase
//! and status) lives in `decide`; this module only decides replica counts, selectors, pauses
//! and promotion.

use jiff::{SignedDuration, Timestamp};
use rollout_rs_crds::analysis::AnalysisPhase;
use rollout_rs_crds::rollout::{BlueGreenStrategy, PauseReason, RolloutStatus};

use crate::rollout::analysis::{self as an, NewRun, RunKind};
use crate::rollout::decide::abort::{DEFAULT_SCALE_DOWN_DELAY, abort_started, kept_after_abort};
use crate::rollout::decide::begin::Begun;
use crate::rollout::decide::conclude::Outcome;
use crate::rollout::decide::observed::{Observed, ReplicaSetView};
use crate::rollout::decide::plan::{Plan, event};
use crate::rollout::decide::replica_sets::{
    delete_history, promote, role_metadata, scale_down, scale_events, scale_new,
    within_revision_limit,
};
use crate::rollout::decide::runs::{
    abort_for_run, inconclusive_pause, recorded_run, set_run_status, start_run,
};
use crate::rollout::decide::status::enter_pause;
use crate::rollout::replicas::Limits;

/// Where an update stands on its way to the switch.
#[derive(Debug, PartialEq)]
enum Gate {
    /// Still waiting: the message says for what.
    Hold(String),
    /// Paused: a pause condition is held.
    Paused,
    /// Everything before the switch is done.
    Open,
}

pub(in crate::rollout::decide) fn decide(
    obs: &Observed,
    begun: Begun,
    bg: &BlueGreenStrategy,
) -> Outcome {
    let Begun {
        prev,
        mut st,
        mut plan,
        replicas,
        new_hash,
        new_rs,
        stable_hash,
        stable_rs,
        initial,
        promoted,
        revision,
    } = begun;
    let spec = &obs.rollout.spec;
    let now = obs.now;
    // Steps are a canary notion.
    st.current_step_index = None;
    st.current_step_hash = None;
    let limits = Limits::new(None, bg.max_unavailable.as_ref(), replicas);
    let preview_count = bg
        .preview_replica_count
        .unwrap_or(replicas)
        .clamp(0, replicas);
    let others: Vec<&ReplicaSetView> = obs
        .replica_sets
        .iter()
        .filter(|r| {
            new_rs.is_none_or(|n| n.name != r.name) && stable_rs.is_none_or(|s| s.name != r.name)
        })
        .collect();
    let available =
        |r: Option<&ReplicaSetView>, n: i32| r.is_some_and(|r| r.desired == n && r.available >= n);
    let was_active = prev
        .blue_green
        .as_ref()
        .and_then(|b| b.active_selector.clone());
    // A new template starts over: its preview has not been scaled up for a promotion.
    if prev.current_pod_hash.as_deref() != Some(new_hash.as_str())
        && let Some(b) = st.blue_green.as_mut()
    {
        b.scale_up_preview_check_point = false;
    }

    // A failed or errored promotion analysis aborts (in this same plan, traffic stays on or
    // goes back to the stable version).
    if !initial && !promoted && !st.abort {
        analysis_abort(obs, &mut st, &new_hash);
    }

    let delay = i64::from(
        bg.scale_down_delay_seconds
            .unwrap_or(DEFAULT_SCALE_DOWN_DELAY),
    );
    let mut hold: Option<String> = None;
    let mut awaiting_analysis = false;
    let (next_new, next_stable, active, preview);
    if initial || promoted {
        // Nothing to compare with (first deploy), or already promoted: the current version
        // serves, at full size, once all its pods are available.
        next_new = replicas;
        next_stable = 0;
        let ready = available(new_rs, replicas);
        active = if ready || was_active.as_deref() == Some(new_hash.as_str()) {
            Some(new_hash.clone())
        } else {
            was_active.clone()
        };
        preview = active.clone();
        if ready && !promoted {
            promote(&mut st, &mut plan, &new_hash);
        }
        // The ReplicaSets that served before keep their pods for the scale-down delay, the
        // most recent `scaleDownDelayRevisionLimit` of them.
        let (delayed, now_down) =
            within_revision_limit(&others, bg.scale_down_delay_revision_limit);
        scale_down(&delayed, if ready { delay } else { 0 }, now, &mut plan);
        scale_down(&now_down, 0, now, &mut plan);
    } else if st.abort {
        abort_started(&mut st, &mut plan, &new_hash, now);
        // The active Service stays on (or returns to) the stable version; the preview keeps
        // showing the aborted one until its pods go.
        active = stable_hash.clone();
        preview = prev
            .blue_green
            .as_ref()
            .and_then(|b| b.preview_selector.clone());
        next_stable = replicas;
        next_new = kept_after_abort(
            &st,
            bg.abort_scale_down_delay_seconds,
            new_rs,
            now,
            &mut plan,
        );
        st.pause_conditions.clear();
        st.controller_pause = false;
        keep_delayed(&others, bg, delay, now, &mut plan);
    } else {
        // An update: the stable version keeps serving at full size.
        next_stable = replicas;
        let switched = was_active.as_deref() == Some(new_hash.as_str());
        let scaling_up = st
            .blue_green
            .as_ref()
            .is_some_and(|b| b.scale_up_preview_check_point);
        let preview_target = if switched || scaling_up {
            replicas
        } else {
            preview_count
        };
        let preview_ready = available(new_rs, preview_target);
        // Until the new pods are all available the preview keeps what it showed, unless that
        // was a superseded preview (going away): then it shows the stable version.
        preview = if preview_ready {
            Some(new_hash.clone())
        } else {
            prev.blue_green
                .as_ref()
                .and_then(|b| b.preview_selector.clone())
                .filter(|h| *h == new_hash || Some(h) == stable_hash.as_ref())
                .or_else(|| stable_hash.clone())
        };
        let gate = if switched || scaling_up {
            Gate::Open
        } else if !preview_ready {
            Gate::Hold("waiting for the preview ReplicaSet to be fully available".into())
        } else {
            before_switch(obs, &mut st, &mut plan, bg, &new_hash, revision)
        };
        if let Gate::Hold(m) = &gate {
            awaiting_analysis = m.starts_with("waiting for pre-promotion analysis");
        }
        // Once promotion is decided the new ReplicaSet goes to full size.
        next_new = if gate == Gate::Open {
            replicas
        } else {
            preview_target
        };
        match gate {
            Gate::Hold(m) => {
                hold = Some(m);
                active = stable_hash.clone();
            }
            Gate::Paused => active = stable_hash.clone(),
            Gate::Open if !switched => {
                // Promotion decided: the new ReplicaSet goes to full size first, and the active
                // Service flips only once every pod is available.
                st.blue_green
                    .get_or_insert_with(Default::default)
                    .scale_up_preview_check_point = true;
                if available(new_rs, replicas) {
                    active = Some(new_hash.clone());
                    plan.events.push(event(
                        false,
                        "SwitchService",
                        format!(
                            "Switched the active Service {} to template {new_hash}",
                            bg.active_service.clone().unwrap_or_default()
                        ),
                    ));
                    awaiting_analysis =
                        after_switch(obs, &mut st, &mut plan, bg, &new_hash, revision, &mut hold);
                } else {
                    active = stable_hash.clone();
                    hold = Some(
                        "active service cutover pending: scaling the new ReplicaSet to full size"
                            .into(),
                    );
                }
            }
            Gate::Open => {
                active = Some(new_hash.clone());
                awaiting_analysis =
                    after_switch(obs, &mut st, &mut plan, bg, &new_hash, revision, &mut hold);
            }
        }
        keep_delayed(&others, bg, delay, now, &mut plan);
    }

    // The pods the active Service selects carry activeMetadata, the preview's previewMetadata.
    let is_active = |hash: &str| active.as_deref() == Some(hash);
    let new_role = if is_active(&new_hash) {
        bg.active_metadata.as_ref()
    } else {
        bg.preview_metadata.as_ref()
    };
    scale_new(
        obs, &mut plan, new_rs, &new_hash, revision, next_new, new_role,
    );
    if let Some(s) = stable_rs.filter(|s| s.desired != next_stable) {
        plan.scale.push((s.name.clone(), next_stable));
    }
    let stable_role = stable_rs
        .filter(|s| is_active(&s.hash))
        .and(bg.active_metadata.as_ref());
    role_metadata(obs, &mut plan, stable_rs, stable_role);
    scale_events(obs, &mut plan);

    // Selectors are pinned only to a known version: before the first version is available the
    // Services stay as the user wrote them.
    if let (Some(svc), Some(hash)) = (&bg.active_service, &active) {
        plan.selectors.push((svc.clone(), hash.clone()));
    }
    let preview = preview.or_else(|| active.clone());
    if let (Some(svc), Some(hash)) = (&bg.preview_service, &preview) {
        plan.selectors.push((svc.clone(), hash.clone()));
    }
    let active_now = active.clone();
    let status = st.blue_green.get_or_insert_with(Default::default);
    status.active_selector = active;
    status.preview_selector = preview.filter(|_| bg.preview_service.is_some());
    if st.stable_rs.as_deref() == Some(new_hash.as_str()) || st.abort {
        status.scale_up_preview_check_point = false;
    }

    delete_history(spec.revision_history_limit, &others, &mut plan);
    Outcome {
        prev,
        st,
        plan,
        limits,
        new_hash,
        hold,
        awaiting_analysis,
        old_take_traffic: false,
        serving: active_now,
    }
}

/// During an update or an abort, an old ReplicaSet already waiting out its scale-down delay
/// (within the revision limit) keeps its pods until its deadline (Argo Rollouts'
/// TestBlueGreenScaleDownDelay); any other goes now (a superseded preview).
fn keep_delayed(
    others: &[&ReplicaSetView],
    bg: &BlueGreenStrategy,
    delay: i64,
    now: jiff::Timestamp,
    plan: &mut Plan,
) {
    let (delayed, rest) = within_revision_limit(others, bg.scale_down_delay_revision_limit);
    let (waiting, fresh): (Vec<&ReplicaSetView>, Vec<&ReplicaSetView>) =
        delayed.into_iter().partition(|r| r.scale_down_at.is_some());
    scale_down(&waiting, delay, now, plan);
    scale_down(&fresh, 0, now, plan);
    scale_down(&rest, 0, now, plan);
}

/// A Failed or Errored pre- or post-promotion run aborts the update.
fn analysis_abort(obs: &Observed, st: &mut RolloutStatus, new_hash: &str) {
    for (kind, what) in [
        (RunKind::PrePromotion, "Blue/green pre-promotion"),
        (RunKind::PostPromotion, "Blue/green post-promotion"),
    ] {
        let name = recorded_run(st, kind);
        let run = an::current(&obs.runs, name.as_deref(), kind, None, new_hash);
        if abort_for_run(st, run, what, new_hash, obs.now) {
            return;
        }
    }
}

/// Pre-promotion analysis and the pause: what stands between a ready preview and the switch.
fn before_switch(
    obs: &Observed,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    bg: &BlueGreenStrategy,
    new_hash: &str,
    revision: u64,
) -> Gate {
    if st.promote_full {
        // Promote-full skips the pause and the analysis.
        st.pause_conditions.clear();
        st.controller_pause = false;
        return Gate::Open;
    }
    // Pre-promotion analysis runs while the rollout waits (or is paused) in preview.
    let mut analysis_gate = Gate::Open;
    if let Some(analysis) = &bg.pre_promotion_analysis {
        match promotion_run(
            obs,
            st,
            plan,
            RunKind::PrePromotion,
            analysis,
            new_hash,
            revision,
        ) {
            None => {
                analysis_gate = Gate::Hold("waiting for pre-promotion analysis".into());
            }
            Some(run) => {
                analysis_gate = match run.phase {
                    Some(AnalysisPhase::Successful) => Gate::Open,
                    Some(AnalysisPhase::Inconclusive) => {
                        if inconclusive_pause(st, plan, obs.now, &run.name) {
                            // Promoted past it by a user.
                            return Gate::Open;
                        }
                        Gate::Paused
                    }
                    _ => Gate::Hold(format!(
                        "waiting for pre-promotion analysis: AnalysisRun {} is {:?}",
                        run.name,
                        run.phase.unwrap_or(AnalysisPhase::Pending)
                    )),
                };
            }
        }
    }
    if obs.rollout.spec.paused {
        return Gate::Paused;
    }
    let gate = match (pause_gate(st, plan, bg, obs.now), analysis_gate) {
        (Gate::Open, g) => g,
        (p, _) => p,
    };
    if gate == Gate::Open && st.controller_pause && st.pause_conditions.is_empty() {
        // The pause a user cleared is spent only now that nothing else holds the switch.
        st.controller_pause = false;
        plan.events
            .push(event(false, "RolloutResumed", "Rollout resumed"));
    }
    gate
}

/// `autoPromotionEnabled: false` pauses (BlueGreenPause) until a user promotes;
/// `autoPromotionSeconds` pauses for that long; otherwise nothing waits.
fn pause_gate(
    st: &mut RolloutStatus,
    plan: &mut Plan,
    bg: &BlueGreenStrategy,
    now: Timestamp,
) -> Gate {
    let auto = bg.auto_promotion_enabled.unwrap_or(true);
    let seconds = bg.auto_promotion_seconds.filter(|_| auto);
    if auto && seconds.is_none() {
        return Gate::Open;
    }
    let held = st
        .pause_conditions
        .iter()
        .find(|c| c.reason == PauseReason::BlueGreenPause)
        .cloned();
    match held {
        // A user cleared the pause (spent by the caller once nothing else holds).
        None if st.controller_pause => Gate::Open,
        None => {
            enter_pause(
                st,
                plan,
                PauseReason::BlueGreenPause,
                now,
                event(
                    false,
                    "RolloutPaused",
                    "Rollout paused in preview, before the switch",
                ),
            );
            if let Some(s) = seconds {
                plan.wake_after(Some(std::time::Duration::from_secs(u64::from(
                    s.max(0).unsigned_abs(),
                ))));
            }
            Gate::Paused
        }
        Some(c) => {
            let Some(s) = seconds else {
                return Gate::Paused;
            };
            let ends = c.start_time.0 + SignedDuration::from_secs(i64::from(s));
            if now >= ends {
                st.pause_conditions
                    .retain(|p| p.reason != PauseReason::BlueGreenPause);
                st.controller_pause = false;
                plan.events.push(event(
                    false,
                    "RolloutResumed",
                    format!("Rollout promoted automatically after {s}s"),
                ));
                Gate::Open
            } else {
                plan.wake_at(now, ends);
                Gate::Paused
            }
        }
    }
}

/// After the switch: post-promotion analysis decides when the new version is stable. Returns
/// whether the rollout waits on that analysis.
#[allow(clippy::too_many_arguments)] // the pieces of one decision
fn after_switch(
    obs: &Observed,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    bg: &BlueGreenStrategy,
    new_hash: &str,
    revision: u64,
    hold: &mut Option<String>,
) -> bool {
    let Some(analysis) = bg
        .post_promotion_analysis
        .as_ref()
        .filter(|_| !st.promote_full)
    else {
        promote(st, plan, new_hash);
        return false;
    };
    match promotion_run(
        obs,
        st,
        plan,
        RunKind::PostPromotion,
        analysis,
        new_hash,
        revision,
    ) {
        None => {
            *hold = Some("waiting for post-promotion analysis".into());
            true
        }
        Some(run) => match run.phase {
            Some(AnalysisPhase::Successful) => {
                promote(st, plan, new_hash);
                false
            }
            Some(AnalysisPhase::Inconclusive) => {
                if inconclusive_pause(st, plan, obs.now, &run.name) {
                    promote(st, plan, new_hash);
                }
                false
            }
            _ => {
                *hold = Some(format!(
                    "waiting for post-promotion analysis: AnalysisRun {} is {:?}",
                    run.name,
                    run.phase.unwrap_or(AnalysisPhase::Pending)
                ));
                true
            }
        },
    }
}

/// The current pre- or post-promotion run, its summary recorded in status; `None` when there is
/// none yet and one was planned.
fn promotion_run<'a>(
    obs: &'a Observed,
    st: &mut RolloutStatus,
    plan: &mut Plan,
    kind: RunKind,
    analysis: &rollout_rs_crds::rollout::RolloutAnalysis,
    new_hash: &str,
    revision: u64,
) -> Option<&'a crate::rollout::analysis::RunView> {
    let recorded = recorded_run(st, kind);
    match an::current(&obs.runs, recorded.as_deref(), kind, None, new_hash) {
        Some(run) => {
            set_run_status(st, kind, Some(run));
            Some(run)
        }
        None => {
            start_run(
                obs,
                st,
                plan,
                NewRun {
                    name: String::new(),
                    kind,
                    step: None,
                    hash: new_hash.to_string(),
                    revision,
                    analysis: analysis.clone(),
                },
            );
            None
        }
    }
}

#[cfg(test)]
#[path = "bluegreen_tests.rs"]
mod tests;
