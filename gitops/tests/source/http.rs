//! Smart HTTP with basic auth: `git http-backend` (CGI) behind a loopback axum server that
//! checks the Authorization header, and on every request looks at every process on the
//! machine for the password in its arguments and at how git was given its askpass.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use rollout_rs_gitops::source::{Credentials, FetchError, FetchRequest, Fetcher, GitCli};
use tokio::io::AsyncWriteExt as _;

use crate::support::{TempDir, Upstream, credential_leftovers, git, request};

const USER: &str = "alice";
const PASSWORD: &str = "pa55-Word-7c1e";

/// What the server saw while git was running.
#[derive(Default, Debug)]
struct Seen {
    requests: usize,
    /// Command lines of any process containing the password.
    leaks: Vec<String>,
    /// `GIT_ASKPASS` of running git processes: (path, mode, script mentions the password).
    askpass: Vec<(PathBuf, u32, bool)>,
}

struct Server {
    base: String,
    seen: Arc<Mutex<Seen>>,
    _root: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves a bare copy of `upstream` as `/repo.git`, for `alice` with [`PASSWORD`] only.
async fn serve(upstream: &Upstream) -> Server {
    let root = TempDir::new("http-root");
    git(
        root.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            &upstream.path().display().to_string(),
            "repo.git",
        ],
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let project_root = root.path().to_path_buf();
    let state = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |req: Request| {
        let root = project_root.clone();
        let seen = Arc::clone(&state);
        async move { handle(req, &root, &seen).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    Server {
        base,
        seen,
        _root: root,
        task,
    }
}

async fn handle(req: Request, root: &Path, seen: &Mutex<Seen>) -> Response {
    inspect_processes(seen);
    let (parts, body) = req.into_parts();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let authorized = parts
        .headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")
            .body(Body::empty())
            .expect("response");
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    cgi(root, &parts.method, &parts.uri, &parts.headers, &body).await
}

async fn cgi(
    root: &Path,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_USER", USER)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(body).await.expect("write body");
    drop(stdin);
    let out = child.wait_with_output().await.expect("http-backend output");
    // CGI: headers, a blank line, the body.
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .expect("CGI header block");
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            let code = value.trim().split(' ').next().unwrap_or("500");
            status = StatusCode::from_u16(code.parse().expect("status")).expect("status");
        } else {
            response = response.header(name.trim(), value.trim());
        }
    }
    response
        .status(status)
        .body(Body::from(out.stdout[split.0 + split.1..].to_vec()))
        .expect("response")
}

/// Looks at every process: none may carry the password in its arguments; a git process with
/// `GIT_ASKPASS` shows where its script is and what the script says.
fn inspect_processes(seen: &Mutex<Seen>) {
    let mut seen = seen.lock().expect("lock");
    seen.requests += 1;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let dir = entry.path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        if contains(&cmdline, PASSWORD.as_bytes()) {
            seen.leaks
                .push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
        let Ok(environ) = std::fs::read(dir.join("environ")) else {
            continue;
        };
        for var in environ.split(|b| *b == 0) {
            if let Some(path) = var.strip_prefix(b"GIT_ASKPASS=") {
                let path = PathBuf::from(String::from_utf8_lossy(path).into_owned());
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let script = std::fs::read_to_string(&path).unwrap_or_default();
                let mode = meta.permissions().mode() & 0o777;
                seen.askpass.push((path, mode, script.contains(PASSWORD)));
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn with_password(url: &str, password: &str) -> FetchRequest {
    FetchRequest {
        credentials: Credentials {
            username: Some(USER.into()),
            password: Some(password.into()),
            ..Default::default()
        },
        ..request(url, Some("main"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_smart_http() {
    let up = Upstream::new("main");
    let c1 = up.commit(&[("app.yaml", "image: v1\n")], "deploy v1");
    let old = up.commit(&[("app.yaml", "image: v2\n")], "deploy v2");
    let server = serve(&up).await;
    let url = format!("{}/repo.git", server.base);
    let cache = TempDir::new("cache");
    let git = GitCli::new(cache.path());

    // The right password fetches, by branch and by a commit that is no tip.
    let rev = git
        .fetch(&with_password(&url, PASSWORD))
        .await
        .expect("fetch with the right password");
    assert_eq!(rev.sha(), old);
    assert_eq!(rev.subject(), "deploy v2");
    let mut by_sha = with_password(&url, PASSWORD);
    by_sha.target_revision = Some(c1.clone());
    let rev = git.fetch(&by_sha).await.expect("fetch a commit by id");
    assert_eq!(rev.sha(), c1);
    assert_eq!(
        std::fs::read_to_string(rev.path().join("app.yaml")).expect("file"),
        "image: v1\n"
    );

    // A wrong password.
    let err = git
        .fetch(&with_password(&url, "not-the-password"))
        .await
        .expect_err("wrong password");
    assert!(
        matches!(err, FetchError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("authentication failed for {url}: ")),
        "{text}"
    );
    assert!(text.contains("rejected the credentials"), "{text}");
    assert!(
        !text.contains("not-the-password") && !text.contains(PASSWORD),
        "{text}"
    );
    assert!(!format!("{err:?}").contains("not-the-password"));

    // No credentials at all: the error says what to set.
    let err = git
        .fetch(&request(&url, Some("main")))
        .await
        .expect_err("no credentials");
    assert!(
        matches!(err, FetchError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("spec.source.secretRef"), "{err}");

    // Credentials written into the URL go through askpass too, and never into errors.
    let inline = format!(
        "http://{USER}:{PASSWORD}@{}/repo.git",
        server.base.trim_start_matches("http://")
    );
    let rev = git
        .fetch(&request(&inline, Some("main")))
        .await
        .expect("fetch with credentials in the URL");
    assert_eq!(rev.sha(), old);
    let err = git
        .fetch(&request(&inline, Some("no-such-branch")))
        .await
        .expect_err("missing branch");
    assert_eq!(
        err.to_string(),
        format!("branch or tag 'no-such-branch' not found in {url}")
    );

    // A repository the server does not have.
    let err = git
        .fetch(&with_password(
            &format!("{}/other.git", server.base),
            PASSWORD,
        ))
        .await
        .expect_err("missing repository");
    assert!(
        matches!(err, FetchError::RepositoryNotFound { .. }),
        "{err:?}"
    );

    let seen = server.seen.lock().expect("lock");
    assert!(seen.requests >= 6, "{seen:?}");
    assert!(
        seen.leaks.is_empty(),
        "password in process arguments: {:?}",
        seen.leaks
    );
    assert!(
        !seen.askpass.is_empty(),
        "git ran with GIT_ASKPASS: {seen:?}"
    );
    for (path, mode, leaks) in &seen.askpass {
        assert_eq!(*mode, 0o700, "{}", path.display());
        assert!(!leaks, "the askpass script holds no secret");
        assert!(
            path.starts_with(cache.path().join("tmp")),
            "{}",
            path.display()
        );
        assert!(!path.exists(), "{} removed after the fetch", path.display());
    }
    assert!(credential_leftovers(cache.path()).is_empty());
}
