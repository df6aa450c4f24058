//! ssh without an ssh server: the failures a user can meet before authentication, and the
//! key files cleaned up after them.

use rollout_rs_gitops::source::{Credentials, FetchError, FetchRequest, Fetcher, GitCli};

use crate::support::{TempDir, credential_leftovers, request};

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-5f2a\n-----END OPENSSH PRIVATE KEY-----\n";

#[tokio::test]
async fn ssh_needs_known_hosts() {
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());
    let req = FetchRequest {
        credentials: Credentials {
            ssh_private_key: Some(KEY.into()),
            ..Default::default()
        },
        ..request("git@127.0.0.1:org/repo.git", None)
    };
    let err = git.fetch(&req).await.expect_err("no knownHosts");
    assert!(
        matches!(err, FetchError::InvalidCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("knownHosts"), "{err}");
    assert!(credential_leftovers(cache.path()).is_empty());
}

#[tokio::test]
async fn an_unreachable_ssh_server_is_named_and_the_key_files_go() {
    if which("ssh").is_none() {
        eprintln!("skipped: no ssh client");
        return;
    }
    // Port 1 on loopback: nothing listens there.
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());
    let req = FetchRequest {
        credentials: Credentials {
            ssh_private_key: Some(KEY.into()),
            known_hosts: Some("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n".into()),
            ..Default::default()
        },
        ..request("ssh://git@127.0.0.1:1/repo.git", Some("main"))
    };
    let err = git.fetch(&req).await.expect_err("unreachable");
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("repository ssh://git@127.0.0.1:1/repo.git is not reachable: "),
        "{text}"
    );
    assert!(!text.contains("not-a-real-key"), "{text}");
    assert!(err.is_transient());
    assert!(credential_leftovers(cache.path()).is_empty());
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
}
