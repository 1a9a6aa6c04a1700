//! What a redirect rule may ask about one request: the raw headers as they came, the country
//! the caller looked up, the short URL's query and the moment. The costly readings, the
//! `User-Agent` parse and the `Accept-Language` list, happen at most once per request and only
//! when a rule asks for them, so a link without such rules pays nothing for them.

use std::cell::OnceCell;

use chrono::{DateTime, Utc};

use super::client::{classify, Client};
use super::country::CountryCode;
use super::language::accepted_languages;

/// The request a link's rules are evaluated against. Build it per request with
/// [`RequestFacts::new`] and the setters; it is cheap until a rule reads the user agent or
/// the languages.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    now: DateTime<Utc>,
    user_agent: Option<&'a str>,
    accept_language: Option<&'a str>,
    country: Option<CountryCode>,
    query: Option<&'a str>,
    client: OnceCell<Client>,
    languages: OnceCell<Vec<&'a str>>,
}

impl<'a> RequestFacts<'a> {
    /// A request at `now` with no headers, no country and no query.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            user_agent: None,
            accept_language: None,
            country: None,
            query: None,
            client: OnceCell::new(),
            languages: OnceCell::new(),
        }
    }

    /// The `User-Agent` header, as sent.
    pub fn user_agent(mut self, header: Option<&'a str>) -> Self {
        self.user_agent = header;
        self.client = OnceCell::new();
        self
    }

    /// The `Accept-Language` header, as sent.
    pub fn accept_language(mut self, header: Option<&'a str>) -> Self {
        self.accept_language = header;
        self.languages = OnceCell::new();
        self
    }

    /// The client's country from GeoIP (`None`, or text that is no alpha-2 code: unknown).
    pub fn country(mut self, code: Option<&str>) -> Self {
        self.country = code.and_then(|c| c.parse().ok());
        self
    }

    /// The client's country, already typed.
    pub fn country_code(mut self, code: Option<CountryCode>) -> Self {
        self.country = code;
        self
    }

    /// The short URL's query string, without the `?`.
    pub fn query(mut self, query: Option<&'a str>) -> Self {
        self.query = query;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn country_value(&self) -> Option<CountryCode> {
        self.country
    }

    pub fn query_value(&self) -> Option<&'a str> {
        self.query
    }

    /// The client the caller already knows the user agent to be (a parse remembered across
    /// requests): [`RequestFacts::client`] answers it instead of parsing.
    pub fn known_client(self, client: Client) -> Self {
        let known = OnceCell::new();
        let _ = known.set(client); // a fresh cell: set cannot fail
        Self { client: known, ..self }
    }

    /// Device and OS from the user agent, parsed on first use.
    pub fn client(&self) -> Client {
        *self.client.get_or_init(|| classify(self.user_agent))
    }

    /// Whether the user agent has been parsed yet (for tests and metrics).
    pub fn client_parsed(&self) -> bool {
        self.client.get().is_some()
    }

    /// The languages the request accepts (q > 0), read on first use.
    pub fn languages(&self) -> &[&'a str] {
        self.languages.get_or_init(|| self.accept_language.map(accepted_languages).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{DeviceType, Os};

    #[test]
    fn a_known_client_is_answered_without_a_parse() {
        let known = Client { device: DeviceType::Tablet, os: Os::Linux };
        let facts = RequestFacts::new(Utc::now()).user_agent(Some("curl/8.0")).known_client(known);
        assert!(facts.client_parsed());
        assert_eq!(facts.client(), known);
    }
}
