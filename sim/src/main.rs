//! `rollout-rs-sim`: runs only the simulated cluster, until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "rollout-rs-sim",
    version,
    about = "Simulated Kubernetes control plane (plain HTTP on 127.0.0.1)"
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write a kubeconfig pointing at the simulator.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Injected faults as JSON, e.g. '{"verbs":{"patch":{"errorRate":0.1,"latencyMs":50}},"watchCutSeconds":30}'
    /// (also settable at run time with PUT /sim/faults).
    #[arg(long, value_parser = parse_faults)]
    faults: Option<rollout_rs_sim::Faults>,
    /// Simulated Nodes to start with (sim-node-1, sim-node-2...).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Authenticate bearer tokens and authorize every request with RBAC, as kube-apiserver
    /// --authorization-mode=RBAC: the default ClusterRoles and bindings exist, requests without
    /// a token are system:anonymous, and the kubeconfig written carries a token of
    /// kubernetes-admin (group system:masters).
    #[arg(long)]
    authorization: bool,
}

/// Parsing and checking here makes a bad value a usage error that names the flag, before
/// anything listens.
fn parse_faults(json: &str) -> Result<rollout_rs_sim::Faults, String> {
    let faults: rollout_rs_sim::Faults =
        serde_json::from_str(json).map_err(|e| format!("not valid faults JSON: {e}"))?;
    faults.validate()?;
    Ok(faults)
}

/// Colours are for a person at a terminal: in a file or a log collector the escape codes are
/// noise. NO_COLOR (https://no-color.org) turns them off even there.
fn log_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .init();
    let args = Args::parse();
    let config = rollout_rs_sim::Config {
        port: args.port,
        faults: args.faults.unwrap_or_default(),
        nodes: args.nodes,
        authorization: args.authorization,
        ..Default::default()
    };
    let sim = match rollout_rs_sim::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rollout-rs-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(url = %sim.url(), "simulated cluster listening");
    println!(
        "rollout-rs-sim listening on {} (port {})",
        sim.url(),
        sim.port()
    );
    if let Some(path) = &args.kubeconfig_out {
        if let Err(e) = sim.write_kubeconfig(path) {
            eprintln!("rollout-rs-sim: writing kubeconfig {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!(
            "kubeconfig written to {}\n  export KUBECONFIG={}",
            path.display(),
            path.display()
        );
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("rollout-rs-sim: waiting for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
