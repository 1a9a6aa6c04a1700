//! Destination URL rules, applied when a link is created and again before a stored URL
//! becomes a `Location` header.

use url::Url;

/// Longest destination accepted, in bytes, after normalisation.
pub const MAX_URL_BYTES: usize = 2048;

/// Why a destination URL was refused. Each variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url must not be empty")]
    Empty,
    #[error("url must be at most {MAX_URL_BYTES} bytes")]
    TooLong,
    #[error("url must not contain whitespace or control characters")]
    ControlOrWhitespace,
    #[error("url must be absolute and start with http:// or https://")]
    NotAbsolute,
    #[error("url scheme '{0}' is not allowed; only http and https are")]
    Scheme(String),
    #[error("url must have a host")]
    NoHost,
    #[error("url is not valid: {0}")]
    Malformed(String),
}

impl UrlError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            UrlError::Empty => "url_empty",
            UrlError::TooLong => "url_too_long",
            UrlError::ControlOrWhitespace => "url_control_characters",
            UrlError::NotAbsolute => "url_not_absolute",
            UrlError::Scheme(_) => "url_scheme",
            UrlError::NoHost => "url_no_host",
            UrlError::Malformed(_) => "url_malformed",
        }
    }
}

/// Validates a destination and returns its normalised form: scheme and host lower-cased,
/// internationalised hosts in punycode, default ports dropped.
pub fn normalize_url(raw: &str) -> Result<String, UrlError> {
    if raw.is_empty() {
        return Err(UrlError::Empty);
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    // Refuse rather than strip: the WHATWG parser would silently drop tabs and newlines,
    // and a URL that means something else than it reads is the start of an attack.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UrlError::ControlOrWhitespace);
    }
    if raw.starts_with("//") || raw.starts_with("\\\\") {
        return Err(UrlError::NotAbsolute);
    }
    let scheme_end = raw.find(':').ok_or(UrlError::NotAbsolute)?;
    let scheme = raw[..scheme_end].to_ascii_lowercase();
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return Err(UrlError::NotAbsolute);
    }
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::Scheme(scheme));
    }
    // The WHATWG parser forgives `http:host` and `http:///host`; we ask for exactly `//host`.
    let rest = &raw[scheme_end + 1..];
    let Some(authority) = rest.strip_prefix("//") else {
        return Err(UrlError::NotAbsolute);
    };
    if authority.is_empty() || authority.starts_with(['/', '\\', '?', '#']) {
        return Err(UrlError::NoHost);
    }
    let parsed = Url::parse(raw).map_err(|e| match e {
        url::ParseError::EmptyHost => UrlError::NoHost,
        other => UrlError::Malformed(other.to_string()),
    })?;
    match parsed.host_str() {
        None | Some("") => return Err(UrlError::NoHost),
        Some(_) => {}
    }
    let out = parsed.to_string();
    if out.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    Ok(out)
}

/// The value a stored URL may be sent as in a `Location` header, or `None` when it must never
/// be: a row changed behind our back must not turn the redirect into a `javascript:` link or a
/// header injection.
pub fn safe_location(stored: &str) -> Option<&str> {
    let lower_ok = stored.get(..8).map(|p| p.eq_ignore_ascii_case("https://")).unwrap_or(false)
        || stored.get(..7).map(|p| p.eq_ignore_ascii_case("http://")).unwrap_or(false);
    let clean = stored.bytes().all(|b| b > 0x20 && b != 0x7f);
    (lower_ok && clean && stored.len() <= MAX_URL_BYTES).then_some(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(normalize_url("https://Example.COM/a?b=c").as_deref(), Ok("https://example.com/a?b=c"));
        assert_eq!(normalize_url("HTTP://example.com:80/x").as_deref(), Ok("http://example.com/x"));
        assert_eq!(normalize_url("https://bücher.example/").as_deref(), Ok("https://xn--bcher-kva.example/"));
        assert_eq!(normalize_url("http://example.com").as_deref(), Ok("http://example.com/"));
    }

    #[test]
    fn refuses_bad_urls() {
        let table: &[(&str, &str)] = &[
            ("", "url_empty"),
            ("javascript:alert(1)", "url_scheme"),
            ("JaVaScRiPt:alert(1)", "url_scheme"),
            ("data:text/html;base64,PHNjcmlwdD4=", "url_scheme"),
            ("file:///etc/passwd", "url_scheme"),
            ("ftp://example.com/x", "url_scheme"),
            ("vbscript:msgbox(1)", "url_scheme"),
            ("//evil.example/x", "url_not_absolute"),
            ("example.com/path", "url_not_absolute"),
            ("http://", "url_no_host"),
            ("https:///path", "url_no_host"),
            ("http://exa mple.com", "url_control_characters"),
            ("http://example.com/\r\nSet-Cookie:x", "url_control_characters"),
            ("http://example.com/\0", "url_control_characters"),
            ("http://example.com/\t", "url_control_characters"),
            (" http://example.com", "url_control_characters"),
            ("http://[::1", "url_malformed"),
            ("http:example.com", "url_not_absolute"),
            ("https:\\\\example.com", "url_not_absolute"),
            ("http://exa%mple.com", "url_malformed"),
        ];
        for (raw, want) in table {
            let got = normalize_url(raw).expect_err(raw);
            assert_eq!(got.code(), *want, "for {raw:?}: {got}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(normalize_url(&long), Err(UrlError::TooLong));
    }

    #[test]
    fn safe_location_only_http() {
        assert_eq!(safe_location("https://a.example/"), Some("https://a.example/"));
        assert_eq!(safe_location("HTTP://a.example/"), Some("HTTP://a.example/"));
        assert_eq!(safe_location("javascript:alert(1)"), None);
        assert_eq!(safe_location("https://a.example/\r\nX: y"), None);
        assert_eq!(safe_location("//a.example"), None);
        assert_eq!(safe_location(""), None);
    }
}
