//! Kubernetes name syntax (DNS-1035 labels for Services, DNS-1123 for most objects), checked
//! early so a typo in a Service name is reported at the field, not as a missing object later.

fn label_chars_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1035 label: what Service names must be.
pub(super) fn dns1035_label(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters");
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) || !label_chars_ok(s) {
        return Err(
            "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        );
    }
    Ok(())
}

/// A DNS-1123 label: namespace names.
pub(super) fn dns1123_label(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 63 {
        return Err("must be 1 to 63 characters");
    }
    if !label_chars_ok(s) {
        return Err(
            "lowercase letters, digits and '-', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// A DNS-1123 subdomain: the names of most objects.
pub(super) fn dns1123_subdomain(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters");
    }
    if s.split('.')
        .any(|part| part.is_empty() || !label_chars_ok(part))
    {
        return Err(
            "lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1035_label("web-canary").is_ok());
        assert!(dns1035_label("1web").is_err());
        assert!(dns1035_label("Web").is_err());
        assert!(dns1035_label("web_").is_err());
        assert!(dns1035_label(&"a".repeat(64)).is_err());
        assert!(dns1123_label("1web").is_ok());
        assert!(dns1123_label("web-").is_err());
        assert!(dns1123_subdomain("web.example").is_ok());
        assert!(dns1123_subdomain("web..example").is_err());
    }
}
