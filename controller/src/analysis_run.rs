//! The AnalysisRun controller: observe (a reflector of runs, Secrets read only for the
//! arguments that name them) → [`run::schedule`] / [`run::record`] (pure, in the analysis
//! crate) → execute (measure what is due, write status, requeue at the next measurement's time
//! exactly). Secret values stay in memory: status, Events and logs only ever see the redacted
//! text. It never creates or deletes runs; the rollout reconciler owns their lifecycle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use rollout_rs_analysis::args::ArgValue;
use rollout_rs_analysis::measurement::take;
use rollout_rs_analysis::provider::Http;
use rollout_rs_analysis::{run, templated, validate};
use rollout_rs_crds::AnalysisRun;
use rollout_rs_crds::analysis::{AnalysisPhase, AnalysisRunStatus};
use rollout_rs_crds::validation;
use serde_json::json;

use crate::events::{Event, EventType, Recorder};
use crate::io::{MANAGER, scoped, strip_meta};
use crate::lenient::{Lenient, Reported};
use crate::process::Process;
use crate::process::gate::Class;
use crate::retry::Retries;

/// Why a reconcile failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AnalysisRunError {
    #[error("writing the status of AnalysisRun {name}: {cause}")]
    Status { name: String, cause: kube::Error },
    #[error("the AnalysisRun has no namespace")]
    NoNamespace,
}

struct Context {
    client: Client,
    http: Http,
    process: Process,
    queue: Arc<crate::process::Queue>,
    /// Runs that do not decode, reported once per reason.
    reported: Arc<Reported>,
    /// When to retry each failing run.
    retries: Arc<Retries>,
    recorder: Recorder,
}

/// The AnalysisRun controller, ready to run: what it needs before it may start (its HTTP
/// client for the metric providers).
pub(crate) struct AnalysisRuns {
    client: Client,
    http: Http,
}

impl AnalysisRuns {
    pub(crate) fn new(
        client: Client,
    ) -> Result<AnalysisRuns, rollout_rs_analysis::provider::ProviderError> {
        Ok(AnalysisRuns {
            client,
            http: Http::new()?,
        })
    }

    /// Runs it until the stream ends (on shutdown).
    pub(crate) async fn run(self, namespace: Option<String>, process: Process) {
        run(self.client, self.http, namespace, process).await
    }
}

impl crate::process::Reason for AnalysisRunError {
    fn reason(&self) -> &'static str {
        match self {
            AnalysisRunError::Status { .. } => "StatusWrite",
            AnalysisRunError::NoNamespace => "NoNamespace",
        }
    }
}

/// The controller's name in metrics and log spans.
const CONTROLLER: &str = "analysisrun";

async fn run(client: Client, http: Http, namespace: Option<String>, process: Process) {
    // Each run decodes on its own: a malformed one ends Error, the others go on.
    let api: Api<Lenient<AnalysisRun>> = scoped(&client, namespace.as_deref());
    let (reader, writer) = reflector::store();
    let reported = Arc::new(Reported::default());
    let retries = Arc::new(Retries::default());
    let (forget, forget_retries) = (reported.clone(), retries.clone());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(strip_meta)
        .reflect(writer)
        .inspect({
            let live = reader.clone();
            move |event| match event {
                Ok(watcher::Event::Delete(gone)) => {
                    let uid = gone.uid().unwrap_or_default();
                    forget.forget(&uid);
                    forget_retries.forget(&uid);
                }
                // A relist after a lost watch: deletions in between sent no event.
                Ok(watcher::Event::InitDone) => {
                    let live = live.state().iter().filter_map(|run| run.uid()).collect();
                    forget.keep_only(&live);
                    forget_retries.keep_only(&live);
                }
                _ => {}
            }
        })
        .applied_objects();
    let queue = process.queue(CONTROLLER);
    let stream = {
        let queue = queue.clone();
        stream.inspect(move |run| {
            if let Ok(run) = run {
                queue.triggered(key(run));
            }
        })
    };
    process.readiness.expect("analysisrun cache");
    {
        let (process, reader) = (process.clone(), reader.clone());
        tokio::spawn(async move {
            if crate::process::listed(&reader).await {
                process.readiness.pass("analysisrun cache");
            }
        });
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        http,
        reported,
        retries,
        recorder: Recorder::new(client, MANAGER),
        process: process.clone(),
        queue,
    });
    // Decoded and cached on a task of its own, not in the controller's.
    let stream = crate::process::errors_logged(stream, "AnalysisRuns");
    Controller::for_stream(crate::process::on_own_task(stream), reader)
        .reconcile_all_on(process.leadership.gained())
        .graceful_shutdown_on(process.shutdown())
        .run(instrumented, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!("analysis run reconcile: {e}");
            }
        })
        .await;
}

fn error_policy(
    run: Arc<Lenient<AnalysisRun>>,
    err: &AnalysisRunError,
    ctx: Arc<Context>,
) -> Action {
    if let AnalysisRunError::Status {
        cause: kube::Error::Api(s),
        ..
    } = err
        && s.code == 409
    {
        return Action::requeue(Duration::from_millis(200));
    }
    let wait = ctx.retries.failed(run.uid().as_deref().unwrap_or_default());
    tracing::warn!(run = %run.name_any(), "reconcile failed, retrying in {wait:?}: {err}");
    Action::requeue(wait)
}

fn key(run: &Lenient<AnalysisRun>) -> String {
    format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any())
}

/// One reconcile in its span, timed and counted; none at all on a standby.
async fn instrumented(
    listed: Arc<Lenient<AnalysisRun>>,
    ctx: Arc<Context>,
) -> Result<Action, AnalysisRunError> {
    if !ctx.process.leadership.is_leader() {
        ctx.queue.started(&key(&listed));
        return Ok(Action::await_change());
    }
    let (ns, name) = (listed.namespace().unwrap_or_default(), listed.name_any());
    let (process, queue) = (ctx.process.clone(), ctx.queue.clone());
    process
        .reconcile(CONTROLLER, &queue, &ns, &name, reconcile(listed, ctx))
        .await
}

async fn reconcile(
    listed: Arc<Lenient<AnalysisRun>>,
    ctx: Arc<Context>,
) -> Result<Action, AnalysisRunError> {
    let ar = match &listed.decoded {
        Ok(ar) => ar,
        Err(why) => {
            // It cannot be measured: it ends Error, and its Rollout aborts rather than promote
            // on analysis nobody can read.
            crate::lenient::report(
                &listed,
                why,
                &ctx.reported,
                &ctx.recorder,
                &ctx.client,
                "AnalysisRunError",
                |message| json!({"phase": "Error", "message": message}),
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    ctx.reported.forget(ar.uid().as_deref().unwrap_or_default());
    let status = ar.status.clone().unwrap_or_default();
    if ar.metadata.deletion_timestamp.is_some() || run::completed(status.phase) {
        return Ok(Action::await_change());
    }
    let ns = ar.namespace().ok_or(AnalysisRunError::NoNamespace)?;
    let now = jiff::Timestamp::now();
    // The metrics' own fields with their arguments in ({{args.count}}, a condition's
    // threshold): what the schedule, the limits and the conditions read.
    let spec = match templated::resolve(&ar.spec) {
        Ok(spec) => spec,
        Err(e) => {
            let next = run::errored(&status, e.to_string(), now);
            if next != status {
                write_status(ar, &ns, &next, &ctx).await?;
                completed_event(ar, &next, &ctx).await;
            }
            return Ok(Action::await_change());
        }
    };
    // A spec that cannot run (a condition that does not compile) ends the run at once, named.
    // Checked when the run starts; a measurement compiles its conditions again anyway.
    let errors = if status.started_at.is_none() {
        validate::run(&spec)
    } else {
        Vec::new()
    };
    let plan = run::schedule(&spec, &status, now);
    let next = if !errors.is_empty() {
        run::errored(&status, validation::summary(&errors), now)
    } else if plan.due.is_empty() {
        // Nothing to measure (a reconcile on our own write, a terminate): no Secret is read.
        run::record(&spec, &status, Vec::new(), now)
    } else {
        match arguments(ar, &ns, &ctx.client).await {
            Err(message) => run::errored(&status, message, now),
            Ok(args) => {
                let taken = futures::future::join_all(plan.due.iter().filter_map(|name| {
                    let metric = spec.metrics.iter().find(|m| &m.name == name)?;
                    let args = &args;
                    let http = &ctx.http;
                    Some(async move { (name.clone(), take(metric, args, http).await) })
                }))
                .await;
                for (metric, m) in &taken {
                    ctx.process
                        .metrics
                        .measurement(metric, &format!("{:?}", m.phase));
                    tracing::info!(
                        run = %ar.name_any(),
                        namespace = %ns,
                        metric = %metric,
                        phase = ?m.phase,
                        value = m.value.as_deref().unwrap_or(""),
                        message = m.message.as_deref().unwrap_or(""),
                        "measured"
                    );
                }
                run::record(&spec, &status, taken, jiff::Timestamp::now())
            }
        }
    };
    if next != status {
        write_status(ar, &ns, &next, &ctx).await?;
        if run::completed(next.phase) {
            completed_event(ar, &next, &ctx).await;
        }
    }
    ctx.retries.forget(ar.uid().as_deref().unwrap_or_default());
    let now = jiff::Timestamp::now();
    Ok(match run::schedule(&spec, &next, now).next {
        Some(at) => Action::requeue((at - now).try_into().unwrap_or(Duration::ZERO)),
        None => Action::await_change(),
    })
}

/// The run's arguments. Secrets are read for this reconcile only, never cached.
async fn arguments(
    ar: &AnalysisRun,
    ns: &str,
    client: &Client,
) -> Result<BTreeMap<String, Option<ArgValue>>, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = BTreeMap::new();
    for a in &ar.spec.args {
        let value = match (
            &a.value,
            a.value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref()),
        ) {
            (Some(v), _) => ArgValue {
                value: v.clone(),
                secret: false,
            },
            (None, Some(r)) => {
                let secret = secrets.get_opt(&r.name).await.map_err(|e| {
                    format!("argument {:?}: reading Secret {:?}: {e}", a.name, r.name)
                })?;
                let bytes = secret
                    .ok_or_else(|| format!("argument {:?}: Secret {:?} not found", a.name, r.name))?
                    .data
                    .and_then(|mut d| d.remove(&r.key))
                    .ok_or_else(|| {
                        format!(
                            "argument {:?}: Secret {:?} has no key {:?}",
                            a.name, r.name, r.key
                        )
                    })?;
                let value = String::from_utf8(bytes.0).map_err(|_| {
                    format!(
                        "argument {:?}: Secret {:?} key {:?} is not UTF-8 text",
                        a.name, r.name, r.key
                    )
                })?;
                ArgValue {
                    value,
                    secret: true,
                }
            }
            (None, None) => return Err(format!("argument {:?} has no value", a.name)),
        };
        out.insert(a.name.clone(), Some(value));
    }
    Ok(out)
}

/// Replaces the whole status (JSON patch `add`, which also creates it): only this controller
/// writes it, and measurements already taken must not be lost to a conflict with a spec edit.
async fn write_status(
    ar: &AnalysisRun,
    ns: &str,
    status: &AnalysisRunStatus,
    ctx: &Context,
) -> Result<(), AnalysisRunError> {
    let api: Api<AnalysisRun> = Api::namespaced(ctx.client.clone(), ns);
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/status", "value": status}
    ]))
    .unwrap_or_default();
    // A verdict (a run that fails, completes or errs) goes first when the API is busy: a
    // Rollout waits on it to abort or go on. A routine measurement comes next, before bulk
    // work: the run's next measurement (which may be the failing one) waits for this write.
    let verdict = ar.status.as_ref().and_then(|s| s.phase) != status.phase;
    let class = if verdict { Class::Urgent } else { Class::Soon };
    let _turn = ctx.process.gate.enter(class).await;
    // Leadership may have gone while the write waited: only the leader writes (the next
    // leader measures again).
    if !ctx.process.leadership.is_leader() {
        return Ok(());
    }
    api.patch_status(
        &ar.name_any(),
        &PatchParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        },
        &Patch::Json::<()>(patch),
    )
    .await
    .map_err(|source| AnalysisRunError::Status {
        name: ar.name_any(),
        cause: source,
    })?;
    Ok(())
}

async fn completed_event(ar: &AnalysisRun, st: &AnalysisRunStatus, ctx: &Context) {
    let phase = st.phase.unwrap_or(AnalysisPhase::Error);
    let event = Event {
        type_: if phase == AnalysisPhase::Successful {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: format!("AnalysisRun{phase:?}"),
        note: Some(
            st.message
                .clone()
                .unwrap_or_else(|| format!("AnalysisRun completed {phase:?}")),
        ),
        action: "Analyze".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &ar.object_ref(&())).await {
        tracing::warn!(run = %ar.name_any(), "recording event: {e}");
    }
}
