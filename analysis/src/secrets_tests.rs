//! Each encoding the scrubber claims, produced by the encoders that write it (url, serde_json,
//! base64, Rust's `{:?}`), not by the scrubber's own rules.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Space, '@', '/', '"', '\', '+', '%', a 2-, 3- and 4-byte character.
const SECRET: &str = "p@ss w/\"q\\+%é☃𝄞";

fn one(secret: &str) -> Secrets {
    Secrets::new([secret])
}

fn lower_hex(s: &str) -> String {
    let mut out = String::new();
    let mut hex = 0;
    for c in s.chars() {
        out.push(if hex > 0 { c.to_ascii_lowercase() } else { c });
        hex = if c == '%' {
            2
        } else {
            (hex as i32 - 1).max(0) as usize
        };
    }
    out
}

fn assert_scrubbed(form: &str, secret: &str) {
    let text = format!("before [{form}] after");
    assert_eq!(
        one(secret).scrub(&text),
        "before [*****] after",
        "form {form:?}"
    );
}

#[test]
fn raw() {
    assert_scrubbed(SECRET, SECRET);
    assert_eq!(
        one("s3cr3t").scrub("s3cr3ts3cr3t and s3cr3t"),
        "********** and *****"
    );
}

#[test]
fn percent_encodings_of_every_url_part_and_form() {
    // Each part of a URL has its own set of characters to encode.
    let mut url = reqwest::Url::parse("http://user@h/").expect("parses");
    url.set_password(Some(SECRET)).expect("takes a password");
    url.path_segments_mut().expect("has a path").push(SECRET);
    url.set_query(Some(&format!("q={SECRET}")));
    url.set_fragment(Some(SECRET));
    let mut forms = vec![
        url.password().expect("a password").to_string(),
        url.path()[1..].to_string(),
        url.query().expect("a query")[2..].to_string(),
        url.fragment().expect("a fragment").to_string(),
    ];
    let mut form = reqwest::Url::parse("http://h/").expect("parses");
    form.query_pairs_mut().append_pair("q", SECRET);
    let form = form.query().expect("a query")[2..].to_string();
    assert!(
        form.contains('+'),
        "a space is '+' in form encoding: {form}"
    );
    forms.push(form);
    // Every byte encoded (what encodeURIComponent-like encoders do for non-alphanumerics).
    forms.push(SECRET.bytes().map(|b| format!("%{b:02X}")).collect());
    forms.extend(forms.clone().iter().map(|f| lower_hex(f)));
    for f in &forms {
        assert_ne!(f, SECRET, "an encoding that changes nothing tests nothing");
        assert_scrubbed(f, SECRET);
    }
}

#[test]
fn json_and_debug_escapes() {
    let json = serde_json::to_string(SECRET).expect("serializes");
    let debug = format!("{SECRET:?}");
    let ascii = crate::test_http::ascii_json(SECRET);
    for quoted in [&json, &debug, &ascii] {
        assert_scrubbed(&quoted[1..quoted.len() - 1], SECRET);
    }
    assert!(
        ascii.contains("\\ud834\\udd1e"),
        "a surrogate pair: {ascii}"
    );
    // Control characters, '/' escaped as some encoders do, and Rust's \u{...}.
    let controls = "tab\there\nnul\0bell\u{7}";
    for f in [
        serde_json::to_string(controls).expect("serializes"),
        format!("{controls:?}"),
    ] {
        assert_scrubbed(&f[1..f.len() - 1], controls);
    }
    assert_scrubbed("a\\/b\\/c\\/d", "a/b/c/d");
    assert_scrubbed("\\u0073\\u0033cr3t", "s3cr3t");
    // The secret inside a JSON document inside a JSON string: the outer escapes are undone
    // for the quote and backslash it is made of only once, so this form is not found (the
    // module documentation says layered encodings are out).
    let layered = serde_json::to_string(&serde_json::to_string(SECRET).expect("serializes"))
        .expect("serializes");
    assert!(one(SECRET).scrub(&layered).contains("p@ss"));
}

#[test]
fn percent_and_escape_forms_mixed_in_one_occurrence() {
    assert_scrubbed(
        "p%40ss+w%2F\\\"q\\\\%2b%25\\u00e9%E2%98%83\\ud834\\udd1e",
        SECRET,
    );
}

/// The base64 of `prefix + SECRET + suffix`, scrubbed, keeps only characters that hold no bit
/// of the secret: the prefix's own characters on the left, the suffix's on the right.
#[test]
fn base64_at_every_offset_in_both_alphabets_padded_or_not() {
    let secret = SECRET.as_bytes();
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        for prefix in ["", "u", "us", "user:", "Bearer ", "{\"token\":\""] {
            for suffix in ["", "x", "\"}", "abc"] {
                let plain = [prefix.as_bytes(), secret, suffix.as_bytes()].concat();
                let encoded = engine.encode(&plain);
                let out = one(SECRET).scrub(&encoded);
                let case = format!("{prefix:?} + secret + {suffix:?} = {encoded}: {out}");
                let (left, right) = out.split_once(REDACTED).expect(&case);
                assert!(encoded.starts_with(left), "{case}");
                assert!(encoded.ends_with(right), "{case}");
                assert!(left.len() * 6 <= prefix.len() * 8, "{case}");
                let data = encoded.trim_end_matches('=').len();
                let right_data = right.trim_end_matches('=').len();
                assert!(
                    (data - right_data) * 6 >= (prefix.len() + secret.len()) * 8,
                    "{case}"
                );
            }
        }
    }
    // Both alphabets in one text; the padding stays (it holds no bit).
    let text = format!(
        "{} and {}",
        STANDARD.encode("s3cr3t?>?"),
        URL_SAFE_NO_PAD.encode("s3cr3t?>?!")
    );
    assert!(text.contains('/') && text.contains('_'), "{text}");
    assert_eq!(one("s3cr3t?>?").scrub(&text), "***** and *****IQ");
    assert_eq!(one("s3cr3t!").scrub(&STANDARD.encode("s3cr3t!")), "*****==");
}

#[test]
fn ordinary_text_is_left_alone() {
    let text = "GET http://prom:9090/api/v1/query?query=up%7Bjob%3D%22a%22%7D failed: \
                {\"error\":\"bad \\\"query\\\"\",\"b64\":\"dXNlcjpwYXNz\"} é☃𝄞 \\u00e9";
    for secret in ["s3cr3t", SECRET, "hunter2", "%%%%", "\\\\\\\\", "++++"] {
        assert_eq!(one(secret).scrub(text), text, "secret {secret:?}");
    }
}

#[test]
fn many_readings_of_one_place_stay_fast() {
    // A '\' of the secret reads as one or two of the text's: without remembering the pairs
    // already tried, 300 of them would take about 2^300 tries.
    let secret = "\\".repeat(300) + "!";
    let text = "\\".repeat(600);
    assert_eq!(one(&secret).scrub(&text), text);
    let secret = "%\\".repeat(100) + "!";
    let text = "%25\\\\".repeat(1000);
    assert_eq!(one(&secret).scrub(&text), text);
    let long = "x".repeat(5000);
    let secret = format!("{long}y");
    assert_eq!(one(&secret).scrub(&long), long);
}

#[test]
fn short_empty_trimmed_and_overlapping_values() {
    // Under 4 characters: not searched for (it would mangle "401" and show itself).
    let s = Secrets::new(["", "ab", "401"]);
    assert!(s.is_empty());
    assert_eq!(s.scrub("HTTP 401: ab"), "HTTP 401: ab");
    assert_eq!(one("abcd").scrub("xabcdx"), "x*****x");
    // 4 characters of several bytes each count as 4.
    assert_eq!(one("é☃𝄞é").scrub("[é☃𝄞é]"), "[*****]");
    // Written from a file with a trailing newline: the echo without it is found too.
    assert_eq!(
        one("s3cr3t\n").scrub("got s3cr3t, sent s3cr3t%0A"),
        "got *****, sent *****"
    );
    // A secret inside another: the longer one is replaced whole.
    let s = Secrets::new(["abcd", "xxabcdxx"]);
    assert_eq!(s.scrub("xxabcdxx abcd"), "***** *****");
}

#[test]
fn from_args_takes_only_secret_values_and_debug_shows_none() {
    let args: BTreeMap<String, Option<ArgValue>> = [
        (
            "plain".to_string(),
            Some(ArgValue {
                value: "visible".into(),
                secret: false,
            }),
        ),
        (
            "token".to_string(),
            Some(ArgValue {
                value: "s3cr3t".into(),
                secret: true,
            }),
        ),
        ("unset".to_string(), None),
    ]
    .into();
    let s = Secrets::from_args(&args);
    assert_eq!(s.scrub("visible s3cr3t"), "visible *****");
    assert_eq!(format!("{s:?}"), "Secrets(1 values)");
}

#[test]
fn multibyte_text_around_matches_stays_valid() {
    let out = one("s3cr3t").scrub("é☃s3cr3t𝄞%73%33cr3té");
    assert_eq!(out, "é☃*****𝄞*****é");
}
