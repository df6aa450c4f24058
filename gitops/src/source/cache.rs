//! The state of one cached repository that outlives a fetch: which remote refs were fetched to
//! which commits, which checkouts exist, and which of them are still wanted. The fetcher keeps
//! one per repository behind an async lock; this module decides, without I/O, which checkouts
//! can go.
//!
//! On disk, under the cache directory the caller chose:
//!
//! ```text
//! tmp/<kind>-<pid>-<n>/       credential files of one fetch (auth.rs), mode 0700
//! <key>/url                   the repository's redacted URL, for people reading the directory
//! <key>/repo.git/             the bare repository every GitSync on this URL shares
//! <key>/trees/<sha>/          a checkout of one commit
//! <key>/trees/.tmp-<sha>/     a checkout being written (renamed into place when complete)
//! ```
//!
//! It must not remove a checkout someone holds (a [`FetchedRevision`](super::FetchedRevision)
//! is alive) nor the latest checkout of a revision that was fetched recently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A checkout of one commit: what a [`FetchedRevision`](super::FetchedRevision) shares.
#[derive(Debug)]
pub(crate) struct Checkout {
    pub(crate) sha: String,
    pub(crate) subject: String,
    pub(crate) path: PathBuf,
}

/// How long a revision nobody fetches any more keeps its checkout: a GitSync polls every few
/// minutes, so an hour without a fetch means it is gone or its interval is long (then the
/// checkout is simply written again).
pub(crate) const RETENTION: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Default)]
pub(crate) struct RepoState {
    /// Stale locks and checkouts of an earlier process were cleared.
    pub(crate) opened: bool,
    /// Remote ref -> (the object it pointed at when last fetched, its commit): a ref whose
    /// remote object did not change needs no fetch.
    pub(crate) refs: HashMap<String, (String, String)>,
    /// Commit -> its checkout. The map holds one reference; any other is a caller's.
    pub(crate) checkouts: HashMap<String, Arc<Checkout>>,
    /// Revision as written in the spec -> (the commit it last resolved to, when).
    pub(crate) wanted: HashMap<String, (String, Instant)>,
}

impl RepoState {
    /// Forgets revisions not fetched for `retention`, then takes out of the map the checkouts
    /// that no revision wants and no caller holds. Returns their directories, to be removed.
    pub(crate) fn collect(&mut self, now: Instant, retention: Duration) -> Vec<PathBuf> {
        self.wanted
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < retention);
        let wanted: Vec<&String> = self.wanted.values().map(|(sha, _)| sha).collect();
        let doomed: Vec<String> = self
            .checkouts
            .iter()
            .filter(|(sha, checkout)| {
                // Only this map holds it; nobody can take a new reference without the lock.
                Arc::strong_count(checkout) == 1 && !wanted.contains(sha)
            })
            .map(|(sha, _)| sha.clone())
            .collect();
        doomed
            .iter()
            .filter_map(|sha| self.checkouts.remove(sha))
            .map(|checkout| checkout.path.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout(sha: &str) -> Arc<Checkout> {
        Arc::new(Checkout {
            sha: sha.into(),
            subject: String::new(),
            path: PathBuf::from(format!("/cache/k/trees/{sha}")),
        })
    }

    #[test]
    fn collects_only_unwanted_unheld_checkouts() {
        let start = Instant::now();
        let mut state = RepoState::default();
        for sha in ["a", "b", "c", "d"] {
            state.checkouts.insert(sha.into(), checkout(sha));
        }
        // main moved from a to b; v1 is at c, fetched long ago; d is held by a caller.
        state.wanted.insert("main".into(), ("b".into(), start));
        state.wanted.insert("v1".into(), ("c".into(), start));
        let held = Arc::clone(&state.checkouts["d"]);

        let mut gone = state.collect(start + Duration::from_secs(60), RETENTION);
        gone.sort();
        assert_eq!(gone, [PathBuf::from("/cache/k/trees/a")]);

        // An hour on, v1 is forgotten and its checkout goes; main was fetched again.
        state
            .wanted
            .insert("main".into(), ("b".into(), start + RETENTION));
        let gone = state.collect(start + RETENTION + Duration::from_secs(1), RETENTION);
        assert_eq!(gone, [PathBuf::from("/cache/k/trees/c")]);
        assert!(state.checkouts.contains_key("b"));
        assert!(state.checkouts.contains_key("d"), "held by a caller");

        drop(held);
        let gone = state.collect(start + RETENTION + Duration::from_secs(2), RETENTION);
        assert_eq!(gone, [PathBuf::from("/cache/k/trees/d")]);
        assert_eq!(state.checkouts.len(), 1);
    }
}
