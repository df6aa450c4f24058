//! Running a renderer binary: finding it on a search path, running it with a timeout (killed
//! past it), and turning a failure into an error that carries its stderr.
//!
//! It must not: run anything through a shell, or hand a renderer's stderr on unbounded (it
//! ends up in a status field).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::RenderError;

/// How much of a renderer's stderr an error keeps.
const STDERR_LIMIT: usize = 4000;

/// A renderer binary and the arguments that come before the caller's.
pub(super) struct Tool {
    /// For messages: `kustomize`, `kubectl kustomize`, `helm`.
    pub(super) name: &'static str,
    path: PathBuf,
    leading: Vec<OsString>,
}

impl Tool {
    pub(super) fn new<const N: usize>(
        name: &'static str,
        path: PathBuf,
        leading: [&str; N],
    ) -> Self {
        Tool {
            name,
            path,
            leading: leading.iter().map(OsString::from).collect(),
        }
    }

    /// Runs the tool with `args` in `cwd`; its stdout when it exits 0. `dir` names the
    /// rendered directory in errors; `hide` are directories of this machine (the checkout,
    /// the scratch directory) whose location is cut out of stderr.
    pub(super) async fn run(
        &self,
        args: &[OsString],
        cwd: &Path,
        dir: &str,
        hide: &[&Path],
        timeout: Duration,
    ) -> Result<String, RenderError> {
        tracing::debug!(renderer = self.name, ?args, "running");
        let child = tokio::process::Command::new(&self.path)
            .args(&self.leading)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out run is dropped, and dropping must not leave it running.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RenderError::RendererFailed {
                renderer: self.name,
                dir: dir.to_string(),
                status: "could not start".into(),
                stderr: source.to_string(),
            })?;
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(source)) => {
                return Err(RenderError::RendererFailed {
                    renderer: self.name,
                    dir: dir.to_string(),
                    status: "could not be waited for".into(),
                    stderr: source.to_string(),
                });
            }
            Err(_) => {
                return Err(RenderError::RendererTimeout {
                    renderer: self.name,
                    dir: dir.to_string(),
                    timeout,
                });
            }
        };
        let stderr = bounded(&tidy(&String::from_utf8_lossy(&output.stderr), hide));
        if !output.status.success() {
            return Err(RenderError::RendererFailed {
                renderer: self.name,
                dir: dir.to_string(),
                status: output.status.to_string(),
                stderr,
            });
        }
        if !stderr.is_empty() {
            // Deprecation notices and the like: worth seeing, not worth failing over.
            tracing::warn!(renderer = self.name, dir, %stderr, "renderer wrote to stderr");
        }
        String::from_utf8(output.stdout).map_err(|_| RenderError::RendererOutput {
            renderer: self.name,
            dir: dir.to_string(),
            message: "not UTF-8 text".into(),
        })
    }
}

/// The first executable file called `name` in the directories of `search_path`.
pub(super) fn find(search_path: &OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// stderr as a status can show it: paths relative to the checkout, no klog line headers
/// (`E1130 13:29:24.846608    2783 run.go:72] `, kubectl's), trimmed.
fn tidy(stderr: &str, hide: &[&Path]) -> String {
    let mut text = stderr.to_string();
    for dir in hide {
        let dir = dir.to_string_lossy();
        if !dir.is_empty() {
            text = text.replace(&format!("{dir}/"), "").replace(&*dir, ".");
        }
    }
    text.lines()
        .map(|line| strip_klog_header(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn strip_klog_header(line: &str) -> &str {
    let mut chars = line.chars();
    let level_ok = matches!(chars.next(), Some('E' | 'W' | 'I' | 'F'));
    let date_ok = line
        .get(1..5)
        .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match line.find("] ") {
        Some(end) if level_ok && date_ok && line[..end].contains(".go:") => &line[end + 2..],
        _ => line,
    }
}

fn bounded(text: &str) -> String {
    if text.len() <= STDERR_LIMIT {
        return text.to_string();
    }
    let mut end = STDERR_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_stderr_is_cut_on_a_character_boundary() {
        let long = "é".repeat(STDERR_LIMIT);
        let cut = bounded(&long);
        assert!(cut.len() <= STDERR_LIMIT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn stderr_loses_klog_headers_and_local_paths() {
        let stderr = "E1130 13:29:24.846608    2783 run.go:72] \"command failed\" err=\"lstat /tmp/co/apps/web/nope.yaml: no such file\"\n\nWarning: /tmp/co is odd  \n";
        assert_eq!(
            tidy(stderr, &[Path::new("/tmp/co")]),
            "\"command failed\" err=\"lstat apps/web/nope.yaml: no such file\"\n\nWarning: . is odd"
        );
        assert_eq!(strip_klog_header("Error: x] y"), "Error: x] y");
    }

    #[test]
    fn binaries_are_found_on_the_search_path_in_order() {
        let found = find(OsStr::new("/nonexistent:/bin:/usr/bin"), "sh");
        assert!(found.is_some_and(|p| p.ends_with("sh")));
        assert_eq!(find(OsStr::new(""), "sh"), None);
        assert_eq!(find(OsStr::new("/nonexistent"), "sh"), None);
    }
}
