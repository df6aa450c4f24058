//! Credentials for one fetch and how git receives them: http(s) user and password through a
//! `GIT_ASKPASS` script that reads them from the environment of the git process, ssh key and
//! known_hosts through files named in `GIT_SSH_COMMAND` with strict host key checking.
//!
//! It owns the private directory those files live in (mode 0700, files 0700/0600) and removes
//! it when the fetch is over. It must not put a secret in a URL, a process argument, a file
//! other than the ssh key (which ssh can only read from a file), a log or an error.

use std::ffi::OsString;
use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::FetchError;
use super::url::{RepoUrl, Transport};

/// What a GitSync's Secret holds, read elsewhere. Every field is optional; which ones are
/// used depends on the URL: `username`/`password` for http(s) (a token goes in `password`;
/// the user name then defaults to `git`), `ssh_private_key`/`known_hosts` for ssh.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    /// An unencrypted private key in OpenSSH or PEM format.
    pub ssh_private_key: Option<String>,
    /// Lines of an OpenSSH known_hosts file; required for ssh.
    pub known_hosts: Option<String>,
}

impl fmt::Debug for Credentials {
    // Says which fields are set, never what they hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Credentials")
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .field("ssh_private_key", &set(&self.ssh_private_key))
            .field("known_hosts", &set(&self.known_hosts))
            .finish()
    }
}

/// The variables the askpass script reads; set on the git process only.
const USERNAME_VAR: &str = "ROLLOUT_RS_GIT_USERNAME";
const PASSWORD_VAR: &str = "ROLLOUT_RS_GIT_PASSWORD";
const HOST_VAR: &str = "ROLLOUT_RS_GIT_HOST";

/// Holds no secret: git runs it with the prompt as its argument ("Username for
/// 'https://host': ", "Password for 'https://user@host': ") and reads the answer from its
/// stdout. It answers only for the repository's own host: a redirect to another server that
/// asks for credentials gets none.
const ASKPASS_SCRIPT: &str = r#"#!/bin/sh
# rollout-rs: answers git's credential prompts from this process's environment.
case "$1" in
*"//$ROLLOUT_RS_GIT_HOST'"* | *"@$ROLLOUT_RS_GIT_HOST'"*) ;;
*) exit 1 ;;
esac
case "$1" in
Username*) printf '%s\n' "$ROLLOUT_RS_GIT_USERNAME" ;;
*) printf '%s\n' "$ROLLOUT_RS_GIT_PASSWORD" ;;
esac
"#;

/// The user name sent with a password-only (token) Secret: GitHub, GitLab and Gitea accept any
/// non-empty name with a token.
const TOKEN_USERNAME: &str = "git";

/// How git authenticates during one fetch: environment variables for the git processes that
/// talk to the remote, and the files they name, removed on drop.
pub(crate) struct Session {
    env: Vec<(&'static str, OsString)>,
    /// Strings scrubbed from anything git prints.
    secrets: Vec<String>,
    /// Whether the caller gave credentials for this transport (changes the advice on a 401).
    pub(crate) has_credentials: bool,
    _dir: Option<PrivateDir>,
}

impl Session {
    /// Prepares the credentials that apply to `url`'s transport; writes its files under
    /// `tmp_root` (which must exist and be private).
    pub(crate) fn new(
        tmp_root: &Path,
        url: &RepoUrl,
        credentials: &Credentials,
    ) -> Result<Self, FetchError> {
        let mut session = Session {
            env: Vec::new(),
            secrets: Vec::new(),
            has_credentials: false,
            _dir: None,
        };
        match url.transport {
            Transport::Http => {
                let password = credentials
                    .password
                    .clone()
                    .or_else(|| url.inline_password.clone());
                let username = credentials
                    .username
                    .clone()
                    .or_else(|| url.inline_username.clone());
                if password.is_none() && username.is_none() {
                    return Ok(session);
                }
                let username = username.unwrap_or_else(|| TOKEN_USERNAME.to_string());
                let password = password.unwrap_or_default();
                let dir = PrivateDir::create(tmp_root, "askpass")?;
                let script = dir.path.join("askpass.sh");
                write_private(&script, ASKPASS_SCRIPT, 0o700)?;
                session.env.push(("GIT_ASKPASS", script.into_os_string()));
                session.env.push((USERNAME_VAR, username.clone().into()));
                session.env.push((PASSWORD_VAR, password.clone().into()));
                session.env.push((HOST_VAR, url.host().into()));
                // A user name without a password is a token (`https://TOKEN@host/...`).
                if password.is_empty() {
                    session.secrets.push(username);
                } else {
                    session.secrets.push(password);
                }
                session.has_credentials = true;
                session._dir = Some(dir);
            }
            Transport::Ssh => {
                let Some(known_hosts) = credentials.known_hosts.as_deref() else {
                    return Err(FetchError::InvalidCredentials {
                        url: url.url.clone(),
                        reason: "ssh needs knownHosts in the Secret (the server's host keys, e.g. from ssh-keyscan); host keys are never accepted blindly",
                    });
                };
                let dir = PrivateDir::create(tmp_root, "ssh")?;
                let known_hosts_file = dir.path.join("known_hosts");
                write_private(&known_hosts_file, &with_newline(known_hosts), 0o600)?;
                let key_file = match credentials.ssh_private_key.as_deref() {
                    Some(key) => {
                        let path = dir.path.join("id");
                        write_private(&path, &with_newline(key), 0o600)?;
                        session.secrets.push(key.trim().to_string());
                        Some(path)
                    }
                    None => None,
                };
                session.env.push((
                    "GIT_SSH_COMMAND",
                    ssh_command(&known_hosts_file, key_file.as_deref()).into(),
                ));
                session.env.push(("GIT_SSH_VARIANT", "ssh".into()));
                session.has_credentials = key_file.is_some();
                session._dir = Some(dir);
            }
            Transport::Git | Transport::File => {}
        }
        Ok(session)
    }

    pub(crate) fn env(&self) -> &[(&'static str, OsString)] {
        &self.env
    }

    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }
}

/// The ssh command line git runs: this fetch's key and known_hosts only, no user or system
/// configuration, no agent, no prompt, and an unknown or changed host key is a failure.
fn ssh_command(known_hosts: &Path, key: Option<&Path>) -> String {
    let mut cmd = String::from(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none \
         -o PasswordAuthentication=no -o ConnectTimeout=30 -o LogLevel=ERROR",
    );
    cmd.push_str(" -o UserKnownHostsFile=");
    cmd.push_str(&shell_quote(&known_hosts.to_string_lossy()));
    if let Some(key) = key {
        cmd.push_str(" -i ");
        cmd.push_str(&shell_quote(&key.to_string_lossy()));
    }
    cmd
}

/// Git runs `GIT_SSH_COMMAND` through the shell: the paths (under a cache directory the
/// operator chose) are quoted.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// ssh refuses a key without its final newline.
fn with_newline(s: &str) -> String {
    let mut s = s.replace("\r\n", "\n");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn write_private(path: &Path, content: &str, mode: u32) -> Result<(), FetchError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|e| FetchError::io("cannot write credential file", path, e))
}

/// A directory only this user can enter, removed with everything in it on drop.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn create(root: &Path, prefix: &str) -> Result<Self, FetchError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = root.join(format!("{prefix}-{}-{n}", std::process::id()));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                // Left by an earlier process with the same pid: take the next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // The cache directory was emptied under us: make the root again, private.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !root.exists() => {
                    DirBuilder::new()
                        .mode(0o700)
                        .recursive(true)
                        .create(root)
                        .map_err(|e| FetchError::io("cannot create", root, e))?;
                }
                Err(e) => {
                    return Err(FetchError::io("cannot create private directory", path, e));
                }
            }
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove credential files");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::source::url;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rollout-rs-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn http_credentials_go_through_askpass_and_the_environment() {
        let root = temp_root("http");
        let url = url::parse("https://example.com/r.git").expect("url");
        let creds = Credentials {
            password: Some("s3cret-token".into()),
            ..Default::default()
        };
        let session = Session::new(&root, &url, &creds).expect("session");
        let env: Vec<(&str, String)> = session
            .env()
            .iter()
            .map(|(k, v)| (*k, v.to_string_lossy().into_owned()))
            .collect();
        let askpass = &env
            .iter()
            .find(|(k, _)| *k == "GIT_ASKPASS")
            .expect("askpass")
            .1;
        let askpass = PathBuf::from(askpass);
        assert_eq!(mode(&askpass), 0o700);
        let dir = askpass.parent().expect("dir").to_path_buf();
        assert_eq!(mode(&dir), 0o700);
        let script = std::fs::read_to_string(&askpass).expect("script");
        assert!(!script.contains("s3cret-token"));
        assert!(env.contains(&(PASSWORD_VAR, "s3cret-token".into())));
        assert!(env.contains(&(USERNAME_VAR, TOKEN_USERNAME.into())));
        assert!(session.has_credentials);
        assert_eq!(session.secrets(), ["s3cret-token"]);
        drop(session);
        assert!(!dir.exists(), "credential files are removed");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_askpass_script_answers_only_its_own_host() {
        let root = temp_root("script");
        let url = url::parse("http://127.0.0.1:8080/r.git").expect("url");
        let creds = Credentials {
            username: Some("alice".into()),
            password: Some("it's a $ecret".into()),
            ..Default::default()
        };
        let session = Session::new(&root, &url, &creds).expect("session");
        let ask = |prompt: &str| {
            let mut cmd = std::process::Command::new(
                session
                    .env()
                    .iter()
                    .find(|(k, _)| *k == "GIT_ASKPASS")
                    .map(|(_, v)| v.clone())
                    .expect("askpass"),
            );
            cmd.arg(prompt).env_clear();
            for (k, v) in session.env() {
                cmd.env(k, v);
            }
            let out = cmd.output().expect("run askpass");
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        };
        assert_eq!(
            ask("Username for 'http://127.0.0.1:8080': ").as_deref(),
            Some("alice\n")
        );
        assert_eq!(
            ask("Password for 'http://alice@127.0.0.1:8080': ").as_deref(),
            Some("it's a $ecret\n")
        );
        assert_eq!(ask("Username for 'http://evil.example': "), None);
        assert_eq!(ask("Password for 'http://alice@127.0.0.1:80801': "), None);
        assert_eq!(ask("Password for 'http://alice@127.0.0.1': "), None);
        drop(session);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn inline_url_credentials_are_used_when_no_secret_is_given() {
        let root = temp_root("inline");
        let url = url::parse("https://alice:pw@example.com/r.git").expect("url");
        let session = Session::new(&root, &url, &Credentials::default()).expect("session");
        let get = |name: &str| {
            session
                .env()
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get(USERNAME_VAR).as_deref(), Some("alice"));
        assert_eq!(get(PASSWORD_VAR).as_deref(), Some("pw"));
        let none = url::parse("https://example.com/r.git").expect("url");
        let anonymous = Session::new(&root, &none, &Credentials::default()).expect("session");
        assert!(anonymous.env().is_empty() && !anonymous.has_credentials);
        drop(session);
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn ssh_uses_private_files_and_strict_host_keys() {
        let root = temp_root("ssh");
        let url = url::parse("ssh://git@example.com/r.git").expect("url");
        let missing = Session::new(&root, &url, &Credentials::default());
        assert!(
            matches!(missing, Err(FetchError::InvalidCredentials { .. })),
            "{:?}",
            missing.err()
        );
        let creds = Credentials {
            ssh_private_key: Some(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
                    .into(),
            ),
            known_hosts: Some("example.com ssh-ed25519 AAAAC3Nza".into()),
            ..Default::default()
        };
        let session = Session::new(&root, &url, &creds).expect("session");
        let cmd = session
            .env()
            .iter()
            .find(|(k, _)| *k == "GIT_SSH_COMMAND")
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .expect("ssh command");
        assert!(cmd.contains("StrictHostKeyChecking=yes"), "{cmd}");
        assert!(cmd.contains("BatchMode=yes"), "{cmd}");
        assert!(!cmd.contains("BEGIN OPENSSH"), "{cmd}");
        let dir = std::fs::read_dir(&root)
            .expect("root")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ssh-"))
            })
            .expect("ssh dir");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("id")), 0o600);
        assert_eq!(mode(&dir.join("known_hosts")), 0o600);
        let key = std::fs::read_to_string(dir.join("id")).expect("key");
        assert!(key.ends_with("-----\n"), "the key ends with a newline");
        assert!(
            cmd.contains(&format!("-i '{}'", dir.join("id").display())),
            "{cmd}"
        );
        drop(session);
        assert!(!dir.exists(), "credential files are removed");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn quoting_and_debug() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let creds = Credentials {
            username: Some("bob".into()),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("bob"),
            "{shown}"
        );
        assert!(shown.contains("password: \"<set>\""), "{shown}");
    }
}
