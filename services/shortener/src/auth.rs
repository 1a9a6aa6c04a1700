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
use ghostlink_domain::workspace::{Action, Grant};
use ghostlink_domain::{hash_token, Role};
use ghostlink_web::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use failures::FailureLimit;

/// Who is calling: a key of a workspace acting for one of its members, or a member's session
/// (`Authorization: Bearer gls_…`, [`crate::accounts`]), whose grant is the member's role with
/// every scope it can use.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key; `None` for a session.
    pub token_id: Option<i64>,
    /// The session; `None` for a key.
    pub session_id: Option<i64>,
    /// The key's name (a session: the member's).
    pub name: String,
    /// `admin`: the instance administrator's key (the admin API, any workspace's links).
    pub role: Role,
    pub workspace_id: i64,
    pub member_id: i64,
    pub member_name: String,
    /// The member's role and the key's scopes.
    pub grant: Grant,
}

impl Caller {
    /// The rate limiter's key: a key's id, or a session's id negated.
    fn limit_key(&self) -> i64 {
        self.token_id.or(self.session_id.map(|s| -s)).unwrap_or(0)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses with 403 what the key's scopes or the member's role do not allow.
    pub fn allow(&self, action: Action) -> Result<(), ApiError> {
        self.grant.allows(action).map_err(|why| {
            metrics::counter!("auth_failures_total", "reason" => "forbidden").increment(1);
            ApiError::forbidden(why.to_string())
        })
    }

    /// Whether a link of `workspace` exists for this caller: its own workspace's (the instance
    /// admin: any). Others' links are answered as missing.
    pub fn sees(&self, workspace: i64) -> bool {
        self.is_admin() || workspace == self.workspace_id
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
    /// Keys whose use was noted in the last minute.
    touched: moka::sync::Cache<i64, ()>,
    failures: FailureLimit,
    trusted: TrustedProxies,
}

/// Entries per token cache (known, unknown).
const CACHED_TOKENS: u64 = 10_000;

#[derive(Debug)]
struct CachedToken {
    caller: Caller,
    revoked: bool,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
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
            touched: moka::sync::Cache::builder()
                .max_capacity(CACHED_TOKENS)
                .time_to_live(Duration::from_secs(60))
                .build(),
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
        if token.starts_with(ghostlink_domain::SESSION_PREFIX) {
            self.failures.check(client).await.map_err(failures_exceeded)?;
            return match self.session(hash).await? {
                Some(caller) => self.limit(caller),
                None => Err(self.failed(client, "invalid", "invalid or expired session").await),
            };
        }
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
            Some(t) if t.expires_at.is_some_and(|e| e <= chrono::Utc::now()) => {
                Err(self.failed(client, "expired", "token has expired").await)
            }
            Some(t) => {
                let caller = self.limit(t.caller.clone())?;
                if let Some(id) = caller.token_id {
                    self.touch(id);
                }
                Ok(caller)
            }
        }
    }

    /// The per-credential rate limit.
    fn limit(&self, caller: Caller) -> Result<Caller, ApiError> {
        match self.limiter.check_key(&caller.limit_key()) {
            Ok(()) => Ok(caller),
            Err(not_until) => {
                metrics::counter!("rate_limited_total", "limit" => "token").increment(1);
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(too_many(wait, "rate_limited", "too many requests for this token; slow down"))
            }
        }
    }

    /// A live session's caller, looked up in Postgres at every request (so signing out takes
    /// effect at once on every replica).
    async fn session(&self, hash: String) -> Result<Option<Caller>, ApiError> {
        metrics::counter!("auth_session_lookups_total").increment(1);
        let row = self
            .db
            .run(move |c| ghostlink_db::accounts::session_by_hash(c, &hash))
            .await
            .map_err(crate::db_error)?;
        Ok(row.map(|(id, _, m)| Caller {
            token_id: None,
            session_id: Some(id),
            name: m.name.clone(),
            role: Role::User,
            workspace_id: m.workspace_id,
            member_id: m.id,
            member_name: m.name,
            grant: Grant { role: m.role, scopes: m.role.full_scopes() },
        }))
    }

    /// The key of an `address_key` for the request, as the failure limit counts clients.
    pub fn client_key(&self, req: &HttpRequest) -> String {
        address_key(ghostlink_web::client_ip(req, &self.trusted))
    }

    /// Looks a token up in Postgres and remembers the answer.
    async fn lookup(&self, hash: String) -> Result<Option<Arc<CachedToken>>, ApiError> {
        metrics::counter!("auth_token_lookups_total").increment(1);
        let h = hash.clone();
        let row = self
            .db
            .run(move |c| ghostlink_db::tokens::principal_by_hash(c, &h))
            .await
            .map_err(crate::db_error)?;
        let Some(p) = row else {
            self.unknown.insert(hash, ());
            return Ok(None);
        };
        let r = p.key;
        let t = Arc::new(CachedToken {
            revoked: r.revoked_at.is_some() || p.member_removed,
            expires_at: r.expires_at,
            caller: Caller {
                token_id: Some(r.id),
                session_id: None,
                role: r.role,
                name: r.name,
                workspace_id: r.workspace_id,
                member_id: r.member_id,
                member_name: p.member_name,
                grant: Grant { role: p.member_role, scopes: r.scopes },
            },
        });
        self.known.insert(hash, t.clone());
        Ok(Some(t))
    }

    /// Notes the key's use in Postgres, at most once a minute per key and replica, off the
    /// request (a failure only delays `last_used_at`).
    fn touch(&self, token: i64) {
        if self.touched.contains_key(&token) {
            return;
        }
        self.touched.insert(token, ());
        let db = self.db.clone();
        tokio::spawn(async move {
            // Best effort: last-used time is informational, never worth failing a request.
            let _ = db.run(move |c| ghostlink_db::tokens::touch(c, token)).await;
        });
    }

    /// Forgets what this replica remembers of a key (after revoking it here; other replicas
    /// forget within `TOKEN_CACHE_TTL_MS`).
    pub fn forget(&self, hash: &str) {
        self.known.invalidate(hash);
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
