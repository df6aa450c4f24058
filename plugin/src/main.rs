//! `kubectl-rollout_rs`, found by kubectl as `kubectl rollout-rs`: shows and steers rollouts.
//!
//! Commands and flags are design.md section 4. The steering commands only ever write the
//! control surface of design.md section 3 (`control` decides each write, `steer` makes it);
//! `lint` needs no cluster. Exit status: 0 done, 1 failed or nothing to do (nothing written),
//! 2 `status` timed out.

mod cluster;
mod control;
mod facts;
mod failure;
mod get;
mod lint;
mod list;
mod status;
mod steer;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::cluster::Flags;
use crate::control::Change;
use crate::failure::Failure;
use crate::steer::Needs;

#[derive(Parser)]
#[command(
    name = "kubectl rollout-rs",
    bin_name = "kubectl rollout-rs",
    version,
    about = "Show and steer rollout-rs rollouts"
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a rollout: its steps, weights, revisions, ReplicaSets, AnalysisRuns and routes.
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// List rollouts as a table.
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// Release the pause a rollout waits at (a pause step, a blue-green preview, an
    /// inconclusive analysis, a manual pause).
    Promote {
        name: String,
        /// Skip every remaining step and analysis.
        #[arg(long)]
        full: bool,
    },
    /// Stop the update: all traffic goes back to the stable version.
    Abort { name: String },
    /// Start an aborted update again.
    Retry { name: String },
    /// Stop the steps advancing until `resume`.
    Pause { name: String },
    /// Let the steps advance again after `pause`.
    Resume { name: String },
    /// Replace every pod of the rollout, a few at a time.
    Restart { name: String },
    /// Go back to an earlier revision's pod template (default: the one before the current).
    Undo {
        name: String,
        #[arg(long)]
        to_revision: Option<u64>,
    },
    /// Change the rollout's pod template.
    Set {
        #[command(subcommand)]
        what: SetWhat,
    },
    /// Wait for the rollout to finish: exit 0 Healthy, 1 Degraded or aborted, 2 timed out.
    Status {
        name: String,
        /// How long to wait, e.g. 5m, 90s (default: until it finishes).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// Check manifests offline: strict parsing (unknown fields, wrong types) and spec validation.
    Lint {
        /// Manifest files (YAML or JSON, one or more documents); `-` reads standard input.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print a shell completion script.
    Completion { shell: clap_complete::Shell },
    /// Print the plugin version.
    Version,
}

#[derive(Subcommand)]
enum GetWhat {
    /// One rollout, as a tree.
    Rollout {
        name: String,
        /// Redraw on every change.
        #[arg(short, long)]
        watch: bool,
        /// With --watch: exit once the rollout is Healthy (0) or Degraded (1).
        #[arg(long, requires = "watch")]
        until_complete: bool,
        /// Print data instead of the tree.
        #[arg(short, long, value_enum)]
        output: Option<get::Output>,
    },
}

#[derive(Subcommand)]
enum ListWhat {
    /// Rollouts of the namespace (`-A`: of every namespace).
    Rollouts {
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
}

#[derive(Subcommand)]
enum SetWhat {
    /// Set a container's image: `set image NAME CONTAINER=IMAGE` (`*=IMAGE`: every container).
    Image {
        name: String,
        #[arg(value_parser = parse_assignment)]
        assignment: (String, String),
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    rollout_rs_crds::duration::parse(s).map_err(|e| e.to_string())
}

fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, i)) if !c.is_empty() && !i.is_empty() => Ok((c.to_string(), i.to_string())),
        _ => Err(format!("expected CONTAINER=IMAGE, got {s:?}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let flags = cli.flags;
    let steer_with = |name: String,
                      needs: Needs,
                      decide: fn(
        &rollout_rs_crds::Rollout,
        &[control::Revision],
    ) -> Result<Change, String>| {
        let flags = flags.clone();
        async move {
            let cluster = flags.connect().await?;
            let line = steer::steer(&cluster, &name, needs, decide).await?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
    };
    match cli.command {
        Command::Get {
            what:
                GetWhat::Rollout {
                    name,
                    watch,
                    until_complete,
                    output,
                },
        } => {
            let cluster = flags.connect().await?;
            let options = get::Options {
                output,
                watch,
                until_complete,
            };
            get::run(&cluster, &name, options).await
        }
        Command::List {
            what: ListWhat::Rollouts { all_namespaces },
        } => {
            let cluster = flags.connect().await?;
            println!("{}", list::run(&cluster, all_namespaces).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Promote { name, full } => {
            let cluster = flags.connect().await?;
            let line = steer::steer(&cluster, &name, Needs::Rollout, |ro, _| {
                control::promote(ro, full)
            })
            .await?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Abort { name } => {
            steer_with(name, Needs::Rollout, |ro, _| control::abort(ro)).await
        }
        Command::Retry { name } => {
            steer_with(name, Needs::Rollout, |ro, _| control::retry(ro)).await
        }
        Command::Pause { name } => {
            steer_with(name, Needs::Rollout, |ro, _| control::pause(ro)).await
        }
        Command::Resume { name } => {
            steer_with(name, Needs::Rollout, |ro, _| control::resume(ro)).await
        }
        Command::Restart { name } => {
            steer_with(name, Needs::Rollout, |ro, _| {
                Ok(control::restart(ro, jiff::Timestamp::now()))
            })
            .await
        }
        Command::Undo { name, to_revision } => {
            let cluster = flags.connect().await?;
            let line = steer::steer(&cluster, &name, Needs::Revisions, |ro, revisions| {
                control::undo(ro, revisions, to_revision)
            })
            .await?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Set {
            what:
                SetWhat::Image {
                    name,
                    assignment: (container, image),
                },
        } => {
            let cluster = flags.connect().await?;
            let line = steer::steer(&cluster, &name, Needs::Rollout, |ro, _| {
                control::set_image(ro, &container, &image)
            })
            .await?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { name, timeout } => {
            let cluster = flags.connect().await?;
            status::run(&cluster, &name, timeout).await
        }
        Command::Lint { files } => Ok(lint::run_all(&files)),
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "kubectl-rollout_rs",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("kubectl-rollout_rs {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
