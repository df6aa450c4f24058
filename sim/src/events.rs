//! The two Event APIs over one store. The real API server keeps `events.k8s.io/v1` Events and
//! core `v1` Events in the same storage (as core Events) and converts on every read and write,
//! so an Event written through one API is the same object, with the same resourceVersion,
//! through the other. This module owns that conversion (k8s.io/kubernetes
//! `pkg/apis/events/v1/conversion.go`) and the field-selector labels `events.k8s.io` accepts.
//!
//! It must not store anything or know about HTTP: the API layer converts a request body to the
//! stored form before the verb semantics in [`crate::ops`] and the stored form back on the way
//! out.

use serde_json::{Map, Value};

use crate::registry::ResourceType;

/// `events.k8s.io` name → core `v1` name of every field whose name differs. The other fields
/// (`metadata`, `eventTime`, `series`, `reportingInstance`, `action`, `reason`, `related`,
/// `type`) are the same in both.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

/// Whether requests on this type are `events.k8s.io` Events, served from the core store.
pub fn is_events_api(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

/// An `events.k8s.io/v1` Event (whole or a partial apply configuration) in its stored, core
/// `v1` form. Fields this module does not know pass through unchanged, so validation still
/// sees (and can refuse) them.
pub fn to_core(obj: Value) -> Value {
    rename(obj, |k| {
        RENAMED
            .iter()
            .find(|(events, _)| *events == k)
            .map(|(_, core)| *core)
    })
}

/// A stored (core `v1`) Event in its `events.k8s.io/v1` form.
pub fn from_core(obj: Value) -> Value {
    rename(obj, |k| {
        RENAMED
            .iter()
            .find(|(_, core)| *core == k)
            .map(|(events, _)| *events)
    })
}

fn rename(obj: Value, new_name: impl Fn(&str) -> Option<&'static str>) -> Value {
    match obj {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                match new_name(&k) {
                    Some(renamed) => out.insert(renamed.to_string(), v),
                    None => out.insert(k, v),
                };
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// The core field-selector label for an `events.k8s.io` one, as the real API server's field
/// label conversion maps them (`regarding.name` → `involvedObject.name`,
/// `reportingController` → `reportingComponent`); other labels are kept.
pub fn core_field_label(label: &str) -> String {
    if let Some(rest) = label.strip_prefix("regarding.") {
        return format!("involvedObject.{rest}");
    }
    match label {
        "reportingController" => "reportingComponent".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_maps_every_renamed_field() {
        let events = json!({
            "metadata": {"name": "e", "namespace": "ns"},
            "regarding": {"kind": "ConfigMap", "name": "cm"},
            "note": "hello",
            "deprecatedSource": {"component": "c"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-01T00:00:01Z",
            "deprecatedCount": 3,
            "reportingController": "rollout-rs",
            "reportingInstance": "pod-1",
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:01.000000Z"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reason": "Started",
            "action": "Reconcile",
            "type": "Normal",
        });
        let core = to_core(events.clone());
        assert_eq!(core["involvedObject"]["name"], "cm");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["source"]["component"], "c");
        assert_eq!(core["firstTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(core["lastTimestamp"], "2024-01-01T00:00:01Z");
        assert_eq!(core["count"], 3);
        assert_eq!(core["reportingComponent"], "rollout-rs");
        assert_eq!(core["series"]["count"], 2);
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        assert_eq!(from_core(core), events);
    }

    #[test]
    fn field_labels() {
        assert_eq!(core_field_label("regarding.uid"), "involvedObject.uid");
        assert_eq!(
            core_field_label("reportingController"),
            "reportingComponent"
        );
        assert_eq!(core_field_label("metadata.name"), "metadata.name");
    }
}
