//! Raw HTTP against the simulator: status codes and Status bodies for bad requests, and no
//! request body, however malformed, takes the server down.

mod common;

use common::Cluster;

#[tokio::test]
async fn status_codes_for_bad_requests() {
    let c = Cluster::start().await;
    let (code, body) = c
        .http(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "{not json",
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"reason\":\"BadRequest\""), "{body}");

    let (code, _) = c
        .http(
            "GET",
            "/apis/example.com/v1/widgets",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 404);

    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}"#;
    let (code, body) = c
        .http(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm,
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, _) = c
        .http(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm,
        )
        .await;
    assert_eq!(code, 409, "a second create is AlreadyExists");

    let stale = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"1"},"data":{"k":"w"}}"#;
    let (code, body) = c
        .http(
            "PUT",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            stale,
        )
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("the object has been modified"), "{body}");

    let (code, _) = c
        .http(
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            "application/json",
            cm,
        )
        .await;
    assert_eq!(code, 404, "creating in a missing namespace");

    let (code, _) = c
        .http(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "text/plain",
            "{}",
        )
        .await;
    assert_eq!(code, 415);
}

#[tokio::test]
async fn malformed_bodies_never_break_the_server() {
    let c = Cluster::start().await;
    let bodies = [
        "",
        "null",
        "[]",
        "42",
        "\"x\"",
        "{",
        "{\"metadata\":5}",
        "{\"metadata\":{\"name\":7}}",
        "{\"kind\":\"Pod\"}",
        "{\"metadata\":{\"name\":\"x\",\"ownerReferences\":7}}",
        "[{\"op\":\"remove\",\"path\":\"/nope\"}]",
        "{\"metadata\":{\"labels\":[]}}",
        "\u{0}\u{1}\u{2}",
    ];
    let paths = [
        (
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
        ),
        (
            "PUT",
            "/api/v1/namespaces/default/configmaps/x",
            "application/json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x",
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x",
            "application/json-patch+json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x",
            "application/strategic-merge-patch+json",
        ),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x?fieldManager=t",
            "application/apply-patch+yaml",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default/configmaps/x",
            "application/json",
        ),
        (
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            "application/json",
        ),
    ];
    for (method, path, ct) in paths {
        for body in bodies {
            let (code, resp) = c.http(method, path, ct, body).await;
            assert!(
                (200..500).contains(&code),
                "{method} {path} with {body:?} gave {code}: {resp}"
            );
        }
    }
    let (code, _) = c
        .http(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 200, "the server still answers");
}

#[tokio::test]
async fn injected_faults_and_request_log() {
    let c = Cluster::start().await;
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#;
    let (code, _) = c
        .http(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            cm,
        )
        .await;
    assert_eq!(code, 201);

    let (code, body) = c
        .http(
            "PUT",
            "/sim/faults",
            "application/json",
            r#"{"verbs":{"patch":{"errorRate":1.0,"code":500}}}"#,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = c
        .http(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/a",
            "application/merge-patch+json",
            "{}",
        )
        .await;
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("injected fault"), "{body}");
    let (code, _) = c
        .http(
            "GET",
            "/api/v1/namespaces/default/configmaps/a",
            "application/json",
            "",
        )
        .await;
    assert_eq!(code, 200, "other verbs are untouched");

    let (code, body) = c
        .http(
            "PUT",
            "/sim/faults",
            "application/json",
            r#"{"verbs":{"teleport":{"errorRate":1}}}"#,
        )
        .await;
    assert_eq!(code, 400, "{body}");

    let (code, body) = c.http("GET", "/sim/requests", "application/json", "").await;
    assert_eq!(code, 200);
    let log: serde_json::Value = serde_json::from_str(&body).expect("JSON log");
    let items = log["items"].as_array().expect("items");
    let verbs: Vec<(&str, u64)> = items
        .iter()
        .map(|r| {
            (
                r["verb"].as_str().unwrap_or_default(),
                r["code"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(verbs, [("create", 201), ("patch", 500), ("get", 200)]);
    assert_eq!(items[1]["resource"], "configmaps");
    assert_eq!(items[1]["namespace"], "default");
    assert_eq!(items[1]["name"], "a");

    let (code, _) = c
        .http("DELETE", "/sim/requests", "application/json", "")
        .await;
    assert_eq!(code, 200);
    let (_, body) = c.http("GET", "/sim/requests", "application/json", "").await;
    assert_eq!(body, r#"{"items":[]}"#);
}

#[tokio::test]
async fn watch_streams_are_cut_when_asked() {
    let c = Cluster::start().await;
    let (code, _) = c
        .http(
            "PUT",
            "/sim/faults",
            "application/json",
            r#"{"watchCutSeconds":1}"#,
        )
        .await;
    assert_eq!(code, 200);
    // Without the cut this watch would run for 30 minutes; the request must end by itself.
    let watch = c.http(
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true",
        "application/json",
        "",
    );
    let (code, _) = tokio::time::timeout(std::time::Duration::from_secs(10), watch)
        .await
        .expect("the watch was cut");
    assert_eq!(code, 200);
}

#[tokio::test]
async fn secret_string_data_is_stored_as_data() {
    let c = Cluster::start().await;
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"eA=="},"stringData":{"token":"s3cr3t","a":"y"}}"#;
    let (code, body) = c
        .http(
            "POST",
            "/api/v1/namespaces/default/secrets",
            "application/json",
            secret,
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let stored: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        stored["data"],
        serde_json::json!({"a": "eQ==", "token": "czNjcjN0"})
    );
    assert!(stored.get("stringData").is_none(), "{stored}");
}

/// Sends `body` (large) and reads the whole answer: the status code, or the I/O error that cut
/// the exchange.
async fn post_large(port: u16, path: &str, headers: &str, body: &[u8]) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

#[tokio::test]
async fn an_early_answer_comes_after_the_body_is_read() {
    // A client still sending its body when the server has decided (an unknown path, a refused
    // token, a media type it cannot read) gets the answer, as from Go's server, not a broken
    // pipe.
    let body = vec![b' '; 4 << 20];
    let c = Cluster::start().await;
    let port = c.sim.port();
    let code = post_large(port, "/apis/example.com/v1/widgets", "", &body).await;
    assert_eq!(code.ok(), Some(404));
    let code = post_large(
        port,
        "/apis/rollout-rs.io/v1alpha1/namespaces/default/rollouts",
        "Content-Type: application/vnd.kubernetes.protobuf\r\n",
        &body,
    )
    .await;
    assert!(matches!(code, Ok(404 | 415)), "{code:?}");
    let authorized = Cluster::start_with_auth().await;
    let code = post_large(
        authorized.sim.port(),
        "/api/v1/namespaces/default/configmaps",
        "Authorization: Bearer not-a-token\r\n",
        &body,
    )
    .await;
    assert_eq!(code.ok(), Some(401));
}
