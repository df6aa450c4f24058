//! How often a GitSync's source is polled: `spec.interval` (Go duration, default 3m) plus a
//! deterministic jitter, so that many GitSyncs created together do not all hit the Git server
//! in the same second, and a restart keeps each one's phase. Pure arithmetic.
//!
//! It must not schedule anything (the reconciler requeues) nor use a random source: the same
//! GitSync always gets the same interval.

use std::time::Duration;

use rollout_rs_crds::duration::{self, DurationError};

use super::url::fnv1a_128;

/// `spec.interval` when unset.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3 * 60);

/// The jitter is at most this fraction of the interval, in thousandths (10%).
const MAX_JITTER_PERMILLE: u128 = 100;

/// Why `spec.interval` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    #[error("spec.interval: {0}")]
    Invalid(#[from] DurationError),
    #[error("spec.interval must be greater than zero")]
    Zero,
}

/// The delay until the next poll of a GitSync: `interval` (default [`DEFAULT_INTERVAL`]) plus
/// up to 10% more, derived from `key` (the GitSync's `namespace/name`).
pub fn poll_interval(interval: Option<&str>, key: &str) -> Result<Duration, IntervalError> {
    let base = match interval {
        Some(s) => duration::parse(s)?,
        None => DEFAULT_INTERVAL,
    };
    if base.is_zero() {
        return Err(IntervalError::Zero);
    }
    // Thousandths of the interval in 0..=100, from the key alone.
    let permille = fnv1a_128(key.as_bytes()) % (MAX_JITTER_PERMILLE + 1);
    let jitter_nanos = base.as_nanos() * permille / 1000;
    let jitter = Duration::from_nanos(u64::try_from(jitter_nanos).unwrap_or(u64::MAX));
    Ok(base.saturating_add(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_with_jitter() {
        let secs = Duration::from_secs;
        // (spec.interval, key, lowest allowed, highest allowed)
        let cases = [
            (None, "default/app", secs(180), secs(198)),
            (Some("3m"), "default/app", secs(180), secs(198)),
            (Some("1m"), "team-a/web", secs(60), secs(66)),
            (Some("30s"), "team-b/api", secs(30), secs(33)),
            (Some("1h30m"), "ops/cluster", secs(5400), secs(5940)),
            (
                Some("250ms"),
                "x/y",
                Duration::from_millis(250),
                Duration::from_millis(275),
            ),
        ];
        for (interval, key, low, high) in cases {
            let got = poll_interval(interval, key).expect("valid interval");
            assert!(
                (low..=high).contains(&got),
                "{interval:?} {key}: {got:?} not in {low:?}..={high:?}"
            );
            // Deterministic: the same GitSync always gets the same delay.
            assert_eq!(poll_interval(interval, key), Ok(got));
        }
    }

    #[test]
    fn jitter_spreads_keys() {
        let delays: std::collections::BTreeSet<Duration> = (0..50)
            .map(|i| poll_interval(Some("1m"), &format!("ns/app-{i}")).expect("valid"))
            .collect();
        assert!(
            delays.len() > 20,
            "50 keys gave only {} delays",
            delays.len()
        );
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(60)));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(66)));
    }

    #[test]
    fn the_jitter_is_pinned() {
        // The exact value for one key, so a change of hash (which would shift every GitSync's
        // phase after an upgrade) is a visible decision.
        // 8.1% of 3m.
        assert_eq!(
            poll_interval(None, "default/app"),
            Ok(Duration::from_millis(194_580))
        );
    }

    #[test]
    fn rejects_bad_intervals() {
        assert_eq!(poll_interval(Some("0s"), "a/b"), Err(IntervalError::Zero));
        assert_eq!(poll_interval(Some("0"), "a/b"), Err(IntervalError::Zero));
        for bad in ["", "3", "5 m", "-1m", "1d"] {
            let err = poll_interval(Some(bad), "a/b").expect_err(bad);
            assert!(matches!(err, IntervalError::Invalid(_)), "{bad}: {err}");
            assert!(err.to_string().starts_with("spec.interval: "), "{err}");
        }
    }
}
