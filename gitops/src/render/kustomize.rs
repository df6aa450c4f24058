//! Kustomize: `kustomize build DIR`, or `kubectl kustomize DIR` when only kubectl is there,
//! for a directory holding a `kustomization.yaml` (or `.yml`, or `Kustomization`).
//!
//! The GitSync's overrides (namePrefix, nameSuffix, commonLabels, commonAnnotations, images,
//! namespace) go into a wrapper kustomization in a private temporary directory whose only
//! resource is the rendered directory; Argo CD runs `kustomize edit` on its copy instead. The
//! effect is the same for labels, annotations, images and namespace, which a later
//! kustomization sets over an earlier one's; a name prefix or suffix is added to the
//! directory's own where Argo CD's replaces it (`pre-` over a `dev-` overlay: `pre-dev-web`).
//!
//! Before kustomize runs, no symlink in the repository may lead out of it, and no
//! kustomization reachable from the directory may name a local directory outside it
//! (`resources: [../../../../elsewhere]`), since kustomize itself would read those. Files a
//! kustomization loads (patches, generators) stay under its own directory by kustomize's
//! default load restrictor, which is left on; plugins and Helm inflation stay off.
//!
//! It must not: write into the checkout, or pass kustomize a flag that loosens its defaults.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rollout_rs_crds::gitsync::KustomizeSource;
use serde_json::{Map, Value, json};

use super::confine::{self, Scratch};
use super::documents;
use super::process::Tool;
use super::{Origin, Place, RenderError, Rendered, blocking, shown_dir, shown_file};

const ENTRY_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of `dir`, if it has one.
pub(super) fn entry_file(dir: &Path) -> Option<&'static str> {
    ENTRY_FILES.into_iter().find(|f| dir.join(f).is_file())
}

pub(super) async fn render(
    tool: &Tool,
    at: Place,
    entry: &'static str,
    overrides: Option<&KustomizeSource>,
    timeout: Duration,
) -> Result<Vec<Rendered>, RenderError> {
    let wrapper = overrides.map(wrapper).transpose()?.flatten();
    let at = blocking(move || {
        confine::no_symlink_out(&at.root)?;
        references_stay_inside(&at.root, &at.dir)?;
        Ok(at)
    })
    .await?;
    let dir = shown_dir(&at.rel);
    let scratch;
    let mut scratch_path = None;
    let (target, cwd) = match wrapper {
        Some(mut kustomization) => {
            scratch = Scratch::new()?;
            // kustomize refuses absolute resource paths.
            let resource = confine::relative_between(scratch.path(), &at.dir);
            kustomization.insert(
                "resources".into(),
                json!([resource.to_string_lossy().into_owned()]),
            );
            // JSON is YAML: no YAML writer needed, and no quoting to get wrong.
            let text = Value::Object(kustomization).to_string();
            scratch.write("kustomization.yaml", text.as_bytes())?;
            scratch_path = Some(scratch.path().to_path_buf());
            (scratch.path().to_path_buf(), scratch.path().to_path_buf())
        }
        None => (at.dir.clone(), at.dir.clone()),
    };
    let hide: Vec<&Path> = [Some(at.root.as_path()), scratch_path.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let stdout = tool
        .run(&[OsString::from(&target)], &cwd, &dir, &hide, timeout)
        .await?;
    let origin = Origin {
        file: shown_file(&at.rel.join(entry)),
        line: None,
    };
    let docs = documents::documents(&stdout).map_err(|e| RenderError::RendererOutput {
        renderer: tool.name,
        dir: dir.clone(),
        message: format!("line {}: {}", e.line, e.message),
    })?;
    let mut out = Vec::new();
    for doc in docs {
        documents::objects(doc.value, &origin, &mut out)?;
    }
    Ok(out)
}

/// The wrapper kustomization for the GitSync's overrides, without its resource; `None` when
/// there is nothing to override (the directory is then built as it is).
fn wrapper(k: &KustomizeSource) -> Result<Option<Map<String, Value>>, RenderError> {
    let mut m = Map::new();
    let text = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(Value::from);
    if let Some(v) = text(&k.name_prefix) {
        m.insert("namePrefix".into(), v);
    }
    if let Some(v) = text(&k.name_suffix) {
        m.insert("nameSuffix".into(), v);
    }
    if let Some(v) = text(&k.namespace) {
        m.insert("namespace".into(), v);
    }
    if !k.common_labels.is_empty() {
        // `labels` with selectors is what `commonLabels` does, without kustomize 5's
        // deprecation warning.
        m.insert(
            "labels".into(),
            json!([{"pairs": k.common_labels, "includeSelectors": true}]),
        );
    }
    if !k.common_annotations.is_empty() {
        m.insert("commonAnnotations".into(), json!(k.common_annotations));
    }
    if !k.images.is_empty() {
        let images = k
            .images
            .iter()
            .enumerate()
            .map(|(i, s)| image(i, s))
            .collect::<Result<Vec<_>, _>>()?;
        m.insert("images".into(), Value::Array(images));
    }
    if m.is_empty() {
        return Ok(None);
    }
    m.insert(
        "apiVersion".into(),
        "kustomize.config.k8s.io/v1beta1".into(),
    );
    m.insert("kind".into(), "Kustomization".into());
    Ok(Some(m))
}

/// One `images` entry as `kustomize edit set image` reads it: `name=newName[:tag|@digest]`,
/// or `name:tag`, or `name@digest`.
fn image(index: usize, spec: &str) -> Result<Value, RenderError> {
    let invalid = |problem| RenderError::InvalidImage {
        index,
        image: spec.to_string(),
        problem,
    };
    let (name, reference) = match spec.split_once('=') {
        Some((name, new)) => (name.to_string(), split_reference(new)),
        None => {
            let reference = split_reference(spec);
            (reference.repository.to_string(), reference)
        }
    };
    if name.is_empty() {
        return Err(invalid("no image name to replace"));
    }
    let mut entry = BTreeMap::new();
    entry.insert("name", name.clone());
    if spec.contains('=') && !reference.repository.is_empty() {
        entry.insert("newName", reference.repository.to_string());
    }
    if let Some(tag) = reference.tag {
        entry.insert("newTag", tag.to_string());
    }
    if let Some(digest) = reference.digest {
        entry.insert("digest", digest.to_string());
    }
    if entry.len() == 1 {
        return Err(invalid("sets nothing: give a new name, a tag or a digest"));
    }
    Ok(json!(entry))
}

struct Reference<'a> {
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// `repo[:tag][@digest]`; the tag's colon is the last one after the last `/`, so a registry
/// port (`registry:5000/web`) is not taken for a tag.
fn split_reference(s: &str) -> Reference<'_> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    let after_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[after_slash..].rfind(':') {
        Some(i) => Reference {
            repository: &rest[..after_slash + i],
            tag: Some(&rest[after_slash + i + 1..]),
            digest,
        },
        None => Reference {
            repository: rest,
            tag: None,
            digest,
        },
    }
}

/// Follows `resources`, `bases` and `components` of every kustomization reachable from `dir`
/// and refuses a local one outside `root`. An entry that is not a local path is a remote base
/// (kustomize fetches those), except `file://`, which would clone from this machine.
fn references_stay_inside(root: &Path, dir: &Path) -> Result<(), RenderError> {
    let mut seen = HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some(entry) = entry_file(&dir) else {
            continue;
        };
        let rel = dir.strip_prefix(root).unwrap_or(Path::new("")).join(entry);
        let file = shown_file(&rel);
        let text = fs::read_to_string(dir.join(entry)).map_err(|source| RenderError::Io {
            file: file.clone(),
            source,
        })?;
        // Unreadable here means unchecked: refuse rather than let kustomize read it.
        let docs = documents::documents(&text).map_err(|e| RenderError::Syntax {
            origin: Origin {
                file: file.clone(),
                line: Some(e.line),
            },
            column: e.column,
            message: e.message,
        })?;
        for doc in docs {
            for field in ["resources", "bases", "components"] {
                let Some(Value::Array(entries)) = doc.value.get(field) else {
                    continue;
                };
                for reference in entries.iter().filter_map(Value::as_str) {
                    let escapes = || RenderError::Escapes {
                        file: file.clone(),
                        what: format!("{field} entry {reference:?}"),
                    };
                    if reference.starts_with("file://") {
                        return Err(escapes());
                    }
                    // kustomize joins and cleans lexically, then reads through symlinks.
                    let lexical = clean(&dir.join(reference));
                    if !lexical.starts_with(root) && fs::symlink_metadata(&lexical).is_ok() {
                        return Err(escapes());
                    }
                    match fs::canonicalize(&lexical) {
                        Ok(real) if !real.starts_with(root) => return Err(escapes()),
                        Ok(real) if real.is_dir() => pending.push(real),
                        // A file inside, or not local at all.
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// `path` with `.` and `..` resolved by name, as Go's `filepath.Clean` does.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_entry(spec: &str) -> Value {
        image(0, spec).unwrap()
    }

    #[test]
    fn image_overrides_read_as_kustomize_edit_set_image() {
        assert_eq!(
            image_entry("nginx:1.25"),
            json!({"name": "nginx", "newTag": "1.25"})
        );
        assert_eq!(
            image_entry("nginx=registry:5000/team/nginx:1.25"),
            json!({"name": "nginx", "newName": "registry:5000/team/nginx", "newTag": "1.25"})
        );
        assert_eq!(
            image_entry("nginx=mirror/nginx"),
            json!({"name": "nginx", "newName": "mirror/nginx"})
        );
        assert_eq!(
            image_entry("registry:5000/web@sha256:abc"),
            json!({"name": "registry:5000/web", "digest": "sha256:abc"})
        );
    }

    #[test]
    fn image_overrides_that_set_nothing_are_refused() {
        let e = image(2, "nginx").unwrap_err().to_string();
        assert_eq!(
            e,
            "source.kustomize.images[2] \"nginx\": sets nothing: give a new name, a tag or a digest"
        );
        assert!(image(0, "=nginx:1").is_err());
    }

    #[test]
    fn overrides_make_a_wrapper_only_when_there_are_some() {
        assert_eq!(wrapper(&KustomizeSource::default()).unwrap(), None);
        let k = KustomizeSource {
            name_prefix: Some("pre-".into()),
            common_labels: [("team".to_string(), "a".to_string())].into(),
            ..Default::default()
        };
        let m = wrapper(&k).unwrap().unwrap();
        assert_eq!(m["namePrefix"], "pre-");
        assert_eq!(
            m["labels"],
            json!([{"pairs": {"team": "a"}, "includeSelectors": true}])
        );
        assert_eq!(m["kind"], "Kustomization");
    }

    #[test]
    fn paths_are_cleaned_by_name() {
        assert_eq!(
            clean(Path::new("/r/apps/web/../../../etc")),
            Path::new("/etc")
        );
        assert_eq!(clean(Path::new("/r/a/./b/../c")), Path::new("/r/a/c"));
    }
}
