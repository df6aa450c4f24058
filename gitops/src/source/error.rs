//! What can go wrong fetching a revision, in words a user acts on, and the reading of git's
//! stderr into those words.
//!
//! It must not carry a credential: every URL in here is redacted, and git's own messages are
//! passed through [`redact_text`] and scrubbed of the secrets of the fetch before they are kept.

use std::path::PathBuf;
use std::time::Duration;

use super::url::redact_text;

/// Why a fetch failed. Every `url` is shown without credentials.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid repository URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid targetRevision {revision:?}: {reason}")]
    InvalidRevision {
        revision: String,
        reason: &'static str,
    },
    #[error("credentials for {url}: {reason}")]
    InvalidCredentials { url: String, reason: &'static str },
    #[error("repository {url} not found: {detail}")]
    RepositoryNotFound { url: String, detail: String },
    #[error("repository {url} is not reachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("authentication failed for {url}: {reason}")]
    AuthenticationFailed { url: String, reason: String },
    #[error(
        "host key verification failed for {url}: the server's key is not in knownHosts, or it changed ({detail})"
    )]
    HostKeyVerificationFailed { url: String, detail: String },
    /// `kind` is "branch or tag", "commit", "ref" or "default branch".
    #[error("{kind} '{revision}' not found in {url}")]
    RevisionNotFound {
        url: String,
        revision: String,
        kind: &'static str,
    },
    #[error("abbreviated commit '{revision}' is ambiguous in {url}: give more characters")]
    AmbiguousRevision { url: String, revision: String },
    #[error("git {operation} of {url} timed out after {}s", after.as_secs())]
    Timeout {
        url: String,
        operation: &'static str,
        after: Duration,
    },
    #[error("git {operation} of {url} failed: {detail}")]
    Git {
        url: String,
        operation: &'static str,
        detail: String,
    },
    #[error("cannot run git (is the git CLI installed and on PATH?): {source}")]
    GitUnavailable { source: std::io::Error },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FetchError {
    /// Worth retrying soon without a change of spec or Secret: the network, the server, a
    /// timeout, the local disk. Bad URLs, revisions and credentials are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Git { .. }
                | Self::GitUnavailable { .. }
                | Self::Io { .. }
        )
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// What git's stderr says went wrong, before it is given a URL and context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    RepositoryNotFound,
    Authentication,
    HostKey,
    Unreachable,
    /// The remote has no such ref or object (fetch of a deleted ref or an unknown SHA).
    RefNotFound,
    Other,
}

/// Reads git's stderr (run with `LC_ALL=C`, so in English). The order matters: a 401 is also
/// "unable to access", and a missing local repository is also "could not read from remote".
pub(crate) fn classify(stderr: &str) -> Failure {
    let s = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if any(&[
        "host key verification failed",
        "remote host identification has changed",
        "no ed25519 host key is known",
        "no rsa host key is known",
        "no ecdsa host key is known",
    ]) {
        Failure::HostKey
    } else if any(&[
        "authentication failed",
        "terminal prompts disabled",
        "could not read username",
        "could not read password",
        "permission denied (publickey",
        "permission denied, please try again",
        "access denied",
        "invalid username or password",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
    ]) {
        Failure::Authentication
    } else if any(&[
        "does not appear to be a git repository",
        "repository not found",
        "the requested url returned error: 404",
        "not a git repository",
        "no such repository",
    ]) || (s.contains("repository '") && s.contains("' not found"))
    {
        Failure::RepositoryNotFound
    } else if any(&[
        "couldn't find remote ref",
        "not our ref",
        "unadvertised object",
        "no such remote ref",
        "remote error: upload-pack: not our ref",
    ]) {
        Failure::RefNotFound
    } else if any(&[
        "could not resolve host",
        "couldn't resolve host",
        "name or service not known",
        "temporary failure in name resolution",
        "connection refused",
        "couldn't connect to server",
        "failed to connect",
        "connection timed out",
        "operation timed out",
        "network is unreachable",
        "no route to host",
        "connection reset",
        "ssl certificate problem",
        "unable to access",
        "could not read from remote repository",
        "the remote end hung up unexpectedly",
        "returned error: 5",
    ]) {
        Failure::Unreachable
    } else {
        Failure::Other
    }
}

/// The lines of git's stderr worth showing a user (`fatal:`, `error:`, `remote:`, ssh's own),
/// without prefixes, hints and progress, redacted and scrubbed of `secrets`, at most ~300
/// characters.
pub(crate) fn summarize(stderr: &str, secrets: &[&str]) -> String {
    const MAX: usize = 300;
    let mut lines: Vec<&str> = Vec::new();
    for line in stderr.lines().map(str::trim) {
        let lower = line.to_ascii_lowercase();
        if line.is_empty()
            || lower.starts_with("hint:")
            || lower.starts_with("warning: permanently added")
            || lower.starts_with("please make sure you have")
            || lower.starts_with("and the repository exists")
            || lower.starts_with("from ")
            || lower.starts_with("remote: counting")
            || lower.starts_with("remote: compressing")
            || lower.starts_with("remote: enumerating")
            || lower.starts_with("remote: total")
        {
            continue;
        }
        let line = ["fatal: ", "error: ", "ERROR: "]
            .iter()
            .find_map(|p| line.strip_prefix(p))
            .unwrap_or(line);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let mut text = redact_text(&lines.join("; "));
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "***");
    }
    if text.is_empty() {
        return "git gave no reason".into();
    }
    if text.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_git_stderr() {
        let cases = [
            (
                "fatal: '/tmp/gx/nope' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n",
                Failure::RepositoryNotFound,
            ),
            (
                "remote: Repository not found.\nfatal: repository 'https://github.com/o/r.git/' not found\n",
                Failure::RepositoryNotFound,
            ),
            (
                "ERROR: Repository not found.\nfatal: Could not read from remote repository.\n",
                Failure::RepositoryNotFound,
            ),
            (
                "fatal: unable to access 'http://127.0.0.1:1/x/': The requested URL returned error: 404\n",
                Failure::RepositoryNotFound,
            ),
            (
                "fatal: Authentication failed for 'http://127.0.0.1:4000/r.git/'\n",
                Failure::Authentication,
            ),
            (
                "fatal: could not read Username for 'https://github.com': terminal prompts disabled\n",
                Failure::Authentication,
            ),
            (
                "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n",
                Failure::Authentication,
            ),
            (
                "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://gitlab.com/o/r.git/'\n",
                Failure::Authentication,
            ),
            (
                "fatal: unable to access 'https://h/r/': The requested URL returned error: 403\n",
                Failure::Authentication,
            ),
            (
                "Host key verification failed.\nfatal: Could not read from remote repository.\n",
                Failure::HostKey,
            ),
            (
                "fatal: unable to access 'http://127.0.0.1:1/x/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server\n",
                Failure::Unreachable,
            ),
            (
                "fatal: unable to access 'https://github.com/o/r.git/': Could not resolve host: github.com\n",
                Failure::Unreachable,
            ),
            (
                "ssh: connect to host 127.0.0.1 port 1: Connection refused\nfatal: Could not read from remote repository.\n",
                Failure::Unreachable,
            ),
            (
                "fatal: unable to access 'https://h/r/': SSL certificate problem: self-signed certificate\n",
                Failure::Unreachable,
            ),
            (
                "fatal: couldn't find remote ref refs/heads/gone\n",
                Failure::RefNotFound,
            ),
            (
                "fatal: remote error: upload-pack: not our ref 1234567890123456789012345678901234567890\n",
                Failure::RefNotFound,
            ),
            (
                "error: Server does not allow request for unadvertised object 1234567\n",
                Failure::RefNotFound,
            ),
            ("fatal: out of memory\n", Failure::Other),
            ("", Failure::Other),
        ];
        for (stderr, want) in cases {
            assert_eq!(classify(stderr), want, "{stderr}");
        }
    }

    #[test]
    fn summaries_keep_the_reason_and_drop_the_rest() {
        let stderr = "fatal: '/tmp/nope' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            summarize(stderr, &[]),
            "'/tmp/nope' does not appear to be a git repository; Could not read from remote repository."
        );
        let leaky = "fatal: unable to access 'https://bob:hunter2@h/r/': hunter2 rejected\nhint: try again\n";
        let got = summarize(leaky, &["hunter2"]);
        assert!(!got.contains("hunter2"), "{got}");
        assert!(!got.contains("bob"), "{got}");
        assert!(!got.contains("hint"), "{got}");
        assert_eq!(summarize("", &[]), "git gave no reason");
        let long = format!("fatal: {}", "é".repeat(400));
        let got = summarize(&long, &[]);
        assert!(got.len() <= 304 && got.ends_with('…'), "{}", got.len());
    }

    #[test]
    fn messages_name_what_failed() {
        let e = FetchError::RevisionNotFound {
            url: "file:///srv/r".into(),
            revision: "nope".into(),
            kind: "branch or tag",
        };
        assert_eq!(
            e.to_string(),
            "branch or tag 'nope' not found in file:///srv/r"
        );
        assert!(!e.is_transient());
        let e = FetchError::Timeout {
            url: "https://h/r".into(),
            operation: "fetch",
            after: Duration::from_secs(90),
        };
        assert_eq!(
            e.to_string(),
            "git fetch of https://h/r timed out after 90s"
        );
        assert!(e.is_transient());
    }
}
