//! Bearer-token authentication and per-token rate limiting.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let header =
            req.headers().get(actix_web::http::header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            let auth = auth.ok_or_else(ApiError::internal)?;
            let header = match header {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => return Err(ApiError::unauthorized("Authorization header is not valid text")),
            };
            auth.authenticate(header.as_deref()).await
        })
    }
}
