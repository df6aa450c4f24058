//! Label and field selectors as the API server parses them from query strings
//! (`app=web,tier!=db,env in (a,b),!legacy` and `metadata.name=x,status.phase!=Running`).

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector. Empty matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_req(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    /// A structured `metav1.LabelSelector` (`matchLabels` and `matchExpressions` with In,
    /// NotIn, Exists, DoesNotExist). An empty one matches everything.
    pub fn from_json(selector: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels[{k}] is not a string"))?;
                reqs.push(Req::Eq(k.clone(), v.to_string()));
            }
        }
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        for e in expressions.into_iter().flatten() {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or("a matchExpression has no key")?
                .to_string();
            let values = crate::ops::string_list(e.get("values"));
            reqs.push(match e.get("operator").and_then(Value::as_str) {
                Some("In") if !values.is_empty() => Req::In(key, values),
                Some("NotIn") if !values.is_empty() => Req::NotIn(key, values),
                Some("Exists") if values.is_empty() => Req::Exists(key),
                Some("DoesNotExist") if values.is_empty() => Req::NotExists(key),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    /// Whether the labels `label` looks up match.
    fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => label(k) == Some(v.as_str()),
            Req::NotEq(k, v) => label(k) != Some(v.as_str()),
            Req::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Req::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Req::Exists(k) => label(k).is_some(),
            Req::NotExists(k) => label(k).is_none(),
        })
    }

    /// Whether an object's `metadata.labels` match, read in place (a list or watch asks this
    /// of every object it passes).
    pub fn matches_object(&self, obj: &Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }
}

/// `metadata.labels` of an object as a map.
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_req(part: &str) -> Result<Req, String> {
    let bad = || format!("unable to parse requirement: {part:?}");
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Req::NotExists(key.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Req::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Req::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Req::Eq(k.trim().into(), v.trim().into()));
    }
    for (op, notin) in [(" notin ", true), (" in ", false)] {
        if let Some((k, rest)) = part.split_once(op) {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values = inner.split(',').map(|v| v.trim().to_string()).collect();
            let key = k.trim().to_string();
            return Ok(if notin {
                Req::NotIn(key, values)
            } else {
                Req::In(key, values)
            });
        }
    }
    let key = part.trim();
    if key.contains(char::is_whitespace) || key.is_empty() {
        return Err(bad());
    }
    Ok(Req::Exists(key.into()))
}

/// A parsed field selector: `path=value` and `path!=value` terms over the object's JSON,
/// with dotted paths such as `metadata.name` or `status.phase`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, eq, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid field selector term {part:?}: expected path=value"
                ));
            };
            terms.push((path.trim().to_string(), eq, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// The same selector with each field label renamed: an API whose objects are stored in
    /// another version's form selects on that form's fields.
    pub fn map_labels(self, rename: impl Fn(&str) -> String) -> Self {
        FieldSelector(
            self.0
                .into_iter()
                .map(|(path, eq, value)| (rename(&path), eq, value))
                .collect(),
        )
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, want)| {
            let found = path.split('.').try_fold(obj, |v, field| v.get(field));
            let same = match found {
                None | Some(Value::Null) => want.is_empty(),
                Some(Value::String(s)) => s == want,
                Some(other) => serde_json::from_str::<Value>(want).is_ok_and(|w| w == *other),
            };
            same == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"labels": {"app": "web", "env": "prod"}}});
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web,env=prod", true),
            ("app!=web", false),
            ("env in (prod, dev)", true),
            ("env notin (prod)", false),
            ("app", true),
            ("!app", false),
            ("!legacy,app in (web)", true),
            ("tier=db", false),
        ];
        for (sel, want) in cases {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches_object(&obj),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("env in prod").is_err());
    }

    #[test]
    fn structured_label_selectors() {
        let labels: BTreeMap<String, String> =
            [("a".to_string(), "1".to_string())].into_iter().collect();
        let sel = |v: serde_json::Value| LabelSelector::from_json(&v);
        assert!(sel(json!({})).is_ok_and(|s| s.matches(&labels)));
        assert!(sel(json!({"matchLabels": {"a": "1"}})).is_ok_and(|s| s.matches(&labels)));
        assert!(sel(json!({"matchLabels": {"a": "2"}})).is_ok_and(|s| !s.matches(&labels)));
        let expr = |op: &str, values: serde_json::Value| {
            sel(json!({"matchExpressions": [{"key": "a", "operator": op, "values": values}]}))
        };
        assert!(expr("In", json!(["1", "3"])).is_ok_and(|s| s.matches(&labels)));
        assert!(expr("NotIn", json!(["1"])).is_ok_and(|s| !s.matches(&labels)));
        assert!(expr("Exists", json!([])).is_ok_and(|s| s.matches(&labels)));
        assert!(expr("DoesNotExist", json!([])).is_ok_and(|s| !s.matches(&labels)));
        assert!(expr("In", json!([])).is_err(), "In needs values");
        assert!(expr("Near", json!(["1"])).is_err());
        assert!(sel(json!({"matchLabels": {"a": 1}})).is_err());
    }

    #[test]
    fn field_selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Running"}});
        assert!(
            FieldSelector::parse("metadata.name=a")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("metadata.namespace!=x,status.phase=Running")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            !FieldSelector::parse("metadata.name=b")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("spec.nodeName=")
                .unwrap()
                .matches(&obj)
        );
        assert!(FieldSelector::parse("bogus").is_err());
    }
}
