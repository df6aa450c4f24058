//! How far a router weight may move this reconcile: traffic never gets ahead of the pods that
//! serve it. A weight moves toward a side only when that side's available pods can carry it;
//! toward the stable (a lower step, an abort) it steps down only as far as the stable's
//! available pods allow. Pure arithmetic, no I/O; `decide` calls it with what it observed.

/// The pods behind each side of the split, as observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// `spec.replicas`: the pods that carry all of the traffic.
    pub(crate) replicas: i32,
    /// The weight scale (`maxTrafficWeight`, default 100).
    pub(crate) total: i32,
    /// Available pods of the canary ReplicaSet (the one the canary Service selects).
    pub(crate) canary_available: i32,
    /// The canary has every pod the target weight's step asks for, available (and, for a
    /// subset-level split, every pod it runs).
    pub(crate) canary_ready: bool,
    /// Available pods of the stable ReplicaSet.
    pub(crate) stable_available: i32,
    /// `setCanaryScale` sizes the canary: its pod count is the user's choice, not what its
    /// weight needs, so losing pods does not move its weight.
    pub(crate) scaled_by_user: bool,
}

/// The weight to write, given the weight the step (or an abort, or promotion) asks for and
/// the weight the routers carry now.
pub(crate) fn next(target: i32, in_force: i32, cap: Capacity) -> i32 {
    if cap.canary_available <= 0 {
        // Nothing could serve the canary's share: whatever the stable can do is better.
        return 0;
    }
    let weight = if target > in_force {
        if cap.canary_ready { target } else { in_force }
    } else if target < in_force {
        target.max(stable_floor(cap)).min(in_force)
    } else {
        target
    };
    // A canary that lost pods sheds the share they carried, as far as the stable can take it.
    let carried = canary_ceiling(cap);
    if !cap.scaled_by_user && weight > carried {
        return carried.max(stable_floor(cap)).min(weight);
    }
    weight
}

/// The highest weight the canary's available pods carry: `pods_for(w) <= canary_available`.
fn canary_ceiling(cap: Capacity) -> i32 {
    if cap.replicas <= 0 {
        return cap.total;
    }
    let carried =
        i64::from(cap.canary_available.max(0)) * i64::from(cap.total) / i64::from(cap.replicas);
    carried.clamp(0, i64::from(cap.total)) as i32
}

/// The lowest canary weight the stable's available pods can carry the rest of:
/// the stable carries `total - w` when `stable_available >= ceil(replicas * (total - w) / total)`.
fn stable_floor(cap: Capacity) -> i32 {
    if cap.replicas <= 0 || cap.total <= 0 {
        return 0;
    }
    let carried =
        i64::from(cap.stable_available.max(0)) * i64::from(cap.total) / i64::from(cap.replicas);
    (i64::from(cap.total) - carried).clamp(0, i64::from(cap.total)) as i32
}

/// Pods a side needs to carry `weight` out of `total`: `ceil(replicas * weight / total)`.
pub(crate) fn pods_for(replicas: i32, weight: i32, total: i32) -> i32 {
    let total = i64::from(total.max(1));
    ((i64::from(replicas.max(0)) * i64::from(weight.clamp(0, total as i32)) + total - 1) / total)
        as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(canary_available: i32, canary_ready: bool, stable_available: i32) -> Capacity {
        Capacity {
            replicas: 4,
            total: 100,
            canary_available,
            canary_ready,
            stable_available,
            scaled_by_user: false,
        }
    }

    #[test]
    fn the_weight_moves_only_toward_a_side_that_can_carry_it() {
        let cases = [
            // (target, in force, capacity, expected, why)
            (
                60,
                20,
                cap(1, false, 4),
                20,
                "canary not ready: the previous weight holds",
            ),
            (
                60,
                20,
                cap(3, true, 4),
                60,
                "canary ready: the step's weight",
            ),
            (
                20,
                0,
                cap(0, true, 4),
                0,
                "no available canary pod: no weight",
            ),
            (
                60,
                60,
                cap(0, true, 4),
                0,
                "canary pods all gone: traffic back to stable",
            ),
            (
                0,
                75,
                cap(3, true, 4),
                0,
                "abort with a full stable: at once",
            ),
            (
                0,
                75,
                cap(3, true, 1),
                75,
                "abort, 1 of 4 stable pods: nothing moves yet",
            ),
            (
                0,
                75,
                cap(3, true, 3),
                25,
                "abort, 3 of 4 stable pods: down to 25",
            ),
            (
                0,
                75,
                cap(3, true, 2),
                50,
                "abort, 2 of 4 stable pods: down to 50",
            ),
            (
                20,
                50,
                cap(3, true, 2),
                50,
                "lower step, stable at half: 50 holds",
            ),
            (20, 50, cap(3, true, 4), 20, "lower step, full stable"),
            (50, 50, cap(2, true, 2), 50, "nothing to move"),
            (
                60,
                60,
                cap(1, true, 4),
                25,
                "canary down to 1 of 3 pods: 25 is what it carries",
            ),
            (
                60,
                60,
                cap(1, true, 2),
                50,
                "... but no lower than the stable can take",
            ),
            (60, 60, cap(2, true, 4), 50, "2 pods of 4 carry 50"),
        ];
        for (target, in_force, c, want, why) in cases {
            assert_eq!(next(target, in_force, c), want, "{why}: {c:?}");
        }
    }

    #[test]
    fn the_stable_floor_rounds_toward_safety() {
        let c = |replicas, total, stable| Capacity {
            replicas,
            total,
            canary_available: 1,
            canary_ready: true,
            stable_available: stable,
            scaled_by_user: false,
        };
        // 3 replicas, 1 stable pod carries a third: 33 would leave it 67% (needs 3 pods).
        assert_eq!(next(0, 100, c(3, 100, 1)), 67);
        assert_eq!(next(0, 100, c(3, 100, 2)), 34);
        assert_eq!(next(0, 1000, c(10, 1000, 7)), 300);
        assert_eq!(
            next(0, 100, c(0, 100, 0)),
            0,
            "no replicas: nothing to protect"
        );
        for replicas in 1..12 {
            for stable in 0..=replicas {
                let w = next(0, 100, c(replicas, 100, stable));
                assert!(
                    pods_for(replicas, 100 - w, 100) <= stable,
                    "{replicas} replicas, {stable} stable pods: weight {w}"
                );
            }
        }
    }

    #[test]
    fn a_canary_sized_by_the_user_keeps_its_weight() {
        let c = Capacity {
            scaled_by_user: true,
            ..cap(1, true, 4)
        };
        assert_eq!(next(60, 60, c), 60);
        assert_eq!(
            next(60, 20, c),
            60,
            "setCanaryScale: the user sized it for this"
        );
    }

    #[test]
    fn pods_for_a_weight_round_up() {
        assert_eq!(pods_for(10, 20, 100), 2);
        assert_eq!(pods_for(10, 5, 100), 1);
        assert_eq!(pods_for(4, 75, 100), 3);
        assert_eq!(pods_for(4, 0, 100), 0);
        assert_eq!(pods_for(3, 1000, 1000), 3);
    }
}
