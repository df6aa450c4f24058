//! [`GitCli`]: the [`Fetcher`] over the `git` command line. It owns running git (a clean
//! environment, hermetic configuration, a timeout on every command, stderr read into
//! [`FetchError`]s), the cache directory's repositories and checkouts, and the per-repository
//! lock that keeps concurrent fetches of one repository from stepping on each other.
//!
//! It must not pass a credential in an argument (see `auth`), read the user's or the system's
//! git or ssh configuration, let git prompt, or share one cache directory with another
//! process (stale lock files are removed on the assumption that nobody else holds them).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::OnceCell;

use super::auth::Session;
use super::cache::{self, Checkout, RepoState};
use super::error::{Failure, FetchError, classify, summarize};
use super::revision::{self, Resolved};
use super::url::{self, RepoUrl, redact_url};
use super::{FetchRequest, FetchedRevision, Fetcher};

/// How long one git command may run unless told otherwise (Argo CD allows 90 s too).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Variables of the controller's environment git may see: the way out (proxies) and the
/// trust store. Everything else is dropped, including any `GIT_*` and `SSH_*` and `HOME`
/// (no `~/.gitconfig`, `~/.netrc`, `~/.ssh`, credential helpers or agents).
const PASSED_ENV: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
];

/// Configuration given to every git command, whatever the system's: no credential helper
/// (which could store a password on disk), only the transports the URL parser accepts (never
/// `ext::`), no hooks, and housekeeping in the foreground, under the repository lock.
const CONFIG: &[&str] = &[
    "credential.helper=",
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.git.allow=always",
    "protocol.http.allow=always",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    "core.hooksPath=/dev/null",
    "gc.autoDetach=false",
    "maintenance.autoDetach=false",
];

/// Fetches with the `git` CLI into a cache directory. Clones share the cache and its locks;
/// create one per cache directory and process.
#[derive(Clone)]
pub struct GitCli {
    cache_dir: PathBuf,
    timeout: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    repos: Mutex<HashMap<String, Arc<tokio::sync::Mutex<RepoState>>>>,
    /// `<cache>/tmp`, emptied of an earlier process's leftovers on first use.
    tmp: OnceCell<PathBuf>,
}

impl std::fmt::Debug for GitCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCli")
            .field("cache_dir", &self.cache_dir)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl GitCli {
    /// A fetcher keeping its repositories and checkouts under `cache_dir` (created on first
    /// fetch). A relative path is taken from the current directory now.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        let cache_dir = cache_dir.into();
        let cache_dir = std::path::absolute(&cache_dir).unwrap_or(cache_dir);
        Self {
            cache_dir,
            timeout: DEFAULT_TIMEOUT,
            shared: Arc::new(Shared {
                repos: Mutex::new(HashMap::new()),
                tmp: OnceCell::new(),
            }),
        }
    }

    /// The longest any one git command may run (default 90 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    fn repo_state(&self, key: &str) -> Arc<tokio::sync::Mutex<RepoState>> {
        let mut repos = self
            .shared
            .repos
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(repos.entry(key.to_string()).or_default())
    }

    /// The private directory credential files go in; the first call removes what an earlier
    /// process left there (killed in the middle of a fetch).
    async fn tmp_root(&self) -> Result<&Path, FetchError> {
        let path = self
            .shared
            .tmp
            .get_or_try_init(|| async {
                let tmp = self.cache_dir.join("tmp");
                match tokio::fs::remove_dir_all(&tmp).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(FetchError::io("cannot clear", tmp, e)),
                }
                tokio::fs::create_dir_all(&self.cache_dir)
                    .await
                    .map_err(|e| {
                        FetchError::io("cannot create cache directory", &self.cache_dir, e)
                    })?;
                tokio::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&tmp)
                    .await
                    .map_err(|e| FetchError::io("cannot create", &tmp, e))?;
                Ok(tmp)
            })
            .await?;
        Ok(path)
    }

    async fn fetch_revision(&self, request: &FetchRequest) -> Result<FetchedRevision, FetchError> {
        let url = url::parse(&request.repo_url).map_err(|reason| FetchError::InvalidUrl {
            url: redact_url(&request.repo_url),
            reason,
        })?;
        let revision = revision::normalize(request.target_revision.as_deref());
        revision::validate(revision).map_err(|reason| FetchError::InvalidRevision {
            revision: revision.to_string(),
            reason,
        })?;
        let tmp = self.tmp_root().await?;
        let session = Session::new(tmp, &url, &request.credentials)?;
        let git = Git {
            cli: self,
            url: &url,
            session: &session,
            ls_remote_cwd: tmp,
        };

        // Asked outside the repository lock: it reads nothing local, and it is the one call
        // every poll makes, so GitSyncs on one repository do not queue for it.
        let resolved = git.resolve(revision).await?;

        let key = url::cache_key(&url);
        let state = self.repo_state(&key);
        let mut state = state.lock().await;
        let repo = self.open_repo(&key, &url, &mut state).await?;
        let git_dir = repo.git_dir();
        let sha = match resolved {
            Resolved::Ref { name, object } => {
                git.fetch_ref(&git_dir, &mut state, &name, &object, revision)
                    .await?
            }
            Resolved::Commit(sha) => {
                if !state.checkouts.contains_key(&sha) {
                    git.fetch_commit(&git_dir, &mut state, &sha, revision)
                        .await?;
                }
                sha
            }
            Resolved::Abbreviated(prefix) => {
                git.fetch_abbreviated(&git_dir, &mut state, &prefix, revision)
                    .await?
            }
        };

        let checkout = match state.checkouts.get(&sha) {
            Some(c) if tokio::fs::try_exists(&c.path).await.unwrap_or(false) => Arc::clone(c),
            _ => {
                let c = Arc::new(git.checkout(&repo, &sha).await?);
                state.checkouts.insert(sha.clone(), Arc::clone(&c));
                c
            }
        };
        let now = Instant::now();
        state
            .wanted
            .insert(revision.to_string(), (sha.clone(), now));
        for path in state.collect(now, cache::RETENTION) {
            if let Err(e) = tokio::fs::remove_dir_all(&path).await
                && e.kind() != ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove old checkout");
            }
        }
        tracing::debug!(repo = %url.url, revision, sha, "fetched");
        Ok(FetchedRevision { checkout })
    }

    /// The repository directory of `key`, created on first use. The first open in this
    /// process also drops the checkouts and lock files an earlier process left.
    async fn open_repo(
        &self,
        key: &str,
        url: &RepoUrl,
        state: &mut RepoState,
    ) -> Result<RepoDir, FetchError> {
        let repo = RepoDir {
            dir: self.cache_dir.join(key),
        };
        tokio::fs::create_dir_all(&repo.dir)
            .await
            .map_err(|e| FetchError::io("cannot create", &repo.dir, e))?;
        let url_file = repo.dir.join("url");
        let shown = url.url.trim_end_matches('/');
        match tokio::fs::read_to_string(&url_file).await {
            Ok(existing) if existing.trim().trim_end_matches('/') == shown => {}
            Ok(existing) => {
                return Err(FetchError::io(
                    "cache directory holds another repository",
                    &repo.dir,
                    std::io::Error::other(format!("it holds {}", existing.trim())),
                ));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tokio::fs::write(&url_file, format!("{shown}\n"))
                    .await
                    .map_err(|e| FetchError::io("cannot write", &url_file, e))?;
            }
            Err(e) => return Err(FetchError::io("cannot read", &url_file, e)),
        }
        let trees = repo.trees();
        if !state.opened {
            match tokio::fs::remove_dir_all(&trees).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(FetchError::io("cannot clear", &trees, e)),
            }
            remove_stale_locks(&repo.git_dir());
        }
        tokio::fs::create_dir_all(&trees)
            .await
            .map_err(|e| FetchError::io("cannot create", &trees, e))?;
        let git_dir = repo.git_dir();
        if !tokio::fs::try_exists(git_dir.join("HEAD"))
            .await
            .unwrap_or(false)
        {
            state.refs.clear();
            self.init_bare(&repo).await?;
        }
        state.opened = true;
        Ok(repo)
    }

    /// `git init --bare` into a temporary name, then renamed: a half-made repository is never
    /// taken for one.
    async fn init_bare(&self, repo: &RepoDir) -> Result<(), FetchError> {
        let git_dir = repo.git_dir();
        let tmp = repo.dir.join("repo.git.tmp");
        for dir in [&git_dir, &tmp] {
            match tokio::fs::remove_dir_all(dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(FetchError::io("cannot clear", dir, e)),
            }
        }
        let mut args: Vec<OsString> = ["init", "--bare", "--quiet", "--template="]
            .map(OsString::from)
            .to_vec();
        args.push(tmp.clone().into_os_string());
        run_git(self, &args, &[], None)
            .await
            .map_err(|f| f.into_error(&repo.dir.display().to_string(), "init", None))?;
        tokio::fs::rename(&tmp, &git_dir)
            .await
            .map_err(|e| FetchError::io("cannot create", &git_dir, e))
    }
}

impl Fetcher for GitCli {
    async fn fetch(&self, request: &FetchRequest) -> Result<FetchedRevision, FetchError> {
        self.fetch_revision(request).await
    }
}

struct RepoDir {
    dir: PathBuf,
}

impl RepoDir {
    fn git_dir(&self) -> PathBuf {
        self.dir.join("repo.git")
    }

    fn trees(&self) -> PathBuf {
        self.dir.join("trees")
    }
}

/// Lock files git leaves when it is killed (by our timeout, or with the process); with one
/// process per cache directory and the repository lock held, none of them is anyone's.
fn remove_stale_locks(git_dir: &Path) {
    fn walk(dir: &Path, recurse: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && recurse {
                walk(&path, true);
            } else if !is_dir && path.extension().is_some_and(|e| e == "lock") {
                tracing::info!(path = %path.display(), "removing stale git lock file");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    walk(git_dir, false);
    walk(&git_dir.join("refs"), true);
}

/// Git commands of one fetch: the URL (credential-free) and the session's environment.
struct Git<'a> {
    cli: &'a GitCli,
    url: &'a RepoUrl,
    session: &'a Session,
    /// A directory that is no repository, for `ls-remote`, which runs before the repository
    /// is opened.
    ls_remote_cwd: &'a Path,
}

impl Git<'_> {
    /// A command that talks to the remote: with the session's credentials.
    async fn remote(&self, args: &[OsString], cwd: Option<&Path>) -> Result<String, RunFailure> {
        run_git(self.cli, args, self.session.env(), cwd).await
    }

    fn remote_error(&self, operation: &'static str, failure: RunFailure) -> FetchError {
        failure.into_error(&self.url.url, operation, Some(self.session))
    }

    /// A command on the cached repository only: no credentials.
    async fn local(
        &self,
        args: &[OsString],
        env: &[(&'static str, OsString)],
    ) -> Result<String, RunFailure> {
        run_git(self.cli, args, env, None).await
    }

    fn local_error(&self, operation: &'static str, failure: RunFailure) -> FetchError {
        failure.into_error(&self.url.url, operation, None)
    }

    async fn resolve(&self, revision: &str) -> Result<Resolved, FetchError> {
        let mut args = os(&["ls-remote"]);
        if revision == "HEAD" {
            args.push("--symref".into());
        }
        args.push(self.url.url.clone().into());
        args.extend(
            revision::ls_remote_patterns(revision)
                .into_iter()
                .map(OsString::from),
        );
        let listing = self
            .remote(&args, Some(self.ls_remote_cwd))
            .await
            .map_err(|f| self.remote_error("ls-remote", f))?;
        revision::resolve(revision, &listing).map_err(|revision::NotFound(kind)| {
            FetchError::RevisionNotFound {
                url: self.url.url.clone(),
                revision: revision.to_string(),
                kind,
            }
        })
    }

    /// Brings a remote ref's tip into the cache (shallow) unless the remote still points
    /// where it did at the last fetch. Returns its commit.
    async fn fetch_ref(
        &self,
        git_dir: &Path,
        state: &mut RepoState,
        name: &str,
        object: &str,
        revision: &str,
    ) -> Result<String, FetchError> {
        if let Some((known, commit)) = state.refs.get(name)
            && known == object
        {
            return Ok(commit.clone());
        }
        let local = revision::local_ref(name);
        let mut args = git_dir_args(git_dir);
        args.extend(os(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--depth",
            "1",
        ]));
        args.push(self.url.url.clone().into());
        args.push(format!("+{name}:{local}").into());
        match self.remote(&args, None).await {
            Ok(_) => {}
            // Deleted between ls-remote and fetch.
            Err(RunFailure::Exit { stderr }) if classify(&stderr) == Failure::RefNotFound => {
                return Err(self.not_found(revision, "branch or tag"));
            }
            Err(f) => return Err(self.remote_error("fetch", f)),
        }
        // The ref may have moved since ls-remote: what was fetched is what counts.
        // Two revisions, so no --verify (nor --end-of-options, which rev-parse would echo);
        // `local` starts with "refs/".
        let mut args = git_dir_args(git_dir);
        args.push("rev-parse".into());
        args.push(local.clone().into());
        args.push(format!("{local}^{{commit}}").into());
        let out = self
            .local(&args, &[])
            .await
            .map_err(|f| self.local_error("rev-parse", f))?;
        let mut lines = out.lines().map(str::trim);
        let (Some(fetched), Some(commit)) = (lines.next(), lines.next()) else {
            return Err(self.unexpected("rev-parse", &out));
        };
        if !is_full_sha(commit) {
            return Err(self.unexpected("rev-parse", &out));
        }
        state
            .refs
            .insert(name.to_string(), (fetched.to_string(), commit.to_string()));
        Ok(commit.to_string())
    }

    /// Makes sure a full commit id is in the cache: asked for directly (shallow), and when
    /// the server refuses a bare id, by fetching all branches and tags.
    async fn fetch_commit(
        &self,
        git_dir: &Path,
        state: &mut RepoState,
        sha: &str,
        revision: &str,
    ) -> Result<(), FetchError> {
        if self.has_commit(git_dir, sha).await? {
            return Ok(());
        }
        let mut args = git_dir_args(git_dir);
        args.extend(os(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--depth",
            "1",
        ]));
        args.push(self.url.url.clone().into());
        args.push(sha.into());
        match self.remote(&args, None).await {
            Ok(_) => {}
            // Unknown to the server, or a server that only serves ref tips.
            Err(RunFailure::Exit { stderr })
                if matches!(classify(&stderr), Failure::RefNotFound | Failure::Other) =>
            {
                self.fetch_all(git_dir, state).await?;
            }
            Err(f) => return Err(self.remote_error("fetch", f)),
        }
        if self.has_commit(git_dir, sha).await? {
            Ok(())
        } else {
            Err(self.not_found(revision, "commit"))
        }
    }

    /// Resolves an abbreviated commit id in the cache, fetching every branch and tag first
    /// when it is not there.
    async fn fetch_abbreviated(
        &self,
        git_dir: &Path,
        state: &mut RepoState,
        prefix: &str,
        revision: &str,
    ) -> Result<String, FetchError> {
        if let Some(sha) = self.lookup_abbreviated(git_dir, prefix, revision).await? {
            return Ok(sha);
        }
        self.fetch_all(git_dir, state).await?;
        self.lookup_abbreviated(git_dir, prefix, revision)
            .await?
            .ok_or_else(|| self.not_found(revision, "commit"))
    }

    async fn lookup_abbreviated(
        &self,
        git_dir: &Path,
        prefix: &str,
        revision: &str,
    ) -> Result<Option<String>, FetchError> {
        let mut args = git_dir_args(git_dir);
        args.extend(os(&["rev-parse", "--verify", "--end-of-options"]));
        args.push(format!("{prefix}^{{commit}}").into());
        match self.local(&args, &[]).await {
            Ok(out) if is_full_sha(out.trim()) => Ok(Some(out.trim().to_string())),
            Ok(out) => Err(self.unexpected("rev-parse", &out)),
            Err(RunFailure::Exit { stderr }) if stderr.contains("ambiguous") => {
                Err(FetchError::AmbiguousRevision {
                    url: self.url.url.clone(),
                    revision: revision.to_string(),
                })
            }
            Err(RunFailure::Exit { .. }) => Ok(None),
            Err(f) => Err(self.local_error("rev-parse", f)),
        }
    }

    /// Every branch and tag with its whole history: what it takes to find a commit by id
    /// on a server that will not serve it directly.
    async fn fetch_all(&self, git_dir: &Path, state: &mut RepoState) -> Result<(), FetchError> {
        let mut args = git_dir_args(git_dir);
        args.extend(os(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
        ]));
        // Commits cut off by earlier shallow fetches would otherwise stay missing.
        if tokio::fs::try_exists(git_dir.join("shallow"))
            .await
            .unwrap_or(false)
        {
            args.push("--unshallow".into());
        }
        args.push(self.url.url.clone().into());
        args.push("+refs/heads/*:refs/rollout-rs/heads/*".into());
        args.push("+refs/tags/*:refs/rollout-rs/tags/*".into());
        self.remote(&args, None)
            .await
            .map_err(|f| self.remote_error("fetch", f))?;
        // The fetched refs may have moved: the next fetch of each ref looks again.
        state.refs.clear();
        Ok(())
    }

    async fn has_commit(&self, git_dir: &Path, sha: &str) -> Result<bool, FetchError> {
        let mut args = git_dir_args(git_dir);
        args.extend(os(&["cat-file", "-e", "--end-of-options"]));
        args.push(format!("{sha}^{{commit}}").into());
        match self.local(&args, &[]).await {
            Ok(_) => Ok(true),
            Err(RunFailure::Exit { .. }) => Ok(false),
            Err(f) => Err(self.local_error("cat-file", f)),
        }
    }

    /// Writes the tree of `sha` into `trees/<sha>` through a private index, so the bare
    /// repository's own state is never touched and no `.git` ends up in the checkout.
    async fn checkout(&self, repo: &RepoDir, sha: &str) -> Result<Checkout, FetchError> {
        let git_dir = repo.git_dir();
        let trees = repo.trees();
        let tmp = trees.join(format!(".tmp-{sha}"));
        let index = trees.join(format!(".index-{sha}"));
        let path = trees.join(sha);
        for dir in [&tmp, &path] {
            match tokio::fs::remove_dir_all(dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(FetchError::io("cannot clear", dir, e)),
            }
        }
        let _ = tokio::fs::remove_file(&index).await;
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(|e| FetchError::io("cannot create", &tmp, e))?;

        let mut args = git_dir_args(&git_dir);
        args.push(format!("--work-tree={}", tmp.display()).into());
        args.extend(os(&["read-tree", "--reset", "-u"]));
        args.push(sha.into());
        let read = self
            .local(&args, &[("GIT_INDEX_FILE", index.clone().into_os_string())])
            .await;
        let _ = tokio::fs::remove_file(&index).await;
        read.map_err(|f| self.local_error("read-tree", f))?;

        let mut args = git_dir_args(&git_dir);
        args.extend(os(&["cat-file", "commit", sha]));
        let commit = self
            .local(&args, &[])
            .await
            .map_err(|f| self.local_error("cat-file", f))?;

        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| FetchError::io("cannot create", &path, e))?;
        Ok(Checkout {
            sha: sha.to_string(),
            subject: subject(&commit),
            path,
        })
    }

    fn not_found(&self, revision: &str, kind: &'static str) -> FetchError {
        FetchError::RevisionNotFound {
            url: self.url.url.clone(),
            revision: revision.to_string(),
            kind,
        }
    }

    fn unexpected(&self, operation: &'static str, out: &str) -> FetchError {
        FetchError::Git {
            url: self.url.url.clone(),
            operation,
            detail: format!(
                "unexpected output {:?}",
                out.chars().take(200).collect::<String>()
            ),
        }
    }
}

/// The first line of a commit's message, from `git cat-file commit` (headers, a blank line,
/// the message).
fn subject(raw_commit: &str) -> String {
    raw_commit
        .split_once("\n\n")
        .map(|(_, message)| message)
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

fn is_full_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn git_dir_args(git_dir: &Path) -> Vec<OsString> {
    let mut arg = OsString::from("--git-dir=");
    arg.push(git_dir);
    vec![arg]
}

/// How a git command failed, before the URL and operation give it words.
enum RunFailure {
    Timeout(Duration),
    Spawn(std::io::Error),
    Exit { stderr: String },
}

impl RunFailure {
    fn into_error(
        self,
        url: &str,
        operation: &'static str,
        session: Option<&Session>,
    ) -> FetchError {
        let url = url.to_string();
        let stderr = match self {
            RunFailure::Timeout(after) => {
                return FetchError::Timeout {
                    url,
                    operation,
                    after,
                };
            }
            RunFailure::Spawn(source) => return FetchError::GitUnavailable { source },
            RunFailure::Exit { stderr } => stderr,
        };
        let secrets = session.map(Session::secrets).unwrap_or_default();
        let detail = summarize(&stderr, &secrets);
        let has_credentials = session.is_some_and(|s| s.has_credentials);
        match classify(&stderr) {
            Failure::RepositoryNotFound => FetchError::RepositoryNotFound { url, detail },
            Failure::Unreachable => FetchError::Unreachable { url, detail },
            Failure::HostKey => FetchError::HostKeyVerificationFailed { url, detail },
            Failure::Authentication => {
                let reason = match (has_credentials, url.starts_with("http")) {
                    (false, true) => format!(
                        "the repository needs credentials: set spec.source.secretRef to a Secret with username and password (or a token as password) ({detail})"
                    ),
                    (false, false) => format!(
                        "the server wants an ssh key: add sshPrivateKey to the Secret ({detail})"
                    ),
                    (true, _) => {
                        format!("the server rejected the credentials of the Secret ({detail})")
                    }
                };
                FetchError::AuthenticationFailed { url, reason }
            }
            Failure::RefNotFound | Failure::Other => FetchError::Git {
                url,
                operation,
                detail,
            },
        }
    }
}

/// Runs one git command in a clean environment with the hermetic configuration and the
/// fetcher's timeout; stdout on success.
async fn run_git(
    cli: &GitCli,
    args: &[OsString],
    env: &[(&'static str, OsString)],
    cwd: Option<&Path>,
) -> Result<String, RunFailure> {
    let mut cmd = Command::new("git");
    for config in CONFIG {
        cmd.arg("-c").arg(config);
    }
    cmd.args(args);
    cmd.env_clear();
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("LC_ALL", "C")
        .env("LANG", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Repository discovery never climbs out of the cache directory.
        .env("GIT_CEILING_DIRECTORIES", &cli.cache_dir);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.current_dir(cwd.unwrap_or(&cli.cache_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let operation = args
        .iter()
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with("--git-dir") && !a.starts_with("--work-tree"))
        .unwrap_or_default()
        .into_owned();
    let started = Instant::now();
    let child = cmd.spawn().map_err(RunFailure::Spawn)?;
    // On timeout the child is dropped, and kill_on_drop ends it.
    let output = tokio::time::timeout(cli.timeout, child.wait_with_output())
        .await
        .map_err(|_| RunFailure::Timeout(cli.timeout))?
        .map_err(RunFailure::Spawn)?;
    tracing::trace!(operation, elapsed = ?started.elapsed(), status = %output.status, "git");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(RunFailure::Exit {
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subject() {
        let raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@a> 1 +0000\ncommitter a <a@a> 1 +0000\n\nthird: files\nmore\n\nbody\n";
        assert_eq!(subject(raw), "third: files");
        let raw = "tree x\nauthor a\n\n\n  spaced subject  \n";
        assert_eq!(subject(raw), "spaced subject");
        assert_eq!(subject("tree x\n"), "");
    }

    #[test]
    fn full_shas() {
        assert!(is_full_sha("62e343360fb6e06350449668067eca3efed40d55"));
        assert!(!is_full_sha("62e3433"));
        assert!(!is_full_sha("zz e343360fb6e06350449668067eca3efed40d55"));
    }
}
