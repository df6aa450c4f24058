//! When to try a failed reconcile again, per object: exponentially later with jitter, up to a
//! cap, back to the shortest delay after a success. A fixed delay hammers an API server that is
//! struggling and makes every failing object retry in lockstep. Also how many times in a row an
//! object failed, so a single transient error is retried quietly and only one that persists is
//! reported where users look. Holds no I/O.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use crate::per_object::PerObject;

/// The first retry comes after about this long (jitter adds up to as much again).
const FIRST: Duration = Duration::from_millis(500);
/// Retries are never further apart than this.
const CAP: Duration = Duration::from_secs(300);

/// Failures in a row of one object, and its next delays.
struct Failing {
    count: u32,
    delays: ExponentialBackoff,
}

/// Retry state of every object that is failing now, keyed by uid.
#[derive(Default)]
pub(crate) struct Retries(PerObject<Failing>);

impl Retries {
    /// Records a failure of `uid`; returns how long to wait before the next try.
    pub(crate) fn failed(&self, uid: &str) -> Duration {
        let mut all = self.0.lock();
        let failing = all.entry(uid.to_string()).or_insert_with(|| Failing {
            count: 0,
            delays: ExponentialBuilder::new()
                .with_min_delay(FIRST)
                .with_max_delay(CAP)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build(),
        });
        failing.count += 1;
        failing.delays.next().unwrap_or(CAP).min(CAP)
    }

    /// Failures of `uid` in a row before this attempt.
    pub(crate) fn failures(&self, uid: &str) -> u32 {
        self.0.lock().get(uid).map_or(0, |f| f.count)
    }

    /// `uid` succeeded, or is gone: its next failure starts from the shortest delay.
    pub(crate) fn forget(&self, uid: &str) {
        self.0.forget(uid);
    }

    /// Forgets every object but these (after a relist, when deletions were missed).
    pub(crate) fn keep_only(&self, live: &std::collections::HashSet<String>) {
        self.0.keep_only(live);
    }
}

/// Whether an API error may go away by itself: the server is overloaded, unavailable or timed
/// out, or the connection failed. Such errors are retried without being reported at first.
pub(crate) fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap_and_start_over_after_a_success() {
        let r = Retries::default();
        let first = r.failed("a");
        assert!(first >= FIRST && first <= FIRST * 2, "{first:?}");
        let mut last = first;
        for _ in 0..20 {
            last = r.failed("a");
        }
        assert!(last >= CAP / 2 && last <= CAP, "{last:?}");
        assert_eq!(r.failures("a"), 21);
        assert_eq!(r.failures("b"), 0, "per object");
        r.forget("a");
        assert_eq!(r.failures("a"), 0);
        assert!(r.failed("a") <= FIRST * 2);
    }

    #[test]
    fn only_server_side_and_connection_errors_are_transient() {
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(transient(&api(503)));
        assert!(transient(&api(429)));
        assert!(!transient(&api(404)));
        assert!(!transient(&api(422)));
    }
}
