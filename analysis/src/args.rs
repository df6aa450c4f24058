//! `{{args.NAME}}` substitution in metric fields (queries, URLs, headers). Argument names may
//! contain '-', so this is a plain substituter rather than a template language. Every text is
//! produced twice: resolved (sent to the provider) and redacted (secret values replaced by
//! `*****`), the only form that may reach logs, Events or status.

use std::collections::BTreeMap;

/// A resolved argument value. Its `Debug` redacts a secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct ArgValue {
    pub value: String,
    /// It came from a Secret: never shown.
    pub secret: bool,
}

impl std::fmt::Debug for ArgValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.secret { REDACTED } else { &self.value };
        f.debug_struct("ArgValue")
            .field("value", &value)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Why a text could not be resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("argument {0:?} has no value")]
    Missing(String),
    #[error("unknown placeholder {{{{{0}}}}}: only {{{{args.NAME}}}} is supported")]
    Unknown(String),
    #[error("unterminated placeholder in {0:?}")]
    Unterminated(String),
}

/// What secret values are replaced by in redacted text.
pub const REDACTED: &str = "*****";

/// Substitutes every `{{args.NAME}}` (spaces inside the braces allowed). Returns the resolved
/// and the redacted text.
pub fn substitute(
    text: &str,
    args: &BTreeMap<String, Option<ArgValue>>,
) -> Result<(String, String), ArgError> {
    let mut resolved = String::with_capacity(text.len());
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        resolved.push_str(&rest[..start]);
        redacted.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| ArgError::Unterminated(text.to_string()))?;
        let inner = after[..end].trim();
        let name = inner
            .strip_prefix("args.")
            .ok_or_else(|| ArgError::Unknown(inner.to_string()))?;
        match args.get(name) {
            Some(Some(v)) => {
                resolved.push_str(&v.value);
                redacted.push_str(if v.secret { REDACTED } else { &v.value });
            }
            Some(None) | None => return Err(ArgError::Missing(name.to_string())),
        }
        rest = &after[end + 2..];
    }
    resolved.push_str(rest);
    redacted.push_str(rest);
    Ok((resolved, redacted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> BTreeMap<String, Option<ArgValue>> {
        [
            (
                "service-name".to_string(),
                Some(ArgValue {
                    value: "web-canary".into(),
                    secret: false,
                }),
            ),
            (
                "token".to_string(),
                Some(ArgValue {
                    value: "s3cr3t".into(),
                    secret: true,
                }),
            ),
            ("unset".to_string(), None),
        ]
        .into()
    }

    #[test]
    fn substitutes_and_redacts() {
        let (resolved, redacted) = substitute(
            "rate(x{svc=\"{{args.service-name}}\"}[1m]) / {{ args.service-name }}",
            &args(),
        )
        .expect("resolves");
        assert_eq!(resolved, "rate(x{svc=\"web-canary\"}[1m]) / web-canary");
        assert_eq!(redacted, resolved);
        let (resolved, redacted) = substitute("Bearer {{args.token}}", &args()).expect("resolves");
        assert_eq!(resolved, "Bearer s3cr3t");
        assert_eq!(redacted, "Bearer *****");
        assert_eq!(
            substitute("no placeholders {x}", &args()).expect("ok").0,
            "no placeholders {x}"
        );
        let debug = format!("{:?}", args());
        assert!(
            !debug.contains("s3cr3t") && debug.contains("web-canary"),
            "{debug}"
        );
    }

    #[test]
    fn errors_name_the_argument() {
        assert_eq!(
            substitute("{{args.unset}}", &args())
                .unwrap_err()
                .to_string(),
            "argument \"unset\" has no value"
        );
        assert_eq!(
            substitute("{{args.nope}}", &args())
                .unwrap_err()
                .to_string(),
            "argument \"nope\" has no value"
        );
        assert_eq!(
            substitute("{{metric.x}}", &args()).unwrap_err().to_string(),
            "unknown placeholder {{metric.x}}: only {{args.NAME}} is supported"
        );
        assert!(matches!(
            substitute("{{args.token", &args()),
            Err(ArgError::Unterminated(_))
        ));
    }
}
