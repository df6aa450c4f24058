//! Replica arithmetic of a canary without a traffic router, as Argo Rollouts users know it: the
//! share of canary pods approximates the step's weight as closely as the replica count allows
//! (one surge pod may be used for a better ratio), and every move stays within `maxSurge`
//! (pods above `spec.replicas`) and `maxUnavailable` (pods below it that are not available).
//! Pure functions only.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `maxSurge` and `maxUnavailable` resolved against `spec.replicas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) surge: i32,
    pub(crate) unavailable: i32,
}

/// Resolves an int-or-percent against `total` (percentages round up for surge, down for
/// unavailability, as Deployments do). Values validation rejects resolve to 0.
fn resolve(value: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match value {
        None => resolve(Some(&IntOrString::String("25%".into())), total, round_up),
        Some(IntOrString::Int(n)) => (*n).max(0),
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            let scaled = i64::from(total) * pct;
            let v = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            i32::try_from(v.max(0)).unwrap_or(i32::MAX)
        }
    }
}

impl Limits {
    pub(crate) fn new(
        max_surge: Option<&IntOrString>,
        max_unavailable: Option<&IntOrString>,
        replicas: i32,
    ) -> Limits {
        let surge = resolve(max_surge, replicas, true);
        let mut unavailable = resolve(max_unavailable, replicas, false);
        // Both zero would forbid every move; Deployments allow one unavailable pod then.
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        Limits { surge, unavailable }
    }
}

/// Canary and stable pod counts whose ratio comes closest to `weight` percent. A weight
/// strictly between 0 and 100 gets at least one pod on each side whenever `replicas` plus a
/// surge pod allow two (1 replica at setWeight 25 runs 1 canary and 1 stable pod: a step that
/// ran no canary would test nothing); one surge pod is used when it gives a strictly better
/// ratio. Ties go to fewer canary pods.
pub(crate) fn weighted_counts(replicas: i32, weight: i32, limits: Limits) -> (i32, i32) {
    if replicas <= 0 {
        return (0, 0);
    }
    if weight >= 100 {
        return (replicas, 0);
    }
    if weight <= 0 {
        return (0, replicas);
    }
    let mut best: Option<(f64, i32, i32)> = None;
    let totals = if limits.surge > 0 {
        vec![replicas, replicas + 1]
    } else {
        vec![replicas]
    };
    let two_sides_possible = totals.iter().any(|t| *t >= 2);
    for total in totals {
        let exact = f64::from(total) * f64::from(weight) / 100.0;
        for canary in [exact.floor() as i32, exact.ceil() as i32] {
            let stable = total - canary;
            let both_sides = canary >= 1 && stable >= 1;
            if canary < 0
                || stable < 0
                || canary > replicas
                || stable > replicas
                || (two_sides_possible && !both_sides)
            {
                continue;
            }
            let error = (f64::from(canary) / f64::from(total) - f64::from(weight) / 100.0).abs();
            let better = match best {
                None => true,
                Some((e, c, s)) => {
                    error < e - 1e-9
                        || ((error - e).abs() <= 1e-9 && (canary + stable, canary) < (c + s, c))
                }
            };
            if better {
                best = Some((error, canary, stable));
            }
        }
    }
    best.map_or((0, replicas), |(_, c, s)| (c, s))
}

/// Observed counts of one ReplicaSet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// `spec.replicas`.
    pub(crate) desired: i32,
    /// `status.availableReplicas`.
    pub(crate) available: i32,
}

/// The next replica counts of every ReplicaSet of a basic canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Paced {
    pub(crate) canary: i32,
    pub(crate) stable: i32,
    /// For each of `others`, in order.
    pub(crate) others: Vec<i32>,
}

/// One ReplicaSet on its way to `target`.
struct Side {
    desired: i32,
    available: i32,
    target: i32,
}

impl Side {
    /// Pods it can lose without losing an available one: the ReplicaSet controller deletes
    /// pods that are not ready first.
    fn unavailable(&self) -> i32 {
        (self.desired - self.available).max(0)
    }
}

/// The next replica counts for (canary, stable, others) towards `target` (others go to 0),
/// as a Deployment's rolling update moves: every move honours both limits against the pods
/// that exist and are available.
///
/// - Pods that are not available may always go, down to the target; and below it while the
///   total is above `replicas + surge` (a rollout scaled down mid-update).
/// - A side grows only within `replicas + surge` pods in all (canary first).
/// - An available pod goes only while `replicas - unavailable` pods stay available (older
///   ReplicaSets first, then the canary, then the stable).
pub(crate) fn paced(
    replicas: i32,
    limits: Limits,
    canary: Counts,
    stable: Counts,
    others: &[Counts],
    target: (i32, i32),
) -> Paced {
    let side = |c: Counts, target: i32| Side {
        desired: c.desired,
        available: c.available.min(c.desired).max(0),
        target: target.max(0),
    };
    // Shrinking order: older ReplicaSets, the canary, the stable. Growing: canary, stable.
    let mut sides: Vec<Side> = others.iter().map(|o| side(*o, 0)).collect();
    let canary_at = sides.len();
    sides.push(side(canary, target.0));
    sides.push(side(stable, target.1));
    let stable_at = canary_at + 1;

    // Free moves: pods that are not available go down to the target.
    for s in sides.iter_mut().filter(|s| s.desired > s.target) {
        s.desired -= s.unavailable().min(s.desired - s.target);
    }
    // Above the surge limit (the rollout was scaled down): unavailable pods go below target.
    let ceiling = replicas + limits.surge;
    let mut excess = sides.iter().map(|s| s.desired).sum::<i32>() - ceiling;
    for s in sides.iter_mut() {
        if excess <= 0 {
            break;
        }
        let cut = s.unavailable().min(excess);
        s.desired -= cut;
        excess -= cut;
    }
    // Growth within the surge, counted before anything is paid for below.
    let mut room = ceiling - sides.iter().map(|s| s.desired).sum::<i32>();
    for i in [canary_at, stable_at] {
        let s = &mut sides[i];
        if room > 0 && s.desired < s.target {
            let grow = (s.target - s.desired).min(room);
            s.desired += grow;
            room -= grow;
        }
    }
    // Available pods go only within the unavailability budget.
    let available: i32 = sides.iter().map(|s| s.available.min(s.desired)).sum();
    let mut budget = (available - (replicas - limits.unavailable)).max(0);
    for s in sides.iter_mut().filter(|s| s.desired > s.target) {
        let cut = (s.desired - s.target).min(budget);
        s.desired -= cut;
        budget -= cut;
    }
    Paced {
        canary: sides[canary_at].desired,
        stable: sides[stable_at].desired,
        others: sides[..canary_at].iter().map(|s| s.desired).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(surge: &str, unavailable: &str, replicas: i32) -> Limits {
        let parse = |s: &str| match s.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::String(s.into()),
        };
        Limits::new(Some(&parse(surge)), Some(&parse(unavailable)), replicas)
    }

    #[test]
    fn limits_resolve_like_deployments() {
        assert_eq!(
            Limits::new(None, None, 10),
            Limits {
                surge: 3,
                unavailable: 2
            }
        );
        assert_eq!(
            limits("0", "0", 10),
            Limits {
                surge: 0,
                unavailable: 1
            }
        );
        assert_eq!(
            limits("1", "0", 4),
            Limits {
                surge: 1,
                unavailable: 0
            }
        );
        assert_eq!(
            limits("50%", "10%", 5),
            Limits {
                surge: 3,
                unavailable: 0
            }
        );
    }

    #[test]
    fn weighted_counts_table() {
        let d = |n| Limits::new(None, None, n);
        let cases = [
            // (replicas, weight, limits, expected)
            (10, 20, d(10), (2, 8)),
            (10, 0, d(10), (0, 10)),
            (10, 100, d(10), (10, 0)),
            (10, 50, d(10), (5, 5)),
            (4, 20, d(4), (1, 4)), // 1/5 = 20% exactly, with one surge pod
            (4, 20, limits("0", "1", 4), (1, 3)), // no surge: 1/4 is the closest
            (3, 50, d(3), (2, 2)), // 2/4 beats 1/3 and 2/3
            (1, 50, d(1), (1, 1)), // one surge pod makes 50% possible
            (1, 50, limits("0", "1", 1), (0, 1)), // no surge, no both-sides split: canary gets none
            (2, 5, d(2), (1, 2)),  // a weight above 0 gets at least one canary pod; 1/3 beats 1/2
            (1, 25, d(1), (1, 1)), // one replica: the surge pod runs the canary (Argo's TestRolloutScalingWhenPaused)
            (1, 90, d(1), (1, 1)),
            (2, 95, limits("0", "1", 2), (1, 1)),
            (0, 50, d(0), (0, 0)),
        ];
        for (n, w, l, want) in cases {
            assert_eq!(
                weighted_counts(n, w, l),
                want,
                "replicas {n}, weight {w}, {l:?}"
            );
        }
    }

    fn c(desired: i32, available: i32) -> Counts {
        Counts { desired, available }
    }

    /// (canary, stable) of a move without other ReplicaSets.
    fn two(
        replicas: i32,
        l: Limits,
        canary: Counts,
        stable: Counts,
        target: (i32, i32),
    ) -> (i32, i32) {
        let p = paced(replicas, l, canary, stable, &[], target);
        (p.canary, p.stable)
    }

    #[test]
    fn pacing_within_surge_and_unavailability() {
        let l = Limits::new(None, None, 10); // surge 3, unavailable 2
        // C1: from (0, 10) to (2, 8) in one move.
        assert_eq!(two(10, l, c(0, 0), c(10, 10), (2, 8)), (2, 8));
        // Full promotion proceeds in steps bounded by surge and availability.
        assert_eq!(two(10, l, c(2, 2), c(8, 8), (10, 0)), (5, 6));
        assert_eq!(
            two(10, l, c(5, 2), c(6, 6), (10, 0)),
            (7, 6),
            "canary pods not yet available hold the stable"
        );
        assert_eq!(two(10, l, c(7, 7), c(6, 6), (10, 0)), (7, 1));
        // Unavailable stable pods can always go.
        assert_eq!(two(10, l, c(2, 0), c(10, 7), (2, 8)), (2, 8));
        // Abort: the stable grows within the surge, the canary shrinks within availability.
        assert_eq!(two(10, l, c(5, 5), c(6, 6), (0, 10)), (2, 8));
        assert_eq!(two(10, l, c(2, 2), c(8, 8), (0, 10)), (0, 10));
        assert_eq!(two(10, l, c(2, 2), c(10, 10), (0, 10)), (0, 10));
        // Other ReplicaSets' pods count against the surge and go first.
        let p = paced(10, l, c(0, 0), c(10, 10), &[c(3, 3)], (2, 8));
        assert_eq!((p.canary, p.stable, p.others), (0, 8, vec![0]));
        let p = paced(10, l, c(0, 0), c(8, 8), &[c(3, 0)], (2, 8));
        assert_eq!(
            (p.canary, p.stable, p.others),
            (2, 8, vec![0]),
            "unavailable pods go at once"
        );
    }

    /// Argo Rollouts' e2e TestReduceWeightAndHonorMaxUnavailable: replicas 3, maxSurge 2,
    /// maxUnavailable 0, from setWeight 100 to setWeight 0 (or an abort).
    #[test]
    fn reducing_the_weight_honours_max_unavailable() {
        let l = Limits::new(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(0)), 3);
        assert_eq!(
            two(3, l, c(3, 3), c(0, 0), (0, 3)),
            (3, 2),
            "no canary pod goes first"
        );
        assert_eq!(
            two(3, l, c(3, 3), c(2, 0), (0, 3)),
            (3, 2),
            "until the stable's are up"
        );
        assert_eq!(two(3, l, c(3, 3), c(2, 2), (0, 3)), (1, 2));
        assert_eq!(two(3, l, c(1, 1), c(2, 2), (0, 3)), (1, 3));
        assert_eq!(two(3, l, c(1, 1), c(3, 3), (0, 3)), (0, 3));
    }

    /// Argo Rollouts' e2e TestRolloutScalingDuringUpdate: replicas 4, maxSurge 2,
    /// maxUnavailable 0, an update whose pods never become ready, then scaled to 8 and to 4.
    #[test]
    fn scaling_during_a_stuck_update_stays_within_the_surge() {
        let limits = |n| Limits::new(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(0)), n);
        assert_eq!(two(4, limits(4), c(0, 0), c(4, 4), (4, 0)), (2, 4));
        assert_eq!(two(8, limits(8), c(2, 0), c(4, 4), (8, 0)), (6, 4));
        assert_eq!(two(4, limits(4), c(6, 0), c(4, 4), (4, 0)), (2, 4));
    }

    /// Whatever the start, one move never exceeds the surge (unless already above it, and
    /// then never adds to the total) and never loses available pods below the minimum, an
    /// older ReplicaSet included.
    #[test]
    fn every_move_honours_both_limits() {
        for replicas in 0..7 {
            for (surge, unavailable) in [(0, 1), (1, 0), (2, 0), (1, 1), (3, 2)] {
                let l = Limits { surge, unavailable };
                for cd in 0..8 {
                    for ca in 0..=cd {
                        for sd in 0..8 {
                            for sa in 0..=sd {
                                for target_canary in 0..=replicas {
                                    let target = (target_canary, replicas - target_canary);
                                    // An older ReplicaSet with one available pod beside them.
                                    let old = c(1, 1);
                                    let m =
                                        paced(replicas, l, c(cd, ca), c(sd, sa), &[old], target);
                                    let p = (m.canary, m.stable, m.others[0]);
                                    let before = cd + sd + old.desired;
                                    let after = p.0 + p.1 + p.2;
                                    assert!(
                                        after <= (replicas + surge).max(before),
                                        "surge: {replicas} {l:?} ({cd},{ca}) ({sd},{sa}) -> {p:?}"
                                    );
                                    let kept = ca.min(p.0) + sa.min(p.1) + old.available.min(p.2);
                                    assert!(
                                        kept >= (replicas - unavailable)
                                            .min(ca + sa + old.available),
                                        "availability: {replicas} {l:?} ({cd},{ca}) ({sd},{sa}) -> {p:?}"
                                    );
                                    assert!(p.0 >= 0 && p.1 >= 0 && p.2 >= 0);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
