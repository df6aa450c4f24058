//! No module of the controller crate imports from a module that imports it, directly or
//! through others: a cycle makes every piece of it depend on all the others. Reads the sources
//! (`use crate::…`, `use super::…` and inline `crate::…::` / `super::…::` paths), builds the
//! module graph and reports every strongly connected component with more than one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles known and being taken apart, as sorted module lists. (`mod` declarations are not
/// edges: the tree itself is the structure; paths into a child are.)
const KNOWN: &[&[&str]] = &[];

fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    Some(parts.join("::"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `module` refers to, resolved against the known modules (longest prefix):
/// `crate::`, `super::` (repeated), `self::` and child-relative paths, with `{…}` groups
/// expanded. An edge to an ancestor counts: a parent that calls a child which uses the parent's
/// items is a cycle, the shape the `decide/` tree is built to avoid.
fn references(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    // An inline `mod tests { use super::*; ... }` at the end of a file names the file's own
    // module as `super`: it is a child of the module, not a reference of it.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let code: String = text
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut i = 0;
    let bytes: Vec<char> = code.chars().collect();
    while i < bytes.len() {
        if !is_path(bytes[i]) || (i > 0 && is_path(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && is_path(bytes[j]) {
            j += 1;
        }
        let token: String = bytes[i..j].iter().collect();
        // `pub(in crate::a)` names who may see an item, not something it uses.
        let visibility = bytes[..i].iter().rev().take(4).collect::<String>() == " ni(";
        if token.contains("::") && !visibility {
            let mut paths = vec![token.clone()];
            if token.ends_with("::") && bytes.get(j) == Some(&'{') {
                paths = group(&bytes[j..])
                    .into_iter()
                    .map(|p| format!("{token}{p}"))
                    .collect();
            }
            for p in paths {
                if let Some(target) = resolve(module, &p, known) {
                    out.insert(target);
                }
            }
        }
        i = j;
    }
    out
}

/// The paths inside a `{…}` group (nested groups flattened), relative to its prefix.
fn group(chars: &[char]) -> Vec<String> {
    let mut depth = 0;
    let mut out = Vec::new();
    let mut current = String::new();
    let mut stack: Vec<String> = Vec::new();
    for &c in chars {
        match c {
            '{' => {
                depth += 1;
                stack.push(current.trim().to_string());
                current.clear();
            }
            '}' | ',' => {
                let prefix: String = stack.concat();
                let item = current.trim();
                let item = item.split_whitespace().next().unwrap_or("");
                // Empty after a nested group or a trailing comma: nothing named.
                if !item.is_empty() {
                    out.push(format!("{prefix}{item}"));
                }
                current.clear();
                if c == '}' {
                    stack.pop();
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            _ => current.push(c),
        }
    }
    out
}

/// The known module a path starts in, if it names one of this crate's modules other than
/// `module` itself.
fn resolve(module: &str, path: &str, known: &BTreeSet<String>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    match segments.first().copied() {
        Some("crate") => {
            base.clear();
            segments.remove(0);
        }
        Some("self") => {
            segments.remove(0);
        }
        Some("super") => {
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop();
            }
        }
        Some(first) => {
            let child = if module.is_empty() {
                first.to_string()
            } else {
                format!("{module}::{first}")
            };
            if !known.contains(&child) {
                return None;
            }
        }
        None => return None,
    }
    segments.retain(|s| !s.is_empty() && *s != "*");
    loop {
        let candidate = base
            .iter()
            .chain(&segments)
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        if known.contains(&candidate) {
            return (candidate != module && !candidate.is_empty()).then_some(candidate);
        }
        segments.pop()?;
    }
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn graph_of(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = Vec::new();
    files(src, &mut all);
    // Test files (`#[path = "…_tests.rs"] mod tests`) are children of what they test.
    all.retain(|f| !f.to_string_lossy().ends_with("_tests.rs"));
    let modules: BTreeMap<String, PathBuf> = all
        .iter()
        .filter_map(|f| Some((module_of(src, f)?, f.clone())))
        .collect();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(m, f)| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            (m.clone(), references(m, &text, &known))
        })
        .collect()
}

#[test]
fn the_controller_has_no_new_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = cycles(&graph_of(&src));
    let unknown: Vec<&Vec<String>> = found
        .iter()
        .filter(|c| {
            !KNOWN
                .iter()
                .any(|k| k.iter().copied().eq(c.iter().map(String::as_str)))
        })
        .collect();
    assert!(unknown.is_empty(), "module cycles: {unknown:?}");
}

#[test]
fn a_cycle_is_found() {
    let dir = std::env::temp_dir().join(format!("module-cycles-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).expect("scratch dir");
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("lib");
    std::fs::write(
        src.join("a/mod.rs"),
        "use crate::b::thing;\npub fn other() {}\n",
    )
    .expect("a");
    std::fs::write(src.join("b.rs"), "pub fn thing() { crate::a::other() }\n").expect("b");
    let found = cycles(&graph_of(&src));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found, vec![vec!["a".to_string(), "b".to_string()]]);
}

/// The tree in `dir/src`, written from (path, text) pairs, and its cycles.
fn cycles_in(name: &str, files: &[(&str, &str)]) -> Vec<Vec<String>> {
    let dir = std::env::temp_dir().join(format!("module-cycles-{name}-{}", std::process::id()));
    let src = dir.join("src");
    for (path, text) in files {
        let file = src.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("scratch dir");
        }
        std::fs::write(&file, text).expect("scratch file");
    }
    let found = cycles(&graph_of(&src));
    let _ = std::fs::remove_dir_all(&dir);
    found
}

#[test]
fn a_child_using_the_parent_that_calls_it_is_a_cycle() {
    let found = cycles_in(
        "parent",
        &[
            ("lib.rs", "mod p;\n"),
            (
                "p/mod.rs",
                "mod c;\npub struct S;\npub fn run() { c::go() }\n",
            ),
            ("p/c.rs", "use super::S;\npub(super) fn go() {}\n"),
        ],
    );
    assert_eq!(found, vec![vec!["p".to_string(), "p::c".to_string()]]);
}

#[test]
fn siblings_named_through_a_group_are_not_the_parent() {
    let found = cycles_in(
        "siblings",
        &[
            ("lib.rs", "mod p;\n"),
            ("p/mod.rs", "mod a;\nmod b;\npub fn run() { a::go() }\n"),
            (
                "p/a.rs",
                "use crate::p::{b::x, b::{y}};\npub(in crate::p) fn go() { x(); y() }\n",
            ),
            ("p/b.rs", "pub fn x() {}\npub fn y() {}\n"),
        ],
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn an_inline_test_module_using_super_is_not_a_reference_of_its_file() {
    let found = cycles_in(
        "inline-tests",
        &[
            ("lib.rs", "mod p;\n"),
            ("p/mod.rs", "mod c;\npub fn run() { c::go() }\n"),
            (
                "p/c.rs",
                "pub(super) fn go() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            ),
        ],
    );
    assert!(found.is_empty(), "{found:?}");
}
