//! `kubectl rollout-rs lint FILE`: every problem of every document, each naming the object and
//! the field, on stderr; exit status 1 when there is any.

use std::io::Read;
use std::process::ExitCode;

use rollout_rs_crds::manifest::{self, Object};

/// Every file; exit 1 when any has a problem.
pub(crate) fn run_all(files: &[String]) -> ExitCode {
    let failed = files
        .iter()
        .map(|f| run(f))
        .filter(|code| *code != ExitCode::SUCCESS)
        .count();
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(file: &str) -> ExitCode {
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: reading {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let docs = match manifest::parse_all(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut problems = 0;
    let mut checked = 0;
    for doc in docs {
        match doc {
            Ok(Object::Other(_)) => {}
            Ok(obj) => {
                checked += 1;
                for e in rollout_rs_analysis::validate::object(&obj) {
                    problems += 1;
                    eprintln!("{file}: {}: {e}", obj.describe());
                }
            }
            Err(e) => {
                checked += 1;
                problems += 1;
                eprintln!("{file}: {e}");
            }
        }
    }
    if problems > 0 {
        eprintln!("{file}: {problems} problem(s) in {checked} rollout-rs object(s)");
        return ExitCode::FAILURE;
    }
    println!("{file}: {checked} rollout-rs object(s) valid");
    ExitCode::SUCCESS
}

fn read(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(file)
    }
}
