//! The GitOps repository `rollout-rs dev` delivers from: the files of `examples/gitops`,
//! built into the binary so it works from any directory, committed once with the `git` CLI
//! into a local repository the user then edits and commits to. An existing repository is the
//! user's and is never touched.

use std::path::Path;

use tokio::process::Command;

/// `examples/gitops`, file by file (`examples_are_embedded_whole` keeps the list whole).
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "apps/web/base/kustomization.yaml",
        include_str!("../../../examples/gitops/apps/web/base/kustomization.yaml"),
    ),
    (
        "apps/web/base/rollout.yaml",
        include_str!("../../../examples/gitops/apps/web/base/rollout.yaml"),
    ),
    (
        "apps/web/base/services.yaml",
        include_str!("../../../examples/gitops/apps/web/base/services.yaml"),
    ),
    (
        "apps/web/envs/dev/kustomization.yaml",
        include_str!("../../../examples/gitops/apps/web/envs/dev/kustomization.yaml"),
    ),
    (
        "apps/web/envs/staging/kustomization.yaml",
        include_str!("../../../examples/gitops/apps/web/envs/staging/kustomization.yaml"),
    ),
    (
        "apps/web/envs/prod/kustomization.yaml",
        include_str!("../../../examples/gitops/apps/web/envs/prod/kustomization.yaml"),
    ),
    (
        "clusters/dev/apps/web.yaml",
        include_str!("../../../examples/gitops/clusters/dev/apps/web.yaml"),
    ),
];

/// Why the repository could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("writing {path}: {cause}")]
    Write { path: String, cause: std::io::Error },
    #[error("running git {args} (is the git CLI installed?): {cause}")]
    Spawn { args: String, cause: std::io::Error },
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
}

async fn git(dir: &Path, args: &[&str]) -> Result<(), RepoError> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=rollout-rs dev",
            "-c",
            "user.email=dev@rollout-rs.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .map_err(|cause| RepoError::Spawn {
            args: args.join(" "),
            cause,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RepoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Makes the repository at `dir` unless one is there; returns whether it was made.
pub(crate) async fn ensure(dir: &Path) -> Result<bool, RepoError> {
    if dir.join(".git").exists() {
        return Ok(false);
    }
    for (path, text) in FILES {
        let file = dir.join(path);
        let write = |cause| RepoError::Write {
            path: file.display().to_string(),
            cause,
        };
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(write)?;
        }
        std::fs::write(&file, text).map_err(write)?;
    }
    git(dir, &["init", "-q", "-b", "main"]).await?;
    // The user's commits work even where git has no identity configured.
    git(dir, &["config", "user.name", "rollout-rs dev"]).await?;
    git(dir, &["config", "user.email", "dev@rollout-rs.invalid"]).await?;
    git(dir, &["config", "commit.gpgsign", "false"]).await?;
    git(dir, &["add", "-A"]).await?;
    git(
        dir,
        &["commit", "-q", "-m", "web 1.0.0, from examples/gitops"],
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                on_disk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }

    #[test]
    fn examples_are_embedded_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gitops");
        let mut files = Vec::new();
        on_disk(&root, &root, &mut files);
        files.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, files,
            "add new files of examples/gitops to dev::repo::FILES"
        );
    }
}
