//! Rendering real directory trees, built by each test in a temporary directory: plain
//! manifests, Kustomize through the machine's kubectl, and Helm through Helm's own engine
//! (PyPI's helm-python-sdk) behind the `helm template` shim in tests/fixtures/helm.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rollout_rs_crds::gitsync::{
    DirectorySource, GitSource, HelmParameter, HelmSource, KustomizeSource,
};
use rollout_rs_gitops::render::{RenderError, Rendered, Renderers, render};
use serde_json::json;

/// A repository checkout in a temporary directory, removed at the end of the test.
struct Repo {
    root: PathBuf,
}

impl Repo {
    fn new(name: &str) -> Repo {
        let root =
            std::env::temp_dir().join(format!("gitops-render-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        Repo { root }
    }

    fn file(&self, rel: &str, text: &str) -> &Repo {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }

    fn symlink(&self, rel: &str, target: impl AsRef<Path>) -> &Repo {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
        self
    }

    /// Every path under the root, for checking that a render wrote nothing there.
    fn listing(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut pending = vec![self.root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() && !path.is_symlink() {
                    pending.push(path.clone());
                }
                out.push(path);
            }
        }
        out.sort();
        out
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn at(path: &str) -> GitSource {
    GitSource {
        repo_url: "file:///unused".into(),
        path: Some(path.into()),
        ..Default::default()
    }
}

fn directory(path: &str, recurse: bool, include: Option<&str>, exclude: Option<&str>) -> GitSource {
    GitSource {
        directory: Some(DirectorySource {
            recurse,
            include: include.map(Into::into),
            exclude: exclude.map(Into::into),
        }),
        ..at(path)
    }
}

/// `Kind/name @ origin` of each object, in order.
fn summary(objects: &[Rendered]) -> Vec<String> {
    objects
        .iter()
        .map(|r| {
            format!(
                "{}/{} @ {}",
                r.object["kind"].as_str().unwrap(),
                r.object["metadata"]["name"].as_str().unwrap(),
                r.origin
            )
        })
        .collect()
}

async fn rendered(repo: &Repo, source: &GitSource) -> Vec<Rendered> {
    match render(&repo.root, source, "web", "prod").await {
        Ok(objects) => objects,
        Err(e) => panic!("render failed: {e}"),
    }
}

async fn failed(repo: &Repo, source: &GitSource) -> RenderError {
    match render(&repo.root, source, "web", "prod").await {
        Ok(objects) => panic!("rendered {:?}", summary(&objects)),
        Err(e) => e,
    }
}

const SERVICE: &str =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n";

// ---------------------------------------------------------------- plain directories

#[tokio::test]
async fn plain_yaml_json_multi_document_and_lists() {
    let repo = Repo::new("plain");
    repo.file(
        "apps/web/a.yaml",
        "# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n",
    )
    .file(
        "apps/web/b.json",
        r#"{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "three"}
}"#,
    )
    .file(
        "apps/web/c.yml",
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: four}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: five}}\n",
    )
    .file("apps/web/README.md", "not a manifest: {")
    .file("apps/web/empty.yaml", "")
    .file("apps/web/sub/d.yaml", SERVICE);
    let objects = rendered(&repo, &at("apps/web")).await;
    assert_eq!(
        summary(&objects),
        [
            "ConfigMap/one @ apps/web/a.yaml:3",
            "ConfigMap/two @ apps/web/a.yaml:10",
            "Secret/three @ apps/web/b.json:1",
            "ConfigMap/four @ apps/web/c.yml:1",
            "ConfigMap/five @ apps/web/c.yml:1",
        ],
        "recurse is off by default: sub/d.yaml is not read"
    );
    assert_eq!(objects[2].object["kind"], "Secret");
}

#[tokio::test]
async fn recurse_reads_subdirectories_in_path_order() {
    let repo = Repo::new("recurse");
    repo.file("b.yaml", &SERVICE.replace("web", "b"))
        .file("a/z.yaml", &SERVICE.replace("web", "az"))
        .file("a/b/c.yaml", &SERVICE.replace("web", "abc"))
        .file("c/a.yaml", &SERVICE.replace("web", "ca"))
        .file(".git/config.yaml", "not: [a manifest")
        .file(".git/HEAD", "ref: refs/heads/main\n");
    let objects = rendered(&repo, &directory("", true, None, None)).await;
    assert_eq!(
        summary(&objects),
        [
            "Service/abc @ a/b/c.yaml:1",
            "Service/az @ a/z.yaml:1",
            "Service/b @ b.yaml:1",
            "Service/ca @ c/a.yaml:1",
        ]
    );
    let top = rendered(&repo, &directory(".", false, None, None)).await;
    assert_eq!(summary(&top), ["Service/b @ b.yaml:1"]);
    // Twice the same: the order does not depend on the directory's listing.
    assert_eq!(
        rendered(&repo, &directory("", true, None, None)).await,
        objects
    );
}

#[tokio::test]
async fn include_and_exclude_globs_with_braces_exclude_wins() {
    let repo = Repo::new("globs");
    repo.file("m/a.yaml", &SERVICE.replace("web", "a"))
        .file("m/b.yml", &SERVICE.replace("web", "b"))
        .file(
            "m/c.json",
            r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}"#,
        )
        .file("m/skip/d.yaml", &SERVICE.replace("web", "d"))
        .file("m/keep/e.yaml", &SERVICE.replace("web", "e"));
    let included = rendered(&repo, &directory("m", true, Some("{*.yaml,*.yml}"), None)).await;
    assert_eq!(
        summary(&included),
        [
            "Service/a @ m/a.yaml:1",
            "Service/b @ m/b.yml:1",
            "Service/e @ m/keep/e.yaml:1",
            "Service/d @ m/skip/d.yaml:1",
        ]
    );
    let both = rendered(
        &repo,
        &directory("m", true, Some("{*.yaml,*.yml}"), Some("{skip/*,b.yml}")),
    )
    .await;
    assert_eq!(
        summary(&both),
        ["Service/a @ m/a.yaml:1", "Service/e @ m/keep/e.yaml:1"]
    );
    let bad = failed(&repo, &directory("m", false, Some("{a,b"), None)).await;
    assert!(
        matches!(
            bad,
            RenderError::Glob {
                field: "include",
                ..
            }
        ),
        "{bad}"
    );
}

#[tokio::test]
async fn a_syntax_error_names_the_file_and_its_line_in_a_later_document() {
    let repo = Repo::new("syntax");
    repo.file("apps/web/a-good.yaml", SERVICE).file(
        "apps/web/rollout.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\ndata: {}\n",
    );
    let e = failed(&repo, &at("apps/web")).await;
    let message = e.to_string();
    assert!(
        message.starts_with("apps/web/rollout.yaml:8: "),
        "the error is on line 8 of the file, in its second document: {message}"
    );
    let origin = e.origin().unwrap();
    assert_eq!(
        (origin.file.as_str(), origin.line),
        ("apps/web/rollout.yaml", Some(8))
    );
}

#[tokio::test]
async fn a_syntax_error_on_the_seventh_line_of_the_second_document_of_a_file() {
    let repo = Repo::new("syntax7");
    repo.file(
        "apps/web/rollout.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b]\n",
    );
    let message = failed(&repo, &at("apps/web")).await.to_string();
    assert!(
        message.starts_with("apps/web/rollout.yaml:7: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_document_that_is_not_an_object_is_named_with_its_line() {
    let repo = Repo::new("notobject");
    repo.file(
        "apps/web/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  labels: {a: b}\n",
    );
    assert_eq!(
        failed(&repo, &at("apps/web")).await.to_string(),
        "apps/web/svc.yaml:5: not a Kubernetes object: missing metadata.name"
    );
    repo.file("apps/web/svc.yaml", "- just\n- a list\n");
    assert_eq!(
        failed(&repo, &at("apps/web")).await.to_string(),
        "apps/web/svc.yaml:1: not a Kubernetes object: expected a mapping, found a sequence"
    );
    repo.file("apps/web/svc.yaml", "kind: Service\nmetadata: {name: a}\n");
    assert_eq!(
        failed(&repo, &at("apps/web")).await.to_string(),
        "apps/web/svc.yaml:1: not a Kubernetes object: missing apiVersion"
    );
}

#[tokio::test]
async fn paths_that_escape_the_repository_are_refused() {
    let outside = Repo::new("escape-outside");
    outside
        .file("secret.yaml", SERVICE)
        .file("dir/secret.yaml", SERVICE);
    let repo = Repo::new("escape");
    repo.file("apps/web/svc.yaml", SERVICE);

    let e = failed(&repo, &at("apps/../..")).await;
    assert!(matches!(e, RenderError::InvalidPath { .. }), "{e}");
    assert!(e.to_string().contains("no '..'"), "{e}");
    let absolute = outside.root.to_string_lossy().into_owned();
    let e = failed(&repo, &at(&absolute)).await;
    assert!(
        e.to_string()
            .ends_with("must be relative to the repository root"),
        "{e}"
    );

    // `path` through a symlinked directory that leads out.
    repo.symlink("apps/out", &outside.root);
    let e = failed(&repo, &at("apps/out")).await;
    assert!(matches!(e, RenderError::Escapes { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "apps/out: a symlink on the way points outside the repository"
    );
    fs::remove_file(repo.root.join("apps/out")).unwrap();

    // A file symlink leading out.
    repo.symlink("apps/web/stolen.yaml", outside.root.join("secret.yaml"));
    assert_eq!(
        failed(&repo, &at("apps/web")).await.to_string(),
        "apps/web/stolen.yaml: this symlink points outside the repository"
    );
    fs::remove_file(repo.root.join("apps/web/stolen.yaml")).unwrap();

    // A directory symlink leading out, whether or not the walk would go into it.
    repo.symlink("apps/web/sub", outside.root.join("dir"));
    for recurse in [false, true] {
        let e = failed(&repo, &directory("apps/web", recurse, None, None)).await;
        assert_eq!(
            e.to_string(),
            "apps/web/sub: this symlink points outside the repository"
        );
    }
    fs::remove_file(repo.root.join("apps/web/sub")).unwrap();

    // Symlinks that stay inside are fine: a file is read under its link's name.
    repo.file(
        "shared/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n",
    )
    .symlink("apps/web/cm.yaml", "../../shared/cm.yaml");
    let objects = rendered(&repo, &at("apps/web")).await;
    assert_eq!(
        summary(&objects),
        [
            "ConfigMap/shared @ apps/web/cm.yaml:1",
            "Service/web @ apps/web/svc.yaml:1"
        ]
    );
}

#[tokio::test]
async fn a_missing_path_is_named() {
    let repo = Repo::new("missing");
    repo.file("a.yaml", SERVICE);
    assert_eq!(
        failed(&repo, &at("apps/nowhere")).await.to_string(),
        "apps/nowhere: not found in the repository"
    );
}

// ---------------------------------------------------------------- kustomize

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.0
";

fn kustomize_repo(name: &str) -> Repo {
    let repo = Repo::new(name);
    repo.file("apps/web/base/deployment.yaml", DEPLOYMENT)
        .file("apps/web/base/service.yaml", SERVICE)
        .file(
            "apps/web/base/kustomization.yaml",
            "resources: [deployment.yaml, service.yaml]\n",
        )
        .file(
            "apps/web/envs/prod/kustomization.yaml",
            "resources: [../../base]\nimages:\n- name: nginx\n  newTag: \"1.1\"\n",
        );
    repo
}

#[tokio::test]
async fn a_kustomize_overlay_changes_an_image_tag() {
    let repo = kustomize_repo("kustomize");
    let before = repo.listing();
    let objects = rendered(&repo, &at("apps/web/envs/prod")).await;
    assert_eq!(
        summary(&objects),
        [
            "Service/web @ apps/web/envs/prod/kustomization.yaml",
            "Deployment/web @ apps/web/envs/prod/kustomization.yaml",
        ]
    );
    assert_eq!(
        objects[1]
            .object
            .pointer("/spec/template/spec/containers/0/image"),
        Some(&json!("nginx:1.1"))
    );
    assert_eq!(repo.listing(), before, "the checkout is left as it was");
}

#[tokio::test]
async fn the_gitsync_kustomize_overrides_are_applied_without_touching_the_checkout() {
    let repo = kustomize_repo("kustomize-overrides");
    let before = repo.listing();
    let source = GitSource {
        kustomize: Some(KustomizeSource {
            name_prefix: Some("pre-".into()),
            name_suffix: Some("-suf".into()),
            common_labels: [("team".to_string(), "payments".to_string())].into(),
            common_annotations: [("owner".to_string(), "alice".to_string())].into(),
            images: vec!["nginx=registry.local:5000/nginx:2.0".into()],
            namespace: Some("shop".into()),
        }),
        ..at("apps/web/envs/prod")
    };
    let objects = rendered(&repo, &source).await;
    let deployment = &objects
        .iter()
        .find(|r| r.object["kind"] == "Deployment")
        .unwrap()
        .object;
    assert_eq!(deployment["metadata"]["name"], "pre-web-suf");
    assert_eq!(deployment["metadata"]["namespace"], "shop");
    assert_eq!(deployment["metadata"]["labels"]["team"], "payments");
    assert_eq!(deployment["metadata"]["annotations"]["owner"], "alice");
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "team": "payments"}),
        "commonLabels reach selectors, as kustomize's commonLabels do"
    );
    assert_eq!(
        deployment
            .pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "registry.local:5000/nginx:2.0"
    );
    assert_eq!(repo.listing(), before, "the checkout is left as it was");

    let bad = GitSource {
        kustomize: Some(KustomizeSource {
            images: vec!["nginx".into()],
            ..Default::default()
        }),
        ..at("apps/web/envs/prod")
    };
    assert!(matches!(
        failed(&repo, &bad).await,
        RenderError::InvalidImage { index: 0, .. }
    ));
}

#[tokio::test]
async fn kustomize_references_and_symlinks_out_of_the_repository_are_refused() {
    let outside = Repo::new("kustomize-outside");
    outside
        .file("kustomization.yaml", "resources: [cm.yaml]\n")
        .file(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\n",
        );
    let repo = kustomize_repo("kustomize-escape");
    // More `..` than the temporary directory is deep: the surplus stops at `/`.
    let climb = "../".repeat(20);
    let reference = format!(
        "{climb}{}",
        outside.root.to_string_lossy().trim_start_matches('/')
    );
    repo.file(
        "apps/web/envs/evil/kustomization.yaml",
        &format!("resources:\n- ../../base\n- {reference}\n"),
    );
    let e = failed(&repo, &at("apps/web/envs/evil")).await;
    assert!(matches!(e, RenderError::Escapes { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("apps/web/envs/evil/kustomization.yaml: resources entry "),
        "{e}"
    );
    fs::remove_dir_all(repo.root.join("apps/web/envs/evil")).unwrap();

    // Through the base, one kustomization further.
    repo.file(
        "apps/web/base/kustomization.yaml",
        &format!("resources: [deployment.yaml, {}]\n", outside.root.display()),
    );
    let e = failed(&repo, &at("apps/web/envs/prod")).await;
    assert!(
        e.to_string()
            .starts_with("apps/web/base/kustomization.yaml: resources entry "),
        "{e}"
    );
    repo.file(
        "apps/web/base/kustomization.yaml",
        "resources: [deployment.yaml, service.yaml]\n",
    );

    // A symlink out anywhere in the repository: kustomize would follow it.
    repo.symlink("apps/web/base/patch.yaml", outside.root.join("cm.yaml"));
    assert_eq!(
        failed(&repo, &at("apps/web/envs/prod")).await.to_string(),
        "apps/web/base/patch.yaml: this symlink points outside the repository"
    );
}

#[tokio::test]
async fn a_kustomize_failure_carries_its_stderr() {
    let repo = Repo::new("kustomize-fails");
    repo.file(
        "apps/web/kustomization.yaml",
        "resources: [missing-deployment.yaml]\n",
    );
    let e = failed(&repo, &at("apps/web")).await;
    let RenderError::RendererFailed { stderr, dir, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(dir, "apps/web");
    assert!(
        stderr.contains("apps/web/missing-deployment.yaml"),
        "{stderr}"
    );
    let local = repo.root.canonicalize().unwrap();
    assert!(
        !stderr.contains(local.to_str().unwrap()),
        "the checkout's location is cut out: {stderr}"
    );
    assert!(
        stderr.starts_with("\"command failed\""),
        "no klog header: {stderr}"
    );

    // A kustomization that is not YAML is named with its line before kustomize runs.
    repo.file(
        "apps/web/kustomization.yaml",
        "resources:\n- a.yaml\nimages: [{name: nginx}\n",
    );
    let e = failed(&repo, &at("apps/web")).await;
    assert!(
        e.to_string().starts_with("apps/web/kustomization.yaml:"),
        "{e}"
    );
    assert!(matches!(e, RenderError::Syntax { .. }), "{e}");
}

#[tokio::test]
async fn explicit_renderers_need_their_entry_file() {
    let repo = Repo::new("explicit");
    repo.file("apps/web/svc.yaml", SERVICE)
        .file("apps/kz/kustomization.yaml", "resources: [svc.yaml]\n")
        .file("apps/kz/svc.yaml", SERVICE);
    let source = GitSource {
        kustomize: Some(KustomizeSource::default()),
        ..at("apps/web")
    };
    assert_eq!(
        failed(&repo, &source).await.to_string(),
        "source.kustomize is set but apps/web has no kustomization.yaml"
    );
    let source = GitSource {
        helm: Some(HelmSource::default()),
        ..at("apps/web")
    };
    assert_eq!(
        failed(&repo, &source).await.to_string(),
        "source.helm is set but apps/web has no Chart.yaml"
    );
    // `directory` reads a kustomization's directory as plain files.
    let objects = rendered(
        &repo,
        &directory("apps/kz", false, None, Some("kustomization.yaml")),
    )
    .await;
    assert_eq!(summary(&objects), ["Service/web @ apps/kz/svc.yaml:1"]);
    let both = GitSource {
        directory: Some(DirectorySource::default()),
        kustomize: Some(KustomizeSource::default()),
        ..at("apps/web")
    };
    assert!(matches!(
        failed(&repo, &both).await,
        RenderError::ConflictingSources
    ));
}

// ---------------------------------------------------------------- missing renderers, timeouts

#[tokio::test]
async fn a_missing_renderer_is_a_clear_error() {
    let repo = kustomize_repo("no-renderer");
    repo.file(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    let empty = Repo::new("no-renderer-bin");
    let nothing = Renderers::search(&empty.root);
    let e = nothing
        .render(&repo.root, &at("apps/web/envs/prod"), "web", "prod")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "kustomization.yaml found in apps/web/envs/prod but neither kustomize nor kubectl is on PATH"
    );
    let e = nothing
        .render(&repo.root, &at("charts/web"), "web", "prod")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Chart.yaml found in charts/web but helm is not on PATH"
    );
}

#[tokio::test]
async fn a_renderer_that_hangs_is_stopped() {
    let repo = Repo::new("hang");
    repo.file(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    let bin = Repo::new("hang-bin");
    bin.file("helm", "#!/bin/sh\nsleep 30\n");
    make_executable(&bin.root.join("helm"));
    let started = std::time::Instant::now();
    let e = Renderers::search(&bin.root)
        .with_timeout(Duration::from_millis(300))
        .render(&repo.root, &at("charts/web"), "web", "prod")
        .await
        .unwrap_err();
    assert!(matches!(e, RenderError::RendererTimeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------- helm

/// A directory holding `helm`: the shim of tests/fixtures run by a Python that has
/// helm-python-sdk (ROLLOUT_RS_HELM_PYTHON, or a virtualenv made once under target/).
fn helm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
            .expect("test binary under target/<profile>/deps");
        let python = match std::env::var_os("ROLLOUT_RS_HELM_PYTHON") {
            Some(python) => PathBuf::from(python),
            None => helm_venv(&target.join("helm-python")),
        };
        let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm");
        let bin = target.join("helm-shim-bin");
        fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            python.display(),
            shim.display()
        );
        fs::write(bin.join("helm"), script).unwrap();
        make_executable(&bin.join("helm"));
        bin
    })
}

/// The virtualenv's Python, with helm-python-sdk installed into it when missing.
fn helm_venv(venv: &Path) -> PathBuf {
    let python = venv.join("bin/python");
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args(["-c", "import helm_python"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_sdk(&python) {
        return python;
    }
    let run = |cmd: &mut Command| {
        let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(status.success(), "{cmd:?}: {status}");
    };
    run(Command::new("python3").arg("-m").arg("venv").arg(venv));
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "helm-python-sdk==0.2.2",
    ]));
    assert!(has_sdk(&python), "helm-python-sdk did not install");
    python
}

fn helm_renderers() -> Renderers {
    // The shim first on the search path, as a user's helm would be.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![helm_bin().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    Renderers::search(std::env::join_paths(dirs).unwrap())
}

fn chart_repo(name: &str) -> Repo {
    let repo = Repo::new(name);
    repo.file("charts/web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
        .file(
            "charts/web/values.yaml",
            "image: {repository: nginx, tag: \"1.0\"}\nreplicas: 1\nnote: default\nport: 80\n",
        )
        .file(
            "charts/web/values-prod.yaml",
            "image: {tag: \"1.1\"}\nreplicas: 3\n",
        )
        .file(
            "charts/web/templates/_helpers.tpl",
            "{{- define \"web.fullname\" -}}{{ .Release.Name }}-web{{- end -}}\n",
        )
        .file(
            "charts/web/templates/deployment.yaml",
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include \"web.fullname\" . }}
  namespace: {{ .Release.Namespace }}
  annotations:
    note: {{ .Values.note | quote }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
",
        )
        .file(
            "charts/web/templates/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"web.fullname\" . }}\nspec:\n  ports: [{port: {{ .Values.port }}}]\n",
        )
        .file(
            "charts/web/templates/NOTES.txt",
            "Thanks for installing {{ .Release.Name }}.\n",
        )
        .file(
            "charts/web/crds/things.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\n",
        );
    repo
}

async fn helm_rendered(repo: &Repo, source: &GitSource) -> Vec<Rendered> {
    match helm_renderers()
        .render(&repo.root, source, "web", "prod")
        .await
    {
        Ok(objects) => objects,
        Err(e) => panic!("helm render failed: {e}"),
    }
}

#[tokio::test]
async fn a_helm_chart_is_rendered_with_the_release_name_and_namespace() {
    let repo = chart_repo("helm");
    let before = repo.listing();
    let objects = helm_rendered(&repo, &at("charts/web")).await;
    assert_eq!(
        summary(&objects),
        [
            "CustomResourceDefinition/things.example.com @ charts/web/crds/things.yaml",
            "Deployment/web-web @ charts/web/templates/deployment.yaml",
            "Service/web-web @ charts/web/templates/service.yaml",
        ]
    );
    let deployment = &objects[1].object;
    assert_eq!(deployment["metadata"]["namespace"], "prod");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        deployment
            .pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "nginx:1.0"
    );
    assert_eq!(repo.listing(), before, "the checkout is left as it was");
}

#[tokio::test]
async fn helm_values_in_argo_cd_precedence() {
    let repo = chart_repo("helm-values");
    let source = GitSource {
        helm: Some(HelmSource {
            release_name: Some("shop".into()),
            value_files: vec!["values-prod.yaml".into()],
            values: Some("note: from-values\nport: 8080\n".into()),
            values_object: None,
            parameters: vec![
                HelmParameter {
                    name: "image.tag".into(),
                    value: "2.0".into(),
                    force_string: false,
                },
                HelmParameter {
                    name: "note".into(),
                    value: "a,b".into(),
                    force_string: true,
                },
            ],
            skip_crds: true,
        }),
        ..at("charts/web")
    };
    let objects = helm_rendered(&repo, &source).await;
    assert_eq!(
        summary(&objects),
        [
            "Deployment/shop-web @ charts/web/templates/deployment.yaml",
            "Service/shop-web @ charts/web/templates/service.yaml",
        ],
        "releaseName wins over the default; skipCrds drops crds/"
    );
    let deployment = &objects[0].object;
    assert_eq!(deployment["spec"]["replicas"], 3, "from the value file");
    assert_eq!(
        deployment
            .pointer("/spec/template/spec/containers/0/image")
            .unwrap(),
        "nginx:2.0",
        "a parameter wins over the value file"
    );
    assert_eq!(
        deployment["metadata"]["annotations"]["note"], "a,b",
        "a string parameter wins over values, its comma kept"
    );
    assert_eq!(
        objects[1].object["spec"]["ports"][0]["port"], 8080,
        "from values"
    );

    // valuesObject wins over values.
    let source = GitSource {
        helm: Some(HelmSource {
            values: Some("port: 8080\n".into()),
            values_object: Some(json!({"port": 9090})),
            ..Default::default()
        }),
        ..at("charts/web")
    };
    let objects = helm_rendered(&repo, &source).await;
    let service = objects
        .iter()
        .find(|o| o.object["kind"] == "Service")
        .unwrap();
    assert_eq!(service.object["spec"]["ports"][0]["port"], 9090);
}

#[tokio::test]
async fn helm_value_files_stay_inside_the_repository() {
    let outside = Repo::new("helm-outside");
    outside.file("values.yaml", "replicas: 9\n");
    let repo = chart_repo("helm-escape");
    let with_files = |files: &[&str]| GitSource {
        helm: Some(HelmSource {
            value_files: files.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        }),
        ..at("charts/web")
    };
    let renderers = helm_renderers();
    let fail = |source: GitSource| {
        let renderers = renderers.clone();
        let root = repo.root.clone();
        async move {
            renderers
                .render(&root, &source, "web", "prod")
                .await
                .unwrap_err()
                .to_string()
        }
    };
    assert_eq!(
        fail(with_files(&["../../x.yaml"])).await,
        "source.helm.valueFiles[0] \"../../x.yaml\" must stay inside the repository (no '..')"
    );
    let absolute = outside.root.join("values.yaml");
    assert!(
        fail(with_files(&[
            "values-prod.yaml",
            absolute.to_str().unwrap()
        ]))
        .await
        .starts_with("source.helm.valueFiles[1] ")
    );
    assert_eq!(
        fail(with_files(&["values-missing.yaml"])).await,
        "charts/web/values-missing.yaml: not found in the repository"
    );
    repo.symlink("charts/web/values-stolen.yaml", &absolute);
    assert_eq!(
        fail(with_files(&["values-stolen.yaml"])).await,
        "charts/web/values-stolen.yaml: this symlink points outside the repository"
    );
}

#[tokio::test]
async fn a_helm_failure_carries_its_stderr() {
    let repo = chart_repo("helm-fails");
    repo.file(
        "charts/web/templates/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }}\n",
    );
    let e = helm_renderers()
        .render(&repo.root, &at("charts/web"), "web", "prod")
        .await
        .unwrap_err();
    let RenderError::RendererFailed {
        renderer, stderr, ..
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(*renderer, "helm");
    assert!(stderr.contains("broken.yaml"), "{stderr}");
}
