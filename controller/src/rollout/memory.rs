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
    /// Our own last status write per Rollout, and the version the cache holds. The cache can
    /// trail our own writes; deciding from the older copy would replay old steps, so until the
    /// cache moves past the version a write replaced, the written object is the truth.
    pub(super) written: PerObject<Written>,
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

/// What [`Memory::written`] keeps of one Rollout.
#[derive(Default)]
pub(super) struct Written {
    /// The resourceVersion the cache holds now (empty: not seen yet).
    seen: String,
    /// Our last write: the resourceVersion it replaced and the object it produced. Dropped as
    /// soon as the cache holds another version.
    ours: Option<(String, Arc<Rollout>)>,
}

impl Memory {
    /// Our write of `ours` over `replaced`, kept only while the cache still holds `replaced`
    /// (its watch may have delivered the write already).
    pub(super) fn wrote(&self, uid: String, replaced: String, ours: Arc<Rollout>) {
        let mut written = self.written.lock();
        let entry = written.entry(uid).or_default();
        if entry.seen.is_empty() || entry.seen == replaced {
            entry.ours = Some((replaced, ours));
        }
    }

    /// Our written copy of a Rollout while the cache trails it (the cache holds `cached_rv`).
    pub(super) fn ours_over(&self, uid: &str, cached_rv: Option<&str>) -> Option<Arc<Rollout>> {
        let mut written = self.written.lock();
        let entry = written.get_mut(uid)?;
        match &entry.ours {
            Some((replaced, ours)) if Some(replaced.as_str()) == cached_rv => Some(ours.clone()),
            Some(_) => {
                // The cache moved on (our write, or someone else's after it): trust it again.
                entry.ours = None;
                None
            }
            None => None,
        }
    }

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

    /// The cache now holds `resource_version` of Rollout `uid`: a copy written over an older
    /// version is no longer needed (an idle Rollout would otherwise keep its duplicate for
    /// ever, since only its next reconcile looked).
    pub(super) fn cache_moved(&self, uid: &str, resource_version: Option<&str>) {
        let mut written = self.written.lock();
        let entry = written.entry(uid.to_string()).or_default();
        entry.seen = resource_version.unwrap_or_default().to_string();
        if entry
            .ours
            .as_ref()
            .is_some_and(|(replaced, _)| *replaced != entry.seen)
        {
            entry.ours = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn copy() -> Arc<Rollout> {
        let ro = serde_json::json!({
            "apiVersion": "rollout-rs.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}},
                     "strategy": {"canary": {}}},
        });
        Arc::new(serde_json::from_value(ro).expect("a Rollout"))
    }

    #[test]
    fn our_copy_lives_only_while_the_cache_trails_it() {
        let m = Memory::default();
        m.cache_moved("u", Some("1"));
        m.wrote("u".into(), "1".into(), copy());
        // The cache still holds what the write replaced: our copy is the truth.
        assert!(m.ours_over("u", Some("1")).is_some());
        // The watch delivers our write: the copy goes, without waiting for a reconcile.
        m.cache_moved("u", Some("2"));
        assert!(m.written.lock().get("u").is_some_and(|w| w.ours.is_none()));
        assert!(m.ours_over("u", Some("2")).is_none());
    }

    #[test]
    fn a_write_the_cache_already_holds_is_not_kept() {
        let m = Memory::default();
        m.cache_moved("u", Some("1"));
        // The watch delivered our write (version 2) before the write's answer came back.
        m.cache_moved("u", Some("2"));
        m.wrote("u".into(), "1".into(), copy());
        assert!(m.written.lock().get("u").is_some_and(|w| w.ours.is_none()));
        // Before any watch event it is kept, as before.
        m.wrote("v".into(), "7".into(), copy());
        assert!(m.ours_over("v", Some("7")).is_some());
        assert!(
            m.ours_over("v", Some("8")).is_none(),
            "someone else wrote after us"
        );
    }
}
