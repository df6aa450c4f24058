//! What a person reads off a Rollout, computed once for every command that shows one (`list`,
//! `get`, `status`): its strategy, step, set and actual weight, phase with its symbol, and
//! whether it is done. Pure; no formatting beyond words and symbols.

use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutStatus;

pub(crate) fn status(ro: &Rollout) -> RolloutStatus {
    ro.status.clone().unwrap_or_default()
}

/// The current template is the stable one: no update in progress.
pub(crate) fn fully_promoted(st: &RolloutStatus) -> bool {
    st.current_pod_hash.is_some() && st.stable_rs == st.current_pod_hash
}

pub(crate) fn strategy(ro: &Rollout) -> &'static str {
    if ro.spec.strategy.blue_green.is_some() {
        "BlueGreen"
    } else {
        "Canary"
    }
}

/// `(current step, number of steps)` of a canary with steps.
pub(crate) fn step(ro: &Rollout) -> Option<(i32, usize)> {
    let steps = ro.spec.strategy.canary.as_ref()?.steps.len();
    if steps == 0 {
        return None;
    }
    let at = status(ro)
        .current_step_index
        .unwrap_or(0)
        .clamp(0, steps as i32);
    Some((at, steps))
}

/// The weight the steps ask for now: the last `setWeight` at or before the current step (100
/// once every step is done), as Argo Rollouts shows it.
pub(crate) fn set_weight(ro: &Rollout) -> Option<i32> {
    let canary = ro.spec.strategy.canary.as_ref()?;
    let st = status(ro);
    if fully_promoted(&st) {
        return Some(100);
    }
    if st.abort {
        return Some(0);
    }
    let at = st.current_step_index.unwrap_or(0).max(0) as usize;
    if at >= canary.steps.len() {
        return Some(100);
    }
    Some(
        canary.steps[..=at]
            .iter()
            .rev()
            .find_map(|s| s.set_weight)
            .unwrap_or(0),
    )
}

/// The canary weight last written to the routers, when the Rollout routes traffic.
pub(crate) fn actual_weight(ro: &Rollout) -> Option<i32> {
    status(ro).canary?.weights.map(|w| w.canary.weight)
}

/// The phase as shown: `Paused` and friends, `Unknown` before the controller has written one.
pub(crate) fn phase(ro: &Rollout) -> String {
    match status(ro).phase {
        Some(p) => format!("{p:?}"),
        None => "Unknown".to_string(),
    }
}

/// The controller has seen the latest spec: its status speaks of it, not of an earlier one.
pub(crate) fn observed(ro: &Rollout) -> bool {
    match (ro.metadata.generation, status(ro).observed_generation) {
        (Some(generation), Some(seen)) => seen >= generation,
        (None, _) => ro.status.is_some(),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(steps: &str, status: &str) -> Rollout {
        serde_saphyr::from_str(&format!(
            "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web, generation: 2}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template: {{metadata: {{labels: {{app: web}}}}}}\n  strategy: {{canary: {{steps: {steps}}}}}\nstatus: {status}\n"
        ))
        .expect("a Rollout")
    }

    #[test]
    fn the_set_weight_is_the_last_set_weight_reached() {
        let steps = "[{setWeight: 20}, {pause: {}}, {setWeight: 50}, {pause: {}}]";
        let at = |i: i32| {
            rollout(
                steps,
                &format!("{{currentStepIndex: {i}, currentPodHash: b, stableRS: a}}"),
            )
        };
        assert_eq!(set_weight(&at(0)), Some(20));
        assert_eq!(set_weight(&at(1)), Some(20));
        assert_eq!(set_weight(&at(2)), Some(50));
        assert_eq!(set_weight(&at(4)), Some(100));
        let promoted = rollout(
            steps,
            "{currentStepIndex: 4, currentPodHash: b, stableRS: b}",
        );
        assert_eq!(set_weight(&promoted), Some(100));
        let aborted = rollout(steps, "{abort: true, currentPodHash: b, stableRS: a}");
        assert_eq!(set_weight(&aborted), Some(0));
        let pause_first = rollout(
            "[{pause: {}}, {setWeight: 50}]",
            "{currentStepIndex: 0, currentPodHash: b, stableRS: a}",
        );
        assert_eq!(set_weight(&pause_first), Some(0));
    }

    #[test]
    fn a_status_of_an_older_generation_is_not_observed() {
        assert!(!observed(&rollout("[]", "{observedGeneration: 1}")));
        assert!(observed(&rollout("[]", "{observedGeneration: 2}")));
    }
}
