//! Success and failure conditions: CEL over `result`, judged the way Argo Rollouts users know
//! (both unset: Successful; only one set: its negation is the other outcome; both set and
//! neither true: Inconclusive). Empty results and NaN/Inf never reach CEL: the metric's
//! no-data policy decides them (default Inconclusive), so a rollout never promotes on missing
//! data and never crashes on it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use rollout_rs_crds::analysis::{AnalysisPhase, Metric, NoDataPolicy};

use crate::measured::Measured;

/// A condition that does not compile, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConditionError {
    /// `successCondition` or `failureCondition`.
    pub field: &'static str,
    pub message: String,
}

/// The judgement of one measured value.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub phase: AnalysisPhase,
    pub message: Option<String>,
}

/// Message of a measurement whose query returned nothing.
pub const NO_DATA: &str = "query returned no data";

/// Compiles both conditions of a metric; used when templates and runs are validated.
pub fn check(metric: &Metric) -> Vec<ConditionError> {
    [
        ("successCondition", metric.success_condition.as_deref()),
        ("failureCondition", metric.failure_condition.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, expr)| {
        // With an argument in it, it compiles once the run resolves it.
        let expr = expr.filter(|e| !e.contains("{{"))?;
        compile(expr)
            .err()
            .map(|message| ConditionError { field, message })
    })
    .collect()
}

fn compile(expr: &str) -> Result<cel::Program, String> {
    if expr.trim().is_empty() {
        return Err("empty expression".into());
    }
    cel::Program::compile(expr).map_err(|e| e.to_string().trim().to_string())
}

/// Programs compiled before, by source: a run measuring every second judges the same two
/// conditions each time, and compiling one costs more than evaluating it. Bounded: cleared
/// when it holds more than [`PROGRAMS_KEPT`] (a condition's arguments make it per run).
static PROGRAMS: LazyLock<Mutex<HashMap<String, Arc<cel::Program>>>> =
    LazyLock::new(Mutex::default);
const PROGRAMS_KEPT: usize = 4096;

/// CEL's standard functions, built once (a `Context::default` builds them anew each time).
static STDLIB: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

fn compiled(expr: &str) -> Result<Arc<cel::Program>, String> {
    let lock = || PROGRAMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(program) = lock().get(expr) {
        return Ok(program.clone());
    }
    let program = Arc::new(compile(expr)?);
    let mut programs = lock();
    if programs.len() >= PROGRAMS_KEPT {
        programs.clear();
    }
    programs.insert(expr.to_string(), program.clone());
    Ok(program)
}

/// Evaluates one condition to a boolean.
fn holds(field: &'static str, expr: &str, result: &cel::Value) -> Result<bool, String> {
    let program = compiled(expr).map_err(|e| format!("{field} does not compile: {e}"))?;
    let mut ctx = cel::Context::with_env(STDLIB.clone());
    ctx.add_variable_from_value("result", result.clone());
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "{field} {expr:?} returned {other:?}, not a boolean"
        )),
        Err(e) => Err(format!("{field} {expr:?} could not be evaluated: {e}")),
    }
}

/// Judges a measured value against the metric's conditions.
pub fn judge(metric: &Metric, value: &Measured) -> Verdict {
    let policy = metric.no_data_policy.unwrap_or(NoDataPolicy::Inconclusive);
    let no_data = |message: String| Verdict {
        phase: match policy {
            NoDataPolicy::Inconclusive => AnalysisPhase::Inconclusive,
            NoDataPolicy::Failed => AnalysisPhase::Failed,
            NoDataPolicy::Error => AnalysisPhase::Error,
        },
        message: Some(message),
    };
    if value.is_empty() {
        return no_data(NO_DATA.into());
    }
    if value.non_finite() {
        return no_data(format!(
            "query returned {value}: NaN or infinite values cannot be judged"
        ));
    }
    let result = value.to_cel();
    let success = metric
        .success_condition
        .as_deref()
        .map(|e| holds("successCondition", e, &result))
        .transpose();
    let failure = metric
        .failure_condition
        .as_deref()
        .map(|e| holds("failureCondition", e, &result))
        .transpose();
    let (success, failure) = match (success, failure) {
        (Ok(s), Ok(f)) => (s, f),
        (Err(e), _) | (_, Err(e)) => {
            return Verdict {
                phase: AnalysisPhase::Error,
                message: Some(e),
            };
        }
    };
    let phase = match (success, failure) {
        (None, None) => AnalysisPhase::Successful,
        (Some(s), None) => {
            if s {
                AnalysisPhase::Successful
            } else {
                AnalysisPhase::Failed
            }
        }
        (None, Some(f)) => {
            if f {
                AnalysisPhase::Failed
            } else {
                AnalysisPhase::Successful
            }
        }
        (Some(_), Some(true)) => AnalysisPhase::Failed,
        (Some(true), Some(false)) => AnalysisPhase::Successful,
        (Some(false), Some(false)) => AnalysisPhase::Inconclusive,
    };
    Verdict {
        phase,
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisPhase::*;

    fn metric(success: Option<&str>, failure: Option<&str>) -> Metric {
        Metric {
            name: "m".into(),
            success_condition: success.map(String::from),
            failure_condition: failure.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn conditions_table() {
        let v = |x: f64| Measured::Vector(vec![x]);
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Measured,
            AnalysisPhase,
        );
        let cases: Vec<Case> = vec![
            (
                "argo syntax passes",
                Some("result[0] >= 0.95"),
                None,
                v(0.97),
                Successful,
            ),
            (
                "argo syntax fails",
                Some("result[0] >= 0.95"),
                None,
                v(0.5),
                Failed,
            ),
            (
                "int literal against a float",
                Some("result[0] >= 1"),
                None,
                v(1.0),
                Successful,
            ),
            (
                "scalar result",
                Some("result >= 0.95"),
                None,
                Measured::Scalar(0.99),
                Successful,
            ),
            (
                "every sample",
                Some("result.all(x, x > 0.9)"),
                None,
                Measured::Vector(vec![0.95, 0.8]),
                Failed,
            ),
            (
                "only failure, not met",
                None,
                Some("result[0] > 0.1"),
                v(0.01),
                Successful,
            ),
            (
                "only failure, met",
                None,
                Some("result[0] > 0.1"),
                v(0.5),
                Failed,
            ),
            ("both unset", None, None, v(0.5), Successful),
            (
                "A4: neither true",
                Some("result[0] > 0.9"),
                Some("result[0] < 0.5"),
                v(0.7),
                Inconclusive,
            ),
            (
                "failure wins",
                Some("result[0] > 0.1"),
                Some("result[0] > 0.2"),
                v(0.7),
                Failed,
            ),
            (
                "both, success",
                Some("result[0] > 0.9"),
                Some("result[0] < 0.5"),
                v(0.95),
                Successful,
            ),
            (
                "A6: empty vector",
                Some("result[0] >= 0.95"),
                None,
                Measured::Vector(vec![]),
                Inconclusive,
            ),
            (
                "NaN guarded",
                Some("result[0] >= 0.95"),
                None,
                v(f64::NAN),
                Inconclusive,
            ),
            (
                "Inf guarded",
                Some("result[0] >= 0.95"),
                None,
                v(f64::INFINITY),
                Inconclusive,
            ),
            (
                "web JSON",
                Some("result.ok == true && result.rate < 0.01"),
                None,
                Measured::Json(serde_json::json!({"ok": true, "rate": 0.001})),
                Successful,
            ),
            (
                "non-boolean result",
                Some("result[0] + 1.0"),
                None,
                v(0.5),
                Error,
            ),
            (
                "index out of range",
                Some("result[3] > 0.0"),
                None,
                v(0.5),
                Error,
            ),
            (
                "string where a number is expected",
                Some("result > 0.5"),
                None,
                Measured::Json(serde_json::json!("high")),
                Error,
            ),
        ];
        for (what, s, f, value, phase) in cases {
            let verdict = judge(&metric(s, f), &value);
            assert_eq!(verdict.phase, phase, "{what}: {:?}", verdict.message);
        }
    }

    #[test]
    fn no_data_follows_the_policy_and_says_so() {
        let empty = Measured::Vector(vec![]);
        let verdict = judge(&metric(Some("result[0] > 0.0"), None), &empty);
        assert_eq!(verdict.message.as_deref(), Some(NO_DATA));
        for (policy, phase) in [
            (NoDataPolicy::Failed, Failed),
            (NoDataPolicy::Error, Error),
            (NoDataPolicy::Inconclusive, Inconclusive),
        ] {
            let m = Metric {
                no_data_policy: Some(policy),
                ..metric(Some("result[0] > 0.0"), None)
            };
            assert_eq!(judge(&m, &empty).phase, phase);
        }
    }

    #[test]
    fn evaluation_errors_name_the_condition() {
        let verdict = judge(
            &metric(Some("result[0] + 1.0"), None),
            &Measured::Vector(vec![0.5]),
        );
        let message = verdict.message.unwrap_or_default();
        assert!(
            message.starts_with("successCondition \"result[0] + 1.0\" returned"),
            "{message}"
        );
    }

    #[test]
    fn syntax_errors_are_found_when_checking() {
        let errs = check(&metric(Some("result[0] >= "), Some("result[0] < 0.5")));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "successCondition");
        assert!(!errs[0].message.is_empty());
        assert!(check(&metric(Some("result[0] >= 0.95"), None)).is_empty());
        assert_eq!(check(&metric(Some("  "), None)).len(), 1);
    }
}
