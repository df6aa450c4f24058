//! The messages whose JSON form is not an object of their fields: times, quantities,
//! int-or-strings, embedded raw JSON, and the wrappers Go marshals as plain lists.

use jiff::Timestamp;
use serde_json::Value;

/// A message with a JSON form of its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Known {
    /// `{seconds, nanos}` <-> RFC 3339, whole seconds.
    Time,
    /// `{seconds, nanos}` <-> RFC 3339 with microseconds.
    MicroTime,
    /// `{duration}` nanoseconds <-> Go's duration string (`1m30s`).
    Duration,
    /// `{string}` <-> the string.
    Quantity,
    /// `{type, intVal, strVal}` <-> a number or a string.
    IntOrString,
    /// `{raw}` bytes <-> the JSON document they hold.
    RawJson,
    /// `{items}` <-> the list (`Verbs`, `ExtraValue`).
    List,
    /// apiextensions' `{schema, jsonSchemas}` <-> the schema or the list of schemas.
    SchemaOrArray,
    /// apiextensions' `{allows, schema}` <-> the schema or the boolean.
    SchemaOrBool,
    /// apiextensions' `{schema, property}` <-> the schema or the list of names.
    SchemaOrStringArray,
}

impl Known {
    pub fn of(path: &str) -> Option<Known> {
        let (module, name) = path.rsplit_once('.')?;
        let apiextensions = module.starts_with("apiextensions_apiserver.");
        Some(match name {
            "Time" if module == "apimachinery.pkg.apis.meta.v1" => Known::Time,
            "MicroTime" if module == "apimachinery.pkg.apis.meta.v1" => Known::MicroTime,
            "Duration" if module == "apimachinery.pkg.apis.meta.v1" => Known::Duration,
            "Quantity" if module == "apimachinery.pkg.api.resource" => Known::Quantity,
            "IntOrString" => Known::IntOrString,
            "RawExtension" | "FieldsV1" => Known::RawJson,
            "Json" if apiextensions => Known::RawJson,
            "Verbs" | "ExtraValue" => Known::List,
            "JsonSchemaPropsOrArray" if apiextensions => Known::SchemaOrArray,
            "JsonSchemaPropsOrBool" if apiextensions => Known::SchemaOrBool,
            "JsonSchemaPropsOrStringArray" if apiextensions => Known::SchemaOrStringArray,
            _ => return None,
        })
    }
}

/// Go's zero `time.Time`: what a non-pointer time nobody set is sent as; JSON says null.
const ZERO_TIME: i64 = -62_135_596_800;

pub(super) fn time_to_json(seconds: i64, nanos: i64, micro: bool) -> Result<Value, String> {
    if seconds == ZERO_TIME && nanos == 0 {
        return Ok(Value::Null);
    }
    let ts = Timestamp::new(seconds, i32::try_from(nanos).unwrap_or(0))
        .map_err(|e| format!("time {seconds}s: {e}"))?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(Value::String(ts.strftime(format).to_string()))
}

/// `(seconds, nanos)` of an RFC 3339 time.
pub(super) fn time_from_json(text: &str) -> Result<(i64, i32), String> {
    let ts: Timestamp = text.parse().map_err(|e| format!("time {text:?}: {e}"))?;
    Ok((ts.as_second(), ts.subsec_nanosecond()))
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `2m0s`, `1h0m0s`, `300ms`.
pub(super) fn duration_to_json(nanos: i64) -> Value {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let text = if n == 0 {
        "0s".to_string()
    } else if n < 1_000_000_000 {
        let (unit, div) = match n {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        format!("{}{unit}", decimal(n, div))
    } else {
        let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
        let (m, s) = (rest / 60_000_000_000, rest % 60_000_000_000);
        let seconds = format!("{}s", decimal(s, 1_000_000_000));
        match (h, m) {
            (0, 0) => seconds,
            (0, m) => format!("{m}m{seconds}"),
            (h, m) => format!("{h}h{m}m{seconds}"),
        }
    };
    Value::String(format!("{sign}{text}"))
}

/// `n / div` with the fraction's trailing zeros left off, as Go prints durations.
fn decimal(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Nanoseconds of a Go duration string.
pub(super) fn duration_from_json(text: &str) -> Result<i64, String> {
    let span: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("duration {text:?}: {e}"))?;
    i64::try_from(span.as_nanos()).map_err(|_| format!("duration {text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        for (nanos, text) in [
            (0, "0s"),
            (1_500_000_000, "1.5s"),
            (120_000_000_000, "2m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (300_000_000, "300ms"),
            (-90_000_000_000, "-1m30s"),
        ] {
            assert_eq!(duration_to_json(nanos), Value::String(text.into()));
            assert_eq!(duration_from_json(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn times_print_as_rfc3339_and_go_zero_is_null() {
        assert_eq!(
            time_to_json(1_700_000_000, 0, false),
            Ok(Value::String("2023-11-14T22:13:20Z".into()))
        );
        assert_eq!(
            time_to_json(1_700_000_000, 123_456_000, true),
            Ok(Value::String("2023-11-14T22:13:20.123456Z".into()))
        );
        assert_eq!(time_to_json(ZERO_TIME, 0, false), Ok(Value::Null));
        assert_eq!(
            time_from_json("2023-11-14T22:13:20.5Z"),
            Ok((1_700_000_000, 500_000_000))
        );
    }
}
