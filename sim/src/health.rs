//! The API server's health endpoints: `/healthz`, `/livez` and `/readyz`, plain `ok` or, with
//! `?verbose`, one `[+]check ok` line per check and `<endpoint> check passed`, as the real
//! server writes them; `/readyz/<check>` answers one check and `?exclude=<check>` skips one.
//!
//! The simulator is healthy whenever it answers, so every check passes: this module reports,
//! it never looks at the state.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The real kube-apiserver's checks (a representative subset of its post-start hooks), in its
/// order.
fn checks(endpoint: &str) -> Vec<&'static str> {
    let mut checks = vec!["ping", "log", "etcd"];
    if endpoint == "readyz" {
        checks.extend(["etcd-readiness", "informer-sync"]);
    }
    checks.extend([
        "poststarthook/start-apiserver-admission-initializer",
        "poststarthook/generic-apiserver-start-informers",
        "poststarthook/start-apiextensions-informers",
        "poststarthook/start-apiextensions-controllers",
        "poststarthook/crd-informer-synced",
        "poststarthook/bootstrap-controller",
        "poststarthook/apiservice-registration-controller",
    ]);
    if endpoint == "readyz" {
        checks.push("shutdown");
    }
    checks
}

fn text(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Answers `GET /<endpoint>[/<check>]`; `None` when `endpoint` is not a health endpoint.
pub fn answer(endpoint: &str, check: Option<&str>, raw_query: &str) -> Option<Response> {
    if !matches!(endpoint, "healthz" | "livez" | "readyz") {
        return None;
    }
    let checks = checks(endpoint);
    if let Some(check) = check {
        return Some(if checks.contains(&check) {
            text(StatusCode::OK, "ok".into())
        } else {
            text(StatusCode::NOT_FOUND, "404 page not found\n".into())
        });
    }
    // Read from the raw query: `?verbose` carries no value and `exclude` may repeat.
    let verbose = raw_query
        .split('&')
        .any(|p| p == "verbose" || p.starts_with("verbose="));
    let excluded: Vec<String> = raw_query
        .split('&')
        .filter_map(|p| p.strip_prefix("exclude="))
        .map(|c| {
            percent_encoding::percent_decode_str(c)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    if !verbose {
        return Some(text(StatusCode::OK, "ok".into()));
    }
    let mut out = String::new();
    for c in checks {
        if excluded.iter().any(|e| e == c) {
            out.push_str(&format!("[+]{c} excluded: ok\n"));
        } else {
            out.push_str(&format!("[+]{c} ok\n"));
        }
    }
    out.push_str(&format!("{endpoint} check passed\n"));
    Some(text(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn verbose_lists_checks_and_exclusions() {
        let r = answer("livez", None, "verbose&exclude=etcd").expect("livez");
        let text = body(r).await;
        assert!(text.starts_with("[+]ping ok\n[+]log ok\n[+]etcd excluded: ok\n"));
        assert!(text.ends_with("livez check passed\n"));
        assert!(!text.contains("shutdown"));
        let r = answer("readyz", Some("shutdown"), "").expect("readyz");
        assert_eq!(body(r).await, "ok");
        let r = answer("healthz", Some("nope"), "").expect("healthz");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(answer("version", None, "").is_none());
    }
}
