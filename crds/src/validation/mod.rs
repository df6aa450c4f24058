//! Pure spec validation: no I/O, no cluster. Every rule returns [`FieldError`]s naming the field
//! path the way `kubectl explain` spells it (`spec.strategy.canary.steps[2].setWeight: must be
//! <= 100`), so the same message reads well in a status condition, an Event and `lint` output.
//!
//! Checks that need the cluster (does the referenced Service or template exist?) belong to the
//! controllers, not here.

mod analysis;
mod gitsync;
mod names;
mod rollout;

use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use analysis::{analysis_run, analysis_template};
pub use gitsync::git_sync;
pub use rollout::rollout;

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `spec.strategy.canary.steps[2].setWeight`.
    pub path: String,
    /// What is wrong, e.g. `must be <= 100`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All errors of one object in one line, for a status condition or an Event.
pub fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects errors while a validator walks a spec.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn non_negative(&mut self, path: impl fmt::Display, value: Option<i32>) {
        if let Some(v) = value.filter(|v| *v < 0) {
            self.add(path, format!("must be >= 0, got {v}"));
        }
    }

    /// An optional name that, when present, must be a valid DNS-1035 label (Service names).
    fn service_name(&mut self, path: impl fmt::Display, value: Option<&str>) {
        if let Some(name) = value
            && let Err(why) = names::dns1035_label(name)
        {
            self.add(path, format!("{name:?} is not a valid Service name: {why}"));
        }
    }

    /// An optional name of an object (Ingress, HTTPRoute...): a DNS-1123 subdomain.
    fn object_name(&mut self, path: impl fmt::Display, value: &str) {
        if let Err(why) = names::dns1123_subdomain(value) {
            self.add(path, format!("{value:?} is not a valid object name: {why}"));
        }
    }

    fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// Checks a `maxSurge` / `maxUnavailable` value: a non-negative integer or `"N%"`. Returns
/// whether the value is zero, for the "not both 0" rule.
fn int_or_percent(
    errs: &mut Errors,
    path: &str,
    value: &IntOrString,
    max_percent: Option<u32>,
) -> bool {
    match value {
        IntOrString::Int(n) if *n < 0 => {
            errs.add(path, format!("must be >= 0, got {n}"));
            false
        }
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => match s.strip_suffix('%').map(str::parse::<u32>) {
            Some(Ok(p)) => {
                if let Some(max) = max_percent.filter(|max| p > *max) {
                    errs.add(path, format!("must be <= {max}%, got {s:?}"));
                }
                p == 0
            }
            _ => {
                errs.add(
                    path,
                    format!("must be an integer or a percentage like \"25%\", got {s:?}"),
                );
                false
            }
        },
    }
}

/// Names of the fields in `fields` that are set, for "exactly one of" rules.
fn set_fields<'a>(fields: &[(&'a str, bool)]) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect()
}

/// Enforces "exactly one of" over `fields`, reporting at `path`.
fn exactly_one(errs: &mut Errors, path: &str, fields: &[(&str, bool)]) {
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    match set_fields(fields).as_slice() {
        [_] => {}
        [] => errs.add(path, format!("set exactly one of {}", names.join(", "))),
        set => errs.add(
            path,
            format!(
                "set exactly one of {}, found {}",
                names.join(", "),
                set.join(" and ")
            ),
        ),
    }
}
