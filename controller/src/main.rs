//! The `rollout-rs` binary: `controller` runs the controllers against a cluster, `crds` prints
//! the CRDs, `dev` (with the default `sim` feature) runs the developer cluster. Commands and
//! flags are the ones design.md fixes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rollout_rs_controller::LogFormat;

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
    /// Run the controllers against a cluster (in-cluster config, KUBECONFIG, or --kubeconfig).
    Controller {
        /// Path of a kubeconfig file.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Watch only this namespace (default: all namespaces).
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// apiVersion of the SMI TrafficSplits to write.
        #[arg(long, default_value = "split.smi-spec.io/v1alpha2")]
        traffic_split_api_version: String,
        /// Run the Git reconciler too (GitSyncs).
        #[arg(long)]
        gitops: bool,
        /// Where the Git reconciler caches its clones [default: <temp dir>/rollout-rs-gitops].
        #[arg(long, requires = "gitops")]
        gitops_cache: Option<PathBuf>,
        /// Where /metrics is served.
        #[arg(long, default_value = "0.0.0.0:8090")]
        metrics_addr: SocketAddr,
        /// Where /healthz, /readyz and /debug/log-level are served (may equal --metrics-addr).
        #[arg(long, default_value = "0.0.0.0:8081")]
        health_addr: SocketAddr,
        /// Elect a leader on the Lease `rollout-rs-controller` (in $POD_NAMESPACE, else the
        /// watched namespace, else `default`): only the leader writes.
        #[arg(long)]
        leader_elect: bool,
        /// How log lines are written; the level comes from RUST_LOG (default info).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        log_format: Format,
    },
    /// Start a simulated cluster with the CRDs installed and the controllers running, until Ctrl-C.
    #[cfg(feature = "sim")]
    Dev {
        /// Port of the simulated API server on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to write the kubeconfig [default: <temp dir>/rollout-rs-dev/kubeconfig].
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
    },
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
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
            ExitCode::SUCCESS
        }
        Command::Controller {
            kubeconfig,
            namespace,
            traffic_split_api_version,
            gitops,
            gitops_cache,
            metrics_addr,
            health_addr,
            leader_elect,
            log_format,
        } => {
            let log_level = rollout_rs_controller::logs::init(match log_format {
                Format::Text => LogFormat::Text,
                Format::Json => LogFormat::Json,
            });
            let options = rollout_rs_controller::Options {
                namespace,
                traffic_split_api_version,
                gitops: gitops.then(|| {
                    gitops_cache.unwrap_or_else(|| std::env::temp_dir().join("rollout-rs-gitops"))
                }),
            };
            let process = rollout_rs_controller::ProcessOptions {
                metrics_addr,
                health_addr,
                leader_elect,
                log_level,
            };
            block_on(
                rollout_rs_controller::run_controllers(kubeconfig, options, process),
                "rollout-rs controller",
            )
        }
        #[cfg(feature = "sim")]
        Command::Dev {
            port,
            kubeconfig_out,
        } => {
            rollout_rs_controller::logs::init(LogFormat::Text);
            let kubeconfig =
                kubeconfig_out.unwrap_or_else(rollout_rs_controller::dev::default_kubeconfig_path);
            block_on(
                rollout_rs_controller::dev::run(port, &kubeconfig),
                "rollout-rs dev",
            )
        }
    }
}

/// Runs `fut` on a fresh runtime; its error is printed under `who`.
fn block_on<E: std::fmt::Display>(
    fut: impl std::future::Future<Output = Result<(), E>>,
    who: &str,
) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{who}: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            ExitCode::FAILURE
        }
    }
}
