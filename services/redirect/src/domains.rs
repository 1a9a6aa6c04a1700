//! Routing by `Host`: which domain a request is for, from an in-process copy of the `domains`
//! table refreshed from Postgres every second ([`crate::refresh`]), so a request never asks the
//! database which domain it is on. A custom domain's links are looked up by their key
//! (`host/code`, [`ghostlink_domain::domains`]); the default domain's by their code.
//!
//! With `DEFAULT_HOSTS` set, a host that is neither one of them nor a custom domain is answered
//! 404 and nothing else (it reveals no link, no domain, and records no click), and 503 while the
//! table has not been read once (a custom domain's link is never a 404 for that). Without it, every
//! host that is not a custom domain is the default domain: a single-domain deployment keeps
//! answering on whatever name it is reached by.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::header;
use actix_web::HttpRequest;
use ghostlink_db::Db;
use ghostlink_domain::domains::request_host;

/// A custom domain as the redirect answers on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub host: String,
    /// Where `GET /` redirects.
    pub root_url: Option<String>,
    /// Where a code the domain does not know redirects.
    pub not_found_url: Option<String>,
}

/// The domain a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Default,
    Custom(Arc<Domain>),
    /// Neither a default host nor a custom domain.
    Unknown,
    /// Not a default host, and the domain table has not been read yet (Postgres unreachable
    /// since the start): 503, as for a link that cannot be looked up, never a 404.
    NotLoaded,
}

impl Route {
    /// Where a code this domain does not know redirects, if anywhere.
    pub fn not_found_url(&self) -> Option<&str> {
        match self {
            Route::Custom(d) => d.not_found_url.as_deref(),
            _ => None,
        }
    }

    /// The key of `code` on this route's domain.
    pub fn key(&self, code: &str) -> String {
        match self {
            Route::Custom(d) => ghostlink_domain::domains::link_key(Some(&d.host), code),
            _ => code.to_owned(),
        }
    }
}

/// Custom domains by host.
type Table = HashMap<String, Arc<Domain>>;

/// The domain table and the default domain's hosts.
pub struct Domains {
    /// `None` until first read.
    table: RwLock<Option<Arc<Table>>>,
    /// Empty: every host that is not a custom domain is the default one.
    default_hosts: Vec<String>,
}

impl Domains {
    pub fn new(default_hosts: Vec<String>) -> Self {
        Self { table: RwLock::new(None), default_hosts }
    }

    /// The domain `req` is for, by its `Host` header (HTTP/1.1) or its URI's authority (HTTP/2).
    /// No header at all is the default domain when no default hosts are set, else unknown.
    pub fn route(&self, req: &HttpRequest) -> Route {
        let table = match self.table.read() {
            Ok(t) => t.clone(),
            Err(_) => None,
        };
        if self.default_hosts.is_empty() && table.as_ref().is_none_or(|t| t.is_empty()) {
            return Route::Default;
        }
        let raw = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let Some(host) = raw.and_then(request_host) else {
            return if self.default_hosts.is_empty() { Route::Default } else { Route::Unknown };
        };
        if let Some(d) = table.as_ref().and_then(|t| t.get(&host)) {
            return Route::Custom(Arc::clone(d));
        }
        if self.default_hosts.is_empty() || self.default_hosts.contains(&host) {
            Route::Default
        } else if table.is_none() {
            Route::NotLoaded
        } else {
            Route::Unknown
        }
    }

    /// Replaces the table (what the refresh read, or a test's).
    pub fn replace(&self, domains: Vec<Domain>) {
        let table: Table = domains.into_iter().map(|d| (d.host.clone(), Arc::new(d))).collect();
        if let Ok(mut t) = self.table.write() {
            *t = Some(Arc::new(table));
        }
    }
}

/// Refreshes the table every second, forever; while Postgres is unreachable the last copy stays.
pub async fn refresh(domains: Arc<Domains>, db: Db, log: slog::Logger) {
    crate::refresh::every(
        "domains",
        Duration::from_secs(1),
        || db.run(ghostlink_db::domains::all),
        |rows| {
            domains.replace(
                rows.into_iter()
                    .map(|r| Domain { host: r.host, root_url: r.root_url, not_found_url: r.not_found_url })
                    .collect(),
            )
        },
        log,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn domain(host: &str) -> Domain {
        Domain { host: host.into(), root_url: None, not_found_url: None }
    }

    fn route(d: &Domains, host: Option<&str>) -> Route {
        let mut req = TestRequest::get().uri("/abc");
        if let Some(h) = host {
            req = req.insert_header((header::HOST, h));
        }
        d.route(&req.to_http_request())
    }

    #[test]
    fn hosts_route_to_their_domain_and_unknown_ones_nowhere_once_default_hosts_are_set() {
        let open = Domains::new(vec![]);
        assert_eq!(route(&open, Some("anything.test")), Route::Default);
        open.replace(vec![domain("go.team.test")]);
        let go = Route::Custom(Arc::new(domain("go.team.test")));
        assert_eq!(route(&open, Some("GO.team.test:8080")), go);
        assert_eq!(route(&open, Some("127.0.0.1:8080")), Route::Default);
        assert_eq!(go.key("abc"), "go.team.test/abc");
        assert_eq!(Route::Default.key("abc"), "abc");

        let strict = Domains::new(vec!["sho.rt".into()]);
        assert_eq!(route(&strict, Some("go.team.test")), Route::NotLoaded);
        assert_eq!(route(&strict, Some("sho.rt")), Route::Default);
        strict.replace(vec![domain("go.team.test")]);
        assert_eq!(route(&strict, Some("sho.rt")), Route::Default);
        assert_eq!(route(&strict, Some("go.team.test.")), go);
        assert_eq!(route(&strict, Some("elsewhere.test")), Route::Unknown);
        assert_eq!(route(&strict, None), Route::Unknown);
    }
}
