//! The web provider: an HTTP request whose JSON answer is the result, optionally narrowed by a
//! JSONPath (`{$.data.ok}`, the kubectl form Argo Rollouts uses, or plain `$.data.ok`).
//! Messages name the redacted URL; reqwest's errors lose theirs (it is the real one).

use std::time::Duration;

use jsonpath_rust::JsonPath;
use rollout_rs_crds::analysis::{WebMethod, WebMetric};

use super::{ProviderError, chain, with_timeout};
use crate::measured::Measured;
use crate::secrets::Secrets;

const DEFAULT_TIMEOUT_SECONDS: i64 = 10;
/// How much of an error response body is quoted.
const BODY_QUOTE: usize = 200;

/// Measures `w` (secrets in clear); messages name `shown`'s URL (secrets redacted).
pub(super) async fn measure(
    w: &WebMetric,
    shown: &WebMetric,
    secrets: &Secrets,
    http: &reqwest::Client,
) -> Result<Measured, ProviderError> {
    let method = match w.method.unwrap_or(WebMethod::Get) {
        WebMethod::Get => reqwest::Method::GET,
        WebMethod::Post => reqwest::Method::POST,
        WebMethod::Put => reqwest::Method::PUT,
    };
    let url = reqwest::Url::parse(&w.url)
        .map_err(|e| ProviderError(format!("web.url {:?}: {e}", shown.url)))?;
    let mut req = http.request(method, url);
    for h in &w.headers {
        req = req.header(h.key.as_str(), h.value.as_str());
    }
    if let Some(json) = &w.json_body {
        req = req.json(json);
    } else if let Some(body) = &w.body {
        req = req.body(body.clone());
    }
    let seconds = w
        .timeout_seconds
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    // reqwest's errors end with the URL sent, secrets percent-encoded in it: they are dropped
    // (`without_url`) and `what` names the redacted URL instead, which holds whatever the
    // secret's length. A redirect's target, which reqwest would name, is not shown.
    let what = format!("web metric {}", shown.url);
    let body = with_timeout(&what, Duration::from_secs(seconds.unsigned_abs()), async {
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError(format!("{what}: {}", chain(&e.without_url()))))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            ProviderError(format!(
                "{what}: reading the body: {}",
                chain(&e.without_url())
            ))
        })?;
        if !status.is_success() {
            // Scrubbed before it is cut: a secret cut in two no longer matches.
            let quote: String = secrets.scrub(&text).chars().take(BODY_QUOTE).collect();
            return Err(ProviderError(format!("{what} answered {status}: {quote}")));
        }
        Ok(text)
    })
    .await?;
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| ProviderError(format!("{what} did not answer JSON: {e}")))?;
    select(&json, w.json_path.as_deref()).map(Measured::Json)
}

/// Narrows the answer by the JSONPath: one match is the value itself, several a list.
fn select(
    json: &serde_json::Value,
    path: Option<&str>,
) -> Result<serde_json::Value, ProviderError> {
    let Some(path) = path.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(json.clone());
    };
    let inner = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path)
        .trim();
    let found = json
        .query(inner)
        .map_err(|e| ProviderError(format!("web.jsonPath {path:?}: {e}")))?;
    Ok(match found.as_slice() {
        [] => serde_json::Value::Null,
        [one] => (*one).clone(),
        many => serde_json::Value::Array(many.iter().map(|v| (*v).clone()).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_path_forms() {
        let doc = json!({"data": {"ok": true, "rates": [0.1, 0.2]}});
        assert_eq!(select(&doc, Some("{$.data.ok}")).expect("ok"), json!(true));
        assert_eq!(
            select(&doc, Some("$.data.rates[1]")).expect("ok"),
            json!(0.2)
        );
        assert_eq!(
            select(&doc, Some("$.data.rates[*]")).expect("ok"),
            json!([0.1, 0.2])
        );
        assert_eq!(
            select(&doc, Some("$.missing")).expect("ok"),
            serde_json::Value::Null
        );
        assert_eq!(select(&doc, None).expect("ok"), doc);
        assert!(select(&doc, Some("$.data[")).is_err());
    }
}
