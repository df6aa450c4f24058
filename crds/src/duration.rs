//! Durations as users write them in manifests: Go's `time.ParseDuration` syntax ("30s", "5m",
//! "1h30m", "1.5h", "250ms"), which Argo Rollouts, Argo CD and Flux all accept, and the
//! int-or-string form of pause steps (an integer means seconds).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error(
        "invalid duration {0:?}: expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1h30m\""
    )]
    Syntax(String),
    #[error("invalid duration {0:?}: must not be negative")]
    Negative(String),
    #[error("invalid duration {0:?}: too large")]
    Overflow(String),
}

/// Parses a Go-style duration. Negative durations are rejected: nothing here waits backwards.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(input.to_string()));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let syntax = || DurationError::Syntax(input.to_string());
    let mut rest = s;
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(syntax());
        }
        let value: f64 = num.parse().map_err(|_| syntax())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(syntax()),
        };
        total_nanos += value * nanos_per_unit;
        rest = tail;
    }
    // Go's limit is i64 nanoseconds (about 292 years).
    if !total_nanos.is_finite() || total_nanos > i64::MAX as f64 {
        return Err(DurationError::Overflow(input.to_string()));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// An int-or-string duration: an integer counts seconds, a string is parsed by [`parse`].
pub fn from_int_or_string(v: &IntOrString) -> Result<Duration, DurationError> {
    match v {
        IntOrString::Int(secs) => u64::try_from(*secs)
            .map(Duration::from_secs)
            .map_err(|_| DurationError::Negative(secs.to_string())),
        IntOrString::String(s) => parse(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ok = [
            ("0", 0),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("250ms", 250),
            ("2m3s", 123_000),
            ("+10s", 10_000),
        ];
        for (s, ms) in ok {
            assert_eq!(parse(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        assert_eq!(parse("1500us"), Ok(Duration::from_micros(1500)));
    }

    #[test]
    fn rejects_bad_durations() {
        for s in [
            "",
            "30",
            "s",
            "1x",
            "1.2.3s",
            "-5s",
            "5 m",
            "1e3s",
            "9999999999h",
        ] {
            assert!(parse(s).is_err(), "{s:?} should be rejected");
        }
        assert!(matches!(parse("-1s"), Err(DurationError::Negative(_))));
    }

    #[test]
    fn int_or_string() {
        assert_eq!(
            from_int_or_string(&IntOrString::Int(30)),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            from_int_or_string(&IntOrString::String("1m".into())),
            Ok(Duration::from_secs(60))
        );
        assert!(from_int_or_string(&IntOrString::Int(-1)).is_err());
    }
}
