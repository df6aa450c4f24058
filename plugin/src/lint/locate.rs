//! Where in a YAML document a field is written: the line of `spec.strategy.canary.steps[2]
//! .setWeight`, found by walking the block structure (keys by indentation, sequence items by
//! their dashes). A field inside a flow collection (`steps: [{setWeight: 150}]`) or not written
//! at all (a required field) is reported at the line of its closest ancestor that is. Pure;
//! works on the text, since the YAML parser keeps no positions.

/// One segment of a field path.
#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Segment::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                let inner = stripped[..end].trim_matches(|c| c == '\'' || c == '"');
                out.push(match inner.parse() {
                    Ok(n) => Segment::Index(n),
                    Err(_) => Segment::Key(inner.to_string()),
                });
                rest = &stripped[end + 1..];
            }
        } else if !rest.is_empty() {
            out.push(Segment::Key(rest.to_string()));
        }
    }
    out
}

/// A line that carries content: its number (1-based), indentation and text after it.
#[derive(Clone, Debug)]
struct Line {
    number: usize,
    indent: usize,
    text: String,
}

fn lines(doc: &str) -> Vec<Line> {
    doc.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let text = raw.trim_start();
            if text.is_empty() || text.starts_with('#') || text.starts_with("---") {
                return None;
            }
            Some(Line {
                number: i + 1,
                indent: raw.len() - text.len(),
                text: text.to_string(),
            })
        })
        .collect()
}

/// Whether `text` starts with the key `key` (plain or quoted) followed by a colon.
fn is_key(text: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            text.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

/// Whether what follows the key's colon on its line is a value (a scalar or a flow
/// collection) rather than the start of a block.
fn inline_value(text: &str) -> bool {
    text.split_once(':')
        .map(|(_, v)| v.trim())
        .is_some_and(|v| {
            !v.is_empty() && !v.starts_with('#') && !v.starts_with('|') && !v.starts_with('>')
        })
}

/// The 1-based line within `doc` where `path` is written, or of its closest written ancestor;
/// `None` when not even its first segment is found.
pub(crate) fn line_of(doc: &str, path: &str) -> Option<usize> {
    let mut scope = lines(doc);
    let mut parent: Option<usize> = None;
    let mut found = None;
    for segment in segments(path) {
        let deeper = |l: &Line| parent.is_none_or(|p| l.indent > p);
        match segment {
            Segment::Key(key) => {
                let Some(first) = scope.iter().find(|l| deeper(l)) else {
                    return found;
                };
                let level = first.indent;
                let Some(at) = scope
                    .iter()
                    .position(|l| l.indent == level && is_key(&l.text, &key))
                else {
                    return found;
                };
                let line = scope[at].clone();
                found = Some(line.number);
                if inline_value(&line.text) {
                    return found;
                }
                // The key's block: deeper lines, or a sequence written at the key's own level.
                let rest = &scope[at + 1..];
                let end = rest
                    .iter()
                    .position(|l| {
                        l.indent < level || (l.indent == level && !l.text.starts_with('-'))
                    })
                    .unwrap_or(rest.len());
                scope = rest[..end].to_vec();
                parent = Some(level);
                // A same-level sequence: its dashes are the children.
                if scope.first().is_some_and(|l| l.indent == level) {
                    parent = level.checked_sub(1);
                }
            }
            Segment::Index(index) => {
                let Some(first) = scope.iter().find(|l| deeper(l) && l.text.starts_with('-'))
                else {
                    return found;
                };
                let level = first.indent;
                let items: Vec<usize> = scope
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.indent == level && l.text.starts_with('-'))
                    .map(|(i, _)| i)
                    .collect();
                let Some(&at) = items.get(index) else {
                    return found;
                };
                let end = items.get(index + 1).copied().unwrap_or_else(|| {
                    scope[at + 1..]
                        .iter()
                        .position(|l| l.indent <= level)
                        .map_or(scope.len(), |p| at + 1 + p)
                });
                found = Some(scope[at].number);
                // The item's first key sits after its dash: seen as a line two columns in.
                let mut item = scope[at..end].to_vec();
                let head = &mut item[0];
                let after = head.text[1..].trim_start().to_string();
                head.indent += head.text.len() - after.len();
                head.text = after;
                if head.text.is_empty() {
                    item.remove(0);
                } else if head.text.starts_with('{') || head.text.starts_with('[') {
                    return found;
                }
                scope = item;
                parent = Some(level);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: rollout-rs.io/v1alpha1
kind: Rollout
metadata:
  name: web   # a comment
spec:
  replicas: 4
  template:
    spec:
      containers:
      - name: web
        image: web:1
      - name: proxy
        image: proxy:1
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {}
        -
          setWeight: 150
      analysis: {templates: [{templateName: rate}]}
";

    #[test]
    fn block_keys_and_sequence_items() {
        assert_eq!(line_of(DOC, "spec.replicas"), Some(6));
        assert_eq!(line_of(DOC, "metadata.name"), Some(4));
        assert_eq!(
            line_of(DOC, "spec.template.spec.containers[1].image"),
            Some(13)
        );
        assert_eq!(
            line_of(DOC, "spec.template.spec.containers[0].name"),
            Some(10)
        );
        assert_eq!(
            line_of(DOC, "spec.strategy.canary.steps[0].setWeight"),
            Some(17)
        );
        assert_eq!(
            line_of(DOC, "spec.strategy.canary.steps[2].setWeight"),
            Some(20)
        );
    }

    #[test]
    fn flow_values_and_missing_fields_fall_back_to_the_closest_ancestor() {
        assert_eq!(
            line_of(
                DOC,
                "spec.strategy.canary.analysis.templates[0].templateName"
            ),
            Some(21)
        );
        assert_eq!(line_of(DOC, "spec.selector"), Some(5));
        assert_eq!(
            line_of(DOC, "spec.strategy.canary.steps[7].setWeight"),
            Some(16)
        );
        assert_eq!(line_of(DOC, "status"), None);
    }

    #[test]
    fn flow_steps_point_at_their_line() {
        let doc = "spec:\n  strategy:\n    canary:\n      steps: [{setWeight: 150}]\n";
        assert_eq!(
            line_of(doc, "spec.strategy.canary.steps[0].setWeight"),
            Some(4)
        );
    }

    #[test]
    fn paths_with_quoted_keys() {
        assert_eq!(
            segments("metadata.labels['app']"),
            vec![
                Segment::Key("metadata".into()),
                Segment::Key("labels".into()),
                Segment::Key("app".into())
            ]
        );
    }
}
