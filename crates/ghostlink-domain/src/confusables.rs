//! Look-alikes of commonly impersonated domains (homographs): `pаypal.com` with a Cyrillic `а`,
//! `аррӏе.com` written wholly in Cyrillic, `gοοgle.com` with Greek omicrons, `paypa1.com`.
//!
//! A host is compared by its registrable label (the label left of its public suffix: `paypal`
//! in `login.paypal.co.uk`) against the labels of a curated list of brands' domains
//! (`data/impersonated-domains.txt`), through the Unicode TR #39 confusable *skeleton*: two
//! strings that look alike have the same skeleton. Skeletons are compared lower-cased, since
//! domain names are case-insensitive (`0` has the prototype `O`, so `g00gle` meets `google`).
//! A host that is a listed domain or under one is the brand itself; a host whose label has a
//! brand label's skeleton but is not that label is a look-alike. A host with the brand's exact
//! label under another suffix (`paypal.example`) is not a homograph and is left to other rules.
//!
//! The brands' skeletons are computed once, on first use. Stored URLs carry punycode hosts
//! (`xn--pypal-4ve.com`): they are decoded before comparing.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use unicode_security::confusable_detection::skeleton;

/// The curated list: one registrable domain per line, `#` comments.
const DATA: &str = include_str!("../data/impersonated-domains.txt");

/// Brand labels shorter than this are too short to judge: too many unrelated names look alike.
pub const MIN_LABEL_CHARS: usize = 3;

/// Public suffixes of two labels that the listed brands (and their look-alikes) live under.
/// Any other host's suffix is taken to be its last label.
const TWO_LABEL_SUFFIXES: &[&str] = &[
    "co.uk", "org.uk", "gov.uk", "ac.uk", "com.au", "net.au", "org.au", "gov.au", "co.nz", "govt.nz",
    "co.jp", "ne.jp", "or.jp", "go.jp", "co.kr", "go.kr", "com.br", "gov.br", "com.mx", "gob.mx", "co.in",
    "gov.in", "com.cn", "gov.cn", "com.tw", "com.hk", "com.sg", "gov.sg", "co.za", "gov.za", "com.tr",
    "gov.tr", "com.ar", "gob.ar", "co.il", "gov.il", "com.my", "co.id", "go.id", "com.ph", "com.ng", "co.ke",
    "com.sa", "gov.sa", "com.eg", "com.pk", "com.vn", "co.th", "go.th", "com.ua", "gov.ua", "co.at", "gv.at",
    "com.pl", "gov.pl", "gouv.fr", "gov.it", "gob.es", "gov.ru", "com.co",
];

/// A host that imitates a listed domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookalike {
    /// The host as a reader sees it (Unicode).
    pub host: String,
    /// The listed domain it looks like.
    pub brand: &'static str,
}

struct Brands {
    /// Every listed domain, Unicode, lower case.
    domains: HashSet<String>,
    /// Skeleton of a brand label → (the label, one of its domains).
    by_skeleton: HashMap<String, Vec<(String, &'static str)>>,
}

static BRANDS: LazyLock<Brands> = LazyLock::new(|| {
    let mut brands = Brands { domains: HashSet::new(), by_skeleton: HashMap::new() };
    for entry in entries() {
        let domain = to_unicode(entry);
        if let Some((label, _)) = registrable(&domain) {
            if label.chars().count() >= MIN_LABEL_CHARS {
                brands.by_skeleton.entry(skeleton_of(label)).or_default().push((label.to_string(), entry));
            }
        }
        brands.domains.insert(domain);
    }
    brands
});

/// The listed domains, as written in the data file.
fn entries() -> impl Iterator<Item = &'static str> {
    DATA.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty())
}

/// The listed domain `host` imitates, if it is a look-alike of one (see the module docs).
/// `host` may be punycode or Unicode.
pub fn lookalike(host: &str) -> Option<Lookalike> {
    let brands = &*BRANDS;
    let host = to_unicode(host);
    if covered(&brands.domains, &host) {
        return None;
    }
    let (label, _) = registrable(&host)?;
    let candidates = brands.by_skeleton.get(&skeleton_of(label))?;
    if candidates.iter().any(|(brand_label, _)| brand_label == label) {
        return None;
    }
    let brand = candidates.first()?.1;
    Some(Lookalike { host, brand })
}

/// The TR #39 skeleton of `s`, lower-cased.
fn skeleton_of(s: &str) -> String {
    skeleton(s).flat_map(char::to_lowercase).collect()
}

/// `(registrable label, registrable domain)` of a host: `("paypal", "paypal.co.uk")` for
/// `login.paypal.co.uk`. `None` for a single label.
fn registrable(host: &str) -> Option<(&str, String)> {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    let n = labels.len();
    if n < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let suffix =
        if n >= 3 && TWO_LABEL_SUFFIXES.contains(&labels[n - 2..].join(".").as_str()) { 2 } else { 1 };
    let at = n.checked_sub(suffix + 1)?;
    Some((labels[at], labels[at..].join(".")))
}

/// Whether `host` is one of `domains` or under one.
fn covered(domains: &HashSet<String>, host: &str) -> bool {
    let mut rest = host.trim_end_matches('.');
    loop {
        if domains.contains(rest) {
            return true;
        }
        match rest.find('.') {
            Some(i) => rest = &rest[i + 1..],
            None => return false,
        }
    }
}

/// A host in Unicode, lower case (punycode labels decoded; undecodable input kept as given).
fn to_unicode(host: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(host);
    if result.is_ok() {
        unicode
    } else {
        host.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_domain_is_valid_long_enough_and_not_a_lookalike_of_another() {
        let mut n = 0;
        for entry in entries() {
            n += 1;
            assert!(idna::domain_to_ascii(entry).is_ok(), "{entry} is not a domain name");
            let unicode = to_unicode(entry);
            let (label, _) = registrable(&unicode).unwrap_or_else(|| panic!("{entry}: no registrable label"));
            assert!(label.chars().count() >= MIN_LABEL_CHARS, "{entry}: label too short to judge");
            assert_eq!(lookalike(entry), None, "{entry}");
            assert_eq!(lookalike(&format!("www.{entry}")), None, "www.{entry}");
        }
        assert!(n >= 300, "{n} domains listed");
    }

    #[test]
    fn registrable_labels_know_two_label_suffixes() {
        assert_eq!(registrable("login.paypal.co.uk"), Some(("paypal", "paypal.co.uk".to_string())));
        assert_eq!(registrable("a.b.paypal.com."), Some(("paypal", "paypal.com".to_string())));
        assert_eq!(registrable("co.uk"), Some(("co", "co.uk".to_string())));
        assert_eq!(registrable("localhost"), None);
    }
}
