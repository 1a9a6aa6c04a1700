//! Which link a route names: `{code}` in the path and, for a link on a custom domain, the
//! `domain` query parameter. Together they are the link's key ([`ghostlink_domain::domains`]),
//! what the database, the cache and the events name it by.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use ghostlink_domain::code::is_plausible_code;
use ghostlink_domain::domains::{link_key, validate_host};
use ghostlink_web::ApiError;
use utoipa::IntoParams;

/// The `domain` parameter of every route under `/api/v1/links/{code}` (documentation: the
/// extractor reads the query itself).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DomainParam {
    /// The link's custom domain (absent: the default domain).
    #[param(max_length = 253)]
    domain: Option<String>,
}

/// A link as a route names it.
#[derive(Debug, Clone)]
pub struct LinkRef {
    pub code: String,
    pub domain: Option<String>,
}

impl LinkRef {
    /// The key of the link named, or `None` when no link could have it (not a code, not a
    /// host): answered as missing without asking the database, which would refuse a NUL with an
    /// error.
    pub fn key(&self) -> Option<String> {
        if !is_plausible_code(&self.code) {
            return None;
        }
        match &self.domain {
            None => Some(self.code.clone()),
            Some(d) => validate_host(d).ok().map(|host| link_key(Some(&host), &self.code)),
        }
    }
}

impl FromRequest for LinkRef {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let code = req.match_info().get("code").unwrap_or_default().to_owned();
        let mut domain = None;
        for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            if k == "domain" {
                if domain.is_some() {
                    return ready(Err(ApiError::bad_request("invalid_query", "domain: given twice")));
                }
                domain = Some(v.into_owned()).filter(|d| !d.is_empty());
            }
        }
        ready(Ok(LinkRef { code, domain }))
    }
}
