//! The git CLI fetcher against real repositories made with `git` in temporary directories:
//! file:// and local paths here, smart HTTP with basic auth in `http`, ssh failures in `ssh`.

mod http;
mod ssh;
mod support;

use std::time::Duration;

use rollout_rs_gitops::source::{FetchError, Fetcher, GitCli};
use support::{TempDir, Upstream, cached_repositories, credential_leftovers, request};

fn read(rev: &rollout_rs_gitops::source::FetchedRevision, file: &str) -> String {
    std::fs::read_to_string(rev.path().join(file)).expect("file in checkout")
}

#[tokio::test]
async fn resolves_branches_tags_commits_and_the_default_branch() {
    let up = Upstream::new("trunk");
    let c0 = up.commit(&[("app.yaml", "v: 0\n")], "first commit\n\nwith a body");
    let c1 = up.commit(
        &[("app.yaml", "v: 1\n"), ("sub/dir.yaml", "x: 1\n")],
        "second",
    );
    up.git(&["tag", "-a", "v1", "-m", "release 1"]);
    up.git(&["branch", "feature"]);
    let c2 = up.commit(&[("app.yaml", "v: 2\n")], "third: the tip");
    up.git(&["tag", "light"]);
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());

    // (targetRevision, commit, subject, content of app.yaml)
    let cases = [
        (None, &c2, "third: the tip", "v: 2\n"),
        (Some("HEAD"), &c2, "third: the tip", "v: 2\n"),
        (Some("trunk"), &c2, "third: the tip", "v: 2\n"),
        (Some("refs/heads/trunk"), &c2, "third: the tip", "v: 2\n"),
        (Some("feature"), &c1, "second", "v: 1\n"),
        (Some("v1"), &c1, "second", "v: 1\n"),
        (Some("light"), &c2, "third: the tip", "v: 2\n"),
        // A commit that is no branch or tag tip, by full and by abbreviated id.
        (Some(c0.as_str()), &c0, "first commit", "v: 0\n"),
        (Some(&c0[..8]), &c0, "first commit", "v: 0\n"),
        (Some(&c1[..12]), &c1, "second", "v: 1\n"),
    ];
    for (revision, sha, subject, content) in cases {
        let rev = git
            .fetch(&request(&up.url(), revision))
            .await
            .unwrap_or_else(|e| panic!("{revision:?}: {e}"));
        assert_eq!(rev.sha(), sha.as_str(), "{revision:?}");
        assert_eq!(rev.subject(), subject, "{revision:?}");
        assert_eq!(read(&rev, "app.yaml"), content, "{revision:?}");
        assert!(!rev.path().join(".git").exists(), "no .git in a checkout");
    }
    let v1 = git
        .fetch(&request(&up.url(), Some("v1")))
        .await
        .expect("v1");
    assert_eq!(read(&v1, "sub/dir.yaml"), "x: 1\n");
    assert!(credential_leftovers(cache.path()).is_empty());
}

#[tokio::test]
async fn local_paths_work_like_file_urls() {
    let up = Upstream::new("main");
    let sha = up.commit(&[("a.yaml", "a: 1\n")], "only");
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());
    let rev = git
        .fetch(&request(&up.path().display().to_string(), Some("main")))
        .await
        .expect("fetch from a path");
    assert_eq!(rev.sha(), sha);
    assert_eq!(read(&rev, "a.yaml"), "a: 1\n");
}

#[tokio::test]
async fn a_new_commit_is_seen_and_old_checkouts_go() {
    let up = Upstream::new("main");
    let c1 = up.commit(&[("app.yaml", "image: v1\n")], "deploy v1");
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());
    let req = request(&up.url(), Some("main"));

    let first = git.fetch(&req).await.expect("first fetch");
    assert_eq!(first.sha(), c1);
    let again = git.fetch(&req).await.expect("same commit");
    assert_eq!(
        again.path(),
        first.path(),
        "an unchanged commit reuses its checkout"
    );
    drop(again);

    let c2 = up.commit(&[("app.yaml", "image: v2\n")], "deploy v2");
    let second = git.fetch(&req).await.expect("second fetch");
    assert_eq!(second.sha(), c2);
    assert_eq!(second.subject(), "deploy v2");
    assert_eq!(read(&second, "app.yaml"), "image: v2\n");
    // The first checkout is still held, so it stays while someone reads it...
    assert!(first.path().exists());
    let old = first.path().to_path_buf();
    drop(first);
    // ...and the next fetch of the repository removes it.
    let third = git.fetch(&req).await.expect("third fetch");
    assert_eq!(third.path(), second.path());
    assert!(!old.exists(), "the checkout of {c1} was cleaned up");

    // A force-push to an unrelated history is followed too.
    up.git(&["checkout", "--quiet", "--orphan", "rewrite"]);
    let c3 = up.commit(&[("app.yaml", "image: v3\n")], "rewritten");
    up.git(&["branch", "-f", "main", "rewrite"]);
    let fourth = git.fetch(&req).await.expect("after force-push");
    assert_eq!(fourth.sha(), c3);
}

#[tokio::test]
async fn missing_revisions_and_repositories_are_named() {
    let up = Upstream::new("main");
    up.commit(&[("a.yaml", "a: 1\n")], "only");
    up.git(&["tag", "v1"]);
    let url = up.url();
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());

    let err = git
        .fetch(&request(&url, Some("nope")))
        .await
        .expect_err("missing branch");
    assert!(
        matches!(err, FetchError::RevisionNotFound { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("branch or tag 'nope' not found in {url}")
    );

    let err = git
        .fetch(&request(&url, Some("v9")))
        .await
        .expect_err("missing tag");
    assert_eq!(
        err.to_string(),
        format!("branch or tag 'v9' not found in {url}")
    );

    let missing = "0123456789abcdef0123456789abcdef01234567";
    let err = git
        .fetch(&request(&url, Some(missing)))
        .await
        .expect_err("missing commit");
    assert_eq!(
        err.to_string(),
        format!("commit '{missing}' not found in {url}")
    );

    let err = git
        .fetch(&request(&url, Some("abcdef0")))
        .await
        .expect_err("missing short commit");
    assert_eq!(
        err.to_string(),
        format!("commit 'abcdef0' not found in {url}")
    );

    let gone = format!("file://{}/does-not-exist", cache.path().display());
    let err = git
        .fetch(&request(&gone, None))
        .await
        .expect_err("missing repository");
    assert!(
        matches!(err, FetchError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("repository {gone} not found: ")),
        "{err}"
    );
    assert!(!err.is_transient());

    let empty = Upstream::new("main");
    let err = git
        .fetch(&request(&empty.url(), None))
        .await
        .expect_err("empty repository");
    assert_eq!(
        err.to_string(),
        format!("default branch 'HEAD' not found in {}", empty.url())
    );

    let err = git
        .fetch(&request("ext::sh -c touch% /tmp/pwned", None))
        .await
        .expect_err("remote helper");
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
    let err = git
        .fetch(&request(&url, Some("--upload-pack=touch /tmp/pwned")))
        .await
        .expect_err("option injection");
    assert!(matches!(err, FetchError::InvalidRevision { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_share_one_clone() {
    let up = Upstream::new("main");
    let c1 = up.commit(&[("a.yaml", "a: 1\n")], "one");
    up.git(&["tag", "v1"]);
    let c2 = up.commit(&[("a.yaml", "a: 2\n")], "two");
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());
    let url = up.url();

    let revisions = [
        Some("main"),
        Some("v1"),
        None,
        Some(c1.as_str()),
        Some("main"),
        Some(&c2[..7]),
        Some("v1"),
        None,
    ];
    let tasks: Vec<_> = revisions
        .iter()
        .map(|revision| {
            let git = git.clone();
            let req = request(&url, *revision);
            tokio::spawn(async move { git.fetch(&req).await })
        })
        .collect();
    let mut shas = Vec::new();
    for (task, revision) in tasks.into_iter().zip(revisions) {
        let rev = task
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{revision:?}: {e}"));
        shas.push(rev.sha().to_string());
    }
    assert_eq!(
        shas,
        [&c2, &c1, &c2, &c1, &c2, &c2, &c1, &c2].map(String::clone)
    );
    assert_eq!(cached_repositories(cache.path()).len(), 1, "one clone");
    // The same URL written differently (a trailing slash) is the same clone.
    git.fetch(&request(&format!("{url}/"), None))
        .await
        .expect("fetch");
    assert_eq!(cached_repositories(cache.path()).len(), 1, "one clone");
}

#[tokio::test]
async fn a_git_command_that_hangs_times_out() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path()).with_timeout(Duration::from_secs(1));
    let url = format!("http://{addr}/repo.git");
    let started = std::time::Instant::now();
    let err = git.fetch(&request(&url, None)).await.expect_err("timeout");
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("git ls-remote of {url} timed out after 1s")
    );
    assert!(err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(10));
    server.abort();
}
