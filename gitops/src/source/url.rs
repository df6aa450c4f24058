//! Repository URLs: which transports are accepted, how a URL is shown without credentials, and
//! the name of the cache directory a URL maps to. Pure string work, no I/O.
//!
//! It must not let a password (or an http user name, often a token) that a user wrote into
//! `repoURL` reach a log, an error, a file name or a process argument: everything that leaves
//! this module is redacted, and credentials found in the URL are handed back separately so the
//! caller can pass them through askpass like a Secret's.

use std::fmt::Write as _;

/// How git reaches the repository; decides which credentials apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// http:// and https://: username and password through askpass.
    Http,
    /// ssh://, git+ssh:// and scp-like `user@host:path`: key and known_hosts.
    Ssh,
    /// git:// (git daemon): no authentication.
    Git,
    /// file:// and absolute local paths.
    File,
}

/// A `repoURL` checked and split into what git is given and what must go through askpass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepoUrl {
    /// The URL handed to git, and shown in errors and logs: no password, and on http no user
    /// name either (it is asked for through askpass instead).
    pub(crate) url: String,
    pub(crate) transport: Transport,
    /// User name written into an http URL (percent-decoded).
    pub(crate) inline_username: Option<String>,
    /// Password or token written into an http URL (percent-decoded).
    pub(crate) inline_password: Option<String>,
}

impl RepoUrl {
    /// `host[:port]` of a `scheme://` URL, as git names the server in its credential prompts;
    /// empty for other forms.
    pub(crate) fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or("", |(_, rest)| rest);
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host)
    }
}

const SCHEMES: &[(&str, Transport)] = &[
    ("https", Transport::Http),
    ("http", Transport::Http),
    ("ssh", Transport::Ssh),
    ("git+ssh", Transport::Ssh),
    ("ssh+git", Transport::Ssh),
    ("git", Transport::Git),
    ("file", Transport::File),
];

/// Checks a `repoURL` and strips its credentials. The error is a reason in words; the caller
/// names the (redacted) URL.
pub(crate) fn parse(raw: &str) -> Result<RepoUrl, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("the URL is empty".into());
    }
    // A leading dash would be read by git as an option.
    if s.starts_with('-') {
        return Err("a URL cannot start with '-'".into());
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a URL cannot contain spaces or control characters".into());
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        let lower = scheme.to_ascii_lowercase();
        let Some(&(_, transport)) = SCHEMES.iter().find(|(name, _)| *name == lower) else {
            return Err(format!(
                "the scheme '{scheme}' is not supported (use https://, http://, ssh://, git:// or file://)"
            ));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if transport != Transport::File && host.is_empty() {
            return Err("the URL has no host".into());
        }
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u), Some(p)),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        let mut url = format!("{scheme}://");
        let mut parsed = RepoUrl {
            url: String::new(),
            transport,
            inline_username: None,
            inline_password: None,
        };
        match transport {
            Transport::Http => {
                parsed.inline_username = user.filter(|u| !u.is_empty()).map(percent_decode);
                parsed.inline_password = password.filter(|p| !p.is_empty()).map(percent_decode);
            }
            // On ssh the user is an account name ("git"), which the server needs; a password
            // there is never used (keys only) and is simply dropped.
            Transport::Ssh => {
                if let Some(u) = user.filter(|u| !u.is_empty()) {
                    url.push_str(u);
                    url.push('@');
                }
            }
            Transport::Git | Transport::File => {}
        }
        url.push_str(host);
        url.push_str(path);
        parsed.url = url;
        return Ok(parsed);
    }
    // `<transport>::<address>` runs a remote helper (`ext::` runs any command).
    if s.contains("::") {
        return Err("remote helper URLs (<transport>::<address>) are not supported".into());
    }
    if s.starts_with('/') {
        return Ok(RepoUrl {
            url: s.to_string(),
            transport: Transport::File,
            inline_username: None,
            inline_password: None,
        });
    }
    // scp-like syntax, as git reads it: a colon before the first slash.
    if let Some(colon) = s.find(':')
        && s.find('/').is_none_or(|slash| colon < slash)
        && colon > 0
    {
        return Ok(RepoUrl {
            url: s.to_string(),
            transport: Transport::Ssh,
            inline_username: None,
            inline_password: None,
        });
    }
    Err("expected https://, http://, ssh://, git://, file://, user@host:path or an absolute path (a relative path has nothing to be relative to)".into())
}

/// A URL as it may be shown: without the password, and on http(s) without the user name too
/// (often a token). On ssh the user name stays: it is an account name like `git`. Anything
/// that does not parse as a URL is returned with [`redact_text`] applied.
pub fn redact_url(url: &str) -> String {
    match parse(url) {
        Ok(parsed) => parsed.url,
        Err(_) => redact_text(url),
    }
}

/// Removes the userinfo of every `scheme://user:pass@host` found in free text (git's stderr,
/// error details), whatever the scheme.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || "'\"<>`".contains(c))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The cache directory name of a repository: a hash of its redacted URL, so the directory
/// name carries neither credentials nor characters a file system dislikes, and every GitSync
/// on the same repository (whatever credentials it writes into the URL) shares one clone.
/// FNV-1a 128: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub(crate) fn cache_key(url: &RepoUrl) -> String {
    let normalized = url.url.trim_end_matches('/');
    let hash = fnv1a_128(normalized.as_bytes());
    let mut name = String::with_capacity(32);
    let _ = write!(name, "{hash:032x}");
    name
}

pub(crate) fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes.iter().fold(OFFSET, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(PRIME)
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls() {
        let cases = [
            (
                "https://user:pass@example.com/org/repo.git",
                "https://example.com/org/repo.git",
            ),
            (
                "https://ghp_token@example.com/org/repo",
                "https://example.com/org/repo",
            ),
            (
                "http://u:p%40ss@127.0.0.1:8080/r.git",
                "http://127.0.0.1:8080/r.git",
            ),
            (
                "ssh://git:secret@example.com/repo.git",
                "ssh://git@example.com/repo.git",
            ),
            (
                "ssh://git@example.com:2222/repo.git",
                "ssh://git@example.com:2222/repo.git",
            ),
            (
                "git@example.com:org/repo.git",
                "git@example.com:org/repo.git",
            ),
            (
                "https://example.com/org/repo.git",
                "https://example.com/org/repo.git",
            ),
            ("file:///srv/git/repo", "file:///srv/git/repo"),
            ("/srv/git/repo", "/srv/git/repo"),
            // Unsupported schemes are still shown without their userinfo.
            ("ftp://a:b@host/x", "ftp://host/x"),
            ("HTTPS://a:b@host/x", "HTTPS://host/x"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn redacts_text() {
        let text = "fatal: unable to access 'https://user:hunter2@example.com/r.git/': 403\n\
                    also http://tok@h:1/x and ssh://a:b@c/d";
        let got = redact_text(text);
        assert!(!got.contains("hunter2"), "{got}");
        assert!(!got.contains("tok@"), "{got}");
        assert!(!got.contains("a:b@"), "{got}");
        assert!(got.contains("'https://example.com/r.git/'"), "{got}");
        assert!(got.contains("http://h:1/x"), "{got}");
        assert_eq!(redact_text("no url here"), "no url here");
        assert_eq!(redact_text("x://"), "x://");
    }

    #[test]
    fn moves_http_credentials_out_of_the_url() {
        let parsed = parse("https://alice:p%40ss%3Aword@example.com/r.git").expect("parses");
        assert_eq!(parsed.url, "https://example.com/r.git");
        assert_eq!(parsed.transport, Transport::Http);
        assert_eq!(parsed.inline_username.as_deref(), Some("alice"));
        assert_eq!(parsed.inline_password.as_deref(), Some("p@ss:word"));
        let token = parse("https://tok@example.com/r.git").expect("parses");
        assert_eq!(token.inline_username.as_deref(), Some("tok"));
        assert_eq!(token.inline_password, None);
        assert_eq!(parsed.host(), "example.com");
        let port = parse("http://u:p@127.0.0.1:8080/r.git").expect("parses");
        assert_eq!(port.host(), "127.0.0.1:8080");
        let ssh = parse("ssh://git@example.com:22/r.git").expect("parses");
        assert_eq!(ssh.host(), "example.com:22");
        assert_eq!(parse("/srv/r").expect("parses").host(), "");
    }

    #[test]
    fn accepts_and_rejects() {
        let ok = [
            ("https://example.com/r.git", Transport::Http),
            ("http://127.0.0.1:9/r", Transport::Http),
            ("ssh://git@example.com/r.git", Transport::Ssh),
            ("git+ssh://example.com/r.git", Transport::Ssh),
            ("git@example.com:org/r.git", Transport::Ssh),
            ("example.com:r.git", Transport::Ssh),
            ("git://example.com/r.git", Transport::Git),
            ("file:///srv/r", Transport::File),
            ("/srv/r", Transport::File),
            ("  /srv/r  ", Transport::File),
        ];
        for (url, transport) in ok {
            assert_eq!(parse(url).map(|p| p.transport), Ok(transport), "{url}");
        }
        let bad = [
            "",
            "   ",
            "-uhack",
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "fd::0",
            "ftp://example.com/r",
            "https:///r",
            "relative/path",
            "./repo",
            "https://exa mple.com/r",
            "https://example.com/r\nx",
        ];
        for url in bad {
            assert!(parse(url).is_err(), "{url:?} should be rejected");
        }
    }

    #[test]
    fn cache_keys() {
        let key = |u: &str| cache_key(&parse(u).expect("parses"));
        let a = key("https://example.com/org/repo.git");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        // Stable across builds: the cache survives upgrades.
        assert_eq!(a, key("https://example.com/org/repo.git"));
        assert_eq!(
            a,
            format!("{:032x}", fnv1a_128(b"https://example.com/org/repo.git"))
        );
        // Credentials in the URL do not split the cache, nor a trailing slash.
        assert_eq!(a, key("https://user:pass@example.com/org/repo.git"));
        assert_eq!(a, key("https://example.com/org/repo.git/"));
        assert_ne!(a, key("https://example.com/org/other.git"));
        assert_ne!(a, key("http://example.com/org/repo.git"));
        // Known FNV-1a 128 vectors.
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
