//! Bearer-token authentication and per-token rate limiting.
//!
//! [`authenticate`] is the middleware of the authenticated scope: it decides who is calling
//! from the headers alone (401, 429) before any handler runs, so no body byte of a refused
//! request is ever read, and leaves the [`Caller`] in the request's extensions, where the
//! [`Caller`] and [`Admin`] extractors find it.

use std::future::{ready, Ready};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use ghostlink_db::Db;
use ghostlink_domain::{hash_token, Role};
use ghostlink_web::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses non-admins with 403.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            metrics::counter!("auth_failures_total", "reason" => "forbidden").increment(1);
            Err(ApiError::forbidden("this operation needs an admin token"))
        }
    }
}

/// Token lookups (cached briefly) and the rate limiter.
pub struct Auth {
    db: Db,
    cache: moka::sync::Cache<String, Option<Arc<CachedToken>>>,
    limiter: DefaultKeyedRateLimiter<i64>,
}

#[derive(Debug)]
struct CachedToken {
    caller: Caller,
    revoked: bool,
}

impl Auth {
    pub fn new(db: Db, ttl: Duration, per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            db,
            cache: moka::sync::Cache::builder().max_capacity(10_000).time_to_live(ttl).build(),
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    async fn authenticate(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let fail = |reason: &'static str, msg: &str| {
            metrics::counter!("auth_failures_total", "reason" => reason).increment(1);
            ApiError::unauthorized(msg.to_string())
        };
        let Some(value) = header else {
            return Err(fail("missing", "missing Authorization: Bearer <token> header"));
        };
        let Some(token) = value.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(fail("invalid", "Authorization header must be 'Bearer <token>'"));
        };
        if token.len() > 256 {
            return Err(fail("invalid", "invalid token"));
        }
        let hash = hash_token(token);
        let found = match self.cache.get(&hash) {
            Some(f) => f,
            None => {
                let h = hash.clone();
                let row = self
                    .db
                    .run(move |c| ghostlink_db::tokens::find_by_hash(c, &h))
                    .await
                    .map_err(crate::db_error)?;
                let found = row.map(|r| {
                    Arc::new(CachedToken {
                        revoked: r.revoked_at.is_some(),
                        caller: Caller {
                            token_id: r.id,
                            role: r.role.parse().unwrap_or(Role::User),
                            name: r.name,
                        },
                    })
                });
                self.cache.insert(hash, found.clone());
                found
            }
        };
        match found {
            None => Err(fail("invalid", "invalid token")),
            Some(t) if t.revoked => Err(fail("revoked", "token has been revoked")),
            Some(t) => {
                if let Err(not_until) = self.limiter.check_key(&t.caller.token_id) {
                    metrics::counter!("rate_limited_total").increment(1);
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    return Err(ApiError::new(
                        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "too many requests for this token; slow down",
                    )
                    .with_retry_after(secs.max(1)));
                }
                Ok(t.caller.clone())
            }
        }
    }
}

/// Middleware (with `actix_web::middleware::from_fn`) on every authenticated route.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        return Ok(req.error_response(ApiError::internal()).map_into_right_body());
    };
    let header = match req.headers().get(actix_web::http::header::AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(s)) => Some(s.to_owned()),
        Some(Err(_)) => {
            metrics::counter!("auth_failures_total", "reason" => "invalid").increment(1);
            let err = ApiError::unauthorized("Authorization header is not valid text");
            return Ok(req.error_response(err).map_into_right_body());
        }
    };
    match auth.authenticate(header.as_deref()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.error_response(e).map_into_right_body()),
    }
}

/// The caller [`authenticate`] found; a route outside its scope is a wiring bug (500).
fn caller_of(req: &HttpRequest) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(ApiError::internal)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_of(req))
    }
}

/// An admin caller: extracting it refuses anyone else with 403. Put it before a body extractor
/// in a handler's arguments, so a user's request is refused before its body is read.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller_of(req).and_then(|c| c.require_admin().map(|()| Admin(c))))
    }
}
