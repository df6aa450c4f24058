//! `kubectl rollout-rs lint FILE...`: every problem of every document, each on its own line as
//! `FILE:LINE: Kind "name": field.path: message` (the line of the field, or of its closest
//! written ancestor), on stderr. Directories are read recursively (`.yaml`, `.yml`, `.json`).
//! Exit status 1 when there is any problem. Needs no cluster.

mod locate;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rollout_rs_crds::manifest::{self, ManifestError, Object};

/// One problem, located.
#[derive(Debug, PartialEq)]
struct Problem {
    line: usize,
    /// `Kind "name": ` or empty.
    object: String,
    message: String,
}

/// What one file holds.
#[derive(Debug, Default, PartialEq)]
struct Report {
    checked: usize,
    problems: Vec<Problem>,
}

/// Every file (directories recursively); exit 1 when any has a problem or cannot be read.
pub(crate) fn run_all(args: &[String]) -> ExitCode {
    let mut failed = false;
    for arg in args {
        let files = if arg != "-" && Path::new(arg).is_dir() {
            let mut found = Vec::new();
            manifests_in(Path::new(arg), &mut found);
            if found.is_empty() {
                eprintln!("{arg}: no .yaml, .yml or .json files");
                failed = true;
            }
            found
        } else {
            vec![PathBuf::from(arg)]
        };
        for file in files {
            failed |= !run(&file.display().to_string());
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Manifests below `dir`, sorted, hidden entries skipped.
fn manifests_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            manifests_in(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// One file; whether it is free of problems.
fn run(file: &str) -> bool {
    let text = match read(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: reading {file}: {e}");
            return false;
        }
    };
    let report = check(&text);
    for p in &report.problems {
        eprintln!("{file}:{}: {}{}", p.line, p.object, p.message);
    }
    if !report.problems.is_empty() {
        eprintln!(
            "{file}: {} problem(s) in {} rollout-rs object(s)",
            report.problems.len(),
            report.checked
        );
        return false;
    }
    println!("{file}: {} rollout-rs object(s) valid", report.checked);
    true
}

/// The documents of a stream, each with the line it starts on (1-based).
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        let separator =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if separator {
            docs.push((i + 2, String::new()));
            continue;
        }
        if let Some((_, doc)) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

/// Every problem of a stream of manifests.
fn check(text: &str) -> Report {
    let mut report = Report::default();
    for (start, doc) in documents(text) {
        let parsed = match manifest::parse_all(&doc) {
            Ok(parsed) => parsed,
            Err(e) => {
                report.problems.push(Problem {
                    line: start + syntax_line(&e).unwrap_or(1) - 1,
                    object: String::new(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let at = |path: &str| start + locate::line_of(&doc, path).unwrap_or(1) - 1;
        for obj in parsed {
            match obj {
                Ok(Object::Other(_)) => {}
                Ok(obj) => {
                    report.checked += 1;
                    let object = format!("{}: ", obj.describe());
                    for e in rollout_rs_analysis::validate::object(&obj) {
                        report.problems.push(Problem {
                            line: at(&e.path),
                            object: object.clone(),
                            message: e.to_string(),
                        });
                    }
                }
                Err(ManifestError::Fields { object, problems }) => {
                    report.checked += 1;
                    for p in problems {
                        let path = p.split_once(": ").map_or("", |(path, _)| path);
                        report.problems.push(Problem {
                            line: at(path),
                            object: format!("{object}: "),
                            message: p,
                        });
                    }
                }
                Err(e) => {
                    report.checked += 1;
                    report.problems.push(Problem {
                        line: at("apiVersion").min(at("kind")),
                        object: String::new(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    report
}

/// The line a YAML syntax error names, when it does (`... at line 3 column 7`).
fn syntax_line(e: &ManifestError) -> Option<usize> {
    let ManifestError::Syntax(message) = e else {
        return None;
    };
    let after = &message[message.find("line ")? + 5..];
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_is_located_in_its_document() {
        let text = "\
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: \"web:1\"}]}
  strategy:
    canary:
      canaryService: web
      stableService: web
      steps:
      - setWeight: 150
---
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata: {name: typo}
spec:
  replicas: 1
  selectr: {}
";
        let report = check(text);
        assert_eq!(report.checked, 2);
        let lines: Vec<(usize, &str)> = report
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    12,
                    "spec.strategy.canary.stableService: must differ from canaryService"
                ),
                (
                    14,
                    "spec.strategy.canary.steps[0].setWeight: must be <= 100, got 150"
                ),
                (21, "spec.selectr: unknown field"),
                (19, "spec.selector: required"),
            ]
        );
    }

    #[test]
    fn a_syntax_error_names_its_line_in_the_stream() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: [unclosed\n";
        let report = check(text);
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert_eq!(report.problems[0].line, 5, "{report:?}");
    }
}
