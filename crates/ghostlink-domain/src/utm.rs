//! Query forwarding and UTM tagging: what a link's destination becomes for one request.
//!
//! A link may store UTM values (`utm_source`, `utm_medium`, `utm_campaign`, `utm_term`,
//! `utm_content`) that are added to its destination, and may forward the short URL's own
//! query string (`/abc?ref=mail` → `https://dest/?ref=mail`). When keys collide, the
//! destination wins over the stored UTM values, and both win over the request: a parameter
//! the destination (or a stored UTM value) already has is never added again nor replaced, so
//! the owner's URL means what it says. Every other request parameter is appended in request
//! order, repeated keys included (Shlink appends too).
//!
//! Parameters are decoded and re-encoded with `application/x-www-form-urlencoded` rules, so
//! whatever a client sends arrives percent-encoded; bytes that are not UTF-8 become U+FFFD.
//! The destination's own query is kept byte for byte. The result must still be a safe
//! `Location` ([`safe_location`]) of at most [`MAX_URL_BYTES`]; one that is not is an error,
//! and the caller then redirects to the plain destination.

use std::borrow::Cow;

use url::Url;

use crate::url_rules::{safe_location, UrlError, MAX_URL_BYTES};

/// Longest stored UTM value, in bytes.
pub const MAX_UTM_VALUE_BYTES: usize = 256;
/// At most this many parameters of the short URL's query are forwarded.
pub const MAX_FORWARDED_PARAMS: usize = 100;

/// A link's stored UTM values; an absent one is not added.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// What a link does with queries: forward the short URL's, add UTM values.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOptions {
    #[serde(default)]
    pub forward_query: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm: Option<Utm>,
}

/// Refused UTM values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UtmError {
    #[error("utm: give at least one of source, medium, campaign, term, content")]
    NoValues,
    #[error("utm.{field}: must not be empty")]
    Empty { field: &'static str },
    #[error("utm.{field}: must be at most {MAX_UTM_VALUE_BYTES} bytes")]
    TooLong { field: &'static str },
    #[error("utm.{field}: must not contain control characters")]
    ControlCharacters { field: &'static str },
}

impl UtmError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            UtmError::NoValues => "utm_no_values",
            UtmError::Empty { .. } => "utm_empty",
            UtmError::TooLong { .. } => "utm_too_long",
            UtmError::ControlCharacters { .. } => "utm_control_characters",
        }
    }
}

impl Utm {
    /// The set values with their field names (`source`, …), in the order they are added.
    fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("source", &self.source),
            ("medium", &self.medium),
            ("campaign", &self.campaign),
            ("term", &self.term),
            ("content", &self.content),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
    }

    /// The query parameters this adds: `("utm_source", value)`, ….
    pub fn params(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields().map(|(name, v)| (utm_key(name), v))
    }

    /// Checks the values when a link is created or changed.
    pub fn validate(&self) -> Result<(), UtmError> {
        let mut any = false;
        for (field, v) in self.fields() {
            any = true;
            if v.is_empty() {
                return Err(UtmError::Empty { field });
            }
            if v.len() > MAX_UTM_VALUE_BYTES {
                return Err(UtmError::TooLong { field });
            }
            if v.chars().any(char::is_control) {
                return Err(UtmError::ControlCharacters { field });
            }
        }
        if any {
            Ok(())
        } else {
            Err(UtmError::NoValues)
        }
    }
}

fn utm_key(field: &str) -> &'static str {
    match field {
        "source" => "utm_source",
        "medium" => "utm_medium",
        "campaign" => "utm_campaign",
        "term" => "utm_term",
        _ => "utm_content",
    }
}

/// The destination for one request: `dest` (a stored, normalised destination) with the
/// link's UTM values and, when it forwards queries, the short URL's query (`request_query`,
/// without `?`). Borrowed when nothing is added.
pub fn destination_with<'d>(
    dest: &'d str,
    request_query: Option<&str>,
    opts: &QueryOptions,
) -> Result<Cow<'d, str>, UrlError> {
    let forwarded = request_query.filter(|q| opts.forward_query && !q.is_empty());
    if opts.utm.is_none() && forwarded.is_none() {
        return Ok(Cow::Borrowed(dest));
    }
    let mut url = Url::parse(dest).map_err(|e| UrlError::Malformed(e.to_string()))?;
    let mut taken: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    taken.sort_unstable();
    let has = |taken: &[String], k: &str| taken.binary_search_by(|t| t.as_str().cmp(k)).is_ok();

    let mut add: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    if let Some(utm) = &opts.utm {
        for (k, v) in utm.params() {
            if !has(&taken, k) {
                add.push((Cow::Borrowed(k), Cow::Borrowed(v)));
            }
        }
        // The stored values win over the request's too.
        taken.extend(add.iter().map(|(k, _)| k.to_string()));
        taken.sort_unstable();
    }
    if let Some(q) = forwarded {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()).take(MAX_FORWARDED_PARAMS) {
            if !k.is_empty() && !has(&taken, &k) {
                add.push((k, v));
            }
        }
    }
    if add.is_empty() {
        return Ok(Cow::Borrowed(dest));
    }
    url.query_pairs_mut().extend_pairs(add);
    let out = String::from(url);
    // The scheme and host are the stored destination's and the url crate serialises in
    // normal form, so the checks left are the ones a `Location` needs.
    if out.len() > MAX_URL_BYTES {
        return Err(UrlError::TooLong);
    }
    if safe_location(&out).is_none() {
        return Err(UrlError::ControlOrWhitespace);
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url_rules::normalize_url;

    fn utm() -> Utm {
        Utm {
            source: Some("newsletter".into()),
            medium: Some("email".into()),
            campaign: Some("spring sale".into()),
            term: None,
            content: None,
        }
    }

    fn with(dest: &str, q: Option<&str>, forward_query: bool, utm: Option<Utm>) -> Result<String, UrlError> {
        destination_with(dest, q, &QueryOptions { forward_query, utm }).map(Cow::into_owned)
    }

    #[test]
    fn plain_link_is_unchanged_and_borrowed() {
        let dest = "https://example.com/a?b=c";
        let got = destination_with(dest, Some("x=1"), &QueryOptions::default()).expect("plain");
        assert!(matches!(got, Cow::Borrowed(d) if d == dest));
        let opts = QueryOptions { forward_query: true, utm: None };
        assert!(matches!(destination_with(dest, None, &opts), Ok(Cow::Borrowed(_))));
        assert!(matches!(destination_with(dest, Some(""), &opts), Ok(Cow::Borrowed(_))));
        assert!(matches!(destination_with(dest, Some("&&="), &opts), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn utm_values_are_added_unless_the_destination_has_them() {
        assert_eq!(
            with("https://example.com/p", None, false, Some(utm())).as_deref(),
            Ok("https://example.com/p?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale")
        );
        assert_eq!(
            with("https://example.com/p?utm_source=own&x=%20y#top", None, false, Some(utm())).as_deref(),
            Ok("https://example.com/p?utm_source=own&x=%20y&utm_medium=email&utm_campaign=spring+sale#top")
        );
    }

    #[test]
    fn forwarded_query_is_appended_unless_the_key_is_taken() {
        assert_eq!(
            with("https://example.com/p?a=1", Some("b=2&a=9&b=3&utm_source=evil"), true, Some(utm())).as_deref(),
            Ok("https://example.com/p?a=1&utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale&b=2&b=3")
        );
        // Without forwarding the request's query is ignored.
        assert_eq!(
            with("https://example.com/p", Some("b=2"), false, None).as_deref(),
            Ok("https://example.com/p")
        );
        // Present-but-empty parameters and a bare key survive; empty keys do not.
        assert_eq!(
            with("https://example.com/", Some("flag&e=&=x&&"), true, None).as_deref(),
            Ok("https://example.com/?flag=&e=")
        );
    }

    #[test]
    fn hostile_parameters_arrive_encoded() {
        let got = with(
            "https://example.com/",
            Some("a=%0D%0ASet-Cookie:%20x&b=%00&c=<script>&d=%FF&e=%zz&f=caf%C3%A9&g=a%26b%3Dc#frag"),
            true,
            None,
        )
        .expect("encoded");
        assert_eq!(
            got,
            "https://example.com/?a=%0D%0ASet-Cookie%3A+x&b=%00&c=%3Cscript%3E&d=%EF%BF%BD&e=%25zz&f=caf%C3%A9&g=a%26b%3Dc%23frag"
        );
        assert_eq!(safe_location(&got), Some(got.as_str()));
        assert_eq!(normalize_url(&got).as_deref(), Ok(got.as_str()), "already in normal form");
    }

    #[test]
    fn too_long_a_result_is_an_error() {
        let q = format!("pad={}", "x".repeat(MAX_URL_BYTES));
        assert_eq!(with("https://example.com/", Some(&q), true, None), Err(UrlError::TooLong));
        assert!(matches!(with("not a url", None, false, Some(utm())), Err(UrlError::Malformed(_))));
    }

    #[test]
    fn forwarding_is_bounded() {
        let q = (0..500).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
        let got = with("https://example.com/", Some(&q), true, None).expect("bounded");
        assert_eq!(got.matches('&').count() + 1, MAX_FORWARDED_PARAMS);
    }

    #[test]
    fn utm_validation() {
        assert_eq!(utm().validate(), Ok(()));
        assert_eq!(Utm::default().validate(), Err(UtmError::NoValues));
        let bad = |f: fn(&mut Utm)| {
            let mut u = utm();
            f(&mut u);
            u.validate().map_err(|e| e.to_string())
        };
        assert_eq!(bad(|u| u.term = Some(String::new())), Err("utm.term: must not be empty".into()));
        assert_eq!(
            bad(|u| u.source = Some("x".repeat(257))),
            Err("utm.source: must be at most 256 bytes".into())
        );
        assert_eq!(
            bad(|u| u.content = Some("a\u{7}b".into())),
            Err("utm.content: must not contain control characters".into())
        );
        assert_eq!(bad(|u| u.medium = Some("é".repeat(128))), Ok(()));
    }

    #[test]
    fn options_json() {
        let opts: QueryOptions =
            serde_json::from_str(r#"{"forward_query":true,"utm":{"source":"x"}}"#).expect("json");
        assert!(opts.forward_query);
        assert_eq!(opts.utm.as_ref().and_then(|u| u.source.as_deref()), Some("x"));
        assert!(serde_json::from_str::<QueryOptions>(r#"{"utm":{"sorce":"x"}}"#).is_err());
        assert_eq!(serde_json::from_str::<QueryOptions>("{}").ok(), Some(QueryOptions::default()));
    }
}
