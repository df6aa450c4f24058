//! The `rollout-rs` binary's logs when stderr is not a terminal (a file, a pipe, a log
//! collector): plain text, no ANSI colour codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Kills the child when the test ends, passed or not.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn controller_logs_to_a_pipe_have_no_colours() -> Result {
    let dir = std::env::temp_dir().join(format!("rollout-rs-logs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    // Nothing listens on port 1: the controller starts, logs, and retries its watches.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )?;
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
            .args(["controller", "--kubeconfig"])
            .arg(&kubeconfig)
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let stderr = child.0.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if tx.send(line).is_err() => break,
                Ok(_) => {}
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).map_err(|e| {
            format!(
                "no start-up log line: {e}; got {:?}",
                String::from_utf8_lossy(&seen)
            )
        })?;
        seen.extend_from_slice(&line);
        if String::from_utf8_lossy(&line).contains("rollout-rs controller starting") {
            break;
        }
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !seen.contains(&0x1b),
        "ANSI escapes in piped logs: {:?}",
        String::from_utf8_lossy(&seen)
    );
    Ok(())
}
