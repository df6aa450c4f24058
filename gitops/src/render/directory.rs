//! Plain manifests: the `.yaml`, `.yml` and `.json` files of a directory (and of its
//! subdirectories with `recurse`), picked by Argo CD's `include`/`exclude` globs, read in
//! path order.
//!
//! Argo CD's rules, kept: only the top directory unless `recurse`; the globs are matched
//! against the path relative to `source.path`, `*` crosses `/` (so `*.yaml` also picks
//! `sub/a.yaml`), `{a,b}` gives alternatives, and `exclude` wins. Unlike Argo CD, a file
//! that does not parse is always an error, never skipped. Symlinks to files inside the
//! repository are read; symlinks to directories are not followed (no cycles); a symlink
//! leading out of the repository is an error.
//!
//! It must not: read anything outside the repository, or return some files' objects when
//! another file failed.

use std::fs;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher};
use rollout_rs_crds::gitsync::DirectorySource;

use super::confine::{self, Link};
use super::documents::{self, Document};
use super::{Origin, Place, RenderError, Rendered};

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every selected file of the directory; the first bad file fails the render.
pub(super) fn render(at: &Place, opts: &DirectorySource) -> Result<Vec<Rendered>, RenderError> {
    let include = opts
        .include
        .as_deref()
        .map(|p| matcher("include", p))
        .transpose()?;
    let exclude = opts
        .exclude
        .as_deref()
        .map(|p| matcher("exclude", p))
        .transpose()?;
    let mut files = Vec::new();
    for (name, path) in walk(at, opts.recurse)? {
        let pattern_path = slashed(&name);
        if exclude.as_ref().is_some_and(|g| g.is_match(&pattern_path)) {
            continue;
        }
        if include.as_ref().is_some_and(|g| !g.is_match(&pattern_path)) {
            continue;
        }
        files.push((name, path));
    }
    // Path order, as Argo CD's walk gives it, so two renders of one commit list the same.
    files.sort();
    let mut out = Vec::new();
    for (name, path) in files {
        read_file(&at.shown(&name), &path, &mut out)?;
    }
    Ok(out)
}

/// Candidate manifests: (path relative to the rendered directory, real path to read).
fn walk(at: &Place, recurse: bool) -> Result<Vec<(PathBuf, PathBuf)>, RenderError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for (name, kind) in confine::read_dir(&at.dir.join(&rel), &at.rel.join(&rel))? {
            if name == ".git" {
                continue;
            }
            let child = rel.join(&name);
            let real = at.dir.join(&child);
            if kind.is_symlink() {
                match confine::symlink(&at.root, &real, &at.rel.join(&child))? {
                    Link::Inside(target) if target.is_file() && is_manifest(&child) => {
                        found.push((child, target));
                    }
                    Link::Inside(_) => {}
                    Link::Dangling if is_manifest(&child) => {
                        return Err(RenderError::NotFound {
                            file: at.shown(&child),
                        });
                    }
                    Link::Dangling => {}
                }
            } else if kind.is_dir() {
                if recurse {
                    pending.push(child);
                }
            } else if kind.is_file() && is_manifest(&child) {
                found.push((child, real));
            }
        }
    }
    Ok(found)
}

fn is_manifest(name: &Path) -> bool {
    name.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

/// A glob as Argo CD matches it: `*` and `?` cross `/`.
fn matcher(field: &'static str, pattern: &str) -> Result<GlobMatcher, RenderError> {
    let glob: Glob = GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| RenderError::Glob {
            field,
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })?;
    Ok(glob.compile_matcher())
}

fn slashed(path: &Path) -> String {
    super::shown_file(path)
}

/// Parses one file (shown as `file`) into `out`.
fn read_file(file: &str, path: &Path, out: &mut Vec<Rendered>) -> Result<(), RenderError> {
    let bytes = fs::read(path).map_err(|source| RenderError::Io {
        file: file.to_string(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| RenderError::Syntax {
        origin: Origin {
            file: file.to_string(),
            line: Some(line_at(e.as_bytes(), e.utf8_error().valid_up_to())),
        },
        column: 1,
        message: "not UTF-8 text".into(),
    })?;
    let docs = documents::documents(&text).map_err(|e| RenderError::Syntax {
        origin: Origin {
            file: file.to_string(),
            line: Some(e.line),
        },
        column: e.column,
        message: e.message,
    })?;
    for Document { value, line } in docs {
        let origin = Origin {
            file: file.to_string(),
            line: Some(line),
        };
        documents::objects(value, &origin, out)?;
    }
    Ok(())
}

/// The 1-based line holding byte `offset`.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_argo_cd_does() {
        let yaml = matcher("include", "{*.yaml,*.yml}").unwrap();
        assert!(yaml.is_match("a.yaml"));
        assert!(yaml.is_match("a.yml"));
        assert!(yaml.is_match("sub/a.yaml"), "* crosses /");
        assert!(!yaml.is_match("a.json"));
        let sub = matcher("exclude", "{config.json,env-usw2/*}").unwrap();
        assert!(sub.is_match("config.json"));
        assert!(sub.is_match("env-usw2/a.yaml"));
        assert!(!sub.is_match("env-use1/a.yaml"));
    }

    #[test]
    fn a_bad_glob_is_named() {
        let e = matcher("include", "{a,b").unwrap_err().to_string();
        assert!(
            e.starts_with("source.directory.include \"{a,b\" is not a valid glob: "),
            "{e}"
        );
    }

    #[test]
    fn lines_of_byte_offsets() {
        assert_eq!(line_at(b"a\nb\nc", 0), 1);
        assert_eq!(line_at(b"a\nb\nc", 2), 2);
        assert_eq!(line_at(b"a\nb\nc", 4), 3);
    }
}
