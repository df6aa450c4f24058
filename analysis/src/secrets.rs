//! The secret values of a run and the one function that scrubs them from text: every string
//! derived from a provider call (an error message, a quoted response body, a measured value,
//! a condition's message, shown metadata) passes through [`Secrets::scrub`] before it leaves
//! the engine. Positional redaction of what the engine itself substituted is `args`'s job;
//! this is the net for what comes back from the outside, where a secret can be in any form.
//!
//! What is found, wherever it is in the text, and replaced by [`REDACTED`]:
//!
//! * The raw value.
//! * Any percent-encoding of it: every byte may be written as itself or as `%XX` (upper- or
//!   lower-case hex), and a space also as `+`. This covers, per character and in any mix,
//!   what `url` writes in a path, a query, a fragment or user info, what form encoding
//!   (`application/x-www-form-urlencoded`, `+` for spaces) writes, and full component encoding.
//! * Any backslash-escaping of it: JSON's (`\"`, `\\`, `\/`, `\n`..., `\uXXXX` including
//!   surrogate pairs for characters beyond the BMP, as serde_json or ASCII-only encoders
//!   write it) and Rust's `{:?}` (`\u{...}`, `\0`), in which conditions quote a value.
//!   Percent and escape forms may mix within one occurrence.
//! * Its base64, standard or URL-safe alphabet (or a mix), padded or not, also when the secret
//!   is only part of what was encoded (`user:secret` in a Basic `Authorization` header, a
//!   token inside an encoded JSON document). Inside a longer encoding the secret's first byte
//!   can sit at any of the three offsets of a 3-byte group; each offset gives a different but
//!   fixed run of base64 characters, so all three are searched. The characters at either end
//!   mix bits of the secret with bits of its neighbours: they are matched on the secret's bits
//!   only and replaced too, so no bit of the secret is left (only the padding `=` remains,
//!   which says nothing about it).
//!
//! What is not found: layered encodings (base64 of a percent-encoded secret, a percent-encoded
//! JSON escape, double percent-encoding), base64 broken across lines (MIME's 76 columns), hex
//! or other encodings, case changes, and URL normalisations other than percent-encoding (a
//! `\` in a path becoming `/`, dot segments removed, a host lower-cased or punycoded). A
//! secret quoted only in part (cut by someone else) is not found either; the engine scrubs
//! before it cuts.
//!
//! Values shorter than [`MIN_SCRUBBED_CHARS`] are not searched for. A one to three character
//! pattern occurs by chance in ordinary text: scrubbing it would mangle every message (each
//! `401` or `e`), and the mangling itself shows the value (the reader sees which letters
//! vanished), so it would protect nothing; such a value is guessed in a few million tries
//! anyway. Where the engine put a secret itself (the shown query and URL, the provider's own
//! messages naming the request, which use the redacted URL and drop reqwest's) it is redacted
//! by position whatever its length; an answer echoing a short value, or a Prometheus client
//! error quoting the query URL it sent, still shows it. Empty values have nothing to hide.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::args::{ArgValue, REDACTED};

/// Secret values shorter than this (in characters) are not searched for in text.
pub const MIN_SCRUBBED_CHARS: usize = 4;

/// The secret values of a run, ready to be scrubbed from text. Its `Debug` shows how many
/// there are, never what they are.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Longest first, so a secret containing another is replaced whole.
    values: Vec<Secret>,
}

#[derive(Clone)]
struct Secret {
    raw: String,
    /// Base64 patterns for the secret starting at byte 0, 1 and 2 of a 3-byte group.
    base64: [Vec<Sextet>; 3],
}

/// One base64 character of a pattern: the bits that come from the secret (`mask`) and their
/// value; the other bits belong to whatever was encoded next to it.
#[derive(Clone, Copy)]
struct Sextet {
    value: u8,
    mask: u8,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

impl Secrets {
    /// The values to scrub. Values shorter than [`MIN_SCRUBBED_CHARS`] are left out (see the
    /// module documentation); a value with surrounding whitespace is also scrubbed trimmed,
    /// since a Secret written from a file usually ends in a newline an echo drops.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut raw: Vec<String> = Vec::new();
        for v in values {
            let v: String = v.into();
            let trimmed = v.trim();
            if trimmed.len() != v.len() {
                raw.push(trimmed.to_string());
            }
            raw.push(v);
        }
        raw.retain(|v| v.chars().count() >= MIN_SCRUBBED_CHARS);
        raw.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        raw.dedup();
        Secrets {
            values: raw
                .into_iter()
                .map(|raw| {
                    let bytes = raw.as_bytes();
                    let base64 = [
                        base64_pattern(bytes, 0),
                        base64_pattern(bytes, 1),
                        base64_pattern(bytes, 2),
                    ];
                    Secret { raw, base64 }
                })
                .collect(),
        }
    }

    /// The values of the arguments that came from a Secret.
    pub fn from_args(args: &BTreeMap<String, Option<ArgValue>>) -> Self {
        Secrets::new(
            args.values()
                .flatten()
                .filter(|a| a.secret)
                .map(|a| a.value.clone()),
        )
    }

    /// Nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every occurrence of every secret, in every form the module documentation
    /// lists, replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.values {
            let raw = s.raw.as_bytes();
            // Shared by every start: a (text, secret) position that cannot complete the
            // secret cannot from any start. Forgotten after a match, whose search may have
            // left positions past its end half explored.
            let mut seen = HashSet::new();
            out = replace(&out, |t, p| {
                let end = escaped_at(t, p, raw, &mut seen);
                if end.is_some() {
                    seen.clear();
                }
                end
            });
            out = replace(&out, |t, p| {
                s.base64.iter().find_map(|pattern| base64_at(t, p, pattern))
            });
        }
        out
    }
}

/// Replaces each leftmost match of `at` (the end of a match starting at a position) by
/// [`REDACTED`]. Matches start and end on character boundaries; any other is ignored, so the
/// text stays valid UTF-8 whatever a matcher returns.
fn replace(text: &str, mut at: impl FnMut(&[u8], usize) -> Option<usize>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut p = 0;
    while p < bytes.len() {
        if text.is_char_boundary(p)
            && let Some(end) = at(bytes, p).filter(|&e| e > p && text.is_char_boundary(e))
        {
            out.push_str(&text[copied..p]);
            out.push_str(REDACTED);
            copied = end;
            p = end;
        } else {
            p += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The end of `secret` written from `start` on with any mix of raw bytes, percent-encoding
/// and backslash escapes. Several readings can apply at one place (a `\` of the secret is
/// `\` or `\\`; a `%` is `%` or `%25`), so this is a search over (text position, secret
/// position) pairs; `seen` holds the pairs where readings fork that were already tried, so
/// none is tried twice and a text full of backslashes costs at most text length × secret
/// length.
fn escaped_at(
    text: &[u8],
    start: usize,
    secret: &[u8],
    seen: &mut HashSet<(usize, usize)>,
) -> Option<usize> {
    // Most positions cannot start a match: decide before any bookkeeping.
    let first = *text.get(start)?;
    if first != *secret.first()? && !matches!(first, b'%' | b'+' | b'\\') {
        return None;
    }
    let mut stack = vec![(start, 0usize)];
    while let Some((mut p, mut i)) = stack.pop() {
        loop {
            let Some(want) = secret.get(i..).filter(|w| !w.is_empty()) else {
                return Some(p);
            };
            let Some(&c) = text.get(p) else { break };
            if !matches!(c, b'%' | b'+' | b'\\') {
                // One reading only: follow it here, without bookkeeping.
                if c != want[0] {
                    break;
                }
                p += 1;
                i += 1;
                continue;
            }
            // Only here can readings fork, so only here are pairs remembered.
            if !seen.insert((p, i)) {
                break;
            }
            if c == want[0] {
                stack.push((p + 1, i + 1));
            }
            match c {
                b'+' if want[0] == b' ' => stack.push((p + 1, i + 1)),
                b'%' => {
                    if let Some(b) = text.get(p + 1..p + 3).and_then(hex_byte)
                        && b == want[0]
                    {
                        stack.push((p + 3, i + 1));
                    }
                }
                b'\\' => {
                    if let Some((used, ch)) = text.get(p..).and_then(unescape) {
                        let mut buf = [0u8; 4];
                        let utf8 = ch.encode_utf8(&mut buf).as_bytes();
                        if want.starts_with(utf8) {
                            stack.push((p + used, i + utf8.len()));
                        }
                    }
                }
                _ => {}
            }
            break;
        }
    }
    None
}

/// The byte two hex digits (either case) stand for.
fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    match two {
        [a, b] => Some((digit(*a)? * 16 + digit(*b)?) as u8),
        _ => None,
    }
}

/// The character a backslash escape at the start of `text` stands for, and its length: JSON's
/// and Rust's `{:?}` escapes.
fn unescape(text: &[u8]) -> Option<(usize, char)> {
    let simple = match *text.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'\'' => '\'',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'0' => '\0',
        b'u' => return unescape_unicode(text),
        _ => return None,
    };
    Some((2, simple))
}

/// `\uXXXX` (a surrogate pair as two of them) or `\u{X...}`.
fn unescape_unicode(text: &[u8]) -> Option<(usize, char)> {
    let hex = |digits: &[u8]| -> Option<u32> {
        let s = std::str::from_utf8(digits).ok()?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(s, 16).ok()
    };
    if text.get(2) == Some(&b'{') {
        let close = text.iter().take(10).position(|&b| b == b'}')?;
        let code = hex(text.get(3..close)?)?;
        return Some((close + 1, char::from_u32(code)?));
    }
    let unit = hex(text.get(2..6)?)?;
    if (0xD800..0xDC00).contains(&unit) {
        // A high surrogate: the character needs the low one that follows.
        if text.get(6..8)? != b"\\u" {
            return None;
        }
        let low = hex(text.get(8..12)?)?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        return Some((12, char::from_u32(code)?));
    }
    Some((6, char::from_u32(unit)?))
}

/// The base64 characters of `secret` when `offset` bytes (0 to 2) of something else precede
/// it in its 3-byte group. Characters holding no bit of the secret are left out; the first and
/// last may hold bits of the neighbours too, which the mask leaves free.
fn base64_pattern(secret: &[u8], offset: usize) -> Vec<Sextet> {
    let lead = 8 * offset;
    let end = lead + 8 * secret.len();
    let mut out = Vec::with_capacity(end.div_ceil(6));
    for sextet in 0..end.div_ceil(6) {
        let (mut value, mut mask) = (0u8, 0u8);
        for bit in sextet * 6..sextet * 6 + 6 {
            value <<= 1;
            mask <<= 1;
            if (lead..end).contains(&bit) {
                let at = bit - lead;
                value |= (secret[at / 8] >> (7 - at % 8)) & 1;
                mask |= 1;
            }
        }
        if mask != 0 {
            out.push(Sextet { value, mask });
        }
    }
    out
}

/// The value of a base64 character; the standard and URL-safe alphabets differ only in the
/// last two, both accepted.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// The end of `pattern` matched from `start` on.
fn base64_at(text: &[u8], start: usize, pattern: &[Sextet]) -> Option<usize> {
    let end = start + pattern.len();
    let chars = text.get(start..end)?;
    chars
        .iter()
        .zip(pattern)
        .all(|(&c, s)| sextet(c).is_some_and(|v| v & s.mask == s.value))
        .then_some(end)
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
