//! Destination risk scoring: named rules, each adding a weight with a reason, summed into a
//! 0–100 score and a level. Pure: the blocklist and thresholds come in as values, so the risk
//! scorer, the shortener's creation check and `ghostctl risk rescore` all score alike.
//!
//! Two rules set a floor under the level whatever the score: a blocklisted destination is
//! `blocked`, and a look-alike of a commonly impersonated domain (`brand_lookalike`, see
//! [`crate::confusables`]) is at least `high`, since its one purpose is to be mistaken for the
//! brand.

use serde::{Deserialize, Serialize};
use url::{Host, Url};

crate::named::named_enum! {
    /// How risky a destination is (ordered: `Low < Medium < High < Blocked`).
    #[derive(PartialOrd, Ord)]
    pub enum Level: "risk level" {
        Low = "low",
        Medium = "medium",
        High = "high",
        /// Never redirected to (451), refused at creation.
        Blocked = "blocked",
    }
}

/// One rule's contribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub rule: String,
    pub weight: u32,
    pub detail: String,
}

/// `rule: detail`, the sentence the warning page shows.
impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
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
    let mut floor = Level::Low;
    let mut add =
        |rule: &str, weight: u32, detail: String| reasons.push(Reason { rule: rule.into(), weight, detail });
    let Ok(parsed) = Url::parse(url) else {
        add("unparseable", 100, "the destination is not a valid URL".into());
        return finish(reasons, thresholds, Level::Blocked);
    };
    let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
    if let Some(d) = blocklist.covering(&host) {
        add("blocklist", 100, format!("{host} is covered by the blocklist entry {d}"));
        return finish(reasons, thresholds, Level::Blocked);
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
    if let Some(l) = crate::confusables::lookalike(&host) {
        add(
            "brand_lookalike",
            60,
            format!("{} ({host}) looks like {} but is not it (same confusable skeleton)", l.host, l.brand),
        );
        floor = Level::High;
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
            return finish(reasons, thresholds, Level::Blocked);
        }
    }
    finish(reasons, thresholds, floor)
}

/// Sums the weights; the level is the score's, or `floor` when that is higher.
fn finish(reasons: Vec<Reason>, t: Thresholds, floor: Level) -> Assessment {
    let score = reasons.iter().map(|r| r.weight).sum::<u32>().min(100);
    let by_score = if score >= t.high {
        Level::High
    } else if score >= t.medium {
        Level::Medium
    } else {
        Level::Low
    };
    Assessment { score, level: by_score.max(floor), reasons }
}

/// A link's risk: its destination's [`assess`]ment, made worse by any of its redirect rules'
/// destinations (`rule_urls`, in order) that scores worse — a link is as risky as the worst
/// place it can send a visitor. The worst rule's reasons are added, each detail naming the rule
/// (`rules[1]: ...`).
pub fn assess_link(
    url: &str,
    rule_urls: &[&str],
    blocklist: &Blocklist,
    thresholds: Thresholds,
    canary: Option<&CanaryView>,
) -> Assessment {
    let mut worst = assess(url, blocklist, thresholds, canary);
    let rules = rule_urls.iter().enumerate().map(|(i, u)| (i, assess(u, blocklist, thresholds, None)));
    let Some((i, rule)) = rules.max_by_key(|(i, a)| (a.level, a.score, std::cmp::Reverse(*i))) else {
        return worst;
    };
    if (rule.level, rule.score) > (worst.level, worst.score) {
        worst.level = rule.level;
        worst.score = rule.score;
        worst.reasons.extend(
            rule.reasons.into_iter().map(|r| Reason { detail: format!("rules[{i}]: {}", r.detail), ..r }),
        );
    }
    worst
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
            ("https://xn--mnchen-3ya.de/", Level::Low, &["punycode_host"]),
            ("https://xn--pple-43d.com/", Level::High, &["punycode_host", "brand_lookalike"]),
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

    /// The destination as the shortener stores it (punycode host), then scored.
    fn score(raw: &str) -> Assessment {
        let stored = crate::normalize_url(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
        assess(&stored, &Blocklist::default(), Thresholds::default(), None)
    }

    #[test]
    fn lookalikes_of_impersonated_domains_score_high_and_name_their_rule() {
        let lookalikes: &[(&str, &str)] = &[
            // Cyrillic а in a Latin name (mixed script), with and without a login path.
            ("https://p\u{430}ypal.com/signin", "paypal.com"),
            ("https://p\u{430}ypal.com/", "paypal.com"),
            ("https://login.p\u{430}ypal.com/", "paypal.com"),
            ("https://b\u{430}nkofamerica.com/login", "bankofamerica.com"),
            ("https://b\u{430}rclays.co.uk/", "barclays.co.uk"),
            // Whole-script Cyrillic: аррӏе.
            ("https://\u{430}\u{440}\u{440}\u{4cf}\u{435}.com/", "apple.com"),
            // Greek omicrons, Armenian oh.
            ("https://g\u{3bf}\u{3bf}gle.com/", "google.com"),
            ("https://faceb\u{3bf}\u{3bf}k.com/login", "facebook.com"),
            ("https://g\u{585}\u{585}gle.com/", "google.com"),
            // Full-width letters map to ASCII on the way in; what is left still looks alike.
            ("https://\u{ff50}\u{ff41}\u{ff59}\u{ff50}\u{ff41}\u{ff11}.com/", "paypal.com"),
            ("https://\u{ff52}\u{ff4e}icrosoft.com/", "microsoft.com"),
            ("https://\u{ff50}\u{430}\u{ff59}\u{ff50}\u{ff41}\u{ff4c}.com/", "paypal.com"),
            // ASCII confusables: 1/l, rn/m, 0/o.
            ("https://paypa1.com/", "paypal.com"),
            ("https://arnazon.com/", "amazon.com"),
            ("https://g00gle.com/", "google.com"),
            // Already punycode, as stored: pаypal.com, аррӏе.com, gοοgle.com, gօօgle.com.
            ("https://xn--pypal-4ve.com/login", "paypal.com"),
            ("https://xn--80ak6aa92e.com/", "apple.com"),
            ("https://xn--ggle-0nda.com/", "google.com"),
            ("https://www.xn--ggle-vifa.com/", "google.com"),
            // Another suffix does not help.
            ("https://c\u{43e}inbase.io/", "coinbase.com"),
            ("https://\u{441}hase.co.uk/", "chase.com"),
        ];
        for (url, brand) in lookalikes {
            let a = score(url);
            assert_eq!(a.level, Level::High, "{url}: {a:?}");
            let reason = a.reasons.iter().find(|r| r.rule == "brand_lookalike");
            let reason = reason.unwrap_or_else(|| panic!("{url}: no brand_lookalike in {a:?}"));
            assert!(reason.detail.contains(brand), "{url}: {}", reason.detail);
        }
        // The floor holds whatever the thresholds: a look-alike is high, even if its score is not.
        let strict = Thresholds { medium: 90, high: 99 };
        let stored = crate::normalize_url("https://p\u{430}ypal.com/").expect("url");
        assert_eq!(assess(&stored, &Blocklist::default(), strict, None).level, Level::High);
        // ... but the blocklist still wins.
        let bl = Blocklist::parse("xn--pypal-4ve.com");
        assert_eq!(assess(&stored, &bl, Thresholds::default(), None).level, Level::Blocked);
    }

    #[test]
    fn legitimate_idns_and_the_brands_themselves_stay_low() {
        let legitimate = [
            "https://m\u{fc}nchen.de/",
            "https://xn--mnchen-3ya.de/",
            "https://b\u{fc}cher.de/",
            "https://\u{65e5}\u{672c}.jp/",
            "https://\u{43f}\u{440}\u{438}\u{43c}\u{435}\u{440}.\u{440}\u{444}/",
            // A brand's own internationalised domain: госуслуги.рф, сбербанк.рф.
            "https://\u{433}\u{43e}\u{441}\u{443}\u{441}\u{43b}\u{443}\u{433}\u{438}.\u{440}\u{444}/",
            "https://xn--80abap1arsf.xn--p1ai/",
            "https://paypal.com/",
            "https://www.paypal.com/",
            "https://accounts.google.com/",
            "https://apple.com/",
            "https://barclays.co.uk/",
            "https://gosuslugi.ru/",
            // Full-width spelling of the brand is the brand (the browser goes there too).
            "https://\u{ff50}\u{ff41}\u{ff59}\u{ff50}\u{ff41}\u{ff4c}.com/",
            // The brand's exact label under another name is not a homograph.
            "https://paypal.example/",
            "https://apple.stackexchange.com/",
            "https://www.rust-lang.org/",
        ];
        for url in legitimate {
            let a = score(url);
            assert_eq!(a.level, Level::Low, "{url}: {a:?}");
            assert!(!a.reasons.iter().any(|r| r.rule == "brand_lookalike"), "{url}: {a:?}");
        }
    }

    #[test]
    fn thresholds_decide_levels() {
        let a =
            assess("http://203.0.113.9/", &Blocklist::default(), Thresholds { medium: 10, high: 20 }, None);
        assert_eq!(a.level, Level::High);
        assert_eq!(Blocklist::parse("a.example\n# c\nb.example").len(), 2);
    }

    #[test]
    fn a_link_is_as_risky_as_its_worst_rule_destination() {
        let list = Blocklist::parse("evil.example\n");
        let t = Thresholds::default();
        let plain = assess_link("https://ok.example/", &[], &list, t, None);
        assert_eq!(plain, assess("https://ok.example/", &list, t, None));
        let same = assess_link("https://ok.example/", &["https://fine.example/"], &list, t, None);
        assert_eq!(same.level, Level::Low);
        let bad = assess_link(
            "https://ok.example/",
            &["https://fine.example/", "https://login.evil.example/"],
            &list,
            t,
            None,
        );
        assert_eq!(bad.level, Level::Blocked);
        assert!(
            bad.reasons.iter().any(|r| r.rule == "blocklist" && r.detail.starts_with("rules[1]: ")),
            "{bad:?}"
        );
    }
}
