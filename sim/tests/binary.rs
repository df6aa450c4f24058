//! The `rollout-rs-sim` binary as a user starts it: its flags take effect from the first
//! request, and a bad flag stops it at start-up with a message naming the flag.

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Long enough for a cold start of a debug binary on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn sim(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollout-rs-sim"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts the simulator and returns it with the port it printed.
async fn start(args: &[&str]) -> Result<(Child, u16)> {
    let mut child = sim(args).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(port) = line
                .split_once("(port ")
                .and_then(|(_, rest)| rest.trim_end_matches(')').parse::<u16>().ok())
            {
                return Ok(port);
            }
        }
        Err::<u16, Box<dyn std::error::Error>>("stdout ended before the listening line".into())
    })
    .await
    .map_err(|_| "the simulator never printed its port")??;
    Ok((child, port))
}

/// Runs the simulator expecting it to stop by itself; returns (exit code, stderr).
async fn run_to_exit(args: &[&str]) -> Result<(Option<i32>, String)> {
    let child = sim(args).spawn()?;
    let out = tokio::time::timeout(START_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("rollout-rs-sim {args:?} kept running"))??;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn faults_flag_is_in_effect_from_the_start() -> Result {
    let faults = r#"{"verbs":{"get":{"errorRate":1.0,"code":500}},"watchCutSeconds":30,"seed":7}"#;
    let (_child, port) = start(&["--faults", faults]).await?;

    let (code, body) = common::http(port, "GET", "/sim/faults", "application/json", "").await;
    assert_eq!(code, 200, "{body}");
    let got: rollout_rs_sim::Faults = serde_json::from_str(&body)?;
    let want: rollout_rs_sim::Faults = serde_json::from_str(faults)?;
    assert_eq!(got, want);

    let (code, body) = common::http(
        port,
        "GET",
        "/api/v1/namespaces/default",
        "application/json",
        "",
    )
    .await;
    assert_eq!(code, 500, "the first get meets the injected error: {body}");
    assert!(body.contains("injected fault"), "{body}");
    Ok(())
}

#[tokio::test]
async fn authorization_flag_is_in_effect_from_the_start() -> Result {
    let (_child, port) = start(&["--authorization"]).await?;
    // Anonymous: the public health endpoints only.
    let (code, body) = common::http(port, "GET", "/healthz", "application/json", "").await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) =
        common::http(port, "GET", "/api/v1/namespaces", "application/json", "").await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"User \"system:anonymous\" cannot list resource \"namespaces\""#),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_faults_flag_is_a_startup_error() -> Result {
    for (faults, why) in [
        (r#"{"verbs": {"get": "#, "EOF"),
        (
            r#"{"verbs": {"frobnicate": {"errorRate": 0.1}}}"#,
            "frobnicate",
        ),
        (r#"{"verbs": {"get": {"errorRate": 2}}}"#, "errorRate"),
    ] {
        let (code, stderr) = run_to_exit(&["--faults", faults]).await?;
        assert!(
            code.is_some_and(|c| c != 0),
            "--faults {faults}: exit {code:?}"
        );
        assert!(stderr.contains("--faults"), "names the flag: {stderr}");
        assert!(stderr.contains(why), "says what is wrong: {stderr}");
    }
    Ok(())
}

#[tokio::test]
async fn logs_to_a_pipe_have_no_colours() -> Result {
    let mut cmd = sim(&[]);
    cmd.env("RUST_LOG", "info").env_remove("NO_COLOR");
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).split(b'\n');
    let mut seen = Vec::new();
    tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_segment().await? {
            seen.extend_from_slice(&line);
            seen.push(b'\n');
            if String::from_utf8_lossy(&line).contains("listening") {
                return Ok(());
            }
        }
        Err::<(), Box<dyn std::error::Error>>("stderr ended before the listening log line".into())
    })
    .await
    .map_err(|_| "the simulator never logged that it listens")??;
    let text = String::from_utf8_lossy(&seen);
    assert!(
        !seen.contains(&0x1b),
        "ANSI escapes in piped logs: {text:?}"
    );
    Ok(())
}
