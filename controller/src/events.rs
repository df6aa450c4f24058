//! Kubernetes Events (events.k8s.io/v1) for the controllers, as `kubectl describe` shows them.
//! kube's own recorder folds every Event with the same reason into one series that keeps the
//! first note: seven "RolloutStepCompleted" would all read "step 1/4". Here an Event repeats
//! (as a series with a count) only when its note is the same too, so each step, revision and
//! cause reads as it happened. What it remembers expires after a few minutes, as kube's does.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
pub(crate) use kube::runtime::events::{Event, EventType};
use tokio::sync::Mutex;

/// A series continues while it was last seen within this long (kube uses 6 minutes too).
const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

/// Same object, type, reason and note: one series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    regarding: (Option<String>, Option<String>, Option<String>),
    warning: bool,
    reason: String,
    note: String,
}

/// Publishes Events for one controller.
pub(crate) struct Recorder {
    client: Client,
    controller: String,
    series: Mutex<HashMap<Key, K8sEvent>>,
}

impl Recorder {
    pub(crate) fn new(client: Client, controller: impl Into<String>) -> Recorder {
        Recorder {
            client,
            controller: controller.into(),
            series: Mutex::new(HashMap::new()),
        }
    }

    /// Creates the Event, or counts one more of the same series.
    pub(crate) async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let ttl = jiff::SignedDuration::try_from(SERIES_TTL).unwrap_or_default();
        let key = Key {
            regarding: (
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            warning: ev.type_ == EventType::Warning,
            reason: ev.reason.clone(),
            note: ev.note.clone().unwrap_or_default(),
        };
        // The lock is not held across API calls: one slow write must not stall every other
        // reconcile's Events.
        let earlier = {
            let mut series = self.series.lock().await;
            series.retain(|_, e| last_seen(e).is_some_and(|t| t + ttl > now));
            series.get(&key).cloned()
        };
        let ns = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &ns);
        let repeated = match earlier {
            Some(mut event) => {
                event.series = Some(EventSeries {
                    count: event.series.as_ref().map_or(2, |s| s.count + 1),
                    last_observed_time: MicroTime(now),
                });
                let name = event.metadata.name.clone().unwrap_or_default();
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&event))
                    .await
                {
                    Ok(_) => Some(event),
                    // Deleted meanwhile (Events expire): the series starts again.
                    Err(kube::Error::Api(s)) if s.code == 404 => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let event = match repeated {
            Some(event) => event,
            None => {
                let event = self.new_event(ev, regarding, now);
                api.create(&PostParams::default(), &event).await?;
                event
            }
        };
        self.series.lock().await.insert(key, event);
        Ok(())
    }

    fn new_event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            note: ev.note.clone(),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.controller.clone()),
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            ..Default::default()
        }
    }
}

fn last_seen(e: &K8sEvent) -> Option<Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
}
