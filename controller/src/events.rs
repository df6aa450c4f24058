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
/// How often expired series are dropped. Pruning on every publish scanned every series of the
/// last six minutes each time: quadratic when a thousand Rollouts step at once.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

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
    series: Mutex<Series>,
}

/// The series seen lately, and when expired ones are next dropped. Only what continuing one
/// takes is kept of each Event (its name, count and time), not the Event.
#[derive(Default)]
struct Series {
    by_key: HashMap<Key, Seen>,
    next_prune: Option<Timestamp>,
}

/// One series: the Event's name, how many it counts, when the last was seen.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    count: i32,
    last: Timestamp,
}

impl Series {
    /// The series `key` continues, if it was seen within the TTL; expired series are dropped
    /// every [`PRUNE_EVERY`], so the map holds at most a few minutes of Events.
    fn current(&mut self, key: &Key, now: Timestamp) -> Option<Seen> {
        let ttl = jiff::SignedDuration::try_from(SERIES_TTL).unwrap_or_default();
        let fresh = |e: &Seen| e.last + ttl > now;
        if self.next_prune.is_none_or(|at| at <= now) {
            self.by_key.retain(|_, e| fresh(e));
            let every = jiff::SignedDuration::try_from(PRUNE_EVERY).unwrap_or_default();
            self.next_prune = Some(now + every);
        }
        self.by_key.get(key).filter(|e| fresh(e)).cloned()
    }
}

impl Recorder {
    pub(crate) fn new(client: Client, controller: impl Into<String>) -> Recorder {
        Recorder {
            client,
            controller: controller.into(),
            series: Mutex::default(),
        }
    }

    /// Creates the Event, or counts one more of the same series.
    pub(crate) async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
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
        let earlier = self.series.lock().await.current(&key, now);
        let ns = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &ns);
        let repeated = match earlier {
            Some(seen) => {
                let count = seen.count + 1;
                let series = serde_json::json!({"series": EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                }});
                match api
                    .patch(&seen.name, &PatchParams::default(), &Patch::Merge(&series))
                    .await
                {
                    Ok(_) => Some(Seen {
                        count,
                        last: now,
                        ..seen
                    }),
                    // Deleted meanwhile (Events expire): the series starts again.
                    Err(kube::Error::Api(s)) if s.code == 404 => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let seen = match repeated {
            Some(seen) => seen,
            None => {
                let event = self.new_event(ev, regarding, now);
                api.create(&PostParams::default(), &event).await?;
                Seen {
                    name: event.metadata.name.unwrap_or_default(),
                    count: 1,
                    last: now,
                }
            }
        };
        self.series.lock().await.by_key.insert(key, seen);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(note: &str) -> Key {
        Key {
            regarding: (Some("ns".into()), Some("ro".into()), Some("uid".into())),
            warning: false,
            reason: "RolloutStepCompleted".into(),
            note: note.into(),
        }
    }

    fn seen(at: Timestamp) -> Seen {
        Seen {
            name: "ro.1".into(),
            count: 1,
            last: at,
        }
    }

    #[test]
    fn a_series_continues_within_the_ttl_and_expired_ones_are_dropped() {
        let t0: Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let mut series = Series::default();
        series.by_key.insert(key("step 1/2"), seen(t0));
        let minutes = |m: i64| t0 + jiff::SignedDuration::from_mins(m);
        assert!(series.current(&key("step 1/2"), minutes(5)).is_some());
        series.by_key.insert(key("step 2/2"), seen(minutes(5)));
        // Seven minutes on, the first has expired: not continued even before it is pruned.
        assert!(series.current(&key("step 1/2"), minutes(7)).is_none());
        assert!(series.current(&key("step 2/2"), minutes(7)).is_some());
        // Pruned once a minute has passed since the last pruning.
        assert_eq!(series.by_key.len(), 1, "the expired series was dropped");
        assert!(series.current(&key("step 2/2"), minutes(12)).is_none());
        assert!(series.by_key.is_empty());
    }
}
