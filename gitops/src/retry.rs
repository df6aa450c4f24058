//! When a failed sync is tried again (`syncPolicy.retry`): after `duration * factor^(n-1)` for
//! the n-th failure in a row (defaults 5s and 2), at most `maxDuration` (default 3m), and never
//! later than the next poll anyway; after `limit` failures (default 5; negative: unlimited)
//! only the poll tries again. Pure.

use std::time::Duration;

use rollout_rs_crds::duration;
use rollout_rs_crds::gitsync::RetryStrategy;

const DEFAULT_LIMIT: i64 = 5;
const DEFAULT_DURATION: Duration = Duration::from_secs(5);
const DEFAULT_FACTOR: i64 = 2;
const DEFAULT_MAX: Duration = Duration::from_secs(180);

/// When to look again after `failures` failed syncs in a row (at least 1), polling every
/// `interval`.
pub fn after(policy: Option<&RetryStrategy>, failures: u32, interval: Duration) -> Duration {
    let limit = policy.and_then(|p| p.limit).unwrap_or(DEFAULT_LIMIT);
    if limit >= 0 && i64::from(failures) > limit {
        return interval;
    }
    let backoff = policy.and_then(|p| p.backoff.as_ref());
    let parse = |v: Option<&String>, default| {
        v.and_then(|d| duration::parse(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(default)
    };
    let base = parse(backoff.and_then(|b| b.duration.as_ref()), DEFAULT_DURATION);
    let max = parse(backoff.and_then(|b| b.max_duration.as_ref()), DEFAULT_MAX);
    let factor = backoff
        .and_then(|b| b.factor)
        .filter(|f| *f >= 1)
        .unwrap_or(DEFAULT_FACTOR);
    let exponent = failures.saturating_sub(1).min(32);
    let multiplier = u32::try_from(factor.saturating_pow(exponent)).unwrap_or(u32::MAX);
    base.saturating_mul(multiplier).min(max).min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_rs_crds::gitsync::Backoff;

    const POLL: Duration = Duration::from_secs(180);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn defaults_double_from_five_seconds_up_to_the_poll() {
        let waits: Vec<Duration> = (1..=6).map(|n| after(None, n, POLL)).collect();
        assert_eq!(
            waits,
            [secs(5), secs(10), secs(20), secs(40), secs(80), POLL]
        );
    }

    #[test]
    fn a_policy_sets_base_factor_cap_and_limit() {
        let policy = RetryStrategy {
            limit: Some(-1),
            backoff: Some(Backoff {
                duration: Some("1s".into()),
                factor: Some(3),
                max_duration: Some("30s".into()),
            }),
        };
        let waits: Vec<Duration> = (1..=5).map(|n| after(Some(&policy), n, POLL)).collect();
        assert_eq!(waits, [secs(1), secs(3), secs(9), secs(27), secs(30)]);
        assert_eq!(after(Some(&policy), 1_000, POLL), secs(30), "no limit");
        let limited = RetryStrategy {
            limit: Some(1),
            ..policy
        };
        assert_eq!(
            after(Some(&limited), 2, POLL),
            POLL,
            "past the limit only the poll"
        );
    }

    #[test]
    fn never_later_than_the_next_poll() {
        assert_eq!(after(None, 4, secs(10)), secs(10));
    }
}
