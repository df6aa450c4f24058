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
