//! Helpers shared by the simulator's integration tests: a running simulator with its own
//! kubeconfig and kubectl home, kubectl invocations, and raw HTTP requests.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Cluster {
    pub sim: rollout_rs_sim::Handle,
    pub dir: PathBuf,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Cluster {
    pub async fn start() -> Cluster {
        Self::start_with(rollout_rs_sim::Config::default()).await
    }

    /// A simulator that authenticates and authorizes (RBAC); its kubeconfig is the admin's.
    pub async fn start_with_auth() -> Cluster {
        Self::start_with(rollout_rs_sim::Config {
            authorization: true,
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(config: rollout_rs_sim::Config) -> Cluster {
        let sim = rollout_rs_sim::start(config)
            .await
            .expect("start simulator");
        let dir = std::env::temp_dir().join(format!(
            "rollout-rs-sim-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create test dir");
        sim.write_kubeconfig(&dir.join("kubeconfig"))
            .expect("write kubeconfig");
        Cluster { sim, dir }
    }

    /// Starts a long-running kubectl (a `-w` watch) against this cluster; its stdout comes
    /// line by line on the receiver. Kill the child when done.
    pub fn kubectl_stream(
        &self,
        args: &[&str],
    ) -> (
        std::process::Child,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ) {
        use std::io::BufRead;
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env("HOME", &self.dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// Runs kubectl against this cluster (its own HOME, so no discovery cache is shared), and
    /// returns (success, stdout, stderr).
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        self.kubectl_with(&self.dir.join("kubeconfig"), args, stdin)
            .await
    }

    /// Writes a kubeconfig for this cluster that authenticates with `token` (none: anonymous)
    /// and returns its path.
    pub fn kubeconfig_for(&self, name: &str, token: Option<&str>) -> PathBuf {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        self.sim
            .write_kubeconfig_for(&path, token)
            .expect("write kubeconfig");
        path
    }

    /// Like [`Cluster::kubectl`], with another kubeconfig (another user).
    pub async fn kubectl_with(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (bool, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let stdin = stdin.map(str::to_string);
        let dir = self.dir.clone();
        let kubeconfig = kubeconfig.to_path_buf();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = Command::new("kubectl")
                .args(&args)
                .env("KUBECONFIG", kubeconfig)
                .env("HOME", &dir)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("kubectl is installed (the machine image ships kubectl 1.32)");
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("write stdin");
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().expect("kubectl runs");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .expect("kubectl task")
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.kubectl(args, stdin).await;
        assert!(ok, "kubectl {args:?} failed:\n{err}\n{out}");
        out
    }

    /// `kubectl get RESOURCE -n NAMESPACE -o jsonpath=TEMPLATE`.
    pub async fn jsonpath(&self, resource: &str, namespace: &str, template: &str) -> String {
        let output = format!("jsonpath={template}");
        self.kubectl_ok(&["get", resource, "-n", namespace, "-o", &output], None)
            .await
    }

    /// One HTTP/1.1 request; returns (status code, body).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, String) {
        http(self.sim.port(), method, path, content_type, body).await
    }

    pub fn repo(path: &str) -> String {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.1 request to a simulator on 127.0.0.1:`port`; returns (status code, body).
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    http_with_headers(port, method, path, &[("Content-Type", content_type)], body).await
}

/// One HTTP/1.1 request with the given headers (e.g. `Authorization: Bearer ...`).
pub async fn http_with_headers(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// One HTTP/1.1 request with bytes for a body and extra headers; returns (status code,
/// headers as lower-cased text, body bytes).
pub async fn http_bytes(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}
