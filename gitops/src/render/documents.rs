//! From text to Kubernetes objects: a YAML stream (JSON is YAML) split into documents, each
//! with the line it starts on, empty documents skipped, `List`s flattened, and anything that
//! is not an object with `apiVersion`, `kind` and `metadata.name` refused.
//!
//! It must not: touch the file system or know which renderer produced the text; the caller
//! says where the text came from.

use serde_json::Value;
use serde_saphyr::Spanned;

use super::{Origin, RenderError, Rendered};

/// One document of a stream.
pub(super) struct Document {
    pub(super) value: Value,
    /// 1-based line of the document's first node in the stream.
    pub(super) line: usize,
}

/// A stream that is not YAML: where, and why.
pub(super) struct SyntaxError {
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) message: String,
}

/// The non-empty documents of a YAML (or JSON) stream.
pub(super) fn documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut options = serde_saphyr::options::Options::default();
    // kubectl reads manifests as YAML 1.1: `mode: 0644` is octal there, and here too.
    options.legacy_octal_numbers = true;
    let docs: Vec<Spanned<Value>> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
            let message = e.without_snippet().to_string();
            // The location is reported on its own; the message repeats it at its end.
            let message = match message.rfind(" at line ") {
                Some(at) => message[..at].to_string(),
                None => message,
            };
            // Advice to the programmer, not to the manifest's author.
            let message = message.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            SyntaxError {
                line,
                column,
                message,
            }
        })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(|d| Document {
            line: d.referenced.line().max(1) as usize,
            value: d.value,
        })
        .collect())
}

/// Appends the objects of one document to `out`: the document itself, or a List's items.
pub(super) fn objects(
    value: Value,
    origin: &Origin,
    out: &mut Vec<Rendered>,
) -> Result<(), RenderError> {
    let not_an_object = |problem: String| RenderError::NotAnObject {
        origin: origin.clone(),
        problem,
    };
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    // kubectl's rule: a `*List` with `items` is a list to flatten, whatever its group.
    if kind.ends_with("List")
        && let Some(Value::Array(_)) = value.get("items")
    {
        let Value::Object(mut map) = value else {
            return Err(not_an_object("a List that is not a mapping".into()));
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return Err(not_an_object("a List without items".into()));
        };
        for (i, item) in items.into_iter().enumerate() {
            objects(item, origin, out).map_err(|e| match e {
                RenderError::NotAnObject { origin, problem } => RenderError::NotAnObject {
                    origin,
                    problem: format!("items[{i}]: {problem}"),
                },
                other => other,
            })?;
        }
        return Ok(());
    }
    check(&value).map_err(not_an_object)?;
    out.push(Rendered {
        object: value,
        origin: origin.clone(),
    });
    Ok(())
}

/// What makes a document something the API server can be asked to apply.
fn check(value: &Value) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("expected a mapping, found {}", type_name(value)));
    };
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) | None => return Err(format!("missing {field}")),
            Some(other) => return Err(format!("{field} is {}, not a string", type_name(other))),
        }
    }
    match value.pointer("/metadata/name") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(Value::String(_)) | None => Err("missing metadata.name".into()),
        Some(other) => Err(format!(
            "metadata.name is {}, not a string",
            type_name(other)
        )),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin {
            file: "a.yaml".into(),
            line: Some(3),
        }
    }

    #[test]
    fn documents_keep_their_first_line_and_skip_empty_ones() {
        let text = "# header\n---\n---\n# nothing here\n---\napiVersion: v1\nkind: A\n--- {b: 1}\n";
        let docs = documents(text).ok().unwrap();
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [6, 8]);
        assert_eq!(docs[1].value, json!({"b": 1}));
    }

    #[test]
    fn syntax_errors_name_the_stream_line_without_repeating_it() {
        let text = "a: 1\n---\nb: [2\nc: 3\n";
        let Err(e) = documents(text) else {
            panic!("accepted")
        };
        assert_eq!((e.line, e.column), (4, 2));
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn octal_modes_read_as_kubectl_reads_them() {
        let docs = documents("mode: 0644\n").ok().unwrap();
        assert_eq!(docs[0].value, json!({"mode": 420}));
    }

    #[test]
    fn lists_are_flattened_and_items_checked() {
        let mut out = Vec::new();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}},
            {"apiVersion": "v1", "kind": "ConfigMapList", "items": [
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}]}
        ]});
        objects(list, &origin(), &mut out).unwrap();
        let names: Vec<&str> = out
            .iter()
            .map(|r| r.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);

        let bad = json!({"apiVersion": "v1", "kind": "List", "items": [{"kind": "A"}]});
        let e = objects(bad, &origin(), &mut out).unwrap_err().to_string();
        assert_eq!(
            e,
            "a.yaml:3: not a Kubernetes object: items[0]: missing apiVersion"
        );
    }

    #[test]
    fn shape_problems_are_named() {
        let problem = |v: Value| check(&v).err();
        assert_eq!(
            problem(json!(["a"])).as_deref(),
            Some("expected a mapping, found a sequence")
        );
        assert_eq!(
            problem(json!({"apiVersion": "v1", "metadata": {"name": "x"}})).as_deref(),
            Some("missing kind")
        );
        assert_eq!(
            problem(json!({"apiVersion": "v1", "kind": "A", "metadata": {}})).as_deref(),
            Some("missing metadata.name")
        );
        assert_eq!(
            problem(json!({"apiVersion": 1, "kind": "A"})).as_deref(),
            Some("apiVersion is a number, not a string")
        );
        assert_eq!(
            problem(json!({"apiVersion": "v1", "kind": "A", "metadata": {"name": "x"}})),
            None
        );
    }
}
