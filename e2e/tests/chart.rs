//! The Helm chart (`charts/rollout-rs`): its copies of the CRDs and of the ready-made
//! ClusterAnalysisTemplates match their sources; `tests/check.py` passes (helm lint --strict, a
//! table of value sets rendered and checked, the values schema refusing typos and wrong types,
//! the renders that must fail failing); and every object of every value set passes the
//! simulated API server's admission (`kubectl apply --server-side --dry-run=server`, strict
//! field validation), so a misspelled field is caught. Helm's engine comes from the
//! virtualenv `scripts/test` creates (`ROLLOUT_RS_HELM_PYTHON`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::wait::conditions;
use rollout_rs_e2e::{Cluster, HarnessError, chart, real_cluster};

type R<T = ()> = Result<T, HarnessError>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `.yaml` files of a directory, by name.
fn yaml_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let bytes =
                std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The chart's copies, byte for byte: `crds/` of `crds/yaml/`, `files/analysis/` of
/// `examples/analysis/cluster/`. `UPDATE_CHART=1` rewrites them.
#[test]
fn chart_copies_match_their_sources() {
    let update = std::env::var("UPDATE_CHART").is_ok_and(|v| v == "1");
    for (source, copy) in [
        ("crds/yaml", "charts/rollout-rs/crds"),
        (
            "examples/analysis/cluster",
            "charts/rollout-rs/files/analysis",
        ),
    ] {
        let (source_dir, copy_dir) = (repo().join(source), repo().join(copy));
        let want = yaml_files(&source_dir);
        if update {
            for (name, _) in yaml_files(&copy_dir) {
                std::fs::remove_file(copy_dir.join(name)).expect("remove a stale copy");
            }
            for (name, bytes) in &want {
                std::fs::write(copy_dir.join(name), bytes).expect("write a copy");
            }
        }
        let got = yaml_files(&copy_dir);
        let names =
            |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&got),
            names(&want),
            "{copy} must hold the files of {source}: refresh with `UPDATE_CHART=1 cargo test -p rollout-rs-e2e --test chart copies`"
        );
        for ((name, got), (_, want)) in got.iter().zip(&want) {
            assert!(
                got == want,
                "{copy}/{name} differs from {source}/{name}: refresh with `UPDATE_CHART=1 cargo test -p rollout-rs-e2e --test chart copies`"
            );
        }
    }
}

/// check.py: lint, the table of value sets, the schema, the refused renders.
#[test]
fn lint_renders_and_schema() -> R {
    let out = chart::check_py(&["check"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "charts/rollout-rs/tests/check.py check:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    Ok(())
}

/// Runs kubectl against `cluster`; returns (success, stdout and stderr).
async fn kubectl(cluster: &Cluster, args: &[&str]) -> R<(bool, String)> {
    let out = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", cluster.kubeconfig())
        // Its own HOME: no discovery cache shared with other tests' clusters.
        .env("HOME", cluster.dir())
        .output()
        .await
        .map_err(|e| {
            HarnessError::Manifest(format!("kubectl (1.32 or newer) must be on PATH: {e}"))
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// Every rendered object of every value set, applied with a server-side dry run: the
/// simulator admits each against its kind's schema with strict field validation. The chart's
/// CRDs are applied for real first (the ClusterAnalysisTemplates need them), and a
/// ServiceMonitor CRD for the ServiceMonitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_objects_pass_the_simulators_admission() -> R {
    if real_cluster() {
        eprintln!("skipped on a real cluster: the dry runs would need cluster-admin there");
        return Ok(());
    }
    let cluster = Cluster::start().await?;
    let out_dir = cluster.dir().join("rendered");
    let out_arg = out_dir.to_string_lossy().into_owned();
    let out = chart::check_py(&["check", "--out", &out_arg])?;
    assert!(
        out.status.success(),
        "check.py:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let crds_file = out_dir.join("crds.yaml");
    let crds_arg = crds_file.to_string_lossy().into_owned();
    let (ok, text) = kubectl(&cluster, &["apply", "--server-side", "-f", &crds_arg]).await?;
    assert!(ok, "the chart's CRDs:\n{text}");
    let monitor = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/crds/prometheus-servicemonitor.yaml"),
    )?;
    cluster.apply_yaml(&monitor, "default").await?;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    for name in [
        "rollouts.rollout-rs.io",
        "analysistemplates.rollout-rs.io",
        "clusteranalysistemplates.rollout-rs.io",
        "analysisruns.rollout-rs.io",
        "gitsyncs.rollout-rs.io",
        "servicemonitors.monitoring.coreos.com",
    ] {
        cluster
            .wait(
                &crds,
                name,
                Duration::from_secs(30),
                "Established",
                conditions::is_crd_established(),
            )
            .await?;
    }
    // The release namespace and the watched one of the namespace-scoped value sets.
    for ns in ["rollout-rs", "team-a"] {
        let (ok, text) = kubectl(&cluster, &["create", "namespace", ns]).await?;
        assert!(ok, "{text}");
    }

    let mut cases: Vec<PathBuf> = std::fs::read_dir(&out_dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    cases.retain(|p| p.file_name().is_some_and(|n| n != "crds.yaml"));
    cases.sort();
    assert!(
        cases.len() >= 20,
        "check.py wrote {} value sets",
        cases.len()
    );
    let mut refused = Vec::new();
    for case in &cases {
        let file = case.to_string_lossy().into_owned();
        let (ok, text) = kubectl(
            &cluster,
            &["apply", "--server-side", "--dry-run=server", "-f", &file],
        )
        .await?;
        if ok {
            println!("{}:\n{text}", case.display());
        } else {
            refused.push(format!("{}:\n{text}", case.display()));
        }
    }
    assert!(
        refused.is_empty(),
        "the simulator refused rendered objects:\n{}",
        refused.join("\n")
    );

    // The dry runs catch what they should: a misspelled field of a built-in kind and of the
    // ServiceMonitor is refused.
    let defaults = std::fs::read_to_string(out_dir.join("defaults.yaml"))?;
    let typo = defaults.replace("\"readOnlyRootFilesystem\"", "\"readOnlyRootFileSystem\"");
    assert_ne!(typo, defaults);
    let monitor = std::fs::read_to_string(out_dir.join("service-monitor.yaml"))?
        .replace("\"scrapeTimeout\"", "\"scrapeTimout\"");
    for (what, text) in [("Deployment", typo), ("ServiceMonitor", monitor)] {
        let file = cluster.dir().join("typo.yaml");
        std::fs::write(&file, text)?;
        let file = file.to_string_lossy().into_owned();
        let (ok, out) = kubectl(
            &cluster,
            &["apply", "--server-side", "--dry-run=server", "-f", &file],
        )
        .await?;
        assert!(!ok, "a misspelled field of the {what} was admitted:\n{out}");
        assert!(out.contains("unknown field"), "{what}: {out}");
    }
    Ok(())
}
