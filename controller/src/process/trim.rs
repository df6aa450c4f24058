//! Gives memory the controllers freed back to the system once a burst of work is over.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for reuse and returns
//! little of it: after ten thousand Rollouts are listed and reconciled, or a thousand progress
//! at once, the process stays at its peak size although most of it is free (measured: 114 MiB
//! resident with 1,000 idle Rollouts, 75 MiB after `malloc_trim`). Trimming when the work
//! queues drain (and a moment has passed, so a burst is not trimmed in its middle) brings the
//! resident size back to what is in use. It never runs while nothing happens: it waits for the
//! queues, it does not poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long the queues stay empty before the trim: long enough that the next event of a burst
/// usually comes first.
const QUIET: Duration = Duration::from_secs(2);

/// Trims after each drain of the work queues `drained` reports, until the process ends.
pub(crate) fn after_bursts(drained: Arc<Notify>) {
    tokio::spawn(async move {
        loop {
            drained.notified().await;
            tokio::time::sleep(QUIET).await;
            // Blocking for a few milliseconds on a large heap: not on a runtime thread.
            let _ = tokio::task::spawn_blocking(trim).await;
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
