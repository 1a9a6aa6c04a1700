//! Per-link redirect rules: an ordered list of "when all these conditions hold, go there".
//!
//! A link may carry up to [`MAX_RULES`] rules; the first whose conditions all hold gives the
//! destination and, when none does, the link's own destination is used. Conditions look at
//! the device and OS (from `User-Agent`), the accepted languages, the GeoIP country, a query
//! parameter of the short URL, and the time. Everything here is pure: the caller passes the
//! request's raw header values, the looked-up country and `now` in a [`RequestFacts`].
//!
//! Rules come in as JSON ([`RuleInput`], the API's shape) and are validated once, at
//! creation, into [`Rule`]s whose values are typed (enums, normalised tags and codes), which
//! is what is stored and evaluated on every redirect. A stored rule serialises to the same
//! JSON the API accepts.

mod client;
mod country;
mod error;
mod facts;
mod input;
mod language;

pub use client::{classify, classify_with_browser, warm_up, Client, DeviceType, Os, MAX_UA_BYTES};
pub use country::{BadCountry, CountryCode};
pub use error::{RuleField, RuleProblem, RulesError};
pub use facts::RequestFacts;
pub use input::{validate_rules, ConditionInput, RuleInput};
pub use language::{accepted_languages, BadLanguage, LanguageRange, MAX_ACCEPT_LANGUAGE_ENTRIES};

use chrono::{DateTime, Utc};

/// Most rules one link may have.
pub const MAX_RULES: usize = 20;
/// Most conditions one rule may have.
pub const MAX_CONDITIONS: usize = 10;
/// Most values one `is` list may have.
pub const MAX_VALUES: usize = 64;
/// Longest query parameter name a `query` condition may ask about.
pub const MAX_PARAM_NAME_BYTES: usize = 64;
/// Longest query parameter value a `query` condition may ask about.
pub const MAX_PARAM_VALUE_BYTES: usize = 256;
/// At most this many parameters of the short URL's query are looked at.
pub const MAX_QUERY_PAIRS: usize = 100;

/// One validated rule: when every condition holds, redirect to `url` (normalised).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub conditions: Vec<Condition>,
    pub url: String,
}

/// One validated condition of a rule. Lists match when any of their values does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    Device {
        is: Vec<DeviceType>,
    },
    Os {
        is: Vec<Os>,
    },
    /// Basic language ranges against the request's accepted languages (see `language.rs`).
    Language {
        is: Vec<LanguageRange>,
    },
    /// A request whose country is unknown matches no country condition.
    Country {
        is: Vec<CountryCode>,
    },
    /// The short URL's query has a parameter `name` (percent-decoded), equal to `value` when
    /// one is given.
    Query {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// `start <= now < end`; a missing bound is open.
    Time {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<DateTime<Utc>>,
    },
}

impl Condition {
    /// Whether this condition needs the parsed user agent (the one costly reading).
    pub fn reads_user_agent(&self) -> bool {
        matches!(self, Condition::Device { .. } | Condition::Os { .. })
    }

    /// Whether the request satisfies this condition.
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        match self {
            Condition::Device { is } => is.contains(&facts.client().device),
            Condition::Os { is } => is.contains(&facts.client().os),
            Condition::Language { is } => {
                facts.languages().iter().any(|tag| is.iter().any(|range| range.matches(tag)))
            }
            Condition::Country { is } => facts.country_value().is_some_and(|c| is.contains(&c)),
            Condition::Query { name, value } => facts.query_value().is_some_and(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .take(MAX_QUERY_PAIRS)
                    .any(|(k, v)| k == name.as_str() && value.as_ref().is_none_or(|want| v == want.as_str()))
            }),
            Condition::Time { start, end } => {
                let now = facts.now();
                start.is_none_or(|s| s <= now) && end.is_none_or(|e| now < e)
            }
        }
    }
}

impl Rule {
    /// Whether every condition holds. The conditions that need the user agent are checked
    /// last, so it is parsed only for a rule whose other conditions already hold. (A rule
    /// without conditions, which validation refuses, would match every request.)
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        let holds = |ua: bool| {
            self.conditions.iter().filter(|c| c.reads_user_agent() == ua).all(|c| c.matches(facts))
        };
        holds(false) && holds(true)
    }
}

/// The first rule the request satisfies: its index and destination. `None`: use the link's
/// own destination.
pub fn evaluate<'r>(rules: &'r [Rule], facts: &RequestFacts<'_>) -> Option<(usize, &'r str)> {
    rules.iter().enumerate().find(|(_, r)| r.matches(facts)).map(|(i, r)| (i, r.url.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid date")
    }

    fn rules(json: &str) -> Vec<Rule> {
        let input: Vec<RuleInput> = serde_json::from_str(json).expect("rule json");
        validate_rules(&input).expect("valid rules")
    }

    fn example() -> Vec<Rule> {
        rules(
            r#"[
            {"conditions":[{"type":"device","is":["mobile"]},{"type":"country","is":["de","AT"]}],"url":"https://m.example.de/"},
            {"conditions":[{"type":"os","is":["ios"]}],"url":"https://apps.apple.example/"},
            {"conditions":[{"type":"language","is":["pt-br"]}],"url":"https://example.com/pt"},
            {"conditions":[{"type":"query","name":"ref","value":"mail"}],"url":"https://example.com/mail"},
            {"conditions":[{"type":"query","name":"debug"}],"url":"https://example.com/debug"},
            {"conditions":[{"type":"time","start":"2030-01-01T00:00:00+01:00"}],"url":"https://example.com/future"}
        ]"#,
        )
    }

    #[test]
    fn first_matching_rule_wins() {
        let rules = example();
        let now = at(2025, 6, 1);
        let eval = |f: RequestFacts<'_>| evaluate(&rules, &f).map(|(i, _)| i);
        let iphone = || RequestFacts::new(now).user_agent(Some(IPHONE));
        assert_eq!(eval(iphone().country(Some("DE"))), Some(0));
        assert_eq!(eval(iphone().country(Some("FR"))), Some(1));
        assert_eq!(eval(iphone()), Some(1), "no country: the country rule does not hold");
        let win = || RequestFacts::new(now).user_agent(Some(WINDOWS));
        assert_eq!(eval(win().country(Some("de"))), None);
        assert_eq!(eval(win().accept_language(Some("en;q=0.9, pt-BR;q=0.1"))), Some(2));
        assert_eq!(eval(win().accept_language(Some("pt-BR;q=0, pt"))), None);
        assert_eq!(eval(win().query(Some("a=1&ref=mail"))), Some(3));
        assert_eq!(eval(win().query(Some("ref=other"))), None);
        assert_eq!(eval(win().query(Some("debug"))), Some(4));
        assert_eq!(eval(win().query(Some("de%62ug=1"))), Some(4), "names are percent-decoded");
        let dec31 = |h| Utc.with_ymd_and_hms(2029, 12, 31, h, 30, 0).single().expect("valid");
        assert_eq!(eval(RequestFacts::new(dec31(23)).user_agent(Some(WINDOWS))), Some(5), "+01:00 is 23:00Z");
        assert_eq!(eval(RequestFacts::new(dec31(22)).user_agent(Some(WINDOWS))), None);
        assert_eq!(evaluate(&rules, &RequestFacts::new(now)).map(|(_, url)| url), None);
        let facts = iphone().country(Some("AT"));
        assert_eq!(evaluate(&rules, &facts), Some((0, "https://m.example.de/")));
    }

    #[test]
    fn user_agent_is_parsed_once_and_only_when_needed() {
        let all = example();
        let facts = RequestFacts::new(at(2025, 6, 1)).user_agent(Some(WINDOWS)).query(Some("ref=mail"));
        // Rule 0 asks for a country first; none is known, so its device condition is not read.
        let cheap = rules(
            r#"[{"conditions":[{"type":"country","is":["DE"]},{"type":"device","is":["mobile"]}],"url":"https://a.example/"}]"#,
        );
        assert_eq!(evaluate(&cheap, &facts), None);
        assert!(!facts.client_parsed());
        assert_eq!(evaluate(&all, &facts).map(|(i, _)| i), Some(3));
        assert!(facts.client_parsed(), "rule 1 needed the OS");
        // A link without device or OS rules never parses it.
        let plain = rules(r#"[{"conditions":[{"type":"query","name":"x"}],"url":"https://a.example/"}]"#);
        let facts = RequestFacts::new(at(2025, 6, 1)).user_agent(Some(WINDOWS));
        assert_eq!(evaluate(&plain, &facts), None);
        assert!(!facts.client_parsed());
    }

    #[test]
    fn time_windows() {
        let w = rules(
            r#"[{"conditions":[{"type":"time","start":"2025-01-01T00:00:00Z","end":"2025-02-01T00:00:00Z"}],"url":"https://a.example/"},
                {"conditions":[{"type":"time","end":"2025-01-01T00:00:00Z"}],"url":"https://b.example/"}]"#,
        );
        let at_idx = |t| evaluate(&w, &RequestFacts::new(t)).map(|(i, _)| i);
        assert_eq!(at_idx(at(2024, 12, 31)), Some(1));
        assert_eq!(at_idx(at(2025, 1, 1)), Some(0), "start is inclusive");
        assert_eq!(at_idx(at(2025, 2, 1)), None, "end is exclusive");
    }

    #[test]
    fn hostile_requests_match_nothing_and_do_not_panic() {
        let rules = example();
        let huge_lang = "pt-BR;q=0,".repeat(50_000) + "pt-BR";
        let huge_query = "ref=x&".repeat(50_000) + "ref=mail";
        let junk_ua = "\u{0}\u{1b}[31m(((;;".repeat(10_000);
        let facts = RequestFacts::new(at(2025, 6, 1))
            .user_agent(Some(&junk_ua))
            .accept_language(Some(&huge_lang))
            .query(Some(&huge_query))
            .country(Some("D\u{0}"));
        assert_eq!(evaluate(&rules, &facts), None);
        assert_eq!(facts.country_value(), None);
    }

    #[test]
    fn stored_rules_are_the_api_shape() {
        let rules = example();
        let json = serde_json::to_string(&rules).expect("serialise");
        assert!(json.contains(r#"{"type":"country","is":["DE","AT"]}"#), "{json}");
        assert!(json.contains(r#"{"type":"language","is":["pt-BR"]}"#), "{json}");
        assert!(json.contains(r#""start":"2029-12-31T23:00:00Z""#), "{json}");
        let again: Vec<RuleInput> = serde_json::from_str(&json).expect("as input");
        assert_eq!(validate_rules(&again).as_ref(), Ok(&rules));
        let stored: Vec<Rule> = serde_json::from_str(&json).expect("as stored");
        assert_eq!(stored, rules);
        // A stored value its type cannot hold is refused, not defaulted.
        assert!(serde_json::from_str::<Rule>(
            r#"{"conditions":[{"type":"device","is":["phone"]}],"url":"https://a.example/"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Rule>(
            r#"{"conditions":[{"type":"country","is":["DEU"]}],"url":"https://a.example/"}"#
        )
        .is_err());
    }
}
