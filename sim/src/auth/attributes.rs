//! A request's authorization attributes, derived from its method, path and query alone, as the
//! real server's `RequestInfoFactory` derives them: paths under `/api/VERSION/...` and
//! `/apis/GROUP/VERSION/...` are resource requests (verb get/list/watch/create/update/patch/
//! delete/deletecollection, namespace, resource, name, subresource); everything else (discovery
//! roots, `/healthz`, `/version`, `/metrics`...) is a non-resource request whose verb is the
//! lower-cased HTTP method. Nothing here looks at what the server serves: an unknown resource
//! is authorized like a known one.

/// What a request asks to do, as `authorizer.Attributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    /// The (decoded) URL path; what non-resource rules match.
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Path words that are verbs rather than resources (`/api/v1/watch/pods`, deprecated forms).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Subresources of a namespace, which would otherwise read as a namespaced resource.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl Attributes {
    /// The attributes of an HTTP request; `path` is already percent-decoded (Go's `URL.Path`).
    pub fn from_request(method: &str, path: &str, query: Option<&str>) -> Self {
        let mut attrs = Attributes {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
            ..Attributes::default()
        };
        let parts: Vec<&str> = {
            let trimmed = path.trim_matches('/');
            if trimmed.is_empty() {
                Vec::new()
            } else {
                trimmed.split('/').collect()
            }
        };
        let rest: &[&str] = match parts.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                attrs.api_version = version.to_string();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                attrs.api_group = group.to_string();
                attrs.api_version = version.to_string();
                rest
            }
            _ => return attrs,
        };
        attrs.resource_request = true;
        let mut rest = rest;
        if let Some(special) = rest.first().filter(|w| SPECIAL_VERBS.contains(w)) {
            if rest.len() < 2 {
                // The real server fails to parse this; it is then treated as what it was
                // understood to be so far, and routing answers 404.
                attrs.verb = special.to_string();
                return attrs;
            }
            attrs.verb = special.to_string();
            rest = &rest[1..];
        } else {
            attrs.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_string();
        }
        if rest.first() == Some(&"namespaces")
            && let Some(ns) = rest.get(1)
        {
            attrs.namespace = ns.to_string();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        if rest.len() >= 3 && attrs.verb != "proxy" {
            attrs.subresource = rest[2].to_string();
        }
        if rest.len() >= 2 {
            attrs.name = rest[1].to_string();
        }
        if let Some(resource) = rest.first() {
            attrs.resource = resource.to_string();
        }
        if attrs.name.is_empty() && attrs.verb == "get" {
            let params = query_pairs(query.unwrap_or_default());
            let watch = params
                .iter()
                .find(|(k, _)| k == "watch")
                .is_some_and(|(_, v)| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
            attrs.verb = if watch { "watch" } else { "list" }.into();
            // A list or watch of one object by `metadata.name=` is authorized for that name,
            // so resourceNames rules cover `kubectl get cm x -w`.
            if let Some(name) = list_name(query.unwrap_or_default()) {
                attrs.name = name;
            }
        }
        if attrs.name.is_empty() && attrs.verb == "delete" {
            attrs.verb = "deletecollection".into();
        }
        attrs
    }
}

/// The one object a list or watch asks for by `fieldSelector=metadata.name=x`, if any.
pub(crate) fn list_name(query: &str) -> Option<String> {
    query_pairs(query)
        .iter()
        .find(|(k, _)| k == "fieldSelector")
        .and_then(|(_, v)| exact_name(v))
        .filter(|n| crate::names::path_segment(n).is_empty())
}

/// The query's pairs, decoded; the first value of each key is what Go's `Query().Get` reads.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// The name a field selector requires exactly (`metadata.name=x` or `metadata.name==x` among
/// its terms).
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let term = term.trim();
        if term.contains("!=") {
            return None;
        }
        let (field, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        (field.trim() == "metadata.name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(method: &str, path: &str, query: Option<&str>) -> Attributes {
        Attributes::from_request(method, path, query)
    }

    #[test]
    fn resource_requests() {
        let x = a("GET", "/api/v1/namespaces/shop/pods", None);
        assert_eq!(
            (x.verb.as_str(), x.namespace.as_str(), x.resource.as_str()),
            ("list", "shop", "pods")
        );
        assert!(x.resource_request);
        let x = a("GET", "/api/v1/namespaces/shop/pods", Some("watch=true"));
        assert_eq!(x.verb, "watch");
        let x = a("GET", "/api/v1/namespaces/shop/pods", Some("watch=0"));
        assert_eq!(x.verb, "list");
        let x = a(
            "GET",
            "/api/v1/namespaces/shop/configmaps",
            Some("fieldSelector=metadata.name%3Dspecial&watch=1"),
        );
        assert_eq!((x.verb.as_str(), x.name.as_str()), ("watch", "special"));
        let x = a("GET", "/api/v1/namespaces/shop/pods/web/log", None);
        assert_eq!(
            (x.verb.as_str(), x.name.as_str(), x.subresource.as_str()),
            ("get", "web", "log")
        );
        let x = a(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            None,
        );
        assert_eq!(
            (
                x.verb.as_str(),
                x.api_group.as_str(),
                x.api_version.as_str(),
                x.subresource.as_str()
            ),
            ("patch", "apps", "v1", "scale")
        );
        let x = a("DELETE", "/api/v1/namespaces/shop/secrets", None);
        assert_eq!(x.verb, "deletecollection");
        let x = a("DELETE", "/api/v1/namespaces/shop", None);
        assert_eq!(
            (x.verb.as_str(), x.resource.as_str(), x.name.as_str()),
            ("delete", "namespaces", "shop")
        );
        assert_eq!(x.namespace, "shop");
        let x = a("PUT", "/api/v1/namespaces/shop/finalize", None);
        assert_eq!(
            (x.resource.as_str(), x.name.as_str(), x.subresource.as_str()),
            ("namespaces", "shop", "finalize")
        );
        let x = a("GET", "/api/v1/watch/namespaces/shop/pods", None);
        assert_eq!((x.verb.as_str(), x.resource.as_str()), ("watch", "pods"));
        let x = a(
            "POST",
            "/api/v1/namespaces/shop/serviceaccounts/bot/token",
            None,
        );
        assert_eq!(
            (x.verb.as_str(), x.subresource.as_str()),
            ("create", "token")
        );
        let x = a(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            None,
        );
        assert_eq!((x.namespace.as_str(), x.verb.as_str()), ("", "list"));
    }

    #[test]
    fn non_resource_requests() {
        for (method, path, verb) in [
            ("GET", "/healthz", "get"),
            ("GET", "/api", "get"),
            ("GET", "/api/v1", "get"),
            ("GET", "/apis/apps", "get"),
            ("GET", "/apis/apps/v1", "get"),
            ("POST", "/metrics", "post"),
            ("GET", "/", "get"),
            ("PUT", "/sim/faults", "put"),
        ] {
            let x = a(method, path, None);
            assert!(!x.resource_request, "{path}");
            assert_eq!(x.verb, verb);
            assert_eq!(x.path, path);
        }
    }
}
