//! The HTTP face of the simulated API server: parses Kubernetes REST paths and query
//! parameters, dispatches to discovery or to the verb semantics in [`crate::ops`], and streams
//! watches. It never panics on a request: every failure is a `Status` response.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::faults::{FaultState, Faults, RequestRecord};
use crate::ops::{self, DeleteOptions, Part, Propagation};
use crate::registry::ResourceType;
use crate::schema::FieldValidation;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, State};
use crate::{discovery, events, openapi, patch, table};

/// Largest request body accepted (the real API server's limit is 3 MiB per object; leave room).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Shared server state.
pub struct Server {
    pub state: Mutex<State>,
    pub faults: Mutex<FaultState>,
    pub address: String,
    pub bookmark_interval: Duration,
    pub auth: Arc<crate::auth::Auth>,
}

impl Server {
    /// Locks the state. A panic elsewhere must not wedge the server, so poisoning is ignored:
    /// every mutation leaves the state consistent before it can fail.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// A request on a resource.
#[derive(Clone)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Version,
    OpenApiRoot,
    OpenApi(String, String),
    /// `/sim/faults`, `/sim/requests` and `/sim/tokens`: the simulator's own admin endpoints.
    Admin(String),
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    Resource(Box<Target>),
    /// `/healthz`, `/livez`, `/readyz`, optionally with one check's name.
    Health(String, Option<String>),
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn route(state: &State, path: &str) -> Result<Route, ApiError> {
    // Go's net/http hands the API server the decoded path, so `w%C3%A9b` names `wéb` (and an
    // encoded '/' separates segments, as it does there).
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["sim", what @ ("faults" | "requests" | "tokens")] => {
            return Ok(Route::Admin(what.to_string()));
        }
        [endpoint @ ("healthz" | "livez" | "readyz"), check @ ..] => {
            // Post-start hook checks are named with a '/' (`poststarthook/crd-informer-synced`).
            let check = (!check.is_empty()).then(|| check.join("/"));
            return Ok(Route::Health(endpoint.to_string(), check));
        }
        ["openapi", "v3"] => return Ok(Route::OpenApiRoot),
        ["openapi", "v3", "api", v] => return Ok(Route::OpenApi(String::new(), v.to_string())),
        ["openapi", "v3", "apis", g, v] => return Ok(Route::OpenApi(g.to_string(), v.to_string())),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::GroupList),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["api", v] => return Ok(Route::ResourceList(String::new(), v.to_string())),
        ["apis", g, v] => return Ok(Route::ResourceList(g.to_string(), v.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    let lookup = |plural: &str| state.registry.get(group, version, plural).cloned();
    let namespaced_type = |plural: &str| lookup(plural).filter(|rt| rt.namespaced);
    let target = |rt: ResourceType, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(Box::new(Target {
            rt,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        }))
    };
    match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced_type(plural).is_some() => {
            let rt = namespaced_type(plural).ok_or_else(not_found)?;
            match tail {
                [] => Ok(target(rt, Some(ns), None, None)),
                [name] => Ok(target(rt, Some(ns), Some(name), None)),
                [name, sub] => Ok(target(rt, Some(ns), Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        [plural, tail @ ..] => {
            let rt = lookup(plural).ok_or_else(not_found)?;
            match (tail, rt.namespaced) {
                ([], _) => Ok(target(rt, None, None, None)),
                ([name], false) => Ok(target(rt, None, Some(name), None)),
                ([name, sub], false) => Ok(target(rt, None, Some(name), Some(sub))),
                _ => Err(not_found()),
            }
        }
        [] => Err(not_found()),
    }
}

/// The single entry point of every request. A panic in a handler is a simulator bug: it is
/// answered with 500 (which the tests treat as a failure) instead of dropping the connection.
pub async fn handle(srv: AxumState<Arc<Server>>, req: Request) -> Response {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handle_inner(srv, req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => ApiError::new(
            500,
            "InternalError",
            "the simulated API server failed on this request",
        )
        .into_response(),
    }
}

async fn handle_inner(AxumState(srv): AxumState<Arc<Server>>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    // Authentication and authorization come before routing, as in the real server's filter
    // chain (a refused request for an unknown resource is 403, not 404).
    if srv.auth.enabled
        && let Err(e) = crate::auth::admit(&srv, &mut parts)
    {
        return drained(body, refused(&srv, &parts, &query, e)).await;
    }
    let routed = {
        let state = srv.lock();
        route(&state, parts.uri.path())
    };
    let target = match routed {
        Err(e) => return drained(body, e.into_response()).await,
        Ok(Route::Version) => return ok(&discovery::version()),
        Ok(Route::OpenApiRoot) => return ok(&openapi::root(&srv.lock().registry)),
        Ok(Route::OpenApi(g, v)) => {
            return match openapi::group_version(&srv.lock().registry, &g, &v) {
                Some(doc) => ok(&doc),
                None => not_found().into_response(),
            };
        }
        Ok(Route::CoreVersions) => return ok(&discovery::core_versions(&srv.address)),
        Ok(Route::GroupList) => return ok(&discovery::group_list(&srv.lock().registry)),
        Ok(Route::Group(g)) => {
            return match discovery::group(&srv.lock().registry, &g) {
                Some(doc) => ok(&doc),
                None => not_found().into_response(),
            };
        }
        Ok(Route::ResourceList(g, v)) => {
            return match discovery::resource_list(&srv.lock().registry, &g, &v) {
                Some(doc) => ok(&doc),
                None => not_found().into_response(),
            };
        }
        Ok(Route::Admin(what)) => return admin(&srv, &what, &parts.method, body, &query).await,
        Ok(Route::Health(endpoint, check)) => {
            if !matches!(parts.method, Method::GET | Method::HEAD) {
                return ApiError::method_not_allowed(format!(
                    "{} is not supported on /{endpoint}",
                    parts.method
                ))
                .into_response();
            }
            let raw_query = parts.uri.query().unwrap_or_default();
            return crate::health::answer(&endpoint, check.as_deref(), raw_query)
                .unwrap_or_else(|| not_found().into_response());
        }
        Ok(Route::Resource(t)) => *t,
    };
    let verb = verb_of(&parts.method, &target, &query);
    let record = |code: StatusCode| request_record(&target, verb, &parts, code);
    let (latency, injected) = srv.faults().draw(verb, &target.rt.plural);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = injected {
        let reason = match code {
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        let err = ApiError::new(
            code,
            reason,
            format!("injected fault: {verb} {}", target.rt.plural),
        );
        let response = err.into_response();
        let rec = record(response.status());
        srv.faults().record(rec);
        return response;
    }
    let response = serve(&srv, target.clone(), &parts, body, &query).await;
    let rec = record(response.status());
    srv.faults().record(rec);
    response
}

/// `response`, once the request's body has been read: as Go's server does, a client still
/// sending its body when the answer comes gets the answer, not a broken pipe.
async fn drained(body: Body, response: Response) -> Response {
    let _ = axum::body::to_bytes(body, MAX_BODY).await;
    response
}

/// The answer to a request that authentication or authorization refused; one on a resource is
/// in the request log too.
fn refused(
    srv: &Server,
    parts: &axum::http::request::Parts,
    query: &HashMap<String, String>,
    e: ApiError,
) -> Response {
    let response = e.into_response();
    let routed = route(&srv.lock(), parts.uri.path());
    if let Ok(Route::Resource(t)) = routed {
        let verb = verb_of(&parts.method, &t, query);
        let rec = request_record(&t, verb, parts, response.status());
        srv.faults().record(rec);
    }
    response
}

/// The verb of a request on a resource, as the request log names it.
fn verb_of(method: &Method, target: &Target, query: &HashMap<String, String>) -> &'static str {
    match (method, &target.name) {
        (&Method::GET, None) if is_true(query.get("watch")) => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, None) => "deletecollection",
        (&Method::DELETE, Some(_)) => "delete",
        _ => "unknown",
    }
}

fn request_record(
    target: &Target,
    verb: &str,
    parts: &axum::http::request::Parts,
    code: StatusCode,
) -> RequestRecord {
    RequestRecord {
        verb: verb.to_string(),
        group: target.rt.group.clone(),
        version: target.rt.version.clone(),
        resource: target.rt.plural.clone(),
        subresource: target.sub.clone(),
        namespace: target.namespace.clone(),
        // A list or watch of one object by field selector names it, as the authorizer sees it.
        name: target.name.clone().or_else(|| {
            matches!(verb, "list" | "watch")
                .then(|| crate::auth::list_name(parts.uri.query().unwrap_or_default()))
                .flatten()
        }),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        code: code.as_u16(),
    }
}

/// Serves a request on a resource, after fault injection.
async fn serve(
    srv: &Arc<Server>,
    target: Target,
    parts: &axum::http::request::Parts,
    body: Body,
    query: &HashMap<String, String>,
) -> Response {
    let header_text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let content_type = header_text(header::CONTENT_TYPE);
    let protobuf_in = crate::protobuf::is_protobuf(content_type);
    // Protobuf bodies exist for built-in kinds only, and patches are never protobuf.
    if content_type.contains("cbor")
        || (protobuf_in && (target.rt.crd.is_some() || parts.method == Method::PATCH))
    {
        let refused = ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({content_type})"
            ),
        );
        return drained(body, refused.into_response()).await;
    }
    let protobuf_out = crate::protobuf::only_protobuf(header_text(header::ACCEPT));
    if protobuf_out && (target.rt.crd.is_some() || is_true(query.get("watch"))) {
        let refused = ApiError::new(
            406,
            "NotAcceptable",
            "the server was unable to respond with a content type that the client supports",
        );
        return drained(body, refused.into_response()).await;
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("reading the request body: {e}"),
            )
            .into_response();
        }
    };
    let body = if protobuf_in && !body.is_empty() {
        match crate::protobuf::to_json(&body).and_then(|v| {
            serde_json::to_vec(&v)
                .map(Bytes::from)
                .map_err(|e| e.to_string())
        }) {
            Ok(json) => json,
            Err(e) => {
                return ApiError::bad_request(format!(
                    "the body of the request could not be decoded as protobuf: {e}"
                ))
                .into_response();
            }
        }
    } else {
        body
    };
    // The storage key of a named object must be a path segment, as the real API server's key
    // functions insist.
    if let Some(name) = &target.name {
        let why = crate::names::path_segment(name);
        if !why.is_empty() {
            return ApiError::bad_request(format!(
                "Name parameter invalid: {name:?}: {}",
                why.join(";")
            ))
            .into_response();
        }
    }
    if crate::auth::review::handles(&target.rt, target.sub.as_deref()) {
        return crate::auth::review::serve(
            srv,
            crate::auth::review::Request {
                rt: &target.rt,
                namespace: target.namespace.as_deref(),
                name: target.name.as_deref(),
                sub: target.sub.as_deref(),
                method: &parts.method,
                body: &body,
                user: parts.extensions.get(),
            },
        );
    }
    let table = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(table::wanted);
    let result = match (&parts.method, &target.name) {
        (&Method::GET, Some(name)) if is_pod_log(&target) => {
            return pod_log(srv, &target, name, query);
        }
        (&Method::GET, None) if is_true(query.get("watch")) => {
            return watch(srv.clone(), target, query, table).await;
        }
        // The common answer, a JSON list, is written without copying the objects.
        (&Method::GET, None) if !table && !protobuf_out => {
            return list_json(srv, &target, query);
        }
        (&Method::GET, None) => list(srv, &target, query, table),
        (&Method::GET, Some(name)) => get(srv, &target, name, table),
        (&Method::POST, None) => create(srv, &target, &body, query, &parts.headers),
        (&Method::PUT, Some(name)) => update(srv, &target, name, &body, query, &parts.headers),
        (&Method::PATCH, Some(name)) => {
            patch_object(srv, &target, name, &parts.headers, &body, query)
        }
        (&Method::DELETE, Some(name)) => delete(srv, &target, name, &body, query),
        (&Method::DELETE, None) => delete_collection(srv, &target, query),
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on this path"
        ))),
    };
    match (result, protobuf_out) {
        (Ok((code, v)), false) => json_response(code, &v),
        (Err(e), false) => e.into_response(),
        (Ok((code, v)), true) => protobuf_response(code, &v),
        (Err(e), true) => protobuf_response(
            StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &e.status(),
        ),
    }
}

/// An answer for a client that accepts only protobuf.
fn protobuf_response(code: StatusCode, body: &Value) -> Response {
    match crate::protobuf::from_json(body) {
        Ok(bytes) => (
            code,
            [(header::CONTENT_TYPE, crate::protobuf::MEDIA_TYPE)],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::new(
            406,
            "NotAcceptable",
            format!("this answer has no protobuf form: {e}"),
        )
        .into_response(),
    }
}

fn is_pod_log(t: &Target) -> bool {
    t.rt.group.is_empty() && t.rt.plural == "pods" && t.sub.as_deref() == Some("log")
}

/// `GET .../pods/NAME/log`: plain text, as the real server streams it from the kubelet.
fn pod_log(srv: &Server, t: &Target, name: &str, query: &HashMap<String, String>) -> Response {
    let key = (t.namespace.clone().unwrap_or_default(), name.to_string());
    let Some(pod) = srv.lock().get(&t.rt.storage_key(), &key).cloned() else {
        return ApiError::not_found(&t.rt.plural, name).into_response();
    };
    match crate::logs::render(&pod, query) {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response(),
        Err(e) => e.into_response(),
    }
}

fn is_true(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("true" | "1"))
}

fn dry_run(query: &HashMap<String, String>) -> bool {
    query.get("dryRun").is_some_and(|v| v == "All")
}

/// The field manager of a write: `?fieldManager=`, else the client's name from its user agent
/// (`kubectl/v1.32 ...` → `kubectl`), as the real API server derives it.
fn manager(query: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn write_options(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ops::WriteOptions, ApiError> {
    Ok(ops::WriteOptions {
        dry_run: dry_run(query),
        validation: FieldValidation::parse(query.get("fieldValidation").map(String::as_str))?,
        manager: Some(manager(query, headers)),
    })
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

fn part_of(t: &Target) -> Result<Part, ApiError> {
    match t.sub.as_deref() {
        None => Ok(Part::Main),
        Some("status") if t.rt.status_subresource => Ok(Part::Status),
        Some("scale") if t.rt.scale.is_some() => Ok(Part::Main),
        Some(_) => Err(not_found()),
    }
}

type Reply = Result<(StatusCode, Value), ApiError>;

fn get(srv: &Server, t: &Target, name: &str, as_table: bool) -> Reply {
    part_of(t)?;
    let state = srv.lock();
    let key = (t.namespace.clone().unwrap_or_default(), name.to_string());
    let obj = state
        .get(&t.rt.storage_key(), &key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.plural, name))?;
    let obj = with_version(&t.rt, obj);
    if t.sub.as_deref() == Some("scale") {
        return Ok((StatusCode::OK, crate::scale::to_scale(&t.rt, &obj)));
    }
    if as_table {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok((StatusCode::OK, table::render(&t.rt, &[obj], &rv)));
    }
    Ok((StatusCode::OK, obj))
}

/// Objects are stored once per group-resource; this sets the apiVersion the client asked for
/// (and converts a stored core Event to the `events.k8s.io` form when that API was asked).
fn with_version(rt: &ResourceType, obj: Value) -> Value {
    let mut obj = if events::is_events_api(rt) {
        events::from_core(obj)
    } else {
        obj
    };
    obj["apiVersion"] = json!(rt.api_version());
    obj
}

/// The type whose form objects are stored in, for the verb semantics in [`ops`]: an
/// `events.k8s.io` write is a write of the core Event it converts to.
fn stored_type(state: &State, rt: &ResourceType) -> ResourceType {
    if events::is_events_api(rt)
        && let Some(core) = state.registry.get("", "v1", "events")
    {
        return core.clone();
    }
    rt.clone()
}

/// A request body (or the result of a patch) in the stored form.
fn incoming(rt: &ResourceType, obj: Value) -> Value {
    if events::is_events_api(rt) {
        events::to_core(obj)
    } else {
        obj
    }
}

struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn from_query(t: &Target, query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?;
        let mut fields =
            FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))
                .map_err(ApiError::bad_request)?;
        if events::is_events_api(&t.rt) {
            // Stored Events are in the core form: select on its field names.
            fields = fields.map_labels(events::core_field_label);
        }
        Ok(Filter {
            namespace: t.namespace.clone(),
            labels,
            fields,
        })
    }

    fn matches(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.as_deref().is_none_or(|ns| {
            obj.get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                == Some(ns)
        });
        ns_ok && self.labels.matches_object(obj) && self.fields.matches(obj)
    }
}

fn list(srv: &Server, t: &Target, query: &HashMap<String, String>, as_table: bool) -> Reply {
    let (items, metadata) = listed(srv, t, query)?;
    let items: Vec<Value> = items
        .into_iter()
        .map(|o| with_version(&t.rt, Value::clone(&o)))
        .collect();
    if as_table {
        let rv = metadata["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut doc = table::render(&t.rt, &items, &rv);
        doc["metadata"] = metadata;
        return Ok((StatusCode::OK, doc));
    }
    Ok((
        StatusCode::OK,
        json!({
            "kind": format!("{}List", t.rt.kind),
            "apiVersion": t.rt.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// A JSON list written straight from the shared stored objects: nothing is copied, and the
/// store's lock is held only to collect them, not while the (possibly large) answer is
/// encoded. Objects stored under another version are rewritten as [`list`] does.
fn list_json(srv: &Server, t: &Target, query: &HashMap<String, String>) -> Response {
    let (items, metadata) = match listed(srv, t, query) {
        Ok(listed) => listed,
        Err(e) => return e.into_response(),
    };
    let version = t.rt.api_version();
    let head = json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": version,
        "metadata": metadata,
    });
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    // `{...}` → `{...,"items":[...]}`.
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if write_versioned(&mut out, &t.rt, item).is_err() {
            return ApiError::new(500, "InternalError", "encoding a list").into_response();
        }
    }
    out.extend_from_slice(b"]}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

/// The namespace whose objects a list or watch reads (`None`: every namespace, or a
/// cluster-scoped kind).
fn scope(t: &Target) -> Option<&str> {
    t.rt.namespaced.then_some(t.namespace.as_deref()).flatten()
}

/// The objects a list asks for (shared, in order) and the list's metadata (resourceVersion,
/// continue token).
fn listed(
    srv: &Server,
    t: &Target,
    query: &HashMap<String, String>,
) -> Result<(Vec<Arc<Value>>, Value), ApiError> {
    if t.sub.is_some() {
        return Err(not_found());
    }
    let filter = Filter::from_query(t, query)?;
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let state = srv.lock();
    let rv = state.resource_version();
    // The continue token is the last key returned: `namespace/name`.
    let after = query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(|c| match c.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (String::new(), c.clone()),
        });
    let mut items: Vec<Arc<Value>> = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, obj) in state.list_shared(&t.rt.storage_key(), scope(t)) {
        if after.as_ref().is_some_and(|a| key <= a) || !filter.matches(obj) {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(obj.clone());
        last = Some(key.clone());
    }
    drop(state);
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((ns, name)) = last.filter(|_| more) {
        metadata["continue"] = json!(format!("{ns}/{name}"));
    }
    Ok((items, metadata))
}

fn create(
    srv: &Server,
    t: &Target,
    body: &Bytes,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Reply {
    if t.sub.is_some() {
        return Err(ApiError::method_not_allowed(
            "create is not supported on subresources",
        ));
    }
    let obj = incoming(&t.rt, parse_json(body)?);
    let mut state = srv.lock();
    let stored = stored_type(&state, &t.rt);
    let created = ops::create(
        &mut state,
        &stored,
        t.namespace.as_deref(),
        obj,
        &write_options(query, headers)?,
    )?;
    Ok((StatusCode::CREATED, with_version(&t.rt, created)))
}

fn update(
    srv: &Server,
    t: &Target,
    name: &str,
    body: &Bytes,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Reply {
    let part = part_of(t)?;
    let obj = incoming(&t.rt, parse_json(body)?);
    let mut state = srv.lock();
    let stored = stored_type(&state, &t.rt);
    if t.sub.as_deref() == Some("scale") {
        let updated = crate::scale::apply_scale(
            &mut state,
            &t.rt,
            t.namespace.as_deref(),
            name,
            &obj,
            &write_options(query, headers)?,
        )?;
        return Ok((StatusCode::OK, crate::scale::to_scale(&t.rt, &updated)));
    }
    let updated = ops::update(
        &mut state,
        &stored,
        t.namespace.as_deref(),
        name,
        obj,
        part,
        &write_options(query, headers)?,
    )?;
    Ok((StatusCode::OK, with_version(&t.rt, updated)))
}

fn patch_object(
    srv: &Server,
    t: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    query: &HashMap<String, String>,
) -> Reply {
    let part = part_of(t)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = patch::PatchKind::from_content_type(content_type)?;
    let opts = write_options(query, headers)?;
    let mut state = srv.lock();
    let stored = stored_type(&state, &t.rt);
    if kind == patch::PatchKind::Apply {
        if t.sub.as_deref() == Some("scale") {
            return Err(ApiError::method_not_allowed(
                "apply is not supported on the scale subresource",
            ));
        }
        let Some(field_manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
            return Err(ApiError::bad_request(
                "PATCH with apply-patch requires the fieldManager query parameter",
            ));
        };
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the apply patch is not UTF-8"))?;
        let mut applied: Value = serde_saphyr::from_str(text).map_err(|e| {
            ApiError::bad_request(format!("the apply patch is not valid YAML: {e}"))
        })?;
        if let Some(m) = applied.as_object_mut() {
            // kind/apiVersion are checked like any write; an apply names its object in the URL.
            if let Some(kind) = m.get("kind").and_then(Value::as_str)
                && kind != t.rt.kind
            {
                return Err(ApiError::bad_request(format!(
                    "the kind of the applied object ({kind}) does not match the resource ({})",
                    t.rt.kind
                )));
            }
        }
        let force = is_true(query.get("force"));
        let opts = ops::WriteOptions {
            manager: None,
            ..opts
        };
        let result = crate::ssa::apply(
            &mut state,
            &stored,
            t.namespace.as_deref(),
            name,
            incoming(&t.rt, applied),
            field_manager,
            force,
            part,
            &opts,
        )?;
        return Ok((StatusCode::OK, with_version(&t.rt, result)));
    }
    let key = (t.namespace.clone().unwrap_or_default(), name.to_string());
    let existing = state.get(&t.rt.storage_key(), &key).cloned();
    let Some(existing) = existing else {
        return Err(ApiError::not_found(&t.rt.plural, name));
    };
    if t.sub.as_deref() == Some("scale") {
        let scale = crate::scale::to_scale(&t.rt, &existing);
        let patched = patch::apply(kind, &t.rt, scale, body)?;
        let updated = crate::scale::apply_scale(
            &mut state,
            &t.rt,
            t.namespace.as_deref(),
            name,
            &patched,
            &opts,
        )?;
        return Ok((StatusCode::OK, crate::scale::to_scale(&t.rt, &updated)));
    }
    // The patched document starts from the stored object, so it carries the current
    // resourceVersion: only a patch that sets another one meets a conflict. It is the object
    // as the client reads it (its apiVersion, its field names): a patch names those.
    let patched = incoming(
        &t.rt,
        patch::apply(kind, &t.rt, with_version(&t.rt, existing), body)?,
    );
    let updated = ops::update(
        &mut state,
        &stored,
        t.namespace.as_deref(),
        name,
        patched,
        part,
        &opts,
    )?;
    Ok((StatusCode::OK, with_version(&t.rt, updated)))
}

fn delete_options(
    body: &Bytes,
    query: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let opts: Value = if body.is_empty() {
        json!({})
    } else {
        parse_json(body)?
    };
    let policy = opts
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or_else(|| query.get("propagationPolicy").map(String::as_str));
    let propagation = match policy {
        None => None,
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown propagationPolicy {other:?}"
            )));
        }
    };
    let propagation = match (
        propagation,
        opts.get("orphanDependents").and_then(Value::as_bool),
    ) {
        (None, Some(true)) => Some(Propagation::Orphan),
        (p, _) => p,
    };
    let pre = |f: &str| {
        opts.pointer(&format!("/preconditions/{f}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    // kubectl sends `dryRun` in the DeleteOptions body; other clients use the query.
    let body_dry_run = opts
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        precondition_uid: pre("uid"),
        precondition_rv: pre("resourceVersion"),
        dry_run: body_dry_run || dry_run(query),
    })
}

fn delete(
    srv: &Server,
    t: &Target,
    name: &str,
    body: &Bytes,
    query: &HashMap<String, String>,
) -> Reply {
    if t.sub.is_some() {
        return Err(ApiError::method_not_allowed(
            "delete is not supported on subresources",
        ));
    }
    let opts = delete_options(body, query)?;
    let mut state = srv.lock();
    let stored = stored_type(&state, &t.rt);
    let obj = ops::delete(&mut state, &stored, t.namespace.as_deref(), name, &opts)?;
    Ok((StatusCode::OK, with_version(&t.rt, obj)))
}

fn delete_collection(srv: &Server, t: &Target, query: &HashMap<String, String>) -> Reply {
    let filter = Filter::from_query(t, query)?;
    let mut state = srv.lock();
    let names: Vec<(String, String)> = state
        .list(&t.rt.storage_key())
        .filter(|(_, o)| filter.matches(o))
        .map(|(k, _)| k.clone())
        .collect();
    let stored = stored_type(&state, &t.rt);
    let mut items = Vec::new();
    for (ns, name) in names {
        let ns = (!ns.is_empty()).then_some(ns);
        let opts = DeleteOptions {
            dry_run: dry_run(query),
            ..DeleteOptions::default()
        };
        if let Ok(o) = ops::delete(&mut state, &stored, ns.as_deref(), &name, &opts) {
            items.push(with_version(&t.rt, o));
        }
    }
    let rv = state.resource_version().to_string();
    Ok((
        StatusCode::OK,
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": {"resourceVersion": rv}, "items": items}),
    ))
}

/// Writes a stored object in the version `rt` asks for, copying it only when that differs
/// from the stored one (another version, the `events.k8s.io` form).
fn write_versioned(out: &mut Vec<u8>, rt: &ResourceType, obj: &Value) -> serde_json::Result<()> {
    let same = !events::is_events_api(rt)
        && obj.get("apiVersion").and_then(Value::as_str) == Some(rt.api_version().as_str());
    if same {
        serde_json::to_writer(out, obj)
    } else {
        serde_json::to_writer(out, &with_version(rt, Value::clone(obj)))
    }
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    line_of(kind, |out| serde_json::to_writer(out, object))
}

/// `{"type":KIND,"object":...}` and a newline, the object written by `object` (not copied
/// into a wrapper first: every watcher writes every event it passes).
fn line_of(kind: &str, object: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> Bytes {
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    if object(&mut line).is_err() {
        line.truncate(0);
        line.extend_from_slice(b"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\",\"code\":500,\"message\":\"encoding a watch event\"}");
    }
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// Streams watch events: history after `resourceVersion` (or the current objects as ADDED when
/// it is empty or 0), then live events, bookmarks when asked, until the timeout or disconnect.
async fn watch(
    srv: Arc<Server>,
    t: Target,
    query: &HashMap<String, String>,
    as_table: bool,
) -> Response {
    let filter = match Filter::from_query(&t, query) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let bookmarks = is_true(query.get("allowWatchBookmarks"));
    let requested = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    // An injected cut ends the stream early, as a dropped connection would.
    let timeout = srv
        .faults()
        .watch_cut()
        .map_or(requested, |cut| cut.min(requested));
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .and_then(|rv| rv.parse().ok());
    let storage = t.rt.storage_key();
    let rt = t.rt.clone();

    let (initial, mut live, start_rv) = {
        let state = srv.lock();
        let live = state.subscribe();
        let initial: Vec<Bytes> = match from {
            Some(rv) => match state.events_since(rv) {
                None => {
                    let err = ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        state.resource_version()
                    ));
                    vec![watch_line("ERROR", &err.status())]
                }
                Some(events) => events
                    .iter()
                    .filter(|e| e.storage_key == storage)
                    .filter_map(|e| event_line(&rt, &filter, e, as_table))
                    .collect(),
            },
            // A namespaced watch reads its namespace's range only, as a list does.
            None => state
                .list_shared(&storage, scope(&t))
                .filter(|(_, o)| filter.matches(o))
                .map(|(_, o)| object_line(&rt, "ADDED", o, as_table))
                .collect(),
        };
        (initial, live, state.resource_version())
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let interval = srv.bookmark_interval;
    let kind = rt.kind.clone();
    let api_version = rt.api_version();
    tokio::spawn(async move {
        let mut last_rv = start_rv;
        for line in initial {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(Ok(watch_line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
                event = live.recv() => match event {
                    Ok(e) => {
                        if e.rv <= start_rv {
                            continue;
                        }
                        last_rv = e.rv;
                        if e.storage_key != storage {
                            continue;
                        }
                        if let Some(line) = event_line(&rt, &filter, &e, as_table)
                            && tx.send(Ok(line)).await.is_err() {
                                return;
                            }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // This watcher fell behind the event log: tell it to start over, as
                        // the real API server does when a watch cache expires.
                        let err = ApiError::gone("watch fell behind; relist and watch again");
                        let _ = tx.send(Ok(watch_line("ERROR", &err.status()))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The watch line for an event, with label-selector transitions: an object that stops matching
/// is reported DELETED, one that starts matching ADDED.
fn event_line(rt: &ResourceType, filter: &Filter, e: &Event, as_table: bool) -> Option<Bytes> {
    let now = filter.matches(&e.object);
    let before = e.old.as_ref().is_some_and(|o| filter.matches(o));
    let kind = match (e.kind, before, now) {
        (EventType::Deleted, _, true) => "DELETED",
        (EventType::Added, _, true) => "ADDED",
        (EventType::Modified, true, true) => "MODIFIED",
        (EventType::Modified, false, true) => "ADDED",
        (EventType::Modified, true, false) => "DELETED",
        _ => return None,
    };
    Some(object_line(rt, kind, &e.object, as_table))
}

/// The watch line of a stored object: the object in the version asked for (written in place,
/// not copied), or a one-row Table for `kubectl get -w`.
fn object_line(rt: &ResourceType, kind: &str, obj: &Value, as_table: bool) -> Bytes {
    if !as_table {
        return line_of(kind, |out| write_versioned(out, rt, obj));
    }
    let obj = with_version(rt, Value::clone(obj));
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    watch_line(kind, &table::render(rt, &[obj], &rv))
}

/// The simulator's admin endpoints: fault settings, the request log and tokens.
async fn admin(
    srv: &Server,
    what: &str,
    method: &Method,
    body: Body,
    query: &HashMap<String, String>,
) -> Response {
    match (what, method) {
        ("faults", &Method::GET) => {
            ok(&serde_json::to_value(srv.faults().faults()).unwrap_or_default())
        }
        ("faults", &Method::PUT) => {
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad_request(format!("reading the body: {e}")).into_response();
                }
            };
            let faults: Faults = match serde_json::from_slice(&bytes) {
                Ok(f) => f,
                Err(e) => {
                    return ApiError::bad_request(format!("invalid faults: {e}")).into_response();
                }
            };
            if let Err(e) = faults.validate() {
                return ApiError::bad_request(format!("invalid faults: {e}")).into_response();
            }
            srv.faults().set(faults.clone());
            ok(&serde_json::to_value(&faults).unwrap_or_default())
        }
        ("requests", &Method::GET) => {
            // `?after=N` answers once more than N requests have been recorded (or after 30 s):
            // a test waits on the log without polling it.
            let Some(after) = query.get("after").and_then(|a| a.parse::<u64>().ok()) else {
                return ok(&json!({"items": srv.faults().requests()}));
            };
            let (mut seen, mut changes) = srv.faults().recorded();
            let wait = async {
                while seen <= after {
                    if changes.changed().await.is_err() {
                        break;
                    }
                    seen = *changes.borrow();
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(30), wait).await;
            // The count to wait after next time.
            let (recorded, _) = srv.faults().recorded();
            ok(&json!({"items": srv.faults().requests(), "recorded": recorded}))
        }
        ("tokens", &Method::POST) => {
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad_request(format!("reading the body: {e}")).into_response();
                }
            };
            match crate::auth::mint_request(&srv.auth, &bytes) {
                Ok(answer) => json_response(StatusCode::CREATED, &answer),
                Err(e) => e.into_response(),
            }
        }
        ("requests", &Method::DELETE) => {
            srv.faults().clear_requests();
            ok(&json!({"items": []}))
        }
        _ => ApiError::method_not_allowed(format!("{method} is not supported on /sim/{what}"))
            .into_response(),
    }
}
