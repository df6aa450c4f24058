//! The Prometheus provider: an instant query (or a range query ending now) through
//! prometheus-http-query. Vectors become a list of sample values, matrices the samples of each
//! series in turn, scalars a number. Prometheus's own error text (a PromQL syntax error, say)
//! is kept in the message. Messages name the redacted address.

use std::time::Duration;

use base64::Engine as _;
use prometheus_http_query::{Client, Error as PromError, response::Data};
use rollout_rs_crds::analysis::PrometheusMetric;
use rollout_rs_crds::duration;

use super::{ProviderError, chain, with_timeout};
use crate::measured::Measured;

const DEFAULT_TIMEOUT_SECONDS: i64 = 30;

/// Measures `p` (secrets in clear); messages name `shown`'s address (secrets redacted).
pub(super) async fn measure(
    p: &PrometheusMetric,
    shown: &PrometheusMetric,
    http: &reqwest::Client,
) -> Result<Measured, ProviderError> {
    let address = p
        .address
        .as_deref()
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ProviderError("prometheus.address is not set".into()))?;
    let shown_address = shown.address.as_deref().unwrap_or_default();
    let client = Client::from(http.clone(), address).map_err(|e| {
        ProviderError(format!(
            "prometheus.address {shown_address:?}: {}",
            chain(&e)
        ))
    })?;
    let seconds = p
        .timeout
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    let limit = Duration::from_secs(seconds.unsigned_abs());
    let auth = headers(p)?;
    let what = format!("Prometheus at {shown_address}");
    let data = match &p.range_query {
        None => {
            let mut q = client.query(&p.query).timeout(seconds * 1000);
            for (k, v) in &auth {
                q = q.header(k.clone(), v.clone());
            }
            with_timeout(&what, limit, async {
                q.get().await.map_err(|e| failed(&what, e))
            })
            .await?
        }
        Some(range) => {
            let now = jiff::Timestamp::now();
            let back = |field: &str, text: &str| {
                duration::parse(text)
                    .map_err(|e| ProviderError(format!("prometheus.rangeQuery.{field}: {e}")))
            };
            let start = now.as_second() - back("start", &range.start)?.as_secs() as i64;
            let end = match &range.end {
                Some(e) => now.as_second() - back("end", e)?.as_secs() as i64,
                None => now.as_second(),
            };
            let step = back("step", &range.step)?.as_secs_f64();
            let mut q = client
                .query_range(&p.query, start, end, step)
                .timeout(seconds * 1000);
            for (k, v) in &auth {
                q = q.header(k.clone(), v.clone());
            }
            with_timeout(&what, limit, async {
                q.get().await.map_err(|e| failed(&what, e))
            })
            .await?
        }
    };
    Ok(match data.data() {
        Data::Scalar(s) => Measured::Scalar(s.value()),
        Data::Vector(v) => Measured::Vector(v.iter().map(|s| s.sample().value()).collect()),
        Data::Matrix(m) => Measured::Vector(
            m.iter()
                .flat_map(|series| series.samples().iter().map(|s| s.value()))
                .collect(),
        ),
    })
}

fn failed(what: &str, e: PromError) -> ProviderError {
    match e {
        // Prometheus answered: its message is what the user needs (a PromQL syntax error).
        PromError::Prometheus(p) => ProviderError(format!("{what} rejected the query: {p}")),
        other => ProviderError(format!("{what}: {}", chain(&other))),
    }
}

type Headers = Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>;

/// Custom headers and authentication, checked before anything is sent.
fn headers(p: &PrometheusMetric) -> Result<Headers, ProviderError> {
    use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
    let mut out = Vec::new();
    for h in &p.headers {
        let name = HeaderName::from_bytes(h.key.as_bytes())
            .map_err(|_| ProviderError(format!("header name {:?} is not valid", h.key)))?;
        let value = HeaderValue::from_str(&h.value)
            .map_err(|_| ProviderError(format!("the value of header {:?} is not valid", h.key)))?;
        out.push((name, value));
    }
    let auth = p.authentication.as_ref();
    let mut secret_header = |value: String| -> Result<(), ProviderError> {
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            ProviderError("the authentication value is not a valid header value".into())
        })?;
        v.set_sensitive(true);
        out.push((AUTHORIZATION, v));
        Ok(())
    };
    if let Some(basic) = auth.and_then(|a| a.basic_auth.as_ref()) {
        let user = basic.username.clone().unwrap_or_default();
        let password = basic.password.clone().unwrap_or_default();
        secret_header(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))?;
    }
    if let Some(token) = auth.and_then(|a| a.bearer_token.as_ref()) {
        secret_header(format!("Bearer {token}"))?;
    }
    Ok(out)
}
