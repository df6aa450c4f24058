//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for, one row per object: the real
//! server's printer columns for the built-in kinds [`crate::printers`] covers, else a Name column
//! then a CRD's additionalPrinterColumns (or Age for other built-in kinds).

use serde_json::{Value, json};

use crate::registry::ResourceType;
use crate::{events, printers};

/// Whether the client asked for a Table (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .any(|part| part.split(';').any(|p| p.trim() == "as=Table"))
}

fn columns(rt: &ResourceType) -> Vec<(String, String, String, i32, String)> {
    let mut cols = vec![(
        "Name".to_string(),
        "string".to_string(),
        "name".to_string(),
        0,
        ".metadata.name".to_string(),
    )];
    if rt.printer_columns.is_empty() {
        cols.push((
            "Age".into(),
            "date".into(),
            String::new(),
            0,
            ".metadata.creationTimestamp".into(),
        ));
    } else {
        for c in &rt.printer_columns {
            cols.push((
                c.name.clone(),
                c.type_.clone(),
                c.format.clone().unwrap_or_default(),
                c.priority.unwrap_or(0),
                c.json_path.clone(),
            ));
        }
    }
    cols
}

/// Evaluates the simple JSONPath of printer columns: `.a.b.c`, with `[N]` indexes.
fn eval(obj: &Value, path: &str) -> Value {
    let mut cur = obj;
    for seg in path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
    {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        cur = match cur.get(name) {
            Some(v) => v,
            None => return Value::Null,
        };
        if let Some(i) = index {
            cur = match cur.get(i) {
                Some(v) => v,
                None => return Value::Null,
            };
        }
    }
    cur.clone()
}

/// Kubernetes' `HumanDuration`: how `kubectl get` shows ages ("45s", "3m20s", "2d5h").
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            d => format!("{}y{d}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(timestamp: &Value) -> Value {
    let parsed = timestamp
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    match parsed {
        Some(t) => json!(human_duration(
            jiff::Timestamp::now().as_second() - t.as_second()
        )),
        None => Value::Null,
    }
}

fn row(rt: &ResourceType, obj: &Value) -> Value {
    let cells: Vec<Value> = match printers::printer(rt) {
        // Events are printed from their stored core form whichever API served them.
        Some(p) if events::is_events_api(rt) => (p.cells)(&events::to_core(obj.clone())),
        Some(p) => (p.cells)(obj),
        None => columns(rt)
            .iter()
            .map(|(_, ty, _, _, path)| match ty.as_str() {
                // The API server renders dates as ages; kubectl prints cells as they come.
                "date" => age(&eval(obj, path)),
                _ => eval(obj, path),
            })
            .collect(),
    };
    let mut row = json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        },
    });
    if let Some(conditions) = printers::conditions(rt, obj) {
        row["conditions"] = conditions;
    }
    row
}

/// A Table of `objects`.
pub fn render(rt: &ResourceType, objects: &[Value], resource_version: &str) -> Value {
    let defs: Vec<Value> = match printers::printer(rt) {
        Some(p) => p
            .columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.ty, "format": c.format, "description": "", "priority": c.priority}))
            .collect(),
        None => columns(rt)
        .into_iter()
        .map(|(name, ty, format, priority, _)| {
            let ty = if ty == "date" { "string".to_string() } else { ty };
            json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority})
        })
        .collect(),
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs,
        "rows": objects.iter().map(|o| row(rt, o)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (30 * 86400, "30d"),
            (800 * 86400, "2y70d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }
}
