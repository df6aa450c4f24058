//! Kubernetes' protobuf media type (`application/vnd.kubernetes.protobuf`), which kubectl's
//! typed commands (`create namespace`, `create token`, `auth can-i`...) and client-go's typed
//! clients send for built-in kinds. A protobuf body becomes the JSON object Go would have sent
//! and takes the normal JSON path; a client that accepts only protobuf gets its answer
//! encoded back. Custom resources have no protobuf form, as on a real server.
//!
//! The message definitions come from the k8s-pb crate (see `messages`); nothing here knows a
//! kind by hand except the few messages whose JSON form is special (`known`). Nothing here runs
//! for a JSON client.

mod codec;
mod known;
mod messages;
mod wire;

use serde_json::Value;

use wire::{Raw, Reader, Writer};

/// The media type, without parameters.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every protobuf body starts with these four bytes, then a `runtime.Unknown` envelope.
const MAGIC: &[u8] = b"k8s\0";

/// Whether a `Content-Type` names the protobuf media type.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Whether an `Accept` header leaves the server no choice but protobuf.
pub fn only_protobuf(accept: &str) -> bool {
    let mut types = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim());
    let mut any = false;
    let only = types.all(|t| {
        any = true;
        t.eq_ignore_ascii_case(MEDIA_TYPE)
    });
    any && only
}

/// The JSON object a protobuf body holds, `apiVersion` and `kind` included.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the protobuf magic number")?;
    let (mut api_version, mut kind, mut raw, mut encoding) =
        (String::new(), String::new(), &[][..], String::new());
    let mut reader = Reader::new(envelope);
    while let Some((tag, value)) = reader.next_field()? {
        match (tag, value) {
            (1, Raw::Bytes(type_meta)) => {
                let mut meta = Reader::new(type_meta);
                while let Some((tag, value)) = meta.next_field()? {
                    match (tag, value) {
                        (1, Raw::Bytes(b)) => api_version = utf8(b)?,
                        (2, Raw::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Raw::Bytes(b)) => raw = b,
            (3, Raw::Bytes(b)) => encoding = utf8(b)?,
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(format!("content encoding {encoding:?} is not supported"));
    }
    let table = messages::messages()?;
    let path = table
        .of_kind(&api_version, &kind)
        .ok_or_else(|| format!("no protobuf message for {kind} in {api_version:?}"))?;
    let mut object = codec::decode(table, path, raw)?;
    if let Value::Object(fields) = &mut object {
        fields.insert("apiVersion".into(), Value::String(api_version));
        fields.insert("kind".into(), Value::String(kind));
    }
    Ok(object)
}

/// The protobuf body of a JSON object (which names its `apiVersion` and `kind`).
pub fn from_json(object: &Value) -> Result<Vec<u8>, String> {
    let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let table = messages::messages()?;
    let path = table
        .of_kind(api_version, kind)
        .ok_or_else(|| format!("no protobuf message for {kind} in {api_version:?}"))?;
    let mut type_meta = Writer::default();
    type_meta.bytes(1, api_version.as_bytes());
    type_meta.bytes(2, kind.as_bytes());
    let mut envelope = Writer::default();
    envelope.bytes(1, &type_meta.buf);
    envelope.bytes(2, &codec::encode(table, path, object)?);
    envelope.bytes(3, b"");
    envelope.bytes(4, b"");
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&envelope.buf);
    Ok(body)
}

/// An embedded object (`RawExtension`): protobuf when it carries the magic number, else JSON.
fn embedded_to_json(bytes: &[u8]) -> Result<Value, String> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    if bytes.starts_with(MAGIC) {
        return to_json(bytes);
    }
    serde_json::from_slice(bytes).map_err(|e| format!("embedded JSON: {e}"))
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_types() {
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "application/vnd.kubernetes.protobuf; charset=utf-8"
        ));
        assert!(!is_protobuf("application/json"));
        assert!(only_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(!only_protobuf("application/vnd.kubernetes.protobuf, */*"));
        assert!(!only_protobuf(
            "application/vnd.kubernetes.protobuf,application/json"
        ));
        assert!(!only_protobuf(""));
    }

    #[test]
    fn objects_survive_the_round_trip() {
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "labels": {"app": "web"},
                "creationTimestamp": "2026-11-30T10:00:00Z",
                "managedFields": [{"manager": "kubectl", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                    }]},
                },
            },
        });
        let bytes = from_json(&deployment).unwrap();
        assert_eq!(to_json(&bytes).unwrap(), deployment);
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        assert!(to_json(b"{}").is_err());
        assert!(to_json(b"k8s\0\x0a\xff").is_err());
        let unknown_kind = json!({"apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout"});
        let err = from_json(&unknown_kind).unwrap_err();
        assert!(err.contains("no protobuf message for Rollout"), "{err}");
    }
}
