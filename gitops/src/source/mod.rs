//! The source of a GitSync: a revision of a Git repository, fetched and checked out into a
//! directory the renderer reads. [`Fetcher`] is what the reconciler depends on (a fake in its
//! tests); [`GitCli`] implements it with the `git` command line over file://, local paths,
//! git://, http(s) with a username and password or token, and ssh with a key.
//!
//! It owns the cache of repositories (one bare clone per URL, shared by every GitSync on it,
//! fetched under a per-repository lock), the resolution of `targetRevision`, the checkouts,
//! the credentials handed to git for one fetch, and the poll interval arithmetic.
//!
//! It must not: read Secrets or any Kubernetes object (the caller passes [`Credentials`]),
//! schedule polls, render or apply anything, or let a credential reach a URL, a process
//! argument, a log line or an error.

mod auth;
mod cache;
mod cli;
mod error;
mod interval;
mod revision;
mod url;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rollout_rs_crds::gitsync::GitSource;

pub use auth::Credentials;
pub use cli::GitCli;
pub use error::FetchError;
pub use interval::{DEFAULT_INTERVAL, IntervalError, poll_interval};
pub use url::redact_url;

/// Fetches a revision of a repository.
pub trait Fetcher: Send + Sync {
    /// Resolves `request.target_revision` on the remote, brings the commit into the cache if
    /// it is not there yet, and checks its tree out. Every call asks the remote with the
    /// request's credentials, so access is checked even when the commit is cached.
    fn fetch(
        &self,
        request: &FetchRequest,
    ) -> impl Future<Output = Result<FetchedRevision, FetchError>> + Send;
}

/// What to fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchRequest {
    /// `spec.source.repoURL`.
    pub repo_url: String,
    /// `spec.source.targetRevision`: a branch, a tag, a full ref (`refs/...`), a full or
    /// abbreviated commit id; unset or "HEAD" for the remote's default branch. A branch wins
    /// over a tag of the same name.
    pub target_revision: Option<String>,
    /// From the Secret named by `spec.source.secretRef`; empty when there is none.
    pub credentials: Credentials,
}

impl FetchRequest {
    pub fn new(source: &GitSource, credentials: Credentials) -> Self {
        Self {
            repo_url: source.repo_url.clone(),
            target_revision: source.target_revision.clone(),
            credentials,
        }
    }
}

/// A fetched commit and its checkout. The directory stays as long as this value (or a clone)
/// is alive, and afterwards for as long as it is the latest commit of a revision fetched
/// within the last hour; then the next fetch of the repository removes it.
#[derive(Clone, Debug)]
pub struct FetchedRevision {
    checkout: Arc<cache::Checkout>,
}

impl FetchedRevision {
    /// A revision checked out elsewhere, for fakes of [`Fetcher`]; nothing removes `path`.
    pub fn new(
        sha: impl Into<String>,
        subject: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            checkout: Arc::new(cache::Checkout {
                sha: sha.into(),
                subject: subject.into(),
                path: path.into(),
            }),
        }
    }

    /// The full commit id (lower-case hex).
    pub fn sha(&self) -> &str {
        &self.checkout.sha
    }

    /// The first line of the commit message.
    pub fn subject(&self) -> &str {
        &self.checkout.subject
    }

    /// The tree of the commit (no `.git` inside). Read it, do not write it: GitSyncs on the
    /// same commit share it.
    pub fn path(&self) -> &Path {
        &self.checkout.path
    }
}
