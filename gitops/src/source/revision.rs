//! `targetRevision` and what the remote says about it: which refs to ask `git ls-remote` for,
//! and how its answer turns the revision into a ref to fetch or a commit to look for. Pure.
//!
//! It must not run git nor guess: a name that is neither a ref of the remote nor shaped like a
//! commit id is "not found", never a fuzzy match.

/// What a `targetRevision` turned out to be on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A ref of the remote (`refs/heads/main`, `refs/tags/v1`, `refs/pull/1/head`), and the
    /// object it points at there (a tag object for an annotated tag).
    Ref { name: String, object: String },
    /// A full commit id (40 hex digits, 64 in a SHA-256 repository), lower-cased.
    Commit(String),
    /// An abbreviated commit id, lower-cased: only the objects themselves can resolve it.
    Abbreviated(String),
}

/// A `targetRevision` that cannot name a ref nor a commit: refused before git sees it, as it
/// would otherwise be spliced into a refspec or read as an option.
pub(crate) fn validate(revision: &str) -> Result<(), &'static str> {
    if revision.is_empty() {
        return Err("it is empty");
    }
    if revision.starts_with('-') {
        return Err("it cannot start with '-'");
    }
    if revision
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
    {
        return Err("it cannot contain spaces, control characters or any of ~ ^ : ? * [ \\");
    }
    if revision.contains("..") || revision.contains("@{") || revision.contains("//") {
        return Err("it cannot contain '..', '@{' or '//'");
    }
    if revision.starts_with('/') || revision.ends_with('/') || revision.ends_with(".lock") {
        return Err("it cannot start or end with '/' nor end with '.lock'");
    }
    Ok(())
}

/// The revision as the fetcher keys it: unset and "HEAD" are the same thing.
pub(crate) fn normalize(revision: Option<&str>) -> &str {
    match revision.map(str::trim) {
        None | Some("") => "HEAD",
        Some(r) => r,
    }
}

/// The patterns `git ls-remote` is given, so it lists only the refs that can match.
pub(crate) fn ls_remote_patterns(revision: &str) -> Vec<String> {
    if revision == "HEAD" {
        vec!["HEAD".into()]
    } else if revision.starts_with("refs/") {
        vec![revision.into(), format!("{revision}^{{}}")]
    } else {
        vec![
            format!("refs/heads/{revision}"),
            format!("refs/tags/{revision}"),
            format!("refs/tags/{revision}^{{}}"),
        ]
    }
}

/// Not found, with the words the error uses for what was looked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NotFound(pub(crate) &'static str);

/// Matches `revision` (normalized) against the output of `git ls-remote --symref`. Branches
/// win over tags of the same name, as in Argo CD.
pub(crate) fn resolve(revision: &str, listing: &str) -> Result<Resolved, NotFound> {
    let mut refs: Vec<(&str, &str)> = Vec::new();
    let mut head_target: Option<&str> = None;
    for line in listing.lines() {
        if let Some(symref) = line.strip_prefix("ref: ") {
            if let Some((target, "HEAD")) = symref.split_once('\t') {
                head_target = Some(target);
            }
        } else if let Some((object, name)) = line.split_once('\t') {
            refs.push((name, object));
        }
    }
    let object_of = |name: &str| refs.iter().find(|(n, _)| *n == name).map(|(_, o)| *o);
    let found = |name: &str| {
        object_of(name).map(|object| Resolved::Ref {
            name: name.to_string(),
            object: object.to_string(),
        })
    };
    if revision == "HEAD" {
        return match (head_target, object_of("HEAD")) {
            (Some(target), Some(object)) => Ok(Resolved::Ref {
                name: target.to_string(),
                object: object.to_string(),
            }),
            // A remote with a detached HEAD: its commit is all there is.
            (None, Some(object)) if is_hex(object) => Ok(Resolved::Commit(object.to_lowercase())),
            _ => Err(NotFound("default branch")),
        };
    }
    if revision.starts_with("refs/") {
        return found(revision).ok_or(NotFound("ref"));
    }
    if let Some(resolved) =
        found(&format!("refs/heads/{revision}")).or_else(|| found(&format!("refs/tags/{revision}")))
    {
        return Ok(resolved);
    }
    if is_hex(revision) {
        let lower = revision.to_ascii_lowercase();
        return Ok(match revision.len() {
            40 | 64 => Resolved::Commit(lower),
            4..=63 => Resolved::Abbreviated(lower),
            _ => return Err(NotFound("branch or tag")),
        });
    }
    Err(NotFound("branch or tag"))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where a fetched remote ref is kept in the cache: out of `refs/heads` and `refs/tags`, so
/// git never treats it as a branch of the bare repository (nor as a name to resolve).
pub(crate) fn local_ref(remote_ref: &str) -> String {
    format!(
        "refs/rollout-rs/{}",
        remote_ref.strip_prefix("refs/").unwrap_or(remote_ref)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "62e343360fb6e06350449668067eca3efed40d55";
    const C2: &str = "f635d5821d3ec826fa203399493a9380653e2b8c";
    const TAG: &str = "c7ab2a31ebc7855a3802d13fef20151557dc63e3";

    fn r(name: &str, object: &str) -> Result<Resolved, NotFound> {
        Ok(Resolved::Ref {
            name: name.into(),
            object: object.into(),
        })
    }

    #[test]
    fn resolves_against_ls_remote() {
        let head = format!("ref: refs/heads/trunk\tHEAD\n{C1}\tHEAD\n");
        let detached = format!("{C1}\tHEAD\n");
        let branch = format!("{C1}\trefs/heads/main\n");
        let annotated = format!("{TAG}\trefs/tags/v1\n{C2}\trefs/tags/v1^{{}}\n");
        let both = format!("{C1}\trefs/heads/v1\n{TAG}\trefs/tags/v1\n");
        let pull = format!("{C2}\trefs/pull/1/head\n");
        let upper = C2.to_uppercase();
        let cafe = format!("{C1}\trefs/heads/cafe\n");
        let cases: Vec<(&str, &str, Result<Resolved, NotFound>)> = vec![
            ("HEAD", &head, r("refs/heads/trunk", C1)),
            ("HEAD", &detached, Ok(Resolved::Commit(C1.into()))),
            ("HEAD", "", Err(NotFound("default branch"))),
            ("main", &branch, r("refs/heads/main", C1)),
            ("v1", &annotated, r("refs/tags/v1", TAG)),
            ("v1", &both, r("refs/heads/v1", C1)),
            ("refs/pull/1/head", &pull, r("refs/pull/1/head", C2)),
            ("refs/pull/2/head", &pull, Err(NotFound("ref"))),
            ("nope", &branch, Err(NotFound("branch or tag"))),
            (C2, "", Ok(Resolved::Commit(C2.into()))),
            (&upper, "", Ok(Resolved::Commit(C2.to_string()))),
            ("f635d58", "", Ok(Resolved::Abbreviated("f635d58".into()))),
            ("abc", "", Err(NotFound("branch or tag"))),
            ("deadbeefz", "", Err(NotFound("branch or tag"))),
            // A branch that looks like a commit id is still the branch.
            ("cafe", &cafe, r("refs/heads/cafe", C1)),
        ];
        for (revision, listing, want) in cases {
            assert_eq!(
                resolve(revision, listing),
                want,
                "{revision} in {listing:?}"
            );
        }
    }

    #[test]
    fn patterns_and_local_refs() {
        assert_eq!(ls_remote_patterns("HEAD"), ["HEAD"]);
        assert_eq!(
            ls_remote_patterns("v1"),
            ["refs/heads/v1", "refs/tags/v1", "refs/tags/v1^{}"]
        );
        assert_eq!(
            ls_remote_patterns("refs/pull/1/head"),
            ["refs/pull/1/head", "refs/pull/1/head^{}"]
        );
        assert_eq!(local_ref("refs/heads/main"), "refs/rollout-rs/heads/main");
        assert_eq!(local_ref("refs/tags/v1"), "refs/rollout-rs/tags/v1");
        assert_eq!(normalize(None), "HEAD");
        assert_eq!(normalize(Some(" ")), "HEAD");
        assert_eq!(normalize(Some("main")), "main");
    }

    #[test]
    fn validates_revisions() {
        for ok in [
            "main",
            "release/1.2",
            "v1.0.0",
            "HEAD",
            "refs/pull/1/head",
            "a+b",
            C1,
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-b",
            "--upload-pack=touch",
            "a b",
            "main:refs/heads/x",
            "a..b",
            "HEAD~1",
            "v1^{}",
            "x*",
            "x@{1}",
            "/main",
            "main/",
            "a//b",
            "main.lock",
            "tab\there",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
