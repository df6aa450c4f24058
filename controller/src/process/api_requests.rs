//! Counts the controller's Kubernetes API requests by verb and status code: a tower layer on
//! the kube client's HTTP stack, so every request (watches, writes, discovery) is seen once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, Uri};

use super::metrics::Metrics;

/// The layer: wraps the client's service.
#[derive(Clone)]
pub(crate) struct CountRequests(pub Arc<Metrics>);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let verb = verb(req.method(), req.uri());
        let metrics = self.metrics.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let result = answer.await;
            // 0: no answer (connection refused, timeout).
            let code = result.as_ref().map_or(0, |r| r.status().as_u16());
            metrics.api_request(verb, code);
            result
        })
    }
}

/// The Kubernetes verb of a request, from its method and path: a path that ends at a resource
/// is a collection (list, watch, create, deletecollection), one that goes on names an object.
fn verb(method: &Method, uri: &Uri) -> &'static str {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return other(method),
    };
    let rest = match rest {
        ["namespaces", _ns, resource, tail @ ..] => {
            let mut r = vec![*resource];
            r.extend(tail);
            r
        }
        other => other.to_vec(),
    };
    let named = rest.len() >= 2;
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match (method, named) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, false) => "deletecollection",
        (&Method::DELETE, true) => "delete",
        _ => "other",
    }
}

/// Discovery and other non-resource paths.
fn other(method: &Method) -> &'static str {
    if method == Method::GET {
        "get"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_from_method_and_path() {
        let cases = [
            ("GET", "/api/v1/namespaces/shop/pods", "list"),
            (
                "GET",
                "/api/v1/namespaces/shop/pods?watch=true&resourceVersion=5",
                "watch",
            ),
            ("GET", "/apis/apps/v1/replicasets?watch=true", "watch"),
            (
                "GET",
                "/apis/apps/v1/namespaces/shop/replicasets/web-1",
                "get",
            ),
            ("GET", "/api/v1/namespaces/shop", "get"),
            ("GET", "/api/v1/namespaces", "list"),
            (
                "POST",
                "/apis/rollout-rs.io/v1alpha1/namespaces/shop/analysisruns",
                "create",
            ),
            (
                "PATCH",
                "/apis/rollout-rs.io/v1alpha1/namespaces/shop/rollouts/web/status",
                "patch",
            ),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/x/leases/l",
                "update",
            ),
            (
                "DELETE",
                "/apis/apps/v1/namespaces/shop/replicasets/web-1",
                "delete",
            ),
            (
                "DELETE",
                "/apis/apps/v1/namespaces/shop/replicasets",
                "deletecollection",
            ),
            ("GET", "/apis", "get"),
            ("GET", "/version", "get"),
        ];
        for (method, path, want) in cases {
            let method: Method = method.parse().unwrap();
            let uri: Uri = path.parse().unwrap();
            assert_eq!(verb(&method, &uri), want, "{method} {path}");
        }
    }
}
