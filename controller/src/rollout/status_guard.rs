//! Which status fields the controller takes from outside. Users, the plugin and tools such as
//! Argo CD write the control surface (`abort`, `pauseConditions`, `promoteFull`); every other
//! field records the controller's own progress, and a value written there by anyone else
//! (`currentStepIndex: 99`, an unknown `stableRS`) would skip steps and analysis. Such values
//! are put back to what the controller last wrote, or, when it does not remember (it has
//! restarted since), refused when they cannot be true. Pure: `decide` calls it first.

use rollout_rs_crds::rollout::{RolloutStatus, TrafficWeights};

/// The progress fields only the controller writes, as it last wrote them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Owned {
    pub(crate) current_step_index: Option<i32>,
    pub(crate) current_step_hash: Option<String>,
    pub(crate) current_pod_hash: Option<String>,
    pub(crate) stable_rs: Option<String>,
    pub(crate) weights: Option<TrafficWeights>,
}

impl Owned {
    pub(crate) fn of(st: &RolloutStatus) -> Owned {
        Owned {
            current_step_index: st.current_step_index,
            current_step_hash: st.current_step_hash.clone(),
            current_pod_hash: st.current_pod_hash.clone(),
            stable_rs: st.stable_rs.clone(),
            weights: st.canary.as_ref().and_then(|c| c.weights.clone()),
        }
    }

    fn restore(&self, st: &mut RolloutStatus) {
        st.current_step_index = self.current_step_index;
        st.current_step_hash = self.current_step_hash.clone();
        st.current_pod_hash = self.current_pod_hash.clone();
        st.stable_rs = self.stable_rs.clone();
        if self.weights.is_some() || st.canary.is_some() {
            st.canary.get_or_insert_with(Default::default).weights = self.weights.clone();
        }
    }
}

/// What the guard found.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Verdict {
    /// Fields written from outside and put back, as `field: what`.
    pub(crate) restored: Vec<String>,
    /// Why nothing may move until a human looks (a stable version nobody can identify).
    pub(crate) hold: Option<String>,
}

/// Puts back what others wrote into the controller's fields of `st`. `remembered` is the
/// controller's own last write, if it has one since it started; `steps` the number of canary
/// steps; `replica_sets` the (hash, desired pods) of the ReplicaSets the Rollout owns. What stands then must be plausible: a step
/// index outside the steps starts them over, a stable version no ReplicaSet runs holds the
/// Rollout while another version runs (a stable ReplicaSet deleted by hand included).
pub(crate) fn guard(
    st: &mut RolloutStatus,
    remembered: Option<&Owned>,
    steps: i32,
    replica_sets: &[(&str, i32)],
) -> Verdict {
    let mut verdict = Verdict::default();
    let seen = Owned::of(st);
    // A memory that is not plausible itself (the write of a hold) is no authority: a user
    // fixing the stable version must be heard.
    if let Some(ours) = remembered
        && *ours != seen
        && unknown_stable(ours, replica_sets).is_none()
    {
        verdict.restored = differences(ours, &seen);
        ours.restore(st);
    }
    if let Some(i) = st.current_step_index
        && !(0..=steps).contains(&i)
    {
        verdict.restored.push(format!(
            "currentStepIndex {i} is not a step (0..={steps}): back to 0"
        ));
        st.current_step_index = Some(0);
    }
    verdict.hold = unknown_stable(&Owned::of(st), replica_sets).map(|stable| {
        format!(
            "status.stableRS names template {stable:?}, which no ReplicaSet of the Rollout runs: \
             the stable version cannot be told; set status.stableRS to the hash of the stable ReplicaSet"
        )
    });
    verdict
}

/// The stable hash `owned` names when no ReplicaSet runs it while another version does: then
/// nobody can tell which pods are stable, and treating the update as a first deploy would send
/// all traffic to pods that may not exist.
fn unknown_stable<'a>(owned: &'a Owned, replica_sets: &[(&str, i32)]) -> Option<&'a str> {
    let stable = owned.stable_rs.as_deref()?;
    let current = owned.current_pod_hash.as_deref();
    let known = replica_sets.iter().any(|(hash, _)| *hash == stable) || current == Some(stable);
    let others_run = replica_sets
        .iter()
        .any(|(hash, desired)| *hash != stable && current != Some(*hash) && *desired > 0);
    (!known && others_run).then_some(stable)
}

fn differences(ours: &Owned, seen: &Owned) -> Vec<String> {
    let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let mut out = Vec::new();
    let mut field = |name: &str, theirs: String, mine: String| {
        if theirs != mine {
            out.push(format!("{name} {theirs} put back to {mine}"));
        }
    };
    field(
        "currentStepIndex",
        show(&seen.current_step_index),
        show(&ours.current_step_index),
    );
    field(
        "currentStepHash",
        show(&seen.current_step_hash),
        show(&ours.current_step_hash),
    );
    field(
        "currentPodHash",
        show(&seen.current_pod_hash),
        show(&ours.current_pod_hash),
    );
    field("stableRS", show(&seen.stable_rs), show(&ours.stable_rs));
    let weight = |o: &Owned| o.weights.as_ref().map(|w| w.canary.weight);
    field(
        "canary.weights.canary.weight",
        show(&weight(seen)),
        show(&weight(ours)),
    );
    if out.is_empty() && seen.weights != ours.weights {
        out.push("canary.weights put back".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(hash: &'static str, desired: i32) -> (&'static str, i32) {
        (hash, desired)
    }

    fn status(index: i32, stable: &str, current: &str) -> RolloutStatus {
        RolloutStatus {
            current_step_index: Some(index),
            stable_rs: Some(stable.into()),
            current_pod_hash: Some(current.into()),
            ..Default::default()
        }
    }

    #[test]
    fn remembered_fields_written_by_others_are_put_back() {
        let ours = Owned::of(&status(1, "aaa", "bbb"));
        let mut st = status(99, "zzz", "bbb");
        st.abort = true; // the control surface is the user's
        let v = guard(&mut st, Some(&ours), 4, &[rs("aaa", 8), rs("bbb", 2)]);
        assert_eq!(
            (st.current_step_index, st.stable_rs.as_deref()),
            (Some(1), Some("aaa"))
        );
        assert!(st.abort);
        assert_eq!(
            v.restored,
            [
                "currentStepIndex Some(99) put back to Some(1)",
                "stableRS Some(\"zzz\") put back to Some(\"aaa\")"
            ]
        );
        assert_eq!(v.hold, None);
        // In range and plausible, yet not what the controller wrote: put back too.
        let mut st = status(3, "aaa", "bbb");
        let v = guard(&mut st, Some(&ours), 4, &[rs("aaa", 8), rs("bbb", 2)]);
        assert_eq!(st.current_step_index, Some(1));
        assert_eq!(v.restored.len(), 1);
        // Unchanged: nothing to say.
        let mut st = status(1, "aaa", "bbb");
        assert_eq!(guard(&mut st, Some(&ours), 4, &[]), Verdict::default());
    }

    #[test]
    fn without_memory_impossible_values_are_refused() {
        let rss = [rs("aaa", 8), rs("bbb", 2)];
        let mut st = status(99, "aaa", "bbb");
        let v = guard(&mut st, None, 4, &rss);
        assert_eq!(
            st.current_step_index,
            Some(0),
            "steps start over, nothing is skipped"
        );
        assert_eq!(v.restored.len(), 1);
        let mut st = status(4, "aaa", "bbb");
        assert_eq!(
            guard(&mut st, None, 4, &rss),
            Verdict::default(),
            "4 of 4: all done"
        );
        // An unknown stable while another version runs: nothing may move.
        let mut st = status(1, "zzz", "bbb");
        let v = guard(&mut st, None, 4, &rss);
        assert!(
            v.hold.as_deref().is_some_and(|h| h.contains("\"zzz\"")),
            "{v:?}"
        );
        // Nothing else runs: nothing to protect, the template deploys as a first one.
        let mut st = status(1, "zzz", "bbb");
        assert_eq!(guard(&mut st, None, 4, &[rs("bbb", 2)]).hold, None);
    }

    #[test]
    fn a_held_stable_can_be_fixed_and_a_vanished_one_holds() {
        let rss = [rs("aaa", 8), rs("bbb", 2)];
        // The hold was written, so it is what the controller remembers: the user's fix wins.
        let held = Owned::of(&status(1, "zzz", "bbb"));
        let mut st = status(1, "aaa", "bbb");
        assert_eq!(guard(&mut st, Some(&held), 4, &rss), Verdict::default());
        assert_eq!(st.stable_rs.as_deref(), Some("aaa"));
        // The stable ReplicaSet deleted by hand while the controller runs: hold, not a first
        // deploy.
        let ours = Owned::of(&status(1, "aaa", "bbb"));
        let mut st = status(1, "aaa", "bbb");
        let v = guard(&mut st, Some(&ours), 4, &[rs("bbb", 2), rs("ccc", 3)]);
        assert!(v.hold.is_some(), "{v:?}");
    }
}
