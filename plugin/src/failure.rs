//! What goes wrong, said the way a person at a terminal needs it: which cluster could not be
//! reached and from which kubeconfig, which verb on which resource RBAC forbids, which rollout
//! was not found and what was probably meant. Every failure leaves the cluster as it was.

use crate::cluster::Cluster;

/// A command that could not do what it was asked. Printed as `error: <message>`, exit 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("cannot load the kubeconfig ({from}): {cause}")]
    Config { from: String, cause: String },
    #[error("cannot reach the cluster at {server} (kubeconfig: {from}): {cause}")]
    Unreachable {
        server: String,
        from: String,
        cause: String,
    },
    #[error("forbidden: you may not {verb} {resource} in namespace {namespace} (RBAC): {message}")]
    Forbidden {
        verb: &'static str,
        resource: &'static str,
        namespace: String,
        message: String,
    },
    #[error("rollout {name:?} not found in namespace {namespace}{hint}")]
    NotFound {
        name: String,
        namespace: String,
        /// `; did you mean "x"?`, or what exists, or nothing.
        hint: String,
    },
    #[error(
        "the rollout-rs CRDs are not installed in the cluster at {server} (`rollout-rs crds | kubectl apply -f -`)"
    )]
    NoCrds { server: String },
    /// Nothing to do, so nothing was written (promote on a rollout that is not paused...).
    #[error("{0}")]
    Refused(String),
    #[error("{verb} {resource} in namespace {namespace}: {cause}")]
    Api {
        verb: &'static str,
        resource: &'static str,
        namespace: String,
        cause: kube::Error,
    },
}

/// A failed API call to `verb` `resource` (`rollouts`, `rollouts/status`, ...), classified.
pub(crate) fn api(
    cluster: &Cluster,
    verb: &'static str,
    resource: &'static str,
    cause: kube::Error,
) -> Failure {
    match cause {
        kube::Error::Api(s) if s.code == 403 => Failure::Forbidden {
            verb,
            resource,
            namespace: cluster.namespace.clone(),
            message: s.message.clone(),
        },
        kube::Error::Api(s)
            if s.code == 404
                && resource.starts_with("rollouts")
                && s.details.as_ref().is_none_or(|d| d.name.is_empty()) =>
        {
            Failure::NoCrds {
                server: cluster.server.clone(),
            }
        }
        kube::Error::Api(_) | kube::Error::SerdeError(_) => Failure::Api {
            verb,
            resource,
            namespace: cluster.namespace.clone(),
            cause,
        },
        // Everything else failed before an answer came: connection refused, DNS, TLS,
        // timeouts.
        other => Failure::Unreachable {
            server: cluster.server.clone(),
            from: cluster.source.clone(),
            cause: chain(&other),
        },
    }
}

/// An error and its causes on one line: connection errors hide the useful part deep down.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// `; did you mean "x"?` for the names closest to `wanted`, or the names there are when
/// few, or nothing.
pub(crate) fn did_you_mean(wanted: &str, existing: &[String]) -> String {
    // A typo is a letter or two wrong, missing, extra or swapped; a name containing the other
    // is a prefix or suffix left off.
    let mut scored: Vec<(usize, &String)> = existing
        .iter()
        .map(|n| (strsim::damerau_levenshtein(wanted, n), n))
        .filter(|(d, n)| {
            (*d <= 2 && *d < wanted.chars().count())
                || n.contains(wanted)
                || wanted.contains(n.as_str())
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    match scored.as_slice() {
        [] if existing.is_empty() => "; there are no rollouts in it".to_string(),
        [] if existing.len() <= 5 => format!("; it has {}", quoted(existing.iter())),
        [] => String::new(),
        best => format!(
            "; did you mean {}?",
            quoted(best.iter().take(3).map(|(_, n)| *n))
        ),
    }
}

fn quoted<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_typo_suggests_the_closest_names() {
        let existing = names(&["checkout", "cart", "payments"]);
        assert_eq!(
            did_you_mean("chekout", &existing),
            "; did you mean \"checkout\"?"
        );
        assert_eq!(
            did_you_mean("payment", &existing),
            "; did you mean \"payments\"?"
        );
    }

    #[test]
    fn nothing_close_lists_a_few_or_says_there_are_none() {
        assert_eq!(
            did_you_mean("zzz", &names(&["checkout", "cart"])),
            "; it has \"checkout\" or \"cart\""
        );
        assert_eq!(did_you_mean("zzz", &[]), "; there are no rollouts in it");
        let many = names(&["a1", "b2", "c3", "d4", "e5", "f6"]);
        assert_eq!(did_you_mean("zzzzzz", &many), "");
    }
}
