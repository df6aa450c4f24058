//! Replica arithmetic of a canary without a traffic router, as Argo Rollouts users know it: the
//! share of canary pods approximates the step's weight as closely as the replica count allows
//! (one surge pod may be used for a better ratio), and every move stays within `maxSurge`
//! (pods above `spec.replicas`) and `maxUnavailable` (pods below it that are not available).
//! Pure functions only.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `maxSurge` and `maxUnavailable` resolved against `spec.replicas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub surge: i32,
    pub unavailable: i32,
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
    pub fn new(
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
/// strictly between 0 and 100 gets at least one pod on each side when the count allows; one
/// surge pod is used when it gives a strictly better ratio. Ties go to fewer canary pods.
pub fn weighted_counts(replicas: i32, weight: i32, limits: Limits) -> (i32, i32) {
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
    for total in totals {
        let exact = f64::from(total) * f64::from(weight) / 100.0;
        for canary in [exact.floor() as i32, exact.ceil() as i32] {
            let stable = total - canary;
            let both_sides = canary >= 1 && stable >= 1;
            if canary < 0
                || stable < 0
                || canary > replicas
                || stable > replicas
                || (total >= 2 && !both_sides)
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
pub struct Counts {
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// The next replica counts for (canary, stable) towards `target`, within the limits: the canary
/// grows only while the total stays within `replicas + surge`; the stable shrinks only while at
/// least `replicas - unavailable` pods stay available (its own unavailable pods may always go).
/// `others` are the pods of any other ReplicaSet. A stable below target returns to it at once:
/// that only ever restores capacity.
pub fn paced(
    replicas: i32,
    limits: Limits,
    canary: Counts,
    stable: Counts,
    others: Counts,
    target: (i32, i32),
) -> (i32, i32) {
    let (want_canary, want_stable) = target;
    let mut next_canary = canary.desired;
    if canary.desired < want_canary {
        let room = replicas + limits.surge - (canary.desired + stable.desired + others.desired);
        if room > 0 {
            next_canary = (canary.desired + room).min(want_canary);
        }
    } else if canary.desired > want_canary {
        next_canary = want_canary;
    }
    let mut next_stable = stable.desired;
    if stable.desired > want_stable {
        let min_available = replicas - limits.unavailable;
        let available = canary.available + stable.available + others.available;
        let budget =
            (available - min_available).max(0) + (stable.desired - stable.available).max(0);
        next_stable = stable.desired - (stable.desired - want_stable).min(budget);
    } else if stable.desired < want_stable {
        next_stable = want_stable;
    }
    (next_canary, next_stable)
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

    #[test]
    fn pacing_within_surge_and_unavailability() {
        let l = Limits::new(None, None, 10); // surge 3, unavailable 2
        let c = |desired, available| Counts { desired, available };
        let none = Counts::default();
        // C1: from (0, 10) to (2, 8) in one move.
        assert_eq!(paced(10, l, c(0, 0), c(10, 10), none, (2, 8)), (2, 8));
        // Full promotion proceeds in steps bounded by surge and availability.
        assert_eq!(paced(10, l, c(2, 2), c(8, 8), none, (10, 0)), (5, 6));
        assert_eq!(
            paced(10, l, c(5, 2), c(6, 6), none, (10, 0)),
            (7, 6),
            "canary pods not yet available hold the stable"
        );
        assert_eq!(paced(10, l, c(7, 7), c(6, 6), none, (10, 0)), (7, 1));
        // Unavailable stable pods can always go.
        assert_eq!(paced(10, l, c(2, 0), c(10, 7), none, (2, 8)), (2, 8));
        // Abort: canary straight to 0, stable straight back to full.
        assert_eq!(paced(10, l, c(5, 5), c(6, 6), none, (0, 10)), (0, 10));
        // Other ReplicaSets' pods count against the surge.
        assert_eq!(paced(10, l, c(0, 0), c(10, 10), c(3, 3), (2, 8)), (0, 8));
    }
}
