//! Gives memory the controllers freed back to the system once a burst of work is over.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for reuse and returns
//! little of it: after ten thousand Rollouts are listed and reconciled, or a thousand progress
//! at once, the process stays at its peak size although most of it is free (measured: 114 MiB
//! resident with 1,000 idle Rollouts, 75 MiB after `malloc_trim`). Trimming when the work
//! queues drain (and a moment has passed, so a burst is not trimmed in its middle) brings the
//! resident size back to what is in use. It never runs while nothing happens (it waits for the
//! queues, it does not poll), nor between the reconciles of work still going on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long nothing may start after a drain of the queues before the trim: long enough that
/// the next event of a burst usually comes first.
const QUIET: Duration = Duration::from_secs(2);

/// What the trim waits on: the work queues' drains, and every reconcile triggered or started.
#[derive(Default)]
pub(crate) struct Activity {
    drained: Notify,
    work: AtomicU64,
}

impl Activity {
    /// A reconcile was triggered or started.
    pub(crate) fn worked(&self) {
        self.work.fetch_add(1, Ordering::Relaxed);
    }

    /// A work queue has nothing waiting any more.
    pub(crate) fn drained(&self) {
        self.drained.notify_one();
    }

    /// Resolves once a drain is followed by `quiet` with no work at all. A trim holds the
    /// allocator's locks for as long as it walks the heap (tens of milliseconds at ten
    /// thousand Rollouts), so it must not fall between the reconciles of work still going
    /// on: analyses measuring every second drain the queues between measurements.
    async fn quiet_after_drain(&self, quiet: Duration) {
        loop {
            self.drained.notified().await;
            let before = self.work.load(Ordering::Relaxed);
            tokio::time::sleep(quiet).await;
            // Work came meanwhile: its own drain (a stored notification, if it came already)
            // starts the next wait.
            if self.work.load(Ordering::Relaxed) == before {
                return;
            }
        }
    }
}

/// Trims after each drain of the work queues followed by [`QUIET`] without work, until the
/// process ends.
pub(crate) fn after_bursts(activity: Arc<Activity>) {
    tokio::spawn(async move {
        loop {
            activity.quiet_after_drain(QUIET).await;
            // Blocking for a few milliseconds on a large heap: not on a runtime thread.
            let start = std::time::Instant::now();
            let _ = tokio::task::spawn_blocking(trim).await;
            tracing::debug!(took = ?start.elapsed(), "memory freed by a burst given back");
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes the allocator's own locks; it is safe to call at any time
    // from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test(start_paused = true)]
    async fn a_drain_then_quiet_is_the_moment_and_work_meanwhile_is_not() {
        let activity = Activity::default();
        let quiet = Duration::from_secs(2);
        // A drain, then work within the quiet time: not yet.
        let mut wait = Box::pin(activity.quiet_after_drain(quiet));
        activity.drained();
        assert!((&mut wait).now_or_never().is_none());
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.worked();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(
            (&mut wait).now_or_never().is_none(),
            "work came after the drain"
        );
        // That work's drain, then nothing: the moment, `quiet` after it.
        activity.drained();
        assert!((&mut wait).now_or_never().is_none());
        tokio::time::advance(Duration::from_millis(1_999)).await;
        assert!(
            (&mut wait).now_or_never().is_none(),
            "not before the quiet time"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!((&mut wait).now_or_never().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_happens_without_a_drain() {
        let activity = Activity::default();
        let mut wait = Box::pin(activity.quiet_after_drain(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!((&mut wait).now_or_never().is_none());
    }
}
