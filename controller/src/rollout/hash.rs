//! The pod-template hash: a short, stable, DNS-safe digest of a pod template, carried by the
//! `rollouts-pod-template-hash` label on ReplicaSets, pods and Service selectors. Equal templates
//! give equal hashes across processes and releases (FNV-1a over the template's JSON, whose keys
//! serde writes in a fixed order), so a restarted controller finds its ReplicaSets again.

use k8s_openapi::api::core::v1::PodTemplateSpec;

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Hash of `template`, ignoring the hash label itself (it is added to the ReplicaSet's copy).
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(rollout_rs_crds::POD_TEMPLATE_HASH_LABEL);
    }
    // Serialising a PodTemplateSpec cannot fail (no maps with non-string keys).
    digest(&serde_json::to_vec(&t).unwrap_or_default(), 10)
}

/// `len` characters (at most 13, the digits of a u64 in this alphabet) of FNV-1a over `bytes`,
/// from an alphabet without vowels (no words) whose characters are all valid in names and
/// label values.
pub(crate) fn digest(bytes: &[u8], len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}
        }))
        .expect("valid template")
    }

    #[test]
    fn stable_distinct_and_label_safe() {
        let a = pod_template_hash(&template("web:1"));
        assert_eq!(a, pod_template_hash(&template("web:1")));
        assert_ne!(a, pod_template_hash(&template("web:2")));
        assert_eq!(a.len(), 10);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        // The hash label itself does not change the hash.
        let mut labelled = template("web:1");
        if let Some(l) = labelled.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.insert(rollout_rs_crds::POD_TEMPLATE_HASH_LABEL.into(), a.clone());
        }
        assert_eq!(pod_template_hash(&labelled), a);
    }
}
