//! Keeping every read inside the repository: the paths a GitSync names (`path`, Helm value
//! files) are relative and never climb, and whatever they resolve to through symlinks stays
//! under the canonical repository root. Also the private scratch directory renderers get for
//! generated files.
//!
//! It must not: follow a symlink before checking where it lands, or write anywhere but its
//! own scratch directory.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{RenderError, shown_dir, shown_file};

/// `source.path` as a clean relative path: `""`, `.` and `./` are the root.
pub(super) fn source_path(path: Option<&str>) -> Result<PathBuf, RenderError> {
    relative("source.path", path.unwrap_or(""))
}

/// `value` checked to be relative and free of `..`, with `.` components dropped. `..` is
/// refused even when it would stay inside: the GitSync validation refuses it too, and a path
/// that can only go down is one that needs no further thought.
pub(super) fn relative(field: &str, value: &str) -> Result<PathBuf, RenderError> {
    let invalid = |reason| RenderError::InvalidPath {
        field: field.to_string(),
        path: value.to_string(),
        reason,
    };
    let mut clean = PathBuf::new();
    for component in Path::new(value).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(invalid("must stay inside the repository (no '..')"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid("must be relative to the repository root"));
            }
        }
    }
    Ok(clean)
}

/// The repository root with every symlink resolved: the prefix everything must stay under.
pub(super) fn canonical_root(root: &Path) -> Result<PathBuf, RenderError> {
    fs::canonicalize(root).map_err(|source| RenderError::Io {
        file: "the repository root".into(),
        source,
    })
}

/// `root/rel` resolved; an error when it does not exist or lands outside `root`. `shown` is
/// what messages call it (relative to the repository root).
pub(super) fn inside(root: &Path, rel: &Path, shown: &Path) -> Result<PathBuf, RenderError> {
    let real = match fs::canonicalize(root.join(rel)) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RenderError::NotFound {
                file: shown_dir(shown),
            });
        }
        Err(source) => {
            return Err(RenderError::Io {
                file: shown_dir(shown),
                source,
            });
        }
    };
    if !real.starts_with(root) {
        return Err(RenderError::Escapes {
            file: shown_dir(shown),
            what: "a symlink on the way".into(),
        });
    }
    Ok(real)
}

/// What a directory entry that is a symlink points at.
pub(super) enum Link {
    /// Inside the repository: its resolved path.
    Inside(PathBuf),
    /// Points nowhere: nothing can be read through it, so nothing can leak.
    Dangling,
}

/// Resolves the symlink at `path` (shown as `shown`); an error when it points outside `root`.
pub(super) fn symlink(root: &Path, path: &Path, shown: &Path) -> Result<Link, RenderError> {
    match fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(Link::Inside(real)),
        Ok(_) => Err(RenderError::Escapes {
            file: shown_file(shown),
            what: "this symlink".into(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Link::Dangling),
        Err(source) => Err(RenderError::Io {
            file: shown_file(shown),
            source,
        }),
    }
}

/// Checks every symlink in the repository (but `.git`). Renderers read whatever their input
/// names, following symlinks, so before one runs no link may lead out of the tree.
pub(super) fn no_symlink_out(root: &Path) -> Result<(), RenderError> {
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in read_dir(&root.join(&rel), &rel)? {
            let (name, kind) = entry;
            if name == ".git" {
                continue;
            }
            let child = rel.join(&name);
            if kind.is_symlink() {
                // Checked, not followed: a link inside the tree leads to a place walked anyway.
                symlink(root, &root.join(&child), &child)?;
            } else if kind.is_dir() {
                pending.push(child);
            }
        }
    }
    Ok(())
}

/// The entries of `dir` (shown as `rel`) with their types, symlinks not followed.
pub(super) fn read_dir(
    dir: &Path,
    rel: &Path,
) -> Result<Vec<(std::ffi::OsString, fs::FileType)>, RenderError> {
    let io_error = |source| RenderError::Io {
        file: shown_dir(rel),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let kind = entry.file_type().map_err(io_error)?;
        entries.push((entry.file_name(), kind));
    }
    Ok(entries)
}

/// A private temporary directory (mode 0700), removed when dropped.
pub(super) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub(super) fn new() -> Result<Self, RenderError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!(
                "rollout-rs-render-{}-{nanos}-{n}",
                std::process::id()
            ));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                // Canonical, because kustomize needs a relative path from here to the checkout.
                Ok(()) => {
                    let path = fs::canonicalize(&path).map_err(scratch_error)?;
                    return Ok(Scratch { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(scratch_error(e)),
            }
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in the scratch directory and returns its path.
    pub(super) fn write(&self, name: &str, contents: &[u8]) -> Result<PathBuf, RenderError> {
        let path = self.path.join(name);
        fs::write(&path, contents).map_err(scratch_error)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove a render scratch directory");
        }
    }
}

fn scratch_error(source: io::Error) -> RenderError {
    RenderError::Io {
        file: "a temporary directory".into(),
        source,
    }
}

/// The relative path from directory `from` to `to`, both absolute and canonical.
pub(super) fn relative_between(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part.as_os_str());
    }
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_paths_are_cleaned_or_refused() {
        assert_eq!(source_path(None).ok(), Some(PathBuf::new()));
        assert_eq!(source_path(Some(".")).ok(), Some(PathBuf::new()));
        assert_eq!(
            source_path(Some("./apps//web/")).ok(),
            Some(PathBuf::from("apps/web"))
        );
        let refused = |p: &str| source_path(Some(p)).map_err(|e| e.to_string()).err();
        assert_eq!(
            refused("apps/../../etc").as_deref(),
            Some("source.path \"apps/../../etc\" must stay inside the repository (no '..')")
        );
        assert_eq!(
            refused("/etc").as_deref(),
            Some("source.path \"/etc\" must be relative to the repository root")
        );
    }

    #[test]
    fn relative_paths_between_directories() {
        let rel = |a: &str, b: &str| relative_between(Path::new(a), Path::new(b));
        assert_eq!(
            rel("/tmp/x", "/work/repo/apps"),
            Path::new("../../work/repo/apps")
        );
        assert_eq!(rel("/a/b", "/a/b/c"), Path::new("c"));
        assert_eq!(rel("/a/b", "/a/b"), Path::new("."));
        assert_eq!(rel("/a/b/c", "/a"), Path::new("../.."));
    }

    #[test]
    fn scratch_directories_are_private_and_removed() {
        let scratch = Scratch::new().unwrap();
        let path = scratch.path().to_path_buf();
        let file = scratch.write("values.yaml", b"a: 1\n").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "a: 1\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        drop(scratch);
        assert!(!path.exists());
    }
}
