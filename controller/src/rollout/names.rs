//! Names of the objects rollout-rs creates from the Rollout's own names, cut to fit the API
//! server's limits so that any valid Rollout gets them.
//!
//! ReplicaSet and Ingress names are DNS-1123 subdomains: at most 253 characters. That is the
//! only limit a ReplicaSet name meets. Its pods are named from `generateName: <rs>-`, which the
//! API server itself cuts to 58 characters before adding 5 random ones, and the
//! `rollouts-pod-template-hash` label carries the hash alone (10 characters), so nothing asks
//! for 63. Kubernetes Deployments and Argo Rollouts do not cut at all (`<name>-<hash>`; a name
//! over 242 characters fails to create its ReplicaSet); Argo Rollouts cuts its canary Ingress
//! name (`<rollout>-<ingress>` cut, `-canary` kept) but can then end a label with '.' or '-',
//! and two names that differ only past the cut collide.
//!
//! Here a name that fits is never changed, so existing objects keep their names. A name that
//! does not fit keeps its suffix (the hash, `-canary`) whole, cuts the prefix, drops the '-' and
//! '.' the cut left at its end, and gets a digest of the whole prefix before the suffix: the
//! result is deterministic (the reconciler finds its objects again by recomputing it) and two
//! long names that share their first 236 characters still differ.

use super::hash::digest;

/// Longest DNS-1123 subdomain.
const MAX_NAME: usize = 253;

/// Characters of the digest that keeps cut names apart.
const DIGEST_LEN: usize = 5;

/// `<prefix><suffix>`, at most [`MAX_NAME`] characters; `suffix` must be a name's valid ending
/// (starting with '-' and ending with an alphanumeric character) and much shorter than that.
fn fit(prefix: &str, suffix: &str) -> String {
    if prefix.len() + suffix.len() <= MAX_NAME {
        return format!("{prefix}{suffix}");
    }
    let mut keep = MAX_NAME.saturating_sub(suffix.len() + 1 + DIGEST_LEN);
    // Names from the API server are ASCII, but a cut must never split a character.
    while !prefix.is_char_boundary(keep) {
        keep -= 1;
    }
    let head = prefix[..keep].trim_end_matches(['-', '.']);
    let tag = digest(prefix.as_bytes(), DIGEST_LEN);
    if head.is_empty() {
        format!("{tag}{suffix}")
    } else {
        format!("{head}-{tag}{suffix}")
    }
}

/// The ReplicaSet of a Rollout's pod template: `<rollout>-<hash>`.
pub(crate) fn replica_set(rollout: &str, pod_template_hash: &str) -> String {
    fit(rollout, &format!("-{pod_template_hash}"))
}

/// The canary Ingress beside a stable Ingress: `<rollout>-<stableIngress>-canary`.
pub(crate) fn canary_ingress(rollout: &str, stable_ingress: &str) -> String {
    fit(&format!("{rollout}-{stable_ingress}"), "-canary")
}

/// An AnalysisRun of the Rollout: `<rollout><suffix>`, the suffix naming the template hash,
/// revision, step or phase and retry (`-<hash>-<revision>-<step>.<n>`).
pub(crate) fn analysis_run(rollout: &str, suffix: &str) -> String {
    fit(rollout, suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_fit_are_untouched() {
        assert_eq!(replica_set("web", "b4c6d8f9gh"), "web-b4c6d8f9gh");
        let longest = "w".repeat(MAX_NAME - 11);
        assert_eq!(
            replica_set(&longest, "b4c6d8f9gh"),
            format!("{longest}-b4c6d8f9gh")
        );
        assert_eq!(canary_ingress("web", "shop.v1"), "web-shop.v1-canary");
    }

    #[test]
    fn long_names_are_cut_before_the_suffix_with_a_digest() {
        let long = "w".repeat(MAX_NAME);
        let name = replica_set(&long, "b4c6d8f9gh");
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("-b4c6d8f9gh"), "{name}");
        assert_eq!(
            name,
            format!(
                "{}-{}-b4c6d8f9gh",
                "w".repeat(236),
                digest(long.as_bytes(), DIGEST_LEN)
            )
        );
        assert_eq!(name, replica_set(&long, "b4c6d8f9gh"), "deterministic");
        let other = format!("{}x", "w".repeat(MAX_NAME - 1));
        assert_ne!(replica_set(&other, "b4c6d8f9gh"), name);
    }

    fn is_subdomain(s: &str) -> bool {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        s.len() <= MAX_NAME
            && s.split('.').all(|l| {
                l.starts_with(alnum)
                    && l.ends_with(alnum)
                    && l.chars().all(|c| alnum(c) || c == '-')
            })
    }

    #[test]
    fn a_cut_never_leaves_a_dot_or_dash_before_the_digest() {
        // The cuts are at 236 (ReplicaSet) and 240 (Ingress) characters: put the separators
        // of valid names across them.
        for tail in [".", "-", "--", ".a-", "-a."] {
            for n in 232..=241 {
                let rollout = format!("{}{tail}", "a".repeat(n));
                let rollout = format!("{rollout}{}", "b".repeat(MAX_NAME - rollout.len()));
                assert!(is_subdomain(&rollout), "{rollout}");
                let name = canary_ingress(&rollout, "shop");
                assert!(is_subdomain(&name), "{name}");
                let name = replica_set(&rollout, "b4c6d8f9gh");
                assert!(is_subdomain(&name), "{name}");
            }
        }
    }

    #[test]
    fn analysis_run_names_fit() {
        assert_eq!(analysis_run("web", "-b4c6d8f9gh-2-3"), "web-b4c6d8f9gh-2-3");
        let long = "w".repeat(MAX_NAME);
        for suffix in ["-b4c6d8f9gh-2-3", "-b4c6d8f9gh-12-pre.2"] {
            let name = analysis_run(&long, suffix);
            assert!(is_subdomain(&name) && name.ends_with(suffix), "{name}");
        }
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let name = replica_set(&"é".repeat(200), "b4c6d8f9gh");
        assert!(
            name.len() <= MAX_NAME && name.ends_with("-b4c6d8f9gh"),
            "{name}"
        );
    }
}
