//! One message between its protobuf bytes and its JSON form, guided by the table: the JSON is
//! what Go's encoding/json makes of the same object, so the rest of the server sees no
//! difference between a protobuf and a JSON client.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::known::{self, Known};
use super::messages::{FieldType, INLINE, Messages, Scalar};
use super::wire::{Raw, Reader, Writer};

/// Decodes a message of type `path`.
pub(super) fn decode(table: &Messages, path: &str, bytes: &[u8]) -> Result<Value, String> {
    if let Some(known) = Known::of(path) {
        let fields = decode_fields(table, path, bytes, Keys::Numbers)?;
        return known_to_json(known, fields);
    }
    let mut fields = decode_fields(table, path, bytes, Keys::Names)?;
    // Protobuf cannot tell a Go pointer set to zero from a plain field left at zero, so zeros
    // are kept; but a generation is the server's, and zero is never one (`omitempty` in Go).
    if path == "apimachinery.pkg.apis.meta.v1.ObjectMeta"
        && fields.get("generation") == Some(&0.into())
    {
        fields.remove("generation");
    }
    Ok(Value::Object(fields))
}

/// How a message's fields are keyed in its object: by JSON name, or by number for the known
/// messages (whose field names no JSON document shows).
#[derive(Clone, Copy, PartialEq)]
enum Keys {
    Names,
    Numbers,
}

fn decode_fields(
    table: &Messages,
    path: &str,
    bytes: &[u8],
    keys: Keys,
) -> Result<Map<String, Value>, String> {
    let message = table
        .get(path)
        .ok_or_else(|| format!("no protobuf message {path}"))?;
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((tag, raw)) = reader.next_field()? {
        // As the real decoders do: a field this version does not know is skipped.
        let Some(field) = message.by_tag(tag) else {
            continue;
        };
        let key = match keys {
            Keys::Names => field.json.clone(),
            Keys::Numbers => tag.to_string(),
        };
        let at = |e: String| format!("{key}: {e}");
        match &field.ty {
            FieldType::Map(key_type, value_type) => {
                let Raw::Bytes(entry) = raw else {
                    return Err(at("a map entry must be length-delimited".into()));
                };
                let (k, v) = decode_entry(table, *key_type, value_type, entry).map_err(at)?;
                let map = out
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(map) = map {
                    map.insert(k, v);
                }
            }
            ty if field.repeated => {
                let values = decode_repeated(table, ty, raw).map_err(at)?;
                let list = out
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.extend(values);
                }
            }
            ty if field.json == INLINE => {
                if let Value::Object(inner) = decode_value(table, ty, raw).map_err(at)? {
                    out.extend(inner);
                }
            }
            ty => {
                let value = decode_value(table, ty, raw).map_err(at)?;
                // Go sends a non-pointer string or time nobody set; its JSON leaves it out.
                if value.is_null() || value == "" {
                    out.remove(&key);
                } else {
                    out.insert(key, value);
                }
            }
        }
    }
    Ok(out)
}

fn decode_entry(
    table: &Messages,
    key_type: Scalar,
    value_type: &FieldType,
    entry: &[u8],
) -> Result<(String, Value), String> {
    let (mut key, mut value) = (String::new(), None);
    let mut reader = Reader::new(entry);
    while let Some((tag, raw)) = reader.next_field()? {
        match tag {
            1 => {
                key = match decode_scalar(key_type, raw)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            2 => value = Some(decode_value(table, value_type, raw)?),
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        // An entry whose value is the zero value carries no value field.
        None => match value_type {
            FieldType::Scalar(Scalar::String | Scalar::Bytes) => Value::String(String::new()),
            FieldType::Scalar(Scalar::Bool) => Value::Bool(false),
            FieldType::Scalar(_) => Value::from(0),
            FieldType::Message(path) => decode(table, path, &[])?,
            FieldType::Map(..) => Value::Object(Map::new()),
        },
    };
    Ok((key, value))
}

fn decode_repeated(table: &Messages, ty: &FieldType, raw: Raw) -> Result<Vec<Value>, String> {
    match (ty, raw) {
        // Packed numbers: several values in one run.
        (FieldType::Scalar(s @ (Scalar::Int32 | Scalar::Int64 | Scalar::Bool)), Raw::Bytes(b)) => {
            let mut values = Vec::new();
            let mut rest = b;
            while !rest.is_empty() {
                let value = prost::encoding::decode_varint(&mut rest).map_err(|e| e.to_string())?;
                values.push(decode_scalar(*s, Raw::Varint(value))?);
            }
            Ok(values)
        }
        (ty, raw) => Ok(vec![decode_value(table, ty, raw)?]),
    }
}

fn decode_value(table: &Messages, ty: &FieldType, raw: Raw) -> Result<Value, String> {
    match (ty, raw) {
        (FieldType::Scalar(s), raw) => decode_scalar(*s, raw),
        (FieldType::Message(path), Raw::Bytes(b)) => decode(table, path, b),
        (FieldType::Message(path), _) => Err(format!("{path} must be length-delimited")),
        (FieldType::Map(..), _) => Err("a map inside a map".into()),
    }
}

fn decode_scalar(s: Scalar, raw: Raw) -> Result<Value, String> {
    Ok(match (s, raw) {
        (Scalar::String, Raw::Bytes(b)) => Value::String(
            std::str::from_utf8(b)
                .map_err(|_| "a string that is not UTF-8")?
                .to_string(),
        ),
        (Scalar::Bytes, Raw::Bytes(b)) => Value::String(BASE64.encode(b)),
        (Scalar::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
        // Negative int32s travel sign-extended to 64 bits.
        (Scalar::Int32, Raw::Varint(v)) => Value::from(v as i64 as i32),
        (Scalar::Int64, Raw::Varint(v)) => Value::from(v as i64),
        (Scalar::Double, Raw::Fixed64(v)) => {
            serde_json::Number::from_f64(f64::from_bits(v)).map_or(Value::Null, Value::Number)
        }
        (s, _) => return Err(format!("wrong wire type for a {s:?}")),
    })
}

fn known_to_json(known: Known, mut f: Map<String, Value>) -> Result<Value, String> {
    let int = |f: &Map<String, Value>, key: &str| f.get(key).and_then(Value::as_i64).unwrap_or(0);
    Ok(match known {
        // Go sends its zero time as an empty message.
        Known::Time | Known::MicroTime if f.is_empty() => Value::Null,
        Known::Time | Known::MicroTime => {
            known::time_to_json(int(&f, "1"), int(&f, "2"), known == Known::MicroTime)?
        }
        Known::Duration => known::duration_to_json(int(&f, "1")),
        Known::Quantity => f.remove("1").unwrap_or(Value::String("0".into())),
        Known::IntOrString => match int(&f, "1") {
            0 => Value::from(int(&f, "2")),
            _ => f.remove("3").unwrap_or(Value::String(String::new())),
        },
        Known::RawJson => match f.remove("1") {
            None => Value::Null,
            Some(Value::String(b64)) => {
                let bytes = BASE64.decode(b64).map_err(|e| format!("raw bytes: {e}"))?;
                super::embedded_to_json(&bytes)?
            }
            Some(_) => return Err("raw bytes expected".into()),
        },
        Known::List => f.remove("1").unwrap_or(Value::Array(Vec::new())),
        Known::SchemaOrArray => match f.remove("2") {
            Some(list) => list,
            None => f.remove("1").unwrap_or(Value::Null),
        },
        Known::SchemaOrBool => match f.remove("2") {
            Some(schema) => schema,
            None => f.remove("1").unwrap_or(Value::Bool(false)),
        },
        Known::SchemaOrStringArray => match f.remove("1") {
            Some(schema) => schema,
            None => f.remove("2").unwrap_or(Value::Array(Vec::new())),
        },
    })
}

/// Encodes `value` as a message of type `path`. JSON fields the message lacks (`apiVersion`,
/// `kind`, fields of newer versions) are left out, as Go's decoder would drop them.
pub(super) fn encode(table: &Messages, path: &str, value: &Value) -> Result<Vec<u8>, String> {
    match Known::of(path) {
        Some(known) => encode_fields(table, path, &known_from_json(known, value)?, Keys::Numbers),
        None => encode_fields(table, path, value, Keys::Names),
    }
}

fn encode_fields(
    table: &Messages,
    path: &str,
    value: &Value,
    keys: Keys,
) -> Result<Vec<u8>, String> {
    let message = table
        .get(path)
        .ok_or_else(|| format!("no protobuf message {path}"))?;
    let Value::Object(obj) = value else {
        return Err(format!("{path}: an object expected"));
    };
    let mut w = Writer::default();
    for field in &message.fields {
        let key = match keys {
            Keys::Names => field.json.clone(),
            Keys::Numbers => field.tag.to_string(),
        };
        if field.json == INLINE {
            encode_value(table, &mut w, field.tag, &field.ty, value)?;
            continue;
        }
        let Some(v) = obj.get(&key).filter(|v| !v.is_null()) else {
            continue;
        };
        let at = |e: String| format!("{}: {e}", field.json);
        match &field.ty {
            FieldType::Map(key, value_type) => {
                let Value::Object(map) = v else {
                    return Err(at("an object expected".into()));
                };
                for (k, item) in map {
                    let mut entry = Writer::default();
                    encode_scalar(&mut entry, 1, *key, &Value::String(k.clone())).map_err(at)?;
                    encode_value(table, &mut entry, 2, value_type, item).map_err(at)?;
                    w.bytes(field.tag, &entry.buf);
                }
            }
            ty if field.repeated => {
                let Value::Array(items) = v else {
                    return Err(at("a list expected".into()));
                };
                for item in items {
                    encode_value(table, &mut w, field.tag, ty, item).map_err(at)?;
                }
            }
            ty => encode_value(table, &mut w, field.tag, ty, v).map_err(at)?,
        }
    }
    Ok(w.buf)
}

fn encode_value(
    table: &Messages,
    w: &mut Writer,
    tag: u32,
    ty: &FieldType,
    v: &Value,
) -> Result<(), String> {
    match ty {
        FieldType::Scalar(s) => encode_scalar(w, tag, *s, v),
        FieldType::Message(path) => {
            w.bytes(tag, &encode(table, path, v)?);
            Ok(())
        }
        FieldType::Map(..) => Err("a map inside a map".into()),
    }
}

fn encode_scalar(w: &mut Writer, tag: u32, s: Scalar, v: &Value) -> Result<(), String> {
    match (s, v) {
        (Scalar::String, Value::String(text)) => w.bytes(tag, text.as_bytes()),
        (Scalar::String, other) => w.bytes(tag, other.to_string().as_bytes()),
        (Scalar::Bytes, Value::String(b64)) => {
            w.bytes(tag, &BASE64.decode(b64).map_err(|e| format!("bytes: {e}"))?)
        }
        (Scalar::Bool, Value::Bool(b)) => w.varint(tag, u64::from(*b)),
        (Scalar::Int32 | Scalar::Int64, Value::Number(n)) => {
            let n = n.as_i64().ok_or_else(|| format!("{n} is not an integer"))?;
            w.varint(tag, n as u64)
        }
        (Scalar::Double, Value::Number(n)) => {
            w.fixed64(tag, n.as_f64().unwrap_or_default().to_bits())
        }
        (s, v) => return Err(format!("{v} is not a {s:?}")),
    }
    Ok(())
}

/// The field-by-field object of a known message's JSON form.
fn known_from_json(known: Known, v: &Value) -> Result<Value, String> {
    use serde_json::json;
    Ok(match (known, v) {
        (Known::Time | Known::MicroTime, Value::String(text)) => {
            let (seconds, nanos) = known::time_from_json(text)?;
            let nanos = if known == Known::Time { 0 } else { nanos };
            json!({"1": seconds, "2": nanos})
        }
        (Known::Duration, Value::String(text)) => json!({"1": known::duration_from_json(text)?}),
        (Known::Quantity, Value::String(q)) => json!({"1": q}),
        (Known::Quantity, Value::Number(n)) => json!({"1": n.to_string()}),
        (Known::IntOrString, Value::Number(n)) => json!({"1": 0, "2": n}),
        (Known::IntOrString, Value::String(s)) => json!({"1": 1, "3": s}),
        (Known::RawJson, v) => {
            let raw = serde_json::to_vec(v).map_err(|e| e.to_string())?;
            json!({"1": BASE64.encode(&raw)})
        }
        (Known::List, Value::Array(items)) => json!({"1": items}),
        (Known::SchemaOrArray, Value::Array(items)) => json!({"2": items}),
        (Known::SchemaOrArray, schema) => json!({"1": schema}),
        (Known::SchemaOrBool, Value::Bool(b)) => json!({"1": b}),
        (Known::SchemaOrBool, schema) => json!({"1": true, "2": schema}),
        (Known::SchemaOrStringArray, Value::Array(items)) => json!({"2": items}),
        (Known::SchemaOrStringArray, schema) => json!({"1": schema}),
        (known, v) => return Err(format!("{v} is not a {known:?}")),
    })
}
