//! The `rollout-rs` binary: `crds` prints the CRDs, `dev` runs the developer cluster. The
//! controllers (`rollout-rs controller`) arrive with the rollout controller, under the command
//! names fixed in design.md.

use std::io::Write;
use std::path::PathBuf;
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
    },
    /// Start a simulated cluster with the CRDs installed and the controllers running, until Ctrl-C.
    Dev {
        /// Port of the simulated API server on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to write the kubeconfig [default: <temp dir>/rollout-rs-dev/kubeconfig].
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
    },
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
        } => {
            init_tracing();
            let options = rollout_rs_controller::Options {
                namespace,
                traffic_split_api_version,
                gitops: gitops.then(|| {
                    gitops_cache.unwrap_or_else(|| std::env::temp_dir().join("rollout-rs-gitops"))
                }),
            };
            block_on(
                rollout_rs_controller::run_controllers(kubeconfig, options),
                "rollout-rs controller",
            )
        }
        Command::Dev {
            port,
            kubeconfig_out,
        } => {
            init_tracing();
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

fn init_tracing() {
    // aws-lc-rs is the one rustls provider of the graph; installing it explicitly keeps the
    // choice visible (and a second install is a no-op).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .init();
}

/// Colours are for a person at a terminal: in a file or a log collector the escape codes are
/// noise. NO_COLOR (https://no-color.org) turns them off even there.
fn log_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
