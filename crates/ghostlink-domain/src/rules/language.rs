//! The `language` condition: a rule's language tags against the request's `Accept-Language`.
//!
//! Each tag of a rule is a basic language range (RFC 4647 §2.1) and the request's accepted
//! languages are the tags it filters (§3.3.1): `de` matches `de`, `de-AT` and `de-CH`;
//! `pt-BR` matches `pt-BR` but not `pt` nor `pt-PT`; case never matters. Every language the
//! request accepts counts, whatever its weight, except those with `q=0` ("not acceptable");
//! rules are ordered by the link's owner, so weights do not reorder them. A `*` in the header
//! names no language and matches no rule.

use std::fmt;
use std::str::FromStr;

/// At most this many `Accept-Language` entries are read; the rest are ignored.
pub const MAX_ACCEPT_LANGUAGE_ENTRIES: usize = 32;
/// An `Accept-Language` entry longer than this is no language tag and is skipped.
const MAX_ENTRY_TAG_BYTES: usize = 64;

/// A well-formed BCP 47 language tag without extensions or private use (`de`, `pt-BR`,
/// `zh-Hant-TW`), in its normal case (`EN-us` is `en-US`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LanguageRange(String);

/// Text that is not a [`LanguageRange`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{}' is not a well-formed language tag (like de, pt-BR)", super::error::shown(.0))]
pub struct BadLanguage(pub String);

impl LanguageRange {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this range matches a request's language tag (RFC 4647 basic filtering).
    pub fn matches(&self, tag: &str) -> bool {
        let (r, t) = (self.0.as_bytes(), tag.as_bytes());
        match t.len().cmp(&r.len()) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => t.eq_ignore_ascii_case(r),
            std::cmp::Ordering::Greater => t[r.len()] == b'-' && t[..r.len()].eq_ignore_ascii_case(r),
        }
    }
}

impl FromStr for LanguageRange {
    type Err = BadLanguage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadLanguage(s.to_owned());
        if s.len() > MAX_ENTRY_TAG_BYTES || (s.starts_with(['x', 'X']) && s.get(1..2) == Some("-")) {
            return Err(bad());
        }
        let tag = language_tags::LanguageTag::parse(s).map_err(|_| bad())?;
        if !tag.is_language_range() {
            return Err(bad());
        }
        Ok(Self(tag.into_string()))
    }
}

impl TryFrom<String> for LanguageRange {
    type Error = BadLanguage;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<LanguageRange> for String {
    fn from(l: LanguageRange) -> Self {
        l.0
    }
}

impl fmt::Display for LanguageRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// The language tags an `Accept-Language` header accepts (weight above 0), in header order.
/// Entries that are not plausibly tags, have a malformed weight, or come after the first
/// [`MAX_ACCEPT_LANGUAGE_ENTRIES`] are skipped.
pub fn accepted_languages(header: &str) -> Vec<&str> {
    header
        .split(',')
        .take(MAX_ACCEPT_LANGUAGE_ENTRIES)
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let tag = parts.next()?.trim();
            let plausible = !tag.is_empty()
                && tag.len() <= MAX_ENTRY_TAG_BYTES
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !plausible {
                return None;
            }
            for param in parts {
                let (name, value) = param.split_once('=')?;
                if name.trim().eq_ignore_ascii_case("q") && qvalue_millis(value.trim())? == 0 {
                    return None;
                }
            }
            Some(tag)
        })
        .collect()
}

/// An RFC 9110 `qvalue` in thousandths: `0`, `0.5`, `1.000`; `None` when malformed.
fn qvalue_millis(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_millis = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match (int, frac_millis) {
        ("0", m) => Some(m),
        ("1", 0) => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> LanguageRange {
        s.parse().expect(s)
    }

    #[test]
    fn tags_are_checked_and_normalised() {
        assert_eq!(range("EN-us").as_str(), "en-US");
        assert_eq!(range("zh-hant-tw").as_str(), "zh-Hant-TW");
        assert_eq!(range("de").as_str(), "de");
        for bad in [
            "",
            "*",
            "d",
            "de_DE",
            "english-language-tag",
            "de-",
            "x-private",
            "en-u-ca-gregory",
            "de\u{0}",
            "ü",
        ] {
            assert!(bad.parse::<LanguageRange>().is_err(), "{bad:?}");
        }
        let huge = "a".repeat(100_000);
        let err = huge.parse::<LanguageRange>().expect_err("huge");
        assert!(err.to_string().len() < 200, "the message quotes a bounded part of the input");
    }

    #[test]
    fn basic_filtering() {
        let de = range("de");
        assert!(de.matches("de"));
        assert!(de.matches("DE-at"));
        assert!(de.matches("de-CH-1996"));
        assert!(!de.matches("den"));
        assert!(!de.matches("d"));
        assert!(!de.matches("*"));
        let pt_br = range("pt-BR");
        assert!(pt_br.matches("pt-br"));
        assert!(!pt_br.matches("pt"));
        assert!(!pt_br.matches("pt-PT"));
    }

    #[test]
    fn accept_language_parsing() {
        assert_eq!(accepted_languages("de-AT,de;q=0.9,en;q=0.8"), ["de-AT", "de", "en"]);
        assert_eq!(accepted_languages(" fr ; q=1.0 , en;q=0 , it;q=0.000, es;Q=0.001"), ["fr", "es"]);
        // Malformed weights and values are skipped, not guessed at.
        assert_eq!(accepted_languages("de;q=2,en;q=abc,fr;q=0.1234,nl;q,pl;q=0.5"), ["pl"]);
        assert_eq!(accepted_languages("*,de\u{0},ü,;q=1,,"), Vec::<&str>::new());
        assert_eq!(accepted_languages(""), Vec::<&str>::new());
    }

    #[test]
    fn hostile_accept_language_is_bounded() {
        let many = "xx,".repeat(100_000) + "de";
        let got = accepted_languages(&many);
        assert_eq!(got.len(), MAX_ACCEPT_LANGUAGE_ENTRIES);
        assert!(!got.contains(&"de"));
        let long_entry = format!("{},de", "a-".repeat(50_000));
        assert_eq!(accepted_languages(&long_entry), ["de"]);
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue_millis("0"), Some(0));
        assert_eq!(qvalue_millis("0."), Some(0));
        assert_eq!(qvalue_millis("0.5"), Some(500));
        assert_eq!(qvalue_millis("0.05"), Some(50));
        assert_eq!(qvalue_millis("1"), Some(1000));
        assert_eq!(qvalue_millis("1.000"), Some(1000));
        assert_eq!(qvalue_millis("1.001"), None);
        assert_eq!(qvalue_millis("-0"), None);
        assert_eq!(qvalue_millis(""), None);
    }
}
