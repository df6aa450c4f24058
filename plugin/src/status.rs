//! `status NAME [--timeout D]`: waits for the rollout to finish, printing a line each time its
//! state changes, for CI pipelines. Exit 0 Healthy, 1 Degraded or aborted, 2 timed out. Only a
//! status that speaks of the latest spec counts: right after an apply, the Healthy of the
//! previous revision is not the answer.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher;
use rollout_rs_crds::Rollout;
use rollout_rs_crds::rollout::RolloutPhase;

use crate::cluster::Cluster;
use crate::facts;
use crate::failure::{self, Failure};
use crate::steer;

/// Where a rollout stands for someone waiting on it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    Healthy,
    Degraded(String),
    /// Still going: the line to print.
    Waiting(String),
}

impl Verdict {
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Verdict::Healthy => ExitCode::SUCCESS,
            Verdict::Degraded(_) => ExitCode::from(1),
            Verdict::Waiting(_) => ExitCode::from(2),
        }
    }
}

/// The verdict on a Rollout as read.
pub(crate) fn verdict(ro: &Rollout) -> Verdict {
    let st = facts::status(ro);
    let message = st.message.clone().unwrap_or_default();
    if !facts::observed(ro) {
        return Verdict::Waiting(
            "Progressing - waiting for the controller to see the latest spec".into(),
        );
    }
    if st.abort {
        return Verdict::Degraded(format!("aborted: {message}"));
    }
    let step = facts::step(ro)
        .map(|(at, of)| format!(" (step {at}/{of})"))
        .unwrap_or_default();
    match st.phase {
        Some(RolloutPhase::Healthy) => Verdict::Healthy,
        Some(RolloutPhase::Degraded) => Verdict::Degraded(message),
        Some(RolloutPhase::Paused) => Verdict::Waiting(format!("Paused{step} - {message}")),
        Some(RolloutPhase::Progressing) => {
            Verdict::Waiting(format!("Progressing{step} - {message}"))
        }
        None => Verdict::Waiting("Progressing - waiting for the controller".into()),
    }
}

/// Waits on the Rollout through a watch (no polling), printing each new state.
pub(crate) async fn run(
    cluster: &Cluster,
    name: &str,
    timeout: Option<Duration>,
) -> Result<ExitCode, Failure> {
    // A missing rollout is an error at once, with the names there are.
    steer::read(cluster, name).await?;
    let api: Api<Rollout> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut stream = Box::pin(watcher::watch_object(api, name));
    let mut last = String::new();
    let wait = async {
        while let Some(event) = stream.next().await {
            let ro = match event {
                Ok(Some(ro)) => ro,
                Ok(None) => {
                    return Err(Failure::Refused(format!(
                        "rollout {name:?} was deleted while waiting"
                    )));
                }
                Err(watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e)) => {
                    return Err(failure::api(cluster, "watch", "rollouts", e));
                }
                // The watch resumes by itself.
                Err(_) => continue,
            };
            match verdict(&ro) {
                Verdict::Waiting(line) => {
                    if line != last {
                        println!("{line}");
                        last = line;
                    }
                }
                Verdict::Healthy => {
                    println!("Healthy - rollout {name:?} completed");
                    return Ok(ExitCode::SUCCESS);
                }
                done @ Verdict::Degraded(_) => {
                    if let Verdict::Degraded(m) = &done {
                        println!("Degraded - {m}");
                    }
                    return Ok(done.exit_code());
                }
            }
        }
        Err(Failure::Refused("the watch of the rollout ended".into()))
    };
    match timeout {
        Some(t) => match tokio::time::timeout(t, wait).await {
            Ok(done) => done,
            Err(_) => {
                eprintln!(
                    "error: timed out after {} waiting for rollout {name:?} ({})",
                    humantime(t),
                    if last.is_empty() {
                        "no state seen"
                    } else {
                        &last
                    }
                );
                Ok(ExitCode::from(2))
            }
        },
        None => wait.await,
    }
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(status: &str) -> Rollout {
        serde_saphyr::from_str(&format!(
            "apiVersion: rollout-rs.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web, generation: 3}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template: {{metadata: {{labels: {{app: web}}}}}}\n  strategy: {{canary: {{steps: [{{setWeight: 50}}, {{pause: {{}}}}]}}}}\nstatus: {status}\n"
        ))
        .expect("a Rollout")
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verdict(&rollout("{observedGeneration: 3, phase: Healthy}")),
            Verdict::Healthy
        );
        assert_eq!(
            verdict(&rollout(
                "{observedGeneration: 3, phase: Degraded, message: \"ProgressDeadlineExceeded\"}"
            )),
            Verdict::Degraded("ProgressDeadlineExceeded".into())
        );
        assert_eq!(
            verdict(&rollout(
                "{observedGeneration: 3, phase: Paused, abort: true, message: \"RolloutAborted\"}"
            )),
            Verdict::Degraded("aborted: RolloutAborted".into())
        );
        assert_eq!(
            verdict(&rollout(
                "{observedGeneration: 3, phase: Paused, currentStepIndex: 1, message: CanaryPauseStep}"
            )),
            Verdict::Waiting("Paused (step 1/2) - CanaryPauseStep".into())
        );
        // The Healthy of the previous spec is not the answer.
        assert!(matches!(
            verdict(&rollout("{observedGeneration: 2, phase: Healthy}")),
            Verdict::Waiting(_)
        ));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Verdict::Healthy.exit_code(), ExitCode::SUCCESS);
        assert_eq!(
            Verdict::Degraded(String::new()).exit_code(),
            ExitCode::from(1)
        );
        assert_eq!(
            Verdict::Waiting(String::new()).exit_code(),
            ExitCode::from(2)
        );
    }
}
