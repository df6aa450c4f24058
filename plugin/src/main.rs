//! `kubectl-rollout_rs`, found by kubectl as `kubectl rollout-rs`: shows and steers rollouts.
//!
//! Today it has the commands that need no cluster (`lint`, `version`). The cluster commands of
//! design.md section 4 (get, list, promote, abort, retry, pause, resume, undo, restart, set
//! image, status) come with the controller they steer; they only ever write the control surface
//! of design.md section 3, never the controller's own fields.

mod lint;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubectl rollout-rs",
    bin_name = "kubectl rollout-rs",
    version,
    about = "Show and steer rollout-rs rollouts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check manifests offline: strict parsing (unknown fields, wrong types) and spec validation.
    Lint {
        /// Manifest file (YAML or JSON, one or more documents); `-` reads standard input.
        file: String,
    },
    /// Print the plugin version.
    Version,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Lint { file } => lint::run(&file),
        Command::Version => {
            println!("kubectl-rollout_rs {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}
