//! Bearer-token authentication, per-token rate limiting, and the per-client limit on failed
//! authentications ([`failures`]).
//!
//! [`authenticate`] is the middleware of the authenticated scope: it decides who is calling
//! from the headers alone (401, 429) before any handler runs, so no body byte of a refused
//! request is ever read, and leaves the [`Caller`] in the request's extensions, where the
//! [`Caller`] and [`Admin`] extractors find it.

pub mod failures;

use std::future::{ready, Ready};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use ghostlink_cache::RedisCache;
use ghostlink_db::Db;
use ghostlink_domain::forwarded::{address_key, TrustedProxies};
use ghostlink_domain::{hash_token, Role};
use ghostlink_web::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use failures::FailureLimit;

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

/// What [`Auth`] is built from.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a token lookup is remembered, found or not.
    pub token_cache_ttl: Duration,
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    /// Failed authentications a client may make per `failure_window` ([`failures`]).
    pub failure_limit: u32,
    pub failure_window: Duration,
    /// Who may tell us the client's address.
    pub trusted: TrustedProxies,
}

/// Token lookups (cached briefly), the per-token rate limiter and the per-client limit on
/// failed authentications.
pub struct Auth {
    db: Db,
    /// Tokens Postgres knows (revoked ones included), by hash.
    known: moka::sync::Cache<String, Arc<CachedToken>>,
    /// Hashes Postgres did not know, remembered as long: in a map of their own, so a flood of
    /// random tokens cannot push the known ones out.
    unknown: moka::sync::Cache<String, ()>,
    limiter: DefaultKeyedRateLimiter<i64>,
    failures: FailureLimit,
    trusted: TrustedProxies,
}

/// Entries per token cache (known, unknown).
const CACHED_TOKENS: u64 = 10_000;

#[derive(Debug)]
struct CachedToken {
    caller: Caller,
    revoked: bool,
}

/// The token of an `Authorization: Bearer` header, or why there is none (the reason label of
/// `auth_failures_total` and the message).
fn bearer(header: Option<&HeaderValue>) -> Result<&str, (&'static str, &'static str)> {
    let value = header.ok_or(("missing", "missing Authorization: Bearer <token> header"))?;
    let text = value.to_str().map_err(|_| ("invalid", "Authorization header is not valid text"))?;
    let token = text
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(("invalid", "Authorization header must be 'Bearer <token>'"))?;
    if token.len() > 256 {
        return Err(("invalid", "invalid token"));
    }
    Ok(token)
}

fn too_many(wait: Duration, code: &'static str, message: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(actix_web::http::StatusCode::TOO_MANY_REQUESTS, code, message).with_retry_after(secs.max(1))
}

fn failures_exceeded(wait: Duration) -> ApiError {
    metrics::counter!("rate_limited_total", "limit" => "auth_failures").increment(1);
    too_many(
        wait,
        "too_many_auth_failures",
        "too many failed authentications from this address; wait and retry",
    )
}

impl Auth {
    pub fn new(db: Db, redis: RedisCache, settings: AuthSettings) -> Self {
        let ttl = settings.token_cache_ttl;
        Self {
            db,
            known: moka::sync::Cache::builder().max_capacity(CACHED_TOKENS).time_to_live(ttl).build(),
            unknown: moka::sync::Cache::builder().max_capacity(CACHED_TOKENS).time_to_live(ttl).build(),
            limiter: RateLimiter::keyed(Quota::per_second(settings.per_second).allow_burst(settings.burst)),
            failures: FailureLimit::new(redis, settings.failure_limit, settings.failure_window),
            trusted: settings.trusted,
        }
    }

    /// Who presents `header`, from `client` (an `address_key`). A client over the failure limit
    /// is refused before anything else; its token is looked up in Postgres only once Redis
    /// (every replica's count) agrees it is under the limit.
    async fn authenticate(&self, header: Option<&HeaderValue>, client: &str) -> Result<Caller, ApiError> {
        self.failures.check_known(client).map_err(failures_exceeded)?;
        let token = match bearer(header) {
            Ok(t) => t,
            Err((reason, msg)) => return Err(self.failed(client, reason, msg).await),
        };
        let hash = hash_token(token);
        let found = if let Some(t) = self.known.get(&hash) {
            Some(t)
        } else if self.unknown.contains_key(&hash) {
            None
        } else {
            self.failures.check(client).await.map_err(failures_exceeded)?;
            self.lookup(hash).await?
        };
        match found {
            None => Err(self.failed(client, "invalid", "invalid token").await),
            Some(t) if t.revoked => Err(self.failed(client, "revoked", "token has been revoked").await),
            Some(t) => match self.limiter.check_key(&t.caller.token_id) {
                Ok(()) => Ok(t.caller.clone()),
                Err(not_until) => {
                    metrics::counter!("rate_limited_total", "limit" => "token").increment(1);
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    Err(too_many(wait, "rate_limited", "too many requests for this token; slow down"))
                }
            },
        }
    }

    /// Looks a token up in Postgres and remembers the answer.
    async fn lookup(&self, hash: String) -> Result<Option<Arc<CachedToken>>, ApiError> {
        metrics::counter!("auth_token_lookups_total").increment(1);
        let h = hash.clone();
        let row =
            self.db.run(move |c| ghostlink_db::tokens::find_by_hash(c, &h)).await.map_err(crate::db_error)?;
        let Some(r) = row else {
            self.unknown.insert(hash, ());
            return Ok(None);
        };
        let t = Arc::new(CachedToken {
            revoked: r.revoked_at.is_some(),
            caller: Caller { token_id: r.id, role: r.role, name: r.name },
        });
        self.known.insert(hash, t.clone());
        Ok(Some(t))
    }

    /// A failed authentication: counted against the client, answered 401.
    async fn failed(&self, client: &str, reason: &'static str, message: &str) -> ApiError {
        metrics::counter!("auth_failures_total", "reason" => reason).increment(1);
        self.failures.record(client).await;
        ApiError::unauthorized(message.to_string())
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
    let client = address_key(ghostlink_web::client_ip(req.request(), &auth.trusted));
    let found = auth.authenticate(req.headers().get(AUTHORIZATION), &client).await;
    match found {
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
