//! Metric providers: `prometheus` and `web`. A metric's provider is first resolved (every
//! `{{args.NAME}}` substituted, twice: the real text sent out, and a redacted copy that status
//! and the providers' own messages name), then measured. Error messages are scrubbed of secret
//! values ([`Secrets::scrub`]) before they leave this module: an HTTP error or an answer may
//! quote a URL, header or body built from a secret, in any encoding.

mod prometheus;
mod web;

use std::collections::BTreeMap;
use std::time::Duration;

use rollout_rs_crds::analysis::{Metric, MetricProvider};

use crate::args::{ArgError, ArgValue, substitute};
use crate::measured::Measured;
use crate::secrets::Secrets;

/// A metric's provider with its arguments substituted. Its `Debug` shows only the redacted
/// form.
#[derive(Clone)]
pub struct Resolved {
    /// What is sent: secrets in clear.
    provider: MetricProvider,
    /// The same with secrets redacted: what messages name.
    shown: MetricProvider,
    /// What may be shown about the request (`resolvedQuery`, `url`): secrets redacted.
    pub metadata: BTreeMap<String, String>,
    secrets: Secrets,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("shown", &self.shown)
            .field("metadata", &self.metadata)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// The secret values the request was built with.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
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
    Ok(Resolved {
        provider,
        shown,
        metadata,
        secrets: Secrets::from_args(args),
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

/// Takes one measurement. The error is scrubbed of secrets; the value is not (conditions judge
/// what the provider answered), so whoever shows it scrubs it (`measurement::take` does).
pub async fn measure(resolved: &Resolved, http: &Http) -> Result<Measured, ProviderError> {
    let (p, w) = (&resolved.provider, &resolved.shown);
    let result = match (&p.prometheus, &p.web, &w.prometheus, &w.web) {
        (Some(p), None, Some(shown), None) => {
            prometheus::measure(p, shown, http.client(p.insecure)).await
        }
        (None, Some(w), None, Some(shown)) => {
            web::measure(w, shown, &resolved.secrets, http.client(w.insecure)).await
        }
        _ => Err(ProviderError("a metric needs exactly one provider".into())),
    };
    result.map_err(|e| ProviderError(resolved.secrets.scrub(&e.0)))
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
            r.secrets().scrub("GET http://x?t=s3cr3t failed"),
            "GET http://x?t=***** failed"
        );
        let debug = format!("{r:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        let missing = resolve(&metric, &BTreeMap::new()).unwrap_err();
        assert_eq!(missing.to_string(), "argument \"host\" has no value");
    }
}
