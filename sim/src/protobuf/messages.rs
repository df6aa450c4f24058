//! The Kubernetes protobuf messages: for each message its fields (number, JSON name, wire
//! type), and which message carries each `apiVersion`/`kind`. Read once, on the first protobuf
//! request, from `messages.txt`, which `generate.py` writes from the k8s-pb crate's message
//! definitions (numbers and types) and k8s-openapi's JSON names.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The JSON name of an inline field: Go embeds the struct (`json:",inline"`), so JSON shows
/// its fields at the parent's level while protobuf nests them in a message of their own.
pub(super) const INLINE: &str = "-";

/// One protobuf field.
#[derive(Debug)]
pub(super) struct Field {
    pub tag: u32,
    pub json: String,
    pub repeated: bool,
    pub ty: FieldType,
}

#[derive(Debug)]
pub(super) enum FieldType {
    Scalar(Scalar),
    /// A message, by its path in [`Messages`].
    Message(String),
    /// A map: protobuf's repeated entries of key (1) and value (2).
    Map(Scalar, Box<FieldType>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
}

#[derive(Debug, Default)]
pub(super) struct Message {
    pub fields: Vec<Field>,
}

impl Message {
    pub fn by_tag(&self, tag: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// Every message, and the message of each kind.
#[derive(Debug, Default)]
pub(super) struct Messages {
    messages: HashMap<String, Message>,
    /// Lower-cased message path -> path: Go's kind `PodIP` is prost's `PodIp`.
    folded: HashMap<String, String>,
    /// `apiVersion` -> the module holding its messages, e.g. `apps/v1` -> `api.apps.v1`.
    modules: HashMap<String, String>,
    /// `(apiVersion, kind)` -> message path, for the kinds k8s-pb marks as resources.
    kinds: HashMap<(String, String), String>,
}

/// The module of the types every group shares (Status, DeleteOptions, WatchEvent, lists' meta).
const META: &str = "apimachinery.pkg.apis.meta.v1";

impl Messages {
    pub fn get(&self, path: &str) -> Option<&Message> {
        self.messages.get(path)
    }

    /// The message that carries `kind` of `api_version`; `None` for kinds with no protobuf
    /// form (custom resources).
    pub fn of_kind(&self, api_version: &str, kind: &str) -> Option<&str> {
        if let Some(path) = self.kinds.get(&(api_version.to_string(), kind.to_string())) {
            return Some(path);
        }
        let modules = [
            self.modules.get(api_version).map(String::as_str),
            Some(META),
        ];
        modules.into_iter().flatten().find_map(|module| {
            self.folded
                .get(&format!("{module}.{kind}").to_lowercase())
                .map(String::as_str)
        })
    }

    fn parse(text: &str) -> Result<Messages, String> {
        let mut table = Messages::default();
        table.modules.insert("v1".into(), "api.core.v1".into());
        table.modules.insert("meta.k8s.io/v1".into(), META.into());
        let mut current: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let bad = |why: &str| format!("messages.txt line {}: {why}: {line}", n + 1);
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["R", api_version, kind, path] => {
                    let module = path.rsplit_once('.').map_or("", |(m, _)| m);
                    table
                        .modules
                        .insert(api_version.to_string(), module.to_string());
                    table.kinds.insert(
                        (api_version.to_string(), kind.to_string()),
                        path.to_string(),
                    );
                }
                ["M", path] => {
                    table.folded.insert(path.to_lowercase(), path.to_string());
                    table.messages.insert(path.to_string(), Message::default());
                    current = Some(path.to_string());
                }
                ["F", tag, json, rest @ ..] => {
                    let tag = tag.parse().map_err(|_| bad("field number"))?;
                    let (repeated, ty) = match rest {
                        ["map", key, value] => {
                            let key = scalar(key).ok_or_else(|| bad("map key"))?;
                            let value = field_type(value).ok_or_else(|| bad("map value"))?;
                            (false, FieldType::Map(key, Box::new(value)))
                        }
                        [card, ty] => (
                            *card == "rep",
                            field_type(ty).ok_or_else(|| bad("field type"))?,
                        ),
                        _ => return Err(bad("field")),
                    };
                    let message = current
                        .as_ref()
                        .and_then(|path| table.messages.get_mut(path))
                        .ok_or_else(|| bad("field outside a message"))?;
                    message.fields.push(Field {
                        tag,
                        json: json.to_string(),
                        repeated,
                        ty,
                    });
                }
                [""] => {}
                _ => return Err(bad("unknown line")),
            }
        }
        Ok(table)
    }
}

fn scalar(word: &str) -> Option<Scalar> {
    Some(match word {
        "string" => Scalar::String,
        "bytes" => Scalar::Bytes,
        "bool" => Scalar::Bool,
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "double" => Scalar::Double,
        _ => return None,
    })
}

fn field_type(word: &str) -> Option<FieldType> {
    match word.strip_prefix("message:") {
        Some(path) => Some(FieldType::Message(path.to_string())),
        None => scalar(word).map(FieldType::Scalar),
    }
}

/// The table, parsed on first use: protobuf off costs nothing.
pub(super) fn messages() -> Result<&'static Messages, &'static str> {
    static TABLE: OnceLock<Result<Messages, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| Messages::parse(include_str!("messages.txt")))
        .as_ref()
        .map_err(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_table_parses() {
        let table = messages().unwrap();
        assert!(table.messages.len() > 1000);
        let status = table.get("api.core.v1.PodStatus").unwrap();
        let pod_ips = status.by_tag(12).unwrap();
        assert_eq!(pod_ips.json, "podIPs");
        assert!(pod_ips.repeated);
    }

    #[test]
    fn kinds_resolve_to_messages() {
        let table = messages().unwrap();
        for (api_version, kind, path) in [
            ("v1", "Namespace", "api.core.v1.Namespace"),
            ("v1", "PodList", "api.core.v1.PodList"),
            ("apps/v1", "Deployment", "api.apps.v1.Deployment"),
            ("v1", "Status", "apimachinery.pkg.apis.meta.v1.Status"),
            (
                "v1",
                "DeleteOptions",
                "apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "authentication.k8s.io/v1",
                "TokenRequest",
                "api.authentication.v1.TokenRequest",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
        ] {
            assert_eq!(table.of_kind(api_version, kind), Some(path), "{kind}");
        }
        assert_eq!(table.of_kind("rollout-rs.io/v1alpha1", "Rollout"), None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let err = Messages::parse("M a.B\nF x name opt string\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = Messages::parse("F 1 name opt string\n").unwrap_err();
        assert!(err.contains("outside a message"), "{err}");
    }
}
