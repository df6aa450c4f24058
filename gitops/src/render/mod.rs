//! Rendering: a checked-out directory of a Git repository in, the Kubernetes objects to apply
//! out, each with the file (relative to the repository root) and line it came from.
//!
//! A GitSync's `source.path` is rendered one of three ways, as Argo CD does: plain YAML/JSON
//! files ([`directory`]), `kustomize build` when a kustomization is there ([`kustomize`]), or
//! `helm template` when a `Chart.yaml` is there ([`helm`]); an explicit `directory`, `kustomize`
//! or `helm` block picks the way. Kustomize and Helm are the user's own binaries, run as
//! processes with a timeout.
//!
//! It owns: reading and parsing the files, the renderer command lines, keeping every path
//! inside the repository ([`confine`]), and errors that name the file and line.
//!
//! It must not: fetch anything (the checkout is given), write into the checkout (overrides and
//! values go to a private temporary directory), talk to a cluster, or return a partial
//! result: one bad file fails the whole render, so that nothing is applied or pruned from it.

mod confine;
mod directory;
mod documents;
mod helm;
mod kustomize;
mod process;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rollout_rs_crds::gitsync::GitSource;
use serde_json::Value;

/// One object of a render, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The object as JSON: at least `apiVersion`, `kind` and `metadata.name`.
    pub object: Value,
    pub origin: Origin,
}

/// Where a rendered object came from, for messages: `apps/web/rollout.yaml:7`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Path relative to the repository root, `/`-separated: the manifest itself for plain
    /// files, the Helm template (from `# Source:`) for Helm, the kustomization for Kustomize.
    pub file: String,
    /// 1-based line of the document within `file`, where the file was read as written.
    /// `None` for renderer output, whose lines are not the author's.
    pub line: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// Why a source could not be rendered. Messages name the file relative to the repository
/// root, and the line when there is one; renderer stderr has the checkout's location cut out,
/// so what reaches a status says nothing of the controller's file system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// `path` or a Helm value file is absolute or climbs with `..`.
    #[error("{field} {path:?} {reason}")]
    InvalidPath {
        field: String,
        path: String,
        reason: &'static str,
    },
    /// A path that resolves (through a symlink, or a kustomization's reference) outside the
    /// repository.
    #[error("{file}: {what} points outside the repository")]
    Escapes { file: String, what: String },
    #[error("{file}: not found in the repository")]
    NotFound { file: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML (or JSON).
    #[error("{origin}: {message} (column {column})")]
    Syntax {
        origin: Origin,
        column: usize,
        message: String,
    },
    /// A document that is not a Kubernetes object.
    #[error("{origin}: not a Kubernetes object: {problem}")]
    NotAnObject { origin: Origin, problem: String },
    #[error("source.directory.{field} {pattern:?} is not a valid glob: {message}")]
    Glob {
        field: &'static str,
        pattern: String,
        message: String,
    },
    #[error("source.kustomize.images[{index}] {image:?}: {problem}")]
    InvalidImage {
        index: usize,
        image: String,
        problem: &'static str,
    },
    #[error("at most one of source.directory, source.kustomize and source.helm may be set")]
    ConflictingSources,
    /// `source.kustomize` or `source.helm` set on a directory without its entry file.
    #[error("source.{renderer} is set but {dir} has no {expected}")]
    MissingEntry {
        renderer: &'static str,
        dir: String,
        expected: &'static str,
    },
    #[error("{found} found in {dir} but {missing}")]
    RendererMissing {
        found: String,
        dir: String,
        missing: &'static str,
    },
    #[error("{renderer} failed on {dir} ({status}): {stderr}")]
    RendererFailed {
        renderer: &'static str,
        dir: String,
        status: String,
        stderr: String,
    },
    #[error("{renderer} did not finish on {dir} within {}s", timeout.as_secs())]
    RendererTimeout {
        renderer: &'static str,
        dir: String,
        timeout: Duration,
    },
    #[error("{renderer} output for {dir}: {message}")]
    RendererOutput {
        renderer: &'static str,
        dir: String,
        message: String,
    },
    #[error("rendering was interrupted: {0}")]
    Interrupted(String),
}

impl RenderError {
    /// The file and line the error is about, when it is about a document.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            RenderError::Syntax { origin, .. } | RenderError::NotAnObject { origin, .. } => {
                Some(origin)
            }
            _ => None,
        }
    }
}

/// How long one `kustomize` or `helm` run may take, as Argo CD's default exec timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// The renderer binaries, looked up on a search path (`PATH`) at each render, so a binary
/// installed after start-up is found.
#[derive(Clone, Debug)]
pub struct Renderers {
    search_path: OsString,
    timeout: Duration,
}

impl Renderers {
    /// Renderers found on this process's `PATH`.
    pub fn from_env() -> Self {
        Self::search(std::env::var_os("PATH").unwrap_or_default())
    }

    /// Renderers found on `search_path` (`PATH` syntax: directories separated by `:`).
    pub fn search(search_path: impl AsRef<OsStr>) -> Self {
        Renderers {
            search_path: search_path.as_ref().to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds each renderer run (default 90 s); a run past it is killed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Renders `source.path` of the checkout at `root`. `release_name_default` is Helm's
    /// release name unless `helm.releaseName` says otherwise (the GitSync's name); `namespace`
    /// is Helm's `--namespace` (the destination namespace).
    pub async fn render(
        &self,
        root: &Path,
        source: &GitSource,
        release_name_default: &str,
        namespace: &str,
    ) -> Result<Vec<Rendered>, RenderError> {
        let rel = confine::source_path(source.path.as_deref())?;
        let root = confine::canonical_root(root)?;
        let dir = confine::inside(&root, &rel, &rel)?;
        if !dir.is_dir() {
            return Err(RenderError::NotFound {
                file: shown_dir(&rel),
            });
        }
        let at = Place { root, dir, rel };
        let explicit = [
            source.directory.is_some(),
            source.kustomize.is_some(),
            source.helm.is_some(),
        ];
        if explicit.iter().filter(|set| **set).count() > 1 {
            return Err(RenderError::ConflictingSources);
        }
        let kustomization = kustomize::entry_file(&at.dir);
        let chart = at.dir.join("Chart.yaml").is_file();
        if let Some(opts) = &source.directory {
            let opts = opts.clone();
            return blocking(move || directory::render(&at, &opts)).await;
        }
        if source.kustomize.is_some() || (source.helm.is_none() && kustomization.is_some()) {
            let Some(entry) = kustomization else {
                return Err(RenderError::MissingEntry {
                    renderer: "kustomize",
                    dir: shown_dir(&at.rel),
                    expected: "kustomization.yaml",
                });
            };
            let tool = self.kustomize(entry, &at.rel)?;
            return kustomize::render(&tool, at, entry, source.kustomize.as_ref(), self.timeout)
                .await;
        }
        if source.helm.is_some() || chart {
            if !chart {
                return Err(RenderError::MissingEntry {
                    renderer: "helm",
                    dir: shown_dir(&at.rel),
                    expected: "Chart.yaml",
                });
            }
            let path = self
                .find("helm")
                .ok_or_else(|| RenderError::RendererMissing {
                    found: "Chart.yaml".into(),
                    dir: shown_dir(&at.rel),
                    missing: "helm is not on PATH",
                })?;
            let tool = process::Tool::new("helm", path, []);
            let release = source
                .helm
                .as_ref()
                .and_then(|h| h.release_name.as_deref())
                .unwrap_or(release_name_default);
            let request = helm::Request {
                release,
                namespace,
                helm: source.helm.clone().unwrap_or_default(),
            };
            return helm::render(&tool, at, request, self.timeout).await;
        }
        blocking(move || directory::render(&at, &Default::default())).await
    }

    /// `kustomize build` when kustomize is installed, else kubectl's built-in copy.
    fn kustomize(&self, entry: &str, rel: &Path) -> Result<process::Tool, RenderError> {
        if let Some(path) = self.find("kustomize") {
            return Ok(process::Tool::new("kustomize", path, ["build"]));
        }
        if let Some(path) = self.find("kubectl") {
            return Ok(process::Tool::new("kubectl kustomize", path, ["kustomize"]));
        }
        Err(RenderError::RendererMissing {
            found: entry.to_string(),
            dir: shown_dir(rel),
            missing: "neither kustomize nor kubectl is on PATH",
        })
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        process::find(&self.search_path, name)
    }
}

/// Renders with the renderers on this process's `PATH`; see [`Renderers::render`].
pub async fn render(
    root: &Path,
    source: &GitSource,
    release_name_default: &str,
    namespace: &str,
) -> Result<Vec<Rendered>, RenderError> {
    Renderers::from_env()
        .render(root, source, release_name_default, namespace)
        .await
}

/// The directory being rendered: the canonical repository root, the canonical directory, and
/// the directory as the GitSync names it (relative, for messages and origins).
struct Place {
    root: PathBuf,
    dir: PathBuf,
    rel: PathBuf,
}

impl Place {
    /// `name` (relative to the rendered directory) as a path relative to the repository root.
    fn shown(&self, name: &Path) -> String {
        shown_file(&self.rel.join(name))
    }
}

/// A relative path for messages, `/`-separated whatever the platform.
fn shown_file(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A relative directory for messages; the root has no name of its own.
fn shown_dir(rel: &Path) -> String {
    match shown_file(rel) {
        s if s.is_empty() => "the repository root".to_string(),
        s => s,
    }
}

/// File-system work off the async workers: a big repository is thousands of reads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RenderError> + Send + 'static,
) -> Result<T, RenderError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| RenderError::Interrupted(e.to_string()))?
}
