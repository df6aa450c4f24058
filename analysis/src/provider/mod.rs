//! Metric providers: `prometheus` and `web`. A metric's provider is first resolved (every
//! `{{args.NAME}}` substituted, twice: the real text sent out, and a redacted copy for status),
//! then measured. Error messages are scrubbed of secret values before they leave this module:
//! an HTTP error may quote a URL or header built from a secret.

mod prometheus;
mod web;

use std::collections::BTreeMap;
use std::time::Duration;

use rollout_rs_crds::analysis::{Metric, MetricProvider};

use crate::args::{ArgError, ArgValue, REDACTED, substitute};
use crate::measured::Measured;

/// A metric's provider with its arguments substituted.
#[derive(Clone, Debug)]
pub struct Resolved {
    provider: MetricProvider,
    /// What may be shown about the request (`resolvedQuery`, `url`): secrets redacted.
    pub metadata: BTreeMap<String, String>,
    secrets: Vec<String>,
}

/// Why a measurement could not be taken. The message is free of secret values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// Substitutes the arguments into every text of the metric's provider.
pub fn resolve(
    metric: &Metric,
    args: &BTreeMap<String, Option<ArgValue>>,
) -> Result<Resolved, ArgError> {
    let raw = serde_json::to_value(&metric.provider).unwrap_or_default();
    let (resolved, redacted) = substitute_all(&raw, args)?;
    // Substitution only replaces text inside strings, so the shape is unchanged.
    let provider: MetricProvider = serde_json::from_value(resolved).unwrap_or_default();
    let shown: MetricProvider = serde_json::from_value(redacted).unwrap_or_default();
    let mut metadata = BTreeMap::new();
    if let Some(p) = &shown.prometheus {
        metadata.insert("resolvedQuery".to_string(), p.query.clone());
    }
    if let Some(w) = &shown.web {
        metadata.insert("url".to_string(), w.url.clone());
    }
    let secrets = args
        .values()
        .flatten()
        .filter(|a| a.secret && !a.value.is_empty())
        .map(|a| a.value.clone())
        .collect();
    Ok(Resolved {
        provider,
        metadata,
        secrets,
    })
}

fn substitute_all(
    v: &serde_json::Value,
    args: &BTreeMap<String, Option<ArgValue>>,
) -> Result<(serde_json::Value, serde_json::Value), ArgError> {
    use serde_json::Value as J;
    Ok(match v {
        J::String(s) => {
            let (a, b) = substitute(s, args)?;
            (J::String(a), J::String(b))
        }
        J::Array(items) => {
            let mut a = Vec::with_capacity(items.len());
            let mut b = Vec::with_capacity(items.len());
            for item in items {
                let (x, y) = substitute_all(item, args)?;
                a.push(x);
                b.push(y);
            }
            (J::Array(a), J::Array(b))
        }
        J::Object(fields) => {
            let mut a = serde_json::Map::new();
            let mut b = serde_json::Map::new();
            for (k, item) in fields {
                let (x, y) = substitute_all(item, args)?;
                a.insert(k.clone(), x);
                b.insert(k.clone(), y);
            }
            (J::Object(a), J::Object(b))
        }
        other => (other.clone(), other.clone()),
    })
}

/// HTTP clients shared by every measurement (building one loads the TLS roots).
#[derive(Clone, Debug)]
pub struct Http {
    verified: reqwest::Client,
    insecure: reqwest::Client,
}

impl Http {
    pub fn new() -> Result<Self, ProviderError> {
        let build = |insecure: bool| {
            reqwest::Client::builder()
                .tls_danger_accept_invalid_certs(insecure)
                .build()
                .map_err(|e| ProviderError(format!("building the HTTP client: {}", chain(&e))))
        };
        Ok(Http {
            verified: build(false)?,
            insecure: build(true)?,
        })
    }

    fn client(&self, insecure: bool) -> &reqwest::Client {
        if insecure {
            &self.insecure
        } else {
            &self.verified
        }
    }
}

/// Takes one measurement.
pub async fn measure(resolved: &Resolved, http: &Http) -> Result<Measured, ProviderError> {
    let result = match (&resolved.provider.prometheus, &resolved.provider.web) {
        (Some(p), None) => prometheus::measure(p, http.client(p.insecure)).await,
        (None, Some(w)) => web::measure(w, http.client(w.insecure)).await,
        _ => Err(ProviderError("a metric needs exactly one provider".into())),
    };
    result.map_err(|e| ProviderError(scrub(&e.0, &resolved.secrets)))
}

/// Replaces every secret value in `text`.
fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), REDACTED))
}

/// An error and its causes, on one line (reqwest's own message omits the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Runs `fut` with a deadline, naming what timed out.
async fn with_timeout<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError(format!(
            "{what} did not answer within {}s",
            limit.as_secs_f64()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_rs_crds::analysis::{HttpHeader, PrometheusMetric};

    #[test]
    fn resolves_every_text_and_shows_only_the_redacted_one() {
        let metric = Metric {
            name: "m".into(),
            provider: MetricProvider {
                prometheus: Some(PrometheusMetric {
                    address: Some("http://{{args.host}}:9090".into()),
                    query: "up{job=\"{{args.host}}\",token=\"{{args.token}}\"}".into(),
                    headers: vec![HttpHeader {
                        key: "Authorization".into(),
                        value: "Bearer {{args.token}}".into(),
                    }],
                    ..Default::default()
                }),
                web: None,
            },
            ..Default::default()
        };
        let args: BTreeMap<String, Option<ArgValue>> = [
            (
                "host".to_string(),
                Some(ArgValue {
                    value: "prom".into(),
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
        ]
        .into();
        let r = resolve(&metric, &args).expect("resolves");
        let p = r.provider.prometheus.as_ref().expect("prometheus");
        assert_eq!(p.address.as_deref(), Some("http://prom:9090"));
        assert_eq!(p.headers[0].value, "Bearer s3cr3t");
        assert_eq!(
            r.metadata.get("resolvedQuery").map(String::as_str),
            Some("up{job=\"prom\",token=\"*****\"}")
        );
        assert_eq!(
            scrub("GET http://x?t=s3cr3t failed", &r.secrets),
            "GET http://x?t=***** failed"
        );
        let missing = resolve(&metric, &BTreeMap::new()).unwrap_err();
        assert_eq!(missing.to_string(), "argument \"host\" has no value");
    }
}
