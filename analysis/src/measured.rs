//! What a provider returns: a scalar, a vector of samples (Prometheus), or any JSON (web). It
//! is shown in status as text and handed to conditions as the CEL variable `result`.

use std::fmt;

/// A provider's result.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    Scalar(f64),
    /// Sample values in series order (a range query's samples series by series).
    Vector(Vec<f64>),
    Json(serde_json::Value),
}

impl Measured {
    /// Nothing to judge: an empty vector, or JSON null / an empty list.
    pub fn is_empty(&self) -> bool {
        match self {
            Measured::Scalar(_) => false,
            Measured::Vector(v) => v.is_empty(),
            Measured::Json(serde_json::Value::Null) => true,
            Measured::Json(serde_json::Value::Array(a)) => a.is_empty(),
            Measured::Json(_) => false,
        }
    }

    /// A NaN or an infinity among the samples (a ratio over zero requests, typically). CEL
    /// cannot compare them (`NaN >= 0.95` is an evaluation error, not false), so they never
    /// reach a condition.
    pub fn non_finite(&self) -> bool {
        match self {
            Measured::Scalar(f) => !f.is_finite(),
            Measured::Vector(v) => v.iter().any(|f| !f.is_finite()),
            Measured::Json(_) => false,
        }
    }

    /// The CEL value bound to `result`.
    pub fn to_cel(&self) -> cel::Value {
        match self {
            Measured::Scalar(f) => cel::Value::Float(*f),
            Measured::Vector(v) => cel::Value::List(
                v.iter()
                    .map(|f| cel::Value::Float(*f))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            Measured::Json(j) => json_to_cel(j),
        }
    }
}

fn json_to_cel(v: &serde_json::Value) -> cel::Value {
    use serde_json::Value as J;
    match v {
        J::Null => cel::Value::Null,
        J::Bool(b) => cel::Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => cel::Value::Int(i),
            (None, Some(u), _) => cel::Value::UInt(u),
            (_, _, Some(f)) => cel::Value::Float(f),
            _ => cel::Value::Null,
        },
        J::String(s) => cel::Value::String(s.clone().into()),
        J::Array(a) => cel::Value::List(a.iter().map(json_to_cel).collect::<Vec<_>>().into()),
        J::Object(o) => {
            let map: std::collections::HashMap<String, cel::Value> =
                o.iter().map(|(k, v)| (k.clone(), json_to_cel(v))).collect();
            cel::Value::Map(map.into())
        }
    }
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measured::Scalar(x) => write!(f, "{x}"),
            Measured::Vector(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Measured::Json(j) => write!(f, "{j}"),
        }
    }
}
