//! The Helm chart starts `rollout-rs controller` with arguments this binary accepts: the
//! Deployment's container args, rendered by Helm's own engine for the default values and for
//! each option that adds flags, are parsed by the real command line (clap stops at `--help`
//! only once every argument before it has parsed).

use std::process::Command;

use serde_json::{Value, json};

fn controller_args(values: &Value) -> Vec<String> {
    let objects = rollout_rs_e2e::chart::render(values).expect("the chart renders");
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut args: Vec<String> = container["command"]
        .as_array()
        .into_iter()
        .chain(container["args"].as_array())
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    // The command is the binary itself; what follows is what it parses.
    if args.first().is_some_and(|a| a.ends_with("rollout-rs")) {
        args.remove(0);
    }
    args
}

#[test]
fn the_charts_arguments_are_the_binarys() {
    let cases = [
        json!({}),
        json!({"replicas": 3}),
        json!({"watchNamespace": "shop"}),
        json!({"gitops": {"enabled": true}}),
        json!({"logFormat": "text", "extraArgs": ["--leader-elect"]}),
    ];
    for values in cases {
        let args = controller_args(&values);
        assert_eq!(
            args.first().map(String::as_str),
            Some("controller"),
            "{args:?}"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_rollout-rs"))
            .args(&args)
            .arg("--help")
            .output()
            .expect("rollout-rs runs");
        assert!(
            out.status.success(),
            "values {values}: rollout-rs refuses the chart's arguments {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
