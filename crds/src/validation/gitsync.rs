//! Rules for `GitSync` specs: a usable repository URL and revision, paths that stay inside the
//! repository, one renderer at most, and well-formed ignore rules and intervals.

use std::path::{Component, Path};
use std::time::Duration;

use super::{Errors, FieldError, names};
use crate::duration;
use crate::gitsync::GitSyncSpec;

/// Shortest accepted `spec.interval`: anything faster only loads the Git server.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Validates a GitSync spec. Paths start at `spec`.
pub fn git_sync(spec: &GitSyncSpec) -> Vec<FieldError> {
    let mut errs = Errors::default();
    let src = &spec.source;
    repo_url(&mut errs, &src.repo_url);
    if let Some(rev) = &src.target_revision {
        let bad = rev.is_empty()
            || rev
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
            || rev.contains("..")
            || rev.starts_with('-');
        if bad {
            errs.add(
                "spec.source.targetRevision",
                format!("{rev:?} is not a valid branch, tag or commit"),
            );
        }
    }
    if let Some(p) = &src.path {
        relative_path(&mut errs, "spec.source.path", p);
    }
    let renderers: Vec<&str> = [
        ("directory", src.directory.is_some()),
        ("kustomize", src.kustomize.is_some()),
        ("helm", src.helm.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(n, _)| *n)
    .collect();
    if renderers.len() > 1 {
        errs.add(
            "spec.source",
            format!(
                "set at most one of directory, kustomize, helm, found {}",
                renderers.join(" and ")
            ),
        );
    }
    if let Some(d) = &src.directory {
        for (field, v) in [("include", &d.include), ("exclude", &d.exclude)] {
            if v.as_deref().is_some_and(|g| g.trim().is_empty()) {
                errs.add(
                    format!("spec.source.directory.{field}"),
                    "must not be empty when set",
                );
            }
        }
    }
    if let Some(h) = &src.helm {
        for (i, f) in h.value_files.iter().enumerate() {
            relative_path(&mut errs, &format!("spec.source.helm.valueFiles[{i}]"), f);
        }
        for (i, p) in h.parameters.iter().enumerate() {
            if p.name.is_empty() {
                errs.add(format!("spec.source.helm.parameters[{i}].name"), "required");
            }
        }
    }
    if let Some(k) = &src.kustomize {
        for (i, img) in k.images.iter().enumerate() {
            if img.trim().is_empty() {
                errs.add(
                    format!("spec.source.kustomize.images[{i}]"),
                    "must not be empty",
                );
            }
        }
    }
    if let Some(s) = &src.secret_ref
        && s.name.is_empty()
    {
        errs.add("spec.source.secretRef.name", "required");
    }
    if let Some(ns) = &spec.destination.namespace
        && let Err(why) = names::dns1123_label(ns)
    {
        errs.add(
            "spec.destination.namespace",
            format!("{ns:?} is not a valid namespace name: {why}"),
        );
    }
    if let Some(i) = &spec.interval {
        match duration::parse(i) {
            Err(e) => errs.add("spec.interval", e.to_string()),
            Ok(d) if d < MIN_INTERVAL => {
                errs.add("spec.interval", format!("must be at least 1s, got {i:?}"))
            }
            Ok(_) => {}
        }
    }
    if let Some(retry) = spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref())
        && let Some(b) = &retry.backoff
    {
        let base = duration_field(
            &mut errs,
            "spec.syncPolicy.retry.backoff.duration",
            b.duration.as_deref(),
        );
        let max = duration_field(
            &mut errs,
            "spec.syncPolicy.retry.backoff.maxDuration",
            b.max_duration.as_deref(),
        );
        if let Some(f) = b.factor.filter(|f| *f < 1) {
            errs.add(
                "spec.syncPolicy.retry.backoff.factor",
                format!("must be >= 1, got {f}"),
            );
        }
        if let (Some(base), Some(max)) = (base, max)
            && max < base
        {
            errs.add(
                "spec.syncPolicy.retry.backoff.maxDuration",
                "must not be shorter than duration",
            );
        }
    }
    for (i, ig) in spec.ignore_differences.iter().enumerate() {
        let path = format!("spec.ignoreDifferences[{i}]");
        if ig.kind.is_empty() {
            errs.add(format!("{path}.kind"), "required");
        }
        if ig.json_pointers.is_empty() && ig.managed_fields_managers.is_empty() {
            errs.add(&path, "set jsonPointers or managedFieldsManagers");
        }
        for (j, ptr) in ig.json_pointers.iter().enumerate() {
            if let Err(why) = json_pointer(ptr) {
                errs.add(
                    format!("{path}.jsonPointers[{j}]"),
                    format!("{ptr:?} is not a JSON pointer: {why}"),
                );
            }
        }
        for (j, m) in ig.managed_fields_managers.iter().enumerate() {
            if m.is_empty() {
                errs.add(
                    format!("{path}.managedFieldsManagers[{j}]"),
                    "must not be empty",
                );
            }
        }
    }
    errs.into_vec()
}

fn duration_field(errs: &mut Errors, path: &str, value: Option<&str>) -> Option<Duration> {
    match duration::parse(value?) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.add(path, e.to_string());
            None
        }
    }
}

fn repo_url(errs: &mut Errors, url: &str) {
    const PATH: &str = "spec.source.repoURL";
    if url.trim().is_empty() {
        return errs.add(PATH, "required");
    }
    let schemes = ["https://", "http://", "ssh://", "git://", "file://"];
    let with_scheme = schemes
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with(' '));
    // scp-like syntax: user@host:path
    let scp_like = url.split_once(':').is_some_and(|(user_host, path)| {
        user_host.contains('@') && !user_host.contains('/') && !path.is_empty()
    });
    if url.chars().any(char::is_whitespace) || !(with_scheme || scp_like) {
        errs.add(
            PATH,
            format!("{url:?} is not a Git URL: use https://, http://, ssh://, git://, file:// or user@host:path"),
        );
    }
}

fn relative_path(errs: &mut Errors, field: &str, p: &str) {
    let path = Path::new(p);
    if path.is_absolute() {
        errs.add(
            field,
            format!("{p:?} must be relative to the repository root"),
        );
    } else if path.components().any(|c| matches!(c, Component::ParentDir)) {
        errs.add(
            field,
            format!("{p:?} must stay inside the repository (no '..')"),
        );
    }
}

fn json_pointer(p: &str) -> Result<(), &'static str> {
    if !p.starts_with('/') {
        return Err("must start with '/'");
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("'~' must be followed by 0 or 1");
        }
    }
    Ok(())
}
