//! Object names as the real API server checks them: which syntax each kind's names follow, the
//! exact messages of Kubernetes' validation (clients and users match on them), and how a name
//! is generated from `generateName`.
//!
//! The messages are those of `k8s.io/apimachinery/pkg/util/validation` and
//! `k8s.io/apimachinery/pkg/api/validation/path`.

use crate::registry::ResourceType;

/// The syntax a kind's names must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    /// Most kinds, custom resources included: up to 253 characters, dot-separated labels.
    Subdomain,
    /// Namespaces: one label, up to 63 characters.
    Dns1123Label,
    /// Services (their names become DNS labels that must not start with a digit).
    Dns1035Label,
    /// RBAC objects (`system:controller:...`) and core Events: anything usable in a URL path.
    PathSegment,
}

fn syntax(rt: &ResourceType) -> Syntax {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => Syntax::Dns1123Label,
        ("", "Service") => Syntax::Dns1035Label,
        ("", "Event") | ("rbac.authorization.k8s.io", _) => Syntax::PathSegment,
        _ => Syntax::Subdomain,
    }
}

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";

/// `RegexError` of apimachinery, examples and spacing included.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{}'{e}', ", if i > 0 { " or " } else { "" }))
        .collect();
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

fn is_subdomain(s: &str) -> bool {
    s.split('.').all(is_label)
}

fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !is_subdomain(s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !is_label(s) {
        if is_subdomain(s) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !(is_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// What makes `name` unusable as one segment of a URL path; empty when it is usable.
pub fn path_segment(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(**bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Why `name` is not a valid name of `rt`'s objects; empty when it is. With `prefix`, `name` is
/// a `generateName`, whose trailing '-' is allowed.
pub fn check(rt: &ResourceType, name: &str, prefix: bool) -> Vec<String> {
    let masked;
    let name = match name.strip_suffix('-') {
        Some(head) if prefix && !head.is_empty() => {
            masked = format!("{head}a");
            masked.as_str()
        }
        _ => name,
    };
    match syntax(rt) {
        Syntax::Subdomain => dns1123_subdomain(name),
        Syntax::Dns1123Label => dns1123_label(name),
        Syntax::Dns1035Label => dns1035_label(name),
        Syntax::PathSegment => path_segment(name),
    }
}

/// Longest part of a `generateName` kept: the API server's generator cuts the prefix so that,
/// with its 5 random characters, a generated name fits in 63 (a DNS label; pods' hostnames).
const MAX_GENERATED_PREFIX: usize = 63 - 5;

/// A name from `generate_name` and 5 random characters, as the API server generates it.
pub fn generate(generate_name: &str, random: &str) -> String {
    let mut end = generate_name.len().min(MAX_GENERATED_PREFIX);
    while !generate_name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{random}", &generate_name[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(group: &str, kind: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
            singular: kind.to_lowercase(),
            namespaced: true,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            scale: None,
            generation: false,
            schema: None,
            printer_columns: Vec::new(),
            crd: None,
            create_only: false,
        }
    }

    #[test]
    fn syntax_per_kind() {
        let cm = rt("", "ConfigMap");
        assert!(check(&cm, "web.example-1", false).is_empty());
        assert_eq!(check(&cm, "web.", false).len(), 1);
        assert_eq!(check(&cm, "-web", false).len(), 1);
        assert_eq!(check(&cm, "", false).len(), 1);
        assert_eq!(check(&cm, &"a".repeat(254), false), [max_len_error(253)]);
        assert!(
            check(&cm, "web-", true).is_empty(),
            "generateName may end in '-'"
        );
        assert!(!check(&cm, "-", true).is_empty());

        let ns = rt("", "Namespace");
        assert_eq!(check(&ns, "a.b", false), ["must not contain dots"]);
        assert!(check(&ns, "1web", false).is_empty());
        let svc = rt("", "Service");
        assert_eq!(check(&svc, "1web", false).len(), 1);
        assert!(check(&svc, "web-1", false).is_empty());

        let role = rt("rbac.authorization.k8s.io", "ClusterRole");
        assert!(check(&role, "system:controller:Web", false).is_empty());
        assert_eq!(check(&role, "..", false), ["may not be '..'"]);
        assert_eq!(
            path_segment("a/b%c"),
            ["may not contain '/'", "may not contain '%'"]
        );
    }

    #[test]
    fn label_message_is_apimachinery_s() {
        assert_eq!(
            dns1123_label("Web")[0],
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
    }

    #[test]
    fn generated_names_fit_a_label() {
        assert_eq!(generate("web-", "x2b4c"), "web-x2b4c");
        let long = generate(&format!("{}-", "r".repeat(100)), "x2b4c");
        assert_eq!(long, format!("{}x2b4c", "r".repeat(58)));
        // Never split a character.
        let wide = generate(&"é".repeat(40), "x2b4c");
        assert_eq!(wide, format!("{}x2b4c", "é".repeat(29)));
    }
}
