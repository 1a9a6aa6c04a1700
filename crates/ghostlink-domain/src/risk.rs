//! Destination risk scoring: named rules, each adding a weight with a reason, summed into a
//! 0–100 score and a level. Pure: the blocklist and thresholds come in as values, so the risk
//! scorer, the shortener's creation check and `ghostctl risk rescore` all score alike.

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// How risky a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
    /// Never redirected to (451), refused at creation.
    Blocked,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Blocked => "blocked",
        }
    }
}

/// One rule's contribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: String,
    pub weight: u32,
    pub detail: String,
}

/// A scored destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub score: u32,
    pub level: Level,
    pub reasons: Vec<Reason>,
}

/// Score thresholds of the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub medium: u32,
    pub high: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { medium: 30, high: 60 }
    }
}

/// Domains refused outright; a listed domain also covers its subdomains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklist {
    domains: std::collections::HashSet<String>,
}

impl Blocklist {
    /// Parses one domain per line; `#` starts a comment; blank lines are ignored.
    pub fn parse(text: &str) -> Self {
        let domains = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|l| !l.is_empty())
            .collect();
        Self { domains }
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The listed domain that covers `host`, if any.
    pub fn covering(&self, host: &str) -> Option<&str> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = host.as_str();
        loop {
            if let Some(d) = self.domains.get(rest) {
                return Some(d.as_str());
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => return None,
            }
        }
    }
}

/// What the canary saw at the destination, when it has looked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanaryView {
    /// The URL the redirect chain ended on.
    pub final_url: Option<String>,
}

const SUSPICIOUS_TLDS: &[&str] = &[
    "zip", "mov", "xyz", "top", "tk", "ml", "ga", "cf", "gq", "work", "click", "country", "kim", "loan",
    "rest",
];
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
];
const KEYWORDS: &[&str] = &[
    "login",
    "log-in",
    "signin",
    "sign-in",
    "verify",
    "verification",
    "account",
    "secure",
    "update",
    "banking",
    "password",
    "wallet",
    "confirm",
    "unlock",
    "suspended",
    "invoice",
];

fn registrable(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

/// Scores a (normalised) destination URL.
pub fn assess(
    url: &str,
    blocklist: &Blocklist,
    thresholds: Thresholds,
    canary: Option<&CanaryView>,
) -> Assessment {
    let mut reasons = Vec::new();
    let mut add =
        |rule: &str, weight: u32, detail: String| reasons.push(Reason { rule: rule.into(), weight, detail });
    let Ok(parsed) = Url::parse(url) else {
        add("unparseable", 100, "the destination is not a valid URL".into());
        return finish(reasons, thresholds, true);
    };
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    if let Some(d) = blocklist.covering(&host) {
        add("blocklist", 100, format!("{host} is covered by the blocklist entry {d}"));
        return finish(reasons, thresholds, true);
    }
    match parsed.host() {
        Some(Host::Ipv4(_)) | Some(Host::Ipv6(_)) => {
            add("ip_literal_host", 30, format!("the host is an IP address ({host})"))
        }
        _ => {}
    }
    if host.split('.').any(|l| l.starts_with("xn--")) {
        add(
            "punycode_host",
            25,
            format!("{host} is an internationalised name: possible look-alike (homograph)"),
        );
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        add("userinfo", 30, "the URL carries a user name or password before the host".into());
    }
    if let Some(port) = parsed.port() {
        add("non_standard_port", 15, format!("port {port}"));
    }
    if url.len() > 300 {
        add("excessive_length", 10, format!("{} characters", url.len()));
    }
    let depth = host.split('.').count();
    if depth > 4 {
        add("subdomain_depth", 15, format!("{depth} labels in the host"));
    }
    if let Some(tld) = host.rsplit('.').next().filter(|t| SUSPICIOUS_TLDS.contains(t)) {
        add("suspicious_tld", 15, format!(".{tld} is on the suspicious TLD list"));
    }
    if SHORTENERS.iter().any(|s| host == *s || host.ends_with(&format!(".{s}"))) {
        add("another_shortener", 25, format!("{host} is a URL shortener: the real destination is hidden"));
    }
    let haystack = format!("{host}{}", parsed.path()).to_ascii_lowercase();
    let hits: Vec<&str> = KEYWORDS.iter().copied().filter(|k| haystack.contains(k)).collect();
    if !hits.is_empty() {
        add("phishing_keywords", (10 * hits.len() as u32).min(30), format!("contains {}", hits.join(", ")));
    }
    if let Some(final_host) = canary
        .and_then(|c| c.final_url.as_deref())
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    {
        if registrable(&final_host) != registrable(&host) {
            add("cross_domain_redirect", 20, format!("redirects end on another domain ({final_host})"));
        }
        if let Some(d) = blocklist.covering(&final_host) {
            add("redirects_to_blocklisted", 100, format!("redirects end on {final_host}, covered by {d}"));
            return finish(reasons, thresholds, true);
        }
    }
    finish(reasons, thresholds, false)
}

fn finish(reasons: Vec<Reason>, t: Thresholds, blocked: bool) -> Assessment {
    let score = reasons.iter().map(|r| r.weight).sum::<u32>().min(100);
    let level = if blocked {
        Level::Blocked
    } else if score >= t.high {
        Level::High
    } else if score >= t.medium {
        Level::Medium
    } else {
        Level::Low
    };
    Assessment { score, level, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(a: &Assessment) -> Vec<&str> {
        a.reasons.iter().map(|r| r.rule.as_str()).collect()
    }

    #[test]
    fn table_of_urls_levels_and_reasons() {
        let bl = Blocklist::parse("# known bad\nevil.example\nphish.test.  # trailing dot\n\n");
        let t = Thresholds::default();
        let table: &[(&str, Level, &[&str])] = &[
            ("https://www.rust-lang.org/learn", Level::Low, &[]),
            ("https://evil.example/", Level::Blocked, &["blocklist"]),
            ("https://login.sub.evil.example/x", Level::Blocked, &["blocklist"]),
            ("https://phish.test/", Level::Blocked, &["blocklist"]),
            ("http://203.0.113.9/", Level::Medium, &["ip_literal_host"]),
            ("https://xn--pple-43d.com/", Level::Low, &["punycode_host"]),
            ("https://user:pw@example.com/", Level::Medium, &["userinfo"]),
            ("https://example.com:8443/", Level::Low, &["non_standard_port"]),
            ("https://bit.ly/abc", Level::Low, &["another_shortener"]),
            ("https://a.b.c.d.example.com/", Level::Low, &["subdomain_depth"]),
            ("https://prizes.zip/", Level::Low, &["suspicious_tld"]),
            (
                "http://198.51.100.7:8080/secure-login/verify-account",
                Level::High,
                &["ip_literal_host", "non_standard_port", "phishing_keywords"],
            ),
            (
                "https://paypal.com.secure-login.account-verify.example.xyz/signin",
                Level::High,
                &["subdomain_depth", "suspicious_tld", "phishing_keywords"],
            ),
        ];
        for (url, level, want) in table {
            let a = assess(url, &bl, t, None);
            assert_eq!(a.level, *level, "{url}: {a:?}");
            assert_eq!(rules(&a), *want, "{url}");
            assert!(a.score <= 100);
            assert!(a.reasons.iter().all(|r| !r.detail.is_empty()));
        }
    }

    #[test]
    fn what_the_canary_saw_counts() {
        let bl = Blocklist::parse("evil.example");
        let seen = CanaryView { final_url: Some("https://landing.other.example/x".into()) };
        let a = assess("https://example.com/", &bl, Thresholds::default(), Some(&seen));
        assert_eq!(rules(&a), ["cross_domain_redirect"]);
        let same = CanaryView { final_url: Some("https://www.example.com/x".into()) };
        assert!(assess("https://example.com/", &bl, Thresholds::default(), Some(&same)).reasons.is_empty());
        let bad = CanaryView { final_url: Some("https://x.evil.example/".into()) };
        assert_eq!(
            assess("https://example.com/", &bl, Thresholds::default(), Some(&bad)).level,
            Level::Blocked
        );
    }

    #[test]
    fn thresholds_decide_levels() {
        let a =
            assess("http://203.0.113.9/", &Blocklist::default(), Thresholds { medium: 10, high: 20 }, None);
        assert_eq!(a.level, Level::High);
        assert_eq!(Blocklist::parse("a.example\n# c\nb.example").len(), 2);
    }
}
