//! Where one request for a link is sent: the first of the link's rules the request satisfies
//! gives the destination, else the link's own URL; then the link's query forwarding and UTM
//! values are applied (`ghostlink_domain::utm::destination_with`), and a result that cannot be
//! a `Location` falls back to the destination without them.
//!
//! Everything is read from the cached snapshot and the request in memory: a link without rules
//! or query options costs one empty-slice check and one borrow. The user agent and the
//! `Accept-Language` list are read only when a rule asks for them (`RequestFacts`), the GeoIP
//! country only when a rule has a country condition.

use std::borrow::Cow;
use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use ghostlink_domain::rules::{self, Client, Condition, RequestFacts};
use ghostlink_domain::{utm, LinkSnapshot};

use crate::geoip::GeoIp;

/// The destination chosen for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen<'l> {
    pub url: Cow<'l, str>,
    /// The index of the rule that chose it, if one did.
    pub rule: Option<u32>,
}

/// What the rules may read of the request, besides its headers.
pub struct Request<'a> {
    pub req: &'a HttpRequest,
    /// The `User-Agent` as the click records it (decoded lossily, capped).
    pub user_agent: Option<&'a str>,
    /// The client's address (through trusted proxies).
    pub client: IpAddr,
    pub now: DateTime<Utc>,
}

/// What each recently seen `User-Agent` was parsed as, shared by the workers: real traffic
/// repeats a few thousand user agents, and the parse (woothee, ~24k instructions) was almost
/// all of what a link's device and OS rules cost per request.
pub struct ClientCache(quick_cache::sync::Cache<Box<str>, Client>);

/// User agents remembered (a few hundred KiB at most: the key is capped at `MAX_UA_BYTES`).
const REMEMBERED_USER_AGENTS: usize = 4096;

impl ClientCache {
    pub fn new() -> Self {
        Self(quick_cache::sync::Cache::new(REMEMBERED_USER_AGENTS))
    }

    /// The client `user_agent` says, parsed once per distinct user agent while it stays cached.
    pub fn client(&self, user_agent: Option<&str>) -> Client {
        let Some(ua) = user_agent else { return rules::classify(None) };
        if ua.len() > rules::MAX_UA_BYTES {
            return rules::classify(Some(ua));
        }
        if let Some(c) = self.0.get(ua) {
            return c;
        }
        let c = rules::classify(Some(ua));
        self.0.insert(ua.into(), c);
        c
    }
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new()
    }
}

fn reads_the_client(link: &LinkSnapshot) -> bool {
    link.rules.iter().any(|r| r.conditions.iter().any(Condition::reads_user_agent))
}

fn has_country_condition(link: &LinkSnapshot) -> bool {
    link.rules.iter().any(|r| r.conditions.iter().any(|c| matches!(c, Condition::Country { .. })))
}

/// The short URL's query string without `?`, if it has one.
pub fn request_query(req: &HttpRequest) -> Option<&str> {
    Some(req.query_string()).filter(|q| !q.is_empty())
}

/// Picks the destination of `link` for `request`; `fallbacks` counts the answers whose query
/// options could not be applied (`redirect_query_fallbacks_total`).
pub fn choose<'l>(
    link: &'l LinkSnapshot,
    request: &Request<'_>,
    geoip: Option<&GeoIp>,
    clients: &ClientCache,
    fallbacks: &metrics::Counter,
) -> Chosen<'l> {
    let query = request_query(request.req);
    let (url, rule) = if link.rules.is_empty() {
        (link.url.as_str(), None)
    } else {
        let country = geoip.filter(|_| has_country_condition(link)).and_then(|g| g.country(request.client));
        let language = request.req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let mut facts = RequestFacts::new(request.now)
            .user_agent(request.user_agent)
            .accept_language(language)
            .country_code(country)
            .query(query);
        if reads_the_client(link) {
            facts = facts.known_client(clients.client(request.user_agent));
        }
        match rules::evaluate(&link.rules, &facts) {
            Some((i, url)) => (url, u32::try_from(i).ok()),
            None => (link.url.as_str(), None),
        }
    };
    let url = utm::destination_with(url, query, &link.query).unwrap_or_else(|_| {
        // Too long, or not a `Location` once merged: the destination as stored.
        fallbacks.increment(1);
        Cow::Borrowed(url)
    });
    Chosen { url, rule }
}
