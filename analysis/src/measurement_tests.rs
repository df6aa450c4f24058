//! Every way a provider call's text leaves a measurement (message, value, metadata), with a
//! secret argument the endpoint quotes back in some encoding.

use super::*;
use crate::test_http::{Reply, Request, ascii_json, serve_once};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rollout_rs_crds::analysis::{
    BasicAuth, HttpHeader, MetricProvider, PrometheusAuthentication, PrometheusMetric, WebMetric,
};

/// Space, '@', '"', '+', a 2-byte, a 3-byte and a 4-byte character: each is written
/// differently by percent-encoding (path, query, form), JSON and Rust's `{:?}`.
const SECRET: &str = "s3cr3t p@ss\"+é☃𝄞";
/// Also a backslash, which URLs do not keep (a path's '\' becomes '/'), for headers only.
const HEADER_SECRET: &str = "qu\"ote\\back é☃𝄞\ttab";

fn args(secret: &str) -> BTreeMap<String, Option<ArgValue>> {
    [(
        "token".to_string(),
        Some(ArgValue {
            value: secret.into(),
            secret: true,
        }),
    )]
    .into()
}

fn web(url: String, headers: Vec<HttpHeader>, success: Option<&str>) -> Metric {
    Metric {
        name: "m".into(),
        success_condition: success.map(String::from),
        provider: MetricProvider {
            prometheus: None,
            web: Some(WebMetric {
                url,
                headers,
                timeout_seconds: Some(30),
                ..Default::default()
            }),
        },
        ..Default::default()
    }
}

fn prometheus(address: String, auth: Option<PrometheusAuthentication>) -> Metric {
    Metric {
        name: "m".into(),
        provider: MetricProvider {
            prometheus: Some(PrometheusMetric {
                address: Some(address),
                query: "up{token=\"{{args.token}}\"}".into(),
                authentication: auth,
                timeout: Some(30),
                ..Default::default()
            }),
            web: None,
        },
        ..Default::default()
    }
}

fn lower_hex(s: &str) -> String {
    // Only the two characters after each '%' are hex digits to lower.
    let mut out = String::with_capacity(s.len());
    let mut hex = 0;
    for c in s.chars() {
        if hex > 0 {
            out.push(c.to_ascii_lowercase());
            hex -= 1;
        } else {
            if c == '%' {
                hex = 2;
            }
            out.push(c);
        }
    }
    out
}

/// The forms of `secret` that must not appear anywhere, computed with the encoders the
/// providers and servers use (url, serde_json, base64), independently of the scrubber.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    if let Ok(u) = reqwest::Url::parse(&format!("http://h/{secret}?q={secret}#{secret}")) {
        out.push(u.path()[1..].to_string());
        out.extend(u.query().map(|q| q[2..].to_string()));
        out.extend(u.fragment().map(String::from));
    }
    if let Ok(mut u) = reqwest::Url::parse("http://h/") {
        u.query_pairs_mut().append_pair("q", secret);
        out.extend(u.query().map(|q| q[2..].to_string()));
    }
    out.extend(out.clone().iter().map(|e| lower_hex(e)));
    let json = serde_json::to_string(secret).expect("a string serializes");
    out.push(json[1..json.len() - 1].to_string());
    let ascii = ascii_json(secret);
    out.push(ascii[1..ascii.len() - 1].to_string());
    let debug = format!("{secret:?}");
    out.push(debug[1..debug.len() - 1].to_string());
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
        out.push(engine.encode(format!("user:{secret}")));
        // Inside a longer base64 text the secret starts at any of 3 offsets in a 3-byte
        // group: the whole groups from each offset on are encoded the same wherever it is.
        for skip in 0..3 {
            let bytes = &secret.as_bytes()[skip..];
            let whole = bytes.len() / 3 * 3;
            out.push(STANDARD_NO_PAD.encode(&bytes[..whole]));
            out.push(URL_SAFE_NO_PAD.encode(&bytes[..whole]));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Checks every string of `m` that leaves the engine.
fn assert_hidden(m: &Measurement, secret: &str) {
    let mut texts: Vec<(&str, &str)> = vec![
        ("message", m.message.as_deref().unwrap_or_default()),
        ("value", m.value.as_deref().unwrap_or_default()),
    ];
    texts.extend(m.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (place, text) in texts {
        for e in encodings(secret) {
            assert!(!text.contains(&e), "{e:?} is in the {place}: {text:?}");
        }
    }
}

async fn take_from(
    metric: Metric,
    secret: &str,
    server: std::thread::JoinHandle<Request>,
) -> (Measurement, Request) {
    let http = Http::new().expect("an HTTP client");
    let m = take(&metric, &args(secret), &http).await;
    let request = server.join().expect("the server thread");
    (m, request)
}

#[tokio::test]
async fn a_failed_web_request_does_not_show_the_secret_of_its_url() {
    let (base, server) = serve_once(|_| Reply::Close);
    let metric = web(
        format!("{base}/probe/{{{{args.token}}}}?token={{{{args.token}}}}"),
        Vec::new(),
        None,
    );
    let (m, request) = take_from(metric, SECRET, server).await;
    // The secret was sent, percent-encoded by reqwest.
    assert!(
        request.target.contains("s3cr3t%20p@ss%22+%C3%A9"),
        "{request:?}"
    );
    assert_eq!(m.phase, AnalysisPhase::Error);
    let message = m.message.as_deref().unwrap_or_default();
    assert!(message.contains("*****"), "{message}");
    assert!(message.contains(&format!("{base}/probe/")), "{message}");
    assert_hidden(&m, SECRET);
}

#[tokio::test]
async fn an_error_answer_quoting_the_secret_is_scrubbed_before_it_is_cut() {
    let (base, server) = serve_once(|r| {
        // The header quoted the way ASCII-only JSON encoders write it, then the request
        // target (percent-encoded) placed so that the quote's 200 characters end inside the
        // secret: cutting before scrubbing would keep a prefix that no longer matches.
        let auth = ascii_json(r.header("authorization").unwrap_or_default());
        let head = format!("{{\"auth\":{auth},\"padding\":\"");
        let before_target = "\",\"target\":\"/q?token=";
        let padding = 185usize.saturating_sub(head.chars().count() + before_target.len());
        Reply::Answer {
            status: 500,
            content_type: "application/json",
            body: format!(
                "{head}{}{before_target}{}\"}}",
                "x".repeat(padding),
                r.target.strip_prefix("/q?token=").unwrap_or(&r.target)
            ),
        }
    });
    let metric = web(
        format!("{base}/q?token={{{{args.token}}}}"),
        vec![HttpHeader {
            key: "Authorization".into(),
            value: "Bearer {{args.token}}".into(),
        }],
        None,
    );
    let (m, _) = take_from(metric, SECRET, server).await;
    assert_eq!(m.phase, AnalysisPhase::Error);
    let message = m.message.as_deref().unwrap_or_default();
    assert!(message.contains("answered 500"), "{message}");
    assert!(message.contains("\"auth\":\"Bearer *****\""), "{message}");
    assert!(!message.contains("s3cr3t"), "a cut secret is in {message}");
    assert_hidden(&m, SECRET);
}

#[tokio::test]
async fn a_200_answer_echoing_a_secret_header_is_scrubbed_from_the_value() {
    let (base, server) = serve_once(|r| Reply::Answer {
        status: 200,
        content_type: "application/json",
        body: serde_json::json!({ "auth": r.header("authorization") }).to_string(),
    });
    let metric = web(
        format!("{base}/json"),
        vec![HttpHeader {
            key: "Authorization".into(),
            value: "Bearer {{args.token}}".into(),
        }],
        Some("result.auth != ''"),
    );
    let (m, request) = take_from(metric, HEADER_SECRET, server).await;
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {HEADER_SECRET}").as_str())
    );
    assert_eq!(m.phase, AnalysisPhase::Successful, "{m:?}");
    assert_eq!(m.value.as_deref(), Some("{\"auth\":\"Bearer *****\"}"));
    assert_hidden(&m, HEADER_SECRET);
}

#[tokio::test]
async fn a_condition_quoting_the_value_is_scrubbed_from_the_message() {
    let (base, server) = serve_once(|r| Reply::Answer {
        status: 200,
        content_type: "application/json",
        body: serde_json::json!({ "auth": r.header("authorization") }).to_string(),
    });
    // Not a boolean: the message quotes the value with Rust's `{:?}` escapes.
    let metric = web(
        format!("{base}/json"),
        vec![HttpHeader {
            key: "Authorization".into(),
            value: "Bearer {{args.token}}".into(),
        }],
        Some("result.auth"),
    );
    let (m, _) = take_from(metric, HEADER_SECRET, server).await;
    assert_eq!(m.phase, AnalysisPhase::Error);
    let message = m.message.as_deref().unwrap_or_default();
    assert!(message.contains("Bearer *****"), "{message}");
    assert_hidden(&m, HEADER_SECRET);
}

#[tokio::test]
async fn a_prometheus_error_does_not_show_the_form_encoded_query() {
    let (base, server) = serve_once(|_| Reply::Answer {
        status: 401,
        content_type: "text/plain",
        body: "unauthorized".into(),
    });
    let (m, request) = take_from(prometheus(base, None), SECRET, server).await;
    // Sent form-encoded: space as '+', '@' as %40.
    assert!(request.target.contains("s3cr3t+p%40ss"), "{request:?}");
    assert_eq!(m.phase, AnalysisPhase::Error);
    assert_eq!(
        m.metadata.get("resolvedQuery").map(String::as_str),
        Some("up{token=\"*****\"}")
    );
    assert_hidden(&m, SECRET);
}

#[tokio::test]
async fn a_prometheus_error_echoing_basic_auth_does_not_show_its_base64() {
    let (base, server) = serve_once(|r| Reply::Answer {
        status: 200,
        content_type: "application/json",
        body: serde_json::json!({
            "status": "error",
            "errorType": "bad_data",
            "error": format!("bad credentials {}", r.header("authorization").unwrap_or_default()),
        })
        .to_string(),
    });
    let auth = PrometheusAuthentication {
        basic_auth: Some(BasicAuth {
            username: Some("user".into()),
            password: Some("{{args.token}}".into()),
        }),
        bearer_token: None,
    };
    let (m, request) = take_from(prometheus(base, Some(auth)), SECRET, server).await;
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {}", STANDARD.encode(format!("user:{SECRET}"))).as_str())
    );
    assert_eq!(m.phase, AnalysisPhase::Error);
    let message = m.message.as_deref().unwrap_or_default();
    assert!(message.contains("bad credentials Basic "), "{message}");
    assert!(message.contains("*****"), "{message}");
    assert_hidden(&m, SECRET);
}
