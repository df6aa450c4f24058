//! `get rollout NAME [--watch [--until-complete]] [-o json|yaml]`: the rollout, its revisions,
//! ReplicaSets, AnalysisRuns and routing objects, as a tree (`render`) or as data (`view`).
//! `--watch` redraws in place on every change the watches deliver (never on a timer) and with
//! `--until-complete` exits once the rollout is Healthy (0) or Degraded (1).

mod render;
mod routes;
mod view;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use rollout_rs_crds::{AnalysisRun, POD_TEMPLATE_HASH_LABEL, Rollout};

use crate::cluster::Cluster;
use crate::failure::{self, Failure};
use crate::status::{Verdict, verdict};
use crate::steer::{self, owned_by};

pub(crate) use render::{Style, render};
pub(crate) use view::{Snapshot, View};

/// How `get` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Json,
    Yaml,
}

/// Options of `get rollout`.
pub(crate) struct Options {
    pub(crate) output: Option<Output>,
    pub(crate) watch: bool,
    pub(crate) until_complete: bool,
}

fn dynamic(cluster: &Cluster, kind: routes::Kind, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group, kind.version, kind.kind),
        kind.plural,
    );
    Api::namespaced_with(cluster.client.clone(), namespace, &ar)
}

/// Everything the view shows, read now.
async fn snapshot(cluster: &Cluster, name: &str) -> Result<Snapshot, Failure> {
    let rollout = steer::read(cluster, name).await?;
    let uid = rollout.uid().unwrap_or_default();
    let ns = &cluster.namespace;
    let rs_api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let replica_sets = rs_api
        .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
        .await
        .map_err(|e| failure::api(cluster, "list", "replicasets", e))?
        .items
        .into_iter()
        .filter(|rs| owned_by(rs, &uid))
        .collect();
    let run_api: Api<AnalysisRun> = Api::namespaced(cluster.client.clone(), ns);
    let runs = run_api
        .list(&ListParams::default())
        .await
        .map_err(|e| failure::api(cluster, "list", "analysisruns", e))?
        .items
        .into_iter()
        .filter(|r| owned_by(r, &uid))
        .collect();
    let mut found = Vec::new();
    if routes::owns_ingresses(&rollout) {
        // A routing object that cannot be read is shown as such; the rest of the view stands.
        match dynamic(cluster, routes::INGRESS, ns)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => {
                for ing in list.items.iter().filter(|i| owned_by(*i, &uid)) {
                    let live = serde_json::to_value(ing).ok();
                    found.push(routes::route(
                        &rollout,
                        routes::INGRESS,
                        &ing.name_any(),
                        live.as_ref(),
                    ));
                }
            }
            Err(e) => found.push(view::Route {
                kind: "Ingress",
                name: "*".into(),
                weights: vec![],
                problem: Some(e.to_string()),
            }),
        }
    }
    for target in routes::targets(&rollout) {
        let live = match dynamic(cluster, target.kind, &target.namespace)
            .get_opt(&target.name)
            .await
        {
            Ok(obj) => obj.and_then(|o| serde_json::to_value(o).ok()),
            // A kind the cluster does not serve: the object is not there.
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => {
                found.push(view::Route {
                    kind: target.kind.kind,
                    name: target.name.clone(),
                    weights: vec![],
                    problem: Some(e.to_string()),
                });
                continue;
            }
        };
        found.push(routes::route(
            &rollout,
            target.kind,
            &target.name,
            live.as_ref(),
        ));
    }
    Ok(Snapshot {
        rollout,
        replica_sets,
        runs,
        routes: found,
    })
}

fn draw(view: &View, output: Option<Output>, color: bool) -> Result<String, Failure> {
    match output {
        Some(Output::Json) => serde_json::to_string_pretty(view)
            .map(|s| s + "\n")
            .map_err(|e| Failure::Refused(format!("encoding the view: {e}"))),
        Some(Output::Yaml) => serde_saphyr::to_string(view)
            .map_err(|e| Failure::Refused(format!("encoding the view: {e}"))),
        None => Ok(render(
            view,
            &Style {
                color,
                now: jiff::Timestamp::now(),
            },
        )),
    }
}

pub(crate) async fn run(
    cluster: &Cluster,
    name: &str,
    options: Options,
) -> Result<ExitCode, Failure> {
    let tty = std::io::stdout().is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if !options.watch {
        let snap = snapshot(cluster, name).await?;
        print!("{}", draw(&View::of(&snap), options.output, color)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Any change of the rollout, a ReplicaSet or an AnalysisRun of the namespace redraws.
    let ns = &cluster.namespace;
    let ro_api: Api<Rollout> = Api::namespaced(cluster.client.clone(), ns);
    let rs_api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), ns);
    let run_api: Api<AnalysisRun> = Api::namespaced(cluster.client.clone(), ns);
    let changes = futures::stream::select_all([
        watcher::watch_object(ro_api, name).map(|_| ()).boxed(),
        watcher(
            rs_api,
            watcher::Config::default().labels(POD_TEMPLATE_HASH_LABEL),
        )
        .map(|_| ())
        .boxed(),
        watcher(run_api, watcher::Config::default())
            .map(|_| ())
            .boxed(),
    ]);
    let mut changes = Box::pin(changes);
    let mut last = String::new();
    let mut stdout = std::io::stdout();
    loop {
        let snap = snapshot(cluster, name).await?;
        let view = View::of(&snap);
        let frame = draw(&view, options.output, color)?;
        if frame != last {
            if tty && !last.is_empty() && options.output.is_none() {
                // Back to the top of the previous frame, and clear it: a redraw in place.
                let _ = write!(stdout, "\x1b[{}F\x1b[J", last.lines().count());
            } else if !last.is_empty() {
                let _ = writeln!(stdout);
            }
            let _ = write!(stdout, "{frame}");
            let _ = stdout.flush();
            last = frame;
        }
        if options.until_complete {
            match verdict(&snap.rollout) {
                Verdict::Healthy => return Ok(ExitCode::SUCCESS),
                done @ Verdict::Degraded(_) => return Ok(done.exit_code()),
                Verdict::Waiting(_) => {}
            }
        }
        if changes.next().await.is_none() {
            return Err(Failure::Refused("the watch ended".into()));
        }
        // A burst of changes is drawn once.
        while let Some(Some(())) = changes.next().now_or_never() {}
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
