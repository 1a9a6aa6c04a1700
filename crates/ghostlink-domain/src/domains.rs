//! Custom domains: which host names a workspace may add, and the one string that names a link
//! everywhere it travels.
//!
//! The same code may exist on two domains, so a code alone does not name a link. Its *key*
//! does: the code itself on the instance's default domain, `host/code` on a custom one. A host
//! never holds `/` and a code never does, so the key is unambiguous, and every table, cache
//! entry and event that names a link by its `code` carries the key unchanged — a link on the
//! default domain keeps the key it always had.

/// Longest host name (RFC 1035's 253 characters of a name in text form).
pub const MAX_HOST_LEN: usize = 253;

/// Why a host name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("must be a host name of 1 to {MAX_HOST_LEN} characters")]
    Length,
    #[error("must be a host name: letters, digits and '-' in dot-separated labels of 1 to 63 characters, not starting or ending with '-'")]
    Syntax,
    #[error("must have at least two labels (e.g. go.example.com)")]
    SingleLabel,
    #[error("must be a name, not an IP address")]
    Address,
}

impl HostError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::Length => "host_length",
            HostError::Syntax => "host_syntax",
            HostError::SingleLabel => "host_single_label",
            HostError::Address => "host_address",
        }
    }
}

/// A custom domain's host name, lower-cased, without a trailing dot. Internationalised names
/// are given in their ASCII (punycode, `xn--`) form, as a `Host` header carries them.
pub fn validate_host(raw: &str) -> Result<String, HostError> {
    let host = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(HostError::Length);
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Err(HostError::Address);
    }
    let mut labels = 0;
    for label in host.split('.') {
        labels += 1;
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(HostError::Syntax);
        }
    }
    if labels < 2 {
        return Err(HostError::SingleLabel);
    }
    // All-numeric last label: an IPv4 address in another spelling (`1.2.3.4.`, `127.1`).
    if host.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(HostError::Address);
    }
    Ok(host)
}

/// The host a request names in its `Host` header (or `:authority`): lower-cased, without port
/// or trailing dot. `None` for a value that is not a host name at all.
pub fn request_host(header: &str) -> Option<String> {
    let name = match header.strip_prefix('[') {
        // An IPv6 literal: never a custom domain, but still a host.
        Some(rest) => return rest.split(']').next().map(str::to_ascii_lowercase),
        None => header.rsplit_once(':').map_or(header, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                header
            }
        }),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    (!name.is_empty() && name.len() <= MAX_HOST_LEN).then(|| name.to_ascii_lowercase())
}

/// The key of the link `code` on `domain` (`None`: the default domain).
pub fn link_key(domain: Option<&str>, code: &str) -> String {
    match domain {
        Some(host) => format!("{host}/{code}"),
        None => code.to_owned(),
    }
}

/// A key as its domain (`None`: the default one) and its code.
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((host, code)) => (Some(host), code),
        None => (None, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_in_lower_case() {
        assert_eq!(validate_host("Go.Example.COM."), Ok("go.example.com".into()));
        assert_eq!(validate_host("xn--bcher-kva.example"), Ok("xn--bcher-kva.example".into()));
        assert_eq!(validate_host("a-b.c2.io"), Ok("a-b.c2.io".into()));
        assert_eq!(validate_host(""), Err(HostError::Length));
        assert_eq!(validate_host(&format!("{}.com", "a.".repeat(130))), Err(HostError::Length));
        assert_eq!(validate_host("localhost"), Err(HostError::SingleLabel));
        assert_eq!(validate_host("127.0.0.1"), Err(HostError::Address));
        assert_eq!(validate_host("::1"), Err(HostError::Address));
        assert_eq!(validate_host("10.1"), Err(HostError::Address));
        for bad in ["-a.com", "a-.com", "a..com", "a_b.com", "a b.com", "a.com/x", "bücher.de", "a.com:80"] {
            assert_eq!(validate_host(bad), Err(HostError::Syntax), "{bad}");
        }
        assert_eq!(validate_host(&format!("{}.com", "a".repeat(64))), Err(HostError::Syntax));
    }

    #[test]
    fn request_hosts_lose_port_case_and_dot() {
        assert_eq!(request_host("Go.Example.com:8080").as_deref(), Some("go.example.com"));
        assert_eq!(request_host("go.example.com.").as_deref(), Some("go.example.com"));
        assert_eq!(request_host("127.0.0.1:9").as_deref(), Some("127.0.0.1"));
        assert_eq!(request_host("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(request_host(""), None);
    }

    #[test]
    fn keys_round_trip() {
        assert_eq!(link_key(None, "abc"), "abc");
        assert_eq!(link_key(Some("go.example.com"), "abc"), "go.example.com/abc");
        assert_eq!(split_key("go.example.com/abc"), (Some("go.example.com"), "abc"));
        assert_eq!(split_key("abc"), (None, "abc"));
    }
}
