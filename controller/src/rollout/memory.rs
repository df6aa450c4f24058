//! What the rollout reconciler remembers between reconciles, per Rollout or per template, and
//! forgets with the object: churn leaves nothing behind. Nothing here is a source of truth;
//! the cluster is.

use std::sync::Arc;

use rollout_rs_crds::Rollout;

use crate::lenient::Reported;
use crate::per_object::PerObject;
use crate::retry::Retries;

use super::status_guard::Owned;

/// A template by (cluster scope, namespace or "", name).
pub(super) type TemplateKey = (bool, String, String);
/// The resourceVersion a template was validated at, and why it is invalid (`None`: valid).
pub(super) type TemplateCheck = (Option<String>, Option<String>);

/// What the controller remembers between reconciles, per Rollout or per template, forgotten
/// when that object is deleted: churn leaves nothing behind.
#[derive(Default)]
pub(super) struct Memory {
    /// Our own last status write per Rollout (uid → resourceVersion it replaced, object it
    /// produced). The cache can trail our own writes; deciding from the older copy would
    /// replay old steps, so until the cache moves past that resourceVersion, the written
    /// object is the truth.
    pub(super) written: PerObject<(String, Arc<Rollout>)>,
    /// Rollouts that do not decode, reported once per reason.
    pub(super) unreadable: Reported,
    /// The progress fields of each Rollout's status as this controller last wrote (or
    /// accepted) them: a different value seen later was written by someone else.
    pub(super) owned: PerObject<Owned>,
    /// When to retry each failing Rollout.
    pub(super) retries: Retries,
    /// Validation of each template by (kind, namespace, name) at the resourceVersion it was
    /// done for: conditions are compiled once per template version, not on every reconcile of
    /// every Rollout naming it.
    pub(super) template_checks:
        std::sync::Mutex<std::collections::HashMap<TemplateKey, TemplateCheck>>,
}

impl Memory {
    pub(super) fn keep_only(&self, live: &std::collections::HashSet<String>) {
        self.unreadable.keep_only(live);
        self.retries.keep_only(live);
        self.written.keep_only(live);
        self.owned.keep_only(live);
    }

    pub(super) fn forget(&self, uid: &str) {
        self.written.forget(uid);
        self.unreadable.forget(uid);
        self.retries.forget(uid);
        self.owned.forget(uid);
    }

    pub(super) fn owned(&self, uid: &str) -> Option<Owned> {
        self.owned.lock().get(uid).cloned()
    }

    pub(super) fn keep_owned(&self, uid: &str, status: &rollout_rs_crds::rollout::RolloutStatus) {
        self.owned.lock().insert(uid.to_string(), Owned::of(status));
    }

    pub(super) fn forget_template(&self, key: &TemplateKey) {
        self.template_checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}
