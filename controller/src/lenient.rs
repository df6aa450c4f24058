//! Watching a kind without letting one malformed object stop the others.
//!
//! A typed watch fails its whole list when one object does not decode (a `replicas` beyond
//! int32 stored under an older CRD, a status field that is not a time): after a restart no
//! object of the kind would be reconciled at all. [`Lenient`] decodes each object on its own
//! and keeps, for one that does not decode, its metadata and the reason, so the controllers
//! carry on with the rest; [`report`] says it where users look, once per reason.

use std::borrow::Cow;

use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::events::{Event, EventType, Recorder};
use crate::per_object::PerObject;

/// An object of kind `K` as the API server listed it: decoded, or why it could not be.
#[derive(Clone, Debug)]
pub(crate) struct Lenient<K> {
    /// The object's metadata when it did not decode (a decoded object holds its own).
    metadata: ObjectMeta,
    pub(crate) decoded: Result<K, String>,
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The object's text, decoded straight into `K`: building a JSON tree first and
        // decoding that again cost more than the rest of a watch event's handling. kube reads
        // lists and watch events with serde_json, which hands the text over.
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Lenient::from_text(raw.get()).map_err(serde::de::Error::custom)
    }
}

impl<K: DeserializeOwned> Lenient<K> {
    fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        if let Ok(obj) = serde_json::from_str::<K>(text) {
            return Ok(Lenient {
                metadata: ObjectMeta::default(),
                decoded: Ok(obj),
            });
        }
        // Only an object that does not decode is read again, to name where it breaks.
        let mut de = serde_json::Deserializer::from_str(text);
        let why = match serde_path_to_error::deserialize::<_, K>(&mut de) {
            Err(e) => format!("{}: {}", e.path(), without_position(e.inner())),
            Ok(_) => "it does not decode".to_string(),
        };
        // Without readable metadata the object cannot even be named: that one error stays.
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            metadata: ObjectMeta,
        }
        let head: Head = serde_json::from_str(text)?;
        Ok(Lenient {
            metadata: head.metadata,
            decoded: Err(why),
        })
    }
}

/// An error's message without serde_json's " at line 1 column N": the column moves with
/// every status write, and a reason is reported once per distinct text.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.line() == 0 {
        return text;
    }
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => text,
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Lenient<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        match &self.decoded {
            Ok(obj) => obj.meta(),
            Err(_) => &self.metadata,
        }
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.decoded {
            Ok(obj) => obj.meta_mut(),
            Err(_) => &mut self.metadata,
        }
    }
}

/// Says that `obj` cannot be read, once per reason: a log line naming it, a Warning Event
/// `reason` on it, and `status` (built from the message) merged into its status, where that can
/// be written (not when the status is what does not decode).
pub(crate) async fn report<K>(
    obj: &Lenient<K>,
    why: &str,
    reported: &Reported,
    recorder: &Recorder,
    client: &Client,
    reason: &str,
    status: impl FnOnce(&str) -> serde_json::Value,
) where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    let meta = obj.meta();
    if !reported.first(meta.uid.as_deref().unwrap_or_default(), why) {
        return;
    }
    let kind = K::kind(&());
    let name = meta.name.clone().unwrap_or_default();
    let ns = meta.namespace.clone().unwrap_or_default();
    let message = format!("the {kind} cannot be read: {why}");
    tracing::warn!(namespace = %ns, "{kind} {name}: {message}; it is left alone until fixed");
    let event = Event {
        type_: EventType::Warning,
        reason: reason.into(),
        note: Some(message.clone()),
        action: "Decode".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!("{kind} {name}: recording event {reason}: {e}");
    }
    let api: Api<Lenient<K>> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams {
        field_manager: Some(crate::io::MANAGER.into()),
        ..Default::default()
    };
    let patch = serde_json::json!({ "status": status(&message) });
    if let Err(e) = api.patch_status(&name, &params, &Patch::Merge(patch)).await {
        tracing::debug!("{kind} {name}: the status of an unreadable object: {e}");
    }
}

/// Which unreadable objects were reported, and why: each is said once per reason (its own
/// status patch must not say it again), and forgotten with the object.
#[derive(Debug, Default)]
pub(crate) struct Reported(PerObject<String>);

impl Reported {
    /// Whether `why` is news for the object `uid` (then it is remembered).
    pub(crate) fn first(&self, uid: &str, why: &str) -> bool {
        let mut seen = self.0.lock();
        if seen.get(uid).map(String::as_str) == Some(why) {
            return false;
        }
        seen.insert(uid.to_string(), why.to_string());
        true
    }

    pub(crate) fn forget(&self, uid: &str) {
        self.0.forget(uid);
    }

    /// Forgets every object but these (after a relist, when deletions were missed).
    pub(crate) fn keep_only(&self, live: &std::collections::HashSet<String>) {
        self.0.keep_only(live);
    }
}

#[cfg(test)]
mod tests {
    use rollout_rs_crds::Rollout;

    use super::*;

    #[test]
    fn a_malformed_object_keeps_its_name_and_the_reason() {
        let list = serde_json::json!([
            {"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
             "metadata": {"name": "bad", "namespace": "shop", "uid": "u1"},
             "spec": {"replicas": 3000000000u64, "selector": {}, "template": {}}},
            {"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
             "metadata": {"name": "good", "namespace": "shop"},
             "spec": {"replicas": 3, "selector": {}, "template": {}, "strategy": {}}}
        ]);
        let items: Vec<Lenient<Rollout>> =
            serde_json::from_str(&list.to_string()).expect("the list decodes");
        assert_eq!(items[0].meta().name.as_deref(), Some("bad"));
        assert_eq!(items[0].meta().uid.as_deref(), Some("u1"));
        let why = items[0].decoded.as_ref().expect_err("bad does not decode");
        assert!(why.starts_with("spec.replicas: "), "{why}");
        assert!(
            !why.contains("column"),
            "no position: it moves with every write: {why}"
        );
        assert!(items[1].decoded.is_ok(), "{:?}", items[1].decoded);
        assert_eq!(items[1].meta().name.as_deref(), Some("good"));
        assert_eq!(
            <Lenient<Rollout> as Resource>::plural(&()),
            Rollout::plural(&())
        );
    }

    #[test]
    fn watch_events_decode_as_kube_reads_them() {
        let line = r#"{"type":"MODIFIED","object":{"apiVersion":"rollout-rs.io/v1alpha1","kind":"Rollout","metadata":{"name":"bad","namespace":"shop"},"spec":{"replicas":"three"}}}"#;
        let event: kube::core::WatchEvent<Lenient<Rollout>> =
            serde_json::from_slice(line.as_bytes()).expect("the event decodes");
        let kube::core::WatchEvent::Modified(bad) = event else {
            panic!("not MODIFIED");
        };
        assert_eq!(bad.meta().name.as_deref(), Some("bad"));
        assert!(bad.decoded.is_err());
        let unreadable = r#"{"type":"ADDED","object":{"metadata":{"name":7}}}"#;
        assert!(
            serde_json::from_slice::<kube::core::WatchEvent<Lenient<Rollout>>>(
                unreadable.as_bytes()
            )
            .is_err(),
            "without a name it cannot be reported"
        );
    }

    #[test]
    fn each_reason_is_reported_once() {
        let r = Reported::default();
        assert!(r.first("u1", "spec.replicas: too large"));
        assert!(!r.first("u1", "spec.replicas: too large"));
        assert!(r.first("u1", "status.pauseConditions[0].startTime: not a time"));
        r.forget("u1");
        assert!(r.first("u1", "status.pauseConditions[0].startTime: not a time"));
    }
}
