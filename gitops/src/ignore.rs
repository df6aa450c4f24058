//! `spec.ignoreDifferences`: fields of matched objects that the GitSync neither writes nor
//! compares, so that a field another actor owns (an HPA's replicas, a mutating webhook's
//! defaults) is not written back at every sync. The fields are taken out of the rendered
//! objects before they are applied: server-side apply then leaves them to whoever owns them.
//! JSON pointers (RFC 6901) with `*` matching any key or index. Pure.

use rollout_rs_crds::gitsync::IgnoreDifferences;
use serde_json::Value;

use crate::inventory::Key;

/// Whether `rule` applies to the object `key` (its namespace as it will be applied).
fn matches(rule: &IgnoreDifferences, key: &Key) -> bool {
    rule.group.as_deref().unwrap_or_default() == key.group
        && rule.kind == key.kind
        && rule.name.as_ref().is_none_or(|n| *n == key.name)
        && rule
            .namespace
            .as_ref()
            .is_none_or(|ns| key.namespace.as_ref() == Some(ns))
}

/// Takes the ignored fields out of `obj`, whose key (namespace filled in) is `key`.
pub fn strip(obj: &mut Value, key: &Key, rules: &[IgnoreDifferences]) {
    for rule in rules.iter().filter(|r| matches(r, key)) {
        for pointer in &rule.json_pointers {
            let segments: Vec<String> = pointer
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect();
            remove(obj, &segments);
        }
    }
}

fn remove(v: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match v {
        Value::Object(map) => {
            if rest.is_empty() {
                if first == "*" {
                    map.clear();
                } else {
                    map.remove(first);
                }
                return;
            }
            if first == "*" {
                for child in map.values_mut() {
                    remove(child, rest);
                }
            } else if let Some(child) = map.get_mut(first) {
                remove(child, rest);
            }
        }
        Value::Array(items) => {
            if rest.is_empty() {
                if first == "*" {
                    items.clear();
                } else if let Ok(i) = first.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                }
                return;
            }
            if first == "*" {
                for child in items.iter_mut() {
                    remove(child, rest);
                }
            } else if let Some(child) = first.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                remove(child, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(
        group: Option<&str>,
        kind: &str,
        name: Option<&str>,
        pointers: &[&str],
    ) -> IgnoreDifferences {
        IgnoreDifferences {
            group: group.map(str::to_string),
            kind: kind.into(),
            name: name.map(str::to_string),
            namespace: None,
            json_pointers: pointers.iter().map(|p| p.to_string()).collect(),
            managed_fields_managers: vec![],
        }
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop",
               "annotations": {"a/b": "x", "keep": "y"}},
               "spec": {"replicas": 3, "template": {"spec": {"containers": [
                   {"name": "web", "image": "web:1", "resources": {"limits": {"cpu": "1"}}},
                   {"name": "proxy", "image": "proxy:1", "resources": {"limits": {"cpu": "2"}}}]}}}})
    }

    fn key(v: &Value) -> Key {
        Key::of(v).expect("key")
    }

    #[test]
    fn a_matching_rule_takes_its_fields_out() {
        let mut d = deployment();
        let k = key(&d);
        strip(
            &mut d,
            &k,
            &[rule(
                Some("apps"),
                "Deployment",
                None,
                &["/spec/replicas", "/metadata/annotations/a~1b"],
            )],
        );
        assert!(d.pointer("/spec/replicas").is_none());
        assert_eq!(d["metadata"]["annotations"], json!({"keep": "y"}));
    }

    #[test]
    fn wildcards_reach_every_item() {
        let mut d = deployment();
        let k = key(&d);
        strip(
            &mut d,
            &k,
            &[rule(
                Some("apps"),
                "Deployment",
                None,
                &["/spec/template/spec/containers/*/resources"],
            )],
        );
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            containers.iter().all(|c| c.get("resources").is_none()),
            "{containers:?}"
        );
        assert!(containers.iter().all(|c| c.get("image").is_some()));
    }

    #[test]
    fn other_objects_are_untouched() {
        let mut d = deployment();
        let k = key(&d);
        let before = d.clone();
        strip(
            &mut d,
            &k,
            &[
                rule(None, "Deployment", None, &["/spec/replicas"]),
                rule(Some("apps"), "StatefulSet", None, &["/spec/replicas"]),
                rule(Some("apps"), "Deployment", Some("api"), &["/spec/replicas"]),
            ],
        );
        assert_eq!(d, before);
    }
}
