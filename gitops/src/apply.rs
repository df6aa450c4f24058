//! Applying a rendered set to the cluster with server-side apply and one field manager
//! (`rollout-rs-gitops`): every object is marked (`inventory::prepare`) and dry-run first, and
//! if any is refused nothing is written. CRDs and Namespaces go first and are waited for
//! (Established, Active), because the objects after them need their kind served and their
//! namespace present; objects of a kind or in a namespace the same set creates can only be
//! dry-run once those exist, so they are checked again then, before any of them is written.
//! Also reads live objects (for health and prune marks) and deletes what the prune decision says.
//! Owns no decision: which objects, in which order, and what to prune come from `inventory`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Scope, pinned_kind};
use kube::runtime::wait::{await_condition, conditions};
use rollout_rs_crds::gitsync::IgnoreDifferences;
use serde_json::Value;

use crate::inventory::{self, Key};

/// The field manager of every write of the Git reconciler.
pub const MANAGER: &str = "rollout-rs-gitops";

/// How long a CRD may take to be Established, or a Namespace to be Active.
const READY_WAIT: Duration = Duration::from_secs(30);

/// Why a set could not be applied (nothing was, unless the error says which tier was).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{object}: the cluster serves no kind {kind} in {api_version}")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
    },
    #[error("{object}: refused by the API server: {cause}")]
    Refused { object: String, cause: kube::Error },
    #[error("{object}: {cause}")]
    Api { object: String, cause: kube::Error },
    #[error("{object} did not become {state} within {}s", READY_WAIT.as_secs())]
    NotReady { object: String, state: &'static str },
    #[error("{object}: not a Kubernetes object (apiVersion, kind and metadata.name are required)")]
    NotAnObject { object: String },
}

/// Where an object is served and whether it is namespaced.
#[derive(Clone, Debug)]
struct Served {
    resource: ApiResource,
    namespaced: bool,
}

/// Where each kind is served, shared by every sync of a controller: looking a kind up again
/// for each sync of each GitSync would be one discovery request per object kind per poll.
/// A kind not served is not remembered (a CRD may bring it); the whole cache is dropped when
/// a sync brings CRDs or the API server refuses a write, in case a kind moved.
#[derive(Clone, Default)]
pub struct Discovery(Arc<Mutex<BTreeMap<Kind, Served>>>);

/// (group, version, kind).
type Kind = (String, String, String);

impl Discovery {
    fn get(&self, id: &Kind) -> Option<Served> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Kind, Served>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self) {
        self.lock().clear();
    }
}

/// Talks to one cluster for one sync.
pub struct Applier {
    client: kube::Client,
    served: Discovery,
}

fn gvk(key: &Key) -> GroupVersionKind {
    GroupVersionKind::gvk(&key.group, &key.version, &key.kind)
}

impl Applier {
    /// An applier with a discovery cache of its own.
    pub fn new(client: kube::Client) -> Applier {
        Applier::with_discovery(client, Discovery::default())
    }

    /// An applier sharing `served` with other syncs.
    pub fn with_discovery(client: kube::Client, served: Discovery) -> Applier {
        Applier { client, served }
    }

    async fn served(&mut self, key: &Key) -> Result<Option<Served>, kube::Error> {
        let id = (key.group.clone(), key.version.clone(), key.kind.clone());
        if let Some(s) = self.served.get(&id) {
            return Ok(Some(s));
        }
        match pinned_kind(&self.client, &gvk(key)).await {
            Ok((resource, caps)) => {
                let s = Served {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                };
                self.served.lock().insert(id, s.clone());
                Ok(Some(s))
            }
            // Not served (yet): a CRD of this sync may bring it.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn api(&self, served: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
        match (served.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &served.resource),
            _ => Api::all_with(self.client.clone(), &served.resource),
        }
    }

    /// Applies `objects` (rendered, in any order) for the GitSync `tracking`, namespaced ones
    /// without a namespace going to `namespace`, without the fields `ignore` leaves to others.
    /// Returns each object as the API server answered its apply, in apply order.
    pub async fn apply(
        &mut self,
        objects: &[Value],
        namespace: &str,
        tracking: &str,
        ignore: &[IgnoreDifferences],
    ) -> Result<Vec<(Key, Value)>, ApplyError> {
        let mut keyed = Vec::with_capacity(objects.len());
        for obj in objects {
            let key = inventory::Key::of(obj).ok_or_else(|| ApplyError::NotAnObject {
                object: describe(obj),
            })?;
            keyed.push((key, obj.clone()));
        }
        let keys: Vec<Key> = keyed.iter().map(|(k, _)| k.clone()).collect();
        let order = inventory::apply_order(&keys);
        // Kinds and namespaces this set creates: objects that need them wait for their tier.
        let new_kinds: Vec<(String, String)> = keyed
            .iter()
            .filter(|(k, _)| k.kind == "CustomResourceDefinition")
            .filter_map(|(_, o)| crd_kind(o))
            .collect();
        let mut prepared: Vec<(Key, Value)> = Vec::with_capacity(keyed.len());
        let mut deferred = Vec::new();
        for &i in &order {
            let (key, obj) = &keyed[i];
            let mut obj = obj.clone();
            match self.served(key).await.map_err(|cause| ApplyError::Api {
                object: key.describe(),
                cause,
            })? {
                Some(served) => {
                    let ns = served.namespaced.then_some(namespace);
                    inventory::prepare(&mut obj, tracking, ns);
                }
                None if new_kinds.contains(&(key.group.clone(), key.kind.clone())) => {
                    let namespaced = crd_namespaced(&keyed, key);
                    inventory::prepare(&mut obj, tracking, namespaced.then_some(namespace));
                    deferred.push(prepared.len());
                }
                None => {
                    return Err(ApplyError::UnknownKind {
                        object: key.describe(),
                        api_version: obj
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        kind: key.kind.clone(),
                    });
                }
            }
            let key = Key::of(&obj).unwrap_or_else(|| key.clone());
            crate::ignore::strip(&mut obj, &key, ignore);
            prepared.push((key, obj));
        }
        let new_namespaces: Vec<String> = prepared
            .iter()
            .filter(|(k, _)| k.group.is_empty() && k.kind == "Namespace")
            .map(|(k, _)| k.name.clone())
            .collect();
        // Everything that can be checked now is checked before anything is written.
        for (i, (key, obj)) in prepared.iter().enumerate() {
            let waits = deferred.contains(&i)
                || key
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| new_namespaces.contains(ns));
            if !waits {
                self.check(key, obj).await?;
            }
        }
        // CRDs and Namespaces, each waited for; then the rest, checked again, then written.
        let (first, rest): (Vec<_>, Vec<_>) = prepared.iter().partition(|(k, _)| {
            k.kind == "CustomResourceDefinition" || (k.group.is_empty() && k.kind == "Namespace")
        });
        let mut applied = Vec::with_capacity(prepared.len());
        for (key, obj) in &first {
            applied.push(((*key).clone(), self.write(key, obj).await?));
            self.ready(key).await?;
        }
        for (key, obj) in &rest {
            self.check(key, obj).await?;
        }
        for (key, obj) in &rest {
            applied.push(((*key).clone(), self.write(key, obj).await?));
        }
        Ok(applied)
    }

    /// A dry run of one server-side apply: what the API server would refuse, without a write.
    async fn check(&mut self, key: &Key, obj: &Value) -> Result<(), ApplyError> {
        self.patch(key, obj, true).await.map(|_| ())
    }

    /// One server-side apply; the object as the API server answered it.
    async fn write(&mut self, key: &Key, obj: &Value) -> Result<Value, ApplyError> {
        let written = self.patch(key, obj, false).await?;
        serde_json::to_value(written).map_err(|e| ApplyError::Api {
            object: key.describe(),
            cause: kube::Error::SerdeError(e),
        })
    }

    async fn patch(
        &mut self,
        key: &Key,
        obj: &Value,
        dry_run: bool,
    ) -> Result<DynamicObject, ApplyError> {
        let object = key.describe();
        let served = self
            .served(key)
            .await
            .map_err(|cause| ApplyError::Api {
                object: object.clone(),
                cause,
            })?
            .ok_or_else(|| ApplyError::UnknownKind {
                object: object.clone(),
                api_version: format!("{}/{}", key.group, key.version),
                kind: key.kind.clone(),
            })?;
        let api = self.api(&served, key.namespace.as_deref());
        let mut params = PatchParams::apply(MANAGER).force();
        params.dry_run = dry_run;
        let written = api.patch(&key.name, &params, &Patch::Apply(obj)).await;
        if written.is_err() {
            self.served.forget();
        }
        written.map_err(|cause| match cause {
            kube::Error::Api(_) => ApplyError::Refused { object, cause },
            cause => ApplyError::Api { object, cause },
        })
    }

    /// Waits (through a watch) until a CRD is Established or a Namespace Active; other kinds
    /// are ready at once.
    async fn ready(&mut self, key: &Key) -> Result<(), ApplyError> {
        let waited = match key.kind.as_str() {
            "CustomResourceDefinition" => {
                let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
                let ready = conditions::is_crd_established();
                tokio::time::timeout(READY_WAIT, await_condition(api, &key.name, ready))
                    .await
                    .map(|r| r.is_ok())
                    .unwrap_or(false)
                    .then_some(())
                    .ok_or("Established")
            }
            "Namespace" if key.group.is_empty() => {
                let api: Api<Namespace> = Api::all(self.client.clone());
                let active = |ns: Option<&Namespace>| {
                    ns.and_then(|n| n.status.as_ref())
                        .and_then(|s| s.phase.as_deref())
                        == Some("Active")
                };
                tokio::time::timeout(READY_WAIT, await_condition(api, &key.name, active))
                    .await
                    .map(|r| r.is_ok())
                    .unwrap_or(false)
                    .then_some(())
                    .ok_or("Active")
            }
            _ => return Ok(()),
        };
        // A new CRD means new kinds: look them up again.
        self.served.forget();
        waited.map_err(|state| ApplyError::NotReady {
            object: key.describe(),
            state,
        })
    }

    /// The live object, or `None` when it (or its kind) is not there.
    pub async fn live(&mut self, key: &Key) -> Result<Option<Value>, ApplyError> {
        let object = key.describe();
        let Some(served) = self.served(key).await.map_err(|cause| ApplyError::Api {
            object: object.clone(),
            cause,
        })?
        else {
            return Ok(None);
        };
        let api = self.api(&served, key.namespace.as_deref());
        match api.get_opt(&key.name).await {
            Ok(found) => Ok(found.and_then(|o| serde_json::to_value(o).ok())),
            Err(cause) => Err(ApplyError::Api { object, cause }),
        }
    }

    /// Deletes an object the prune decision gave up; gone already is fine.
    pub async fn delete(&mut self, key: &Key) -> Result<(), ApplyError> {
        let object = key.describe();
        let Some(served) = self.served(key).await.map_err(|cause| ApplyError::Api {
            object: object.clone(),
            cause,
        })?
        else {
            return Ok(());
        };
        let api = self.api(&served, key.namespace.as_deref());
        match api.delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(cause) => Err(ApplyError::Api { object, cause }),
        }
    }
}

fn describe(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("object");
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(name) => format!("{kind}/{name}"),
        None => kind.to_string(),
    }
}

/// `(group, kind)` a CRD object defines.
fn crd_kind(crd: &Value) -> Option<(String, String)> {
    Some((
        crd.pointer("/spec/group")?.as_str()?.to_string(),
        crd.pointer("/spec/names/kind")?.as_str()?.to_string(),
    ))
}

/// Whether the kind of `key`, defined by a CRD of the same set, is namespaced.
fn crd_namespaced(set: &[(Key, Value)], key: &Key) -> bool {
    set.iter()
        .filter(|(k, _)| k.kind == "CustomResourceDefinition")
        .find(|(_, o)| crd_kind(o) == Some((key.group.clone(), key.kind.clone())))
        .and_then(|(_, o)| o.pointer("/spec/scope").and_then(Value::as_str))
        .is_none_or(|scope| scope == "Namespaced")
}
