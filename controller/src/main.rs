//! The `rollout-rs` binary. Today it prints the CRDs; the controllers (`rollout-rs controller`)
//! and the one-command developer cluster (`rollout-rs dev`) arrive with the issues that build
//! them, under the command names fixed in design.md.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rollout-rs",
    version,
    about = "Progressive delivery for Kubernetes: canary and blue-green rollouts gated by analysis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every rollout-rs CustomResourceDefinition as YAML (the bytes of crds/yaml/).
    Crds,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(rollout_rs_crds::crd::render_all().as_bytes()) {
                eprintln!("rollout-rs: writing the CRDs to stdout: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
