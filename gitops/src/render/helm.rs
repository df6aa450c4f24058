//! Helm: `helm template RELEASE CHART --namespace NS` for a directory holding a `Chart.yaml`,
//! as Argo CD runs it: CRDs from the chart's `crds/` included unless `skipCrds`, value
//! sources in Argo CD's precedence (valueFiles in order, then `values` or `valuesObject` from
//! a private temporary file, then `parameters` as `--set`/`--set-string`, last wins).
//!
//! Value files are relative to `source.path`, never absolute or climbing, and must resolve
//! inside the repository; before Helm runs, no symlink in the repository may lead out of it
//! (Helm's chart loader follows them). Each object's origin is the template Helm names in its
//! `# Source:` comment, as a path in the repository.
//!
//! It must not: fetch chart dependencies or values over the network (`charts/` must be
//! vendored), write into the checkout, or talk to a cluster (`helm template` is client-only).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rollout_rs_crds::gitsync::{HelmParameter, HelmSource};

use super::confine::{self, Scratch};
use super::documents;
use super::process::Tool;
use super::{Origin, Place, RenderError, Rendered, blocking, shown_dir, shown_file};

/// What to render the chart as.
pub(super) struct Request<'a> {
    pub(super) release: &'a str,
    pub(super) namespace: &'a str,
    pub(super) helm: HelmSource,
}

pub(super) async fn render(
    tool: &Tool,
    at: Place,
    request: Request<'_>,
    timeout: Duration,
) -> Result<Vec<Rendered>, RenderError> {
    let value_files = request.helm.value_files.clone();
    let (at, value_files) = blocking(move || {
        confine::no_symlink_out(&at.root)?;
        let files = value_files
            .iter()
            .enumerate()
            .map(|(i, f)| value_file(&at, i, f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((at, files))
    })
    .await?;
    let scratch = Scratch::new()?;
    // valuesObject wins over values: Argo CD uses one or the other, never both.
    let inline = match (&request.helm.values_object, &request.helm.values) {
        (Some(object), _) => Some(object.to_string()),
        (None, Some(text)) if !text.trim().is_empty() => Some(text.clone()),
        _ => None,
    };
    let inline = inline
        .map(|text| scratch.write("values.yaml", text.as_bytes()))
        .transpose()?;
    let args = template_args(&Args {
        release: request.release,
        chart: &at.dir,
        namespace: request.namespace,
        value_files: &value_files,
        inline_values: inline.as_deref(),
        parameters: &request.helm.parameters,
        skip_crds: request.helm.skip_crds,
    });
    let dir = shown_dir(&at.rel);
    let hide = [at.root.as_path(), scratch.path()];
    let stdout = tool
        .run(&args, scratch.path(), &dir, &hide, timeout)
        .await?;
    objects(&stdout, &at.rel, tool.name, &dir)
}

/// The `helm template` command line, apart from the binary.
struct Args<'a> {
    release: &'a str,
    chart: &'a Path,
    namespace: &'a str,
    value_files: &'a [PathBuf],
    inline_values: Option<&'a Path>,
    parameters: &'a [HelmParameter],
    skip_crds: bool,
}

fn template_args(a: &Args<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "template".into(),
        a.release.into(),
        a.chart.as_os_str().to_owned(),
    ];
    if !a.namespace.is_empty() {
        args.extend(["--namespace".into(), a.namespace.into()]);
    }
    // `helm template` leaves `crds/` out unless asked; Argo CD asks unless skipCrds.
    if !a.skip_crds {
        args.push("--include-crds".into());
    }
    for file in a
        .value_files
        .iter()
        .map(PathBuf::as_path)
        .chain(a.inline_values)
    {
        args.extend(["--values".into(), file.as_os_str().to_owned()]);
    }
    for p in a.parameters {
        let flag = if p.force_string {
            "--set-string"
        } else {
            "--set"
        };
        args.extend([
            flag.into(),
            format!("{}={}", p.name, escape_commas(&p.value)).into(),
        ]);
    }
    args
}

/// `--set` splits on commas; a value's own commas are escaped, except in a `{a,b}` list,
/// which is how Helm spells a list there (Argo CD's rule).
fn escape_commas(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if c == ',' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// Value file `index`, relative to the chart directory, resolved inside the repository.
fn value_file(at: &Place, index: usize, file: &str) -> Result<PathBuf, RenderError> {
    let rel = confine::relative(&format!("source.helm.valueFiles[{index}]"), file)?;
    let shown = at.rel.join(&rel);
    let real = match std::fs::canonicalize(at.dir.join(&rel)) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RenderError::NotFound {
                file: shown_file(&shown),
            });
        }
        Err(source) => {
            return Err(RenderError::Io {
                file: shown_file(&shown),
                source,
            });
        }
    };
    if !real.starts_with(&at.root) {
        return Err(RenderError::Escapes {
            file: shown_file(&shown),
            what: "this value file".into(),
        });
    }
    Ok(real)
}

/// The objects of Helm's output, each attributed to the template its `# Source:` names.
fn objects(
    stdout: &str,
    chart_rel: &Path,
    renderer: &'static str,
    dir: &str,
) -> Result<Vec<Rendered>, RenderError> {
    let docs = documents::documents(stdout).map_err(|e| RenderError::RendererOutput {
        renderer,
        dir: dir.to_string(),
        message: format!("line {}: {}", e.line, e.message),
    })?;
    let sources = sources(stdout);
    let chart_file = shown_file(&chart_rel.join("Chart.yaml"));
    let mut out = Vec::new();
    for doc in docs {
        let source = sources
            .iter()
            .rev()
            .find(|(line, _)| *line < doc.line)
            .map(|(_, source)| source_in_repo(chart_rel, source));
        let origin = Origin {
            file: source.unwrap_or_else(|| chart_file.clone()),
            line: None,
        };
        documents::objects(doc.value, &origin, &mut out)?;
    }
    Ok(out)
}

/// The `# Source: chart/templates/x.yaml` comments of Helm's output, with their lines.
fn sources(stdout: &str) -> Vec<(usize, &str)> {
    stdout
        .lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, line.strip_prefix("# Source: ")?.trim())))
        .collect()
}

/// `chart/templates/x.yaml` (Helm names files under the chart's name) as a repository path.
fn source_in_repo(chart_rel: &Path, source: &str) -> String {
    let inside_chart = source.split_once('/').map_or(source, |(_, rest)| rest);
    let rel = confine::relative("", inside_chart).unwrap_or_default();
    shown_file(&chart_rel.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, value: &str, force_string: bool) -> HelmParameter {
        HelmParameter {
            name: name.into(),
            value: value.into(),
            force_string,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_command_line_in_argo_cd_order() {
        let files = [
            PathBuf::from("/repo/web/values-prod.yaml"),
            PathBuf::from("/repo/common.yaml"),
        ];
        let params = [param("image.tag", "v2", false), param("note", "a,b", true)];
        let args = template_args(&Args {
            release: "web",
            chart: Path::new("/repo/web"),
            namespace: "prod",
            value_files: &files,
            inline_values: Some(Path::new("/tmp/s/values.yaml")),
            parameters: &params,
            skip_crds: false,
        });
        assert_eq!(
            strings(args),
            [
                "template",
                "web",
                "/repo/web",
                "--namespace",
                "prod",
                "--include-crds",
                "--values",
                "/repo/web/values-prod.yaml",
                "--values",
                "/repo/common.yaml",
                "--values",
                "/tmp/s/values.yaml",
                "--set",
                "image.tag=v2",
                "--set-string",
                "note=a\\,b",
            ]
        );
    }

    #[test]
    fn the_least_command_line() {
        let args = template_args(&Args {
            release: "r",
            chart: Path::new("/c"),
            namespace: "",
            value_files: &[],
            inline_values: None,
            parameters: &[],
            skip_crds: true,
        });
        assert_eq!(strings(args), ["template", "r", "/c"]);
    }

    #[test]
    fn commas_in_set_values_are_escaped_but_lists_kept() {
        assert_eq!(escape_commas("a,b"), "a\\,b");
        assert_eq!(escape_commas("a\\,b"), "a\\,b");
        assert_eq!(escape_commas("{a,b}"), "{a,b}");
        assert_eq!(escape_commas("plain"), "plain");
    }

    #[test]
    fn objects_are_attributed_to_their_templates() {
        let out = "---\n# Source: web/templates/a.yaml\napiVersion: v1\nkind: A\nmetadata: {name: a}\n\
                   ---\n# Source: web/charts/db/templates/b.yaml\napiVersion: v1\nkind: B\nmetadata: {name: b}\n";
        let objects = objects(out, Path::new("charts/web"), "helm", "charts/web").unwrap();
        let files: Vec<&str> = objects.iter().map(|o| o.origin.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "charts/web/templates/a.yaml",
                "charts/web/charts/db/templates/b.yaml"
            ]
        );
        let bad = "---\n# Source: web/templates/c.yaml\nkind: C\n";
        let e = super::objects(bad, Path::new("web"), "helm", "web")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "web/templates/c.yaml: not a Kubernetes object: missing apiVersion"
        );
    }
}
