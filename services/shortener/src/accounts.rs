//! Accounts and sessions: sign-in by email and password, sign-out (one session, or every session
//! of the member), invitations and password resets by one-time tokens.
//!
//! A session token (`gls_…`) authenticates like a key (`Authorization: Bearer`, [`crate::auth`])
//! with the member's role as its grant. Only hashes are stored: SHA-256 for tokens, argon2id for
//! passwords. Failed sign-ins are limited per account and per client, across replicas (Redis,
//! [`crate::auth::failures`]); beyond the limit sign-in answers 429 before any password is checked.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::workspace::{Action, MemberRole};
use ghostlink_domain::{hash_token, new_secret, ONE_TIME_PREFIX, SESSION_PREFIX};
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::ErrorBody;
use crate::auth::failures::FailureLimit;
use crate::auth::{Auth, Caller};
use crate::workspace::{json_of, name_field, MemberView};
use crate::{db_error, Shared};

/// How long an invitation may be accepted.
const INVITATION_TTL_DAYS: i64 = 7;

/// The sign-in limits and the session lifetime.
pub struct Accounts {
    per_account: FailureLimit,
    per_client: FailureLimit,
    session_ttl: chrono::Duration,
}

impl Accounts {
    pub fn new(
        redis: ghostlink_cache::RedisCache,
        limit: u32,
        window: Duration,
        session_ttl_hours: u32,
    ) -> Self {
        Self {
            per_account: FailureLimit::new(redis.clone(), limit, window),
            per_client: FailureLimit::new(redis, limit, window),
            session_ttl: chrono::Duration::hours(i64::from(session_ttl_hours)),
        }
    }
}

/// Body of `POST /api/v1/auth/sign-in`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

/// A new session: its token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// `gls_…`: send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub workspace_id: i64,
    pub member: MemberView,
}

/// Body of `POST /api/v1/invitations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    #[schema(value_type = String, pattern = "^(owner|admin|member|viewer)$")]
    pub role: MemberRole,
    /// Whom the invitation is for (informational; the invitee sets the account's email).
    pub email: Option<String>,
}

/// A new invitation: its token is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    /// `glo_…`: the invitee gives it to `POST /api/v1/auth/accept-invitation`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = String)]
    pub role: MemberRole,
}

/// Body of `POST /api/v1/auth/accept-invitation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: String,
    /// 1–64 bytes, no control characters; unique among the workspace's members.
    pub name: String,
    pub email: String,
    /// 8–128 characters.
    pub password: String,
}

/// Body of `POST /api/v1/auth/reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The one-time token `ghostctl account reset` printed.
    pub token: String,
    /// 8–128 characters.
    pub password: String,
}

/// How many sessions were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    pub revoked: usize,
}

fn email_field(email: &str) -> Result<String, ApiError> {
    let e = email.trim();
    let ok = (3..=254).contains(&e.len())
        && e.contains('@')
        && !e.starts_with('@')
        && !e.ends_with('@')
        && !e.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(e.to_string())
    } else {
        Err(ApiError::unprocessable("invalid_email", "email: an address such as name@example.org"))
    }
}

fn password_field(password: &str) -> Result<String, ApiError> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(password.to_string())
    } else {
        Err(ApiError::unprocessable("invalid_password", "password: 8 to 128 characters"))
    }
}

fn too_many(wait: Duration) -> ApiError {
    metrics::counter!("rate_limited_total", "limit" => "sign_in").increment(1);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_sign_ins",
        "too many failed sign-ins for this account or from this address; wait and retry",
    )
    .with_retry_after(secs.max(1))
}

/// Whether `password` matches the stored hash; with no hash, a dummy one is checked so an
/// unknown account takes as long as a wrong password.
async fn verify(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{
            rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
        };
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            argon2::Argon2::default()
                .hash_password(b"no account has this", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let known = hash.is_some();
        let stored = hash.unwrap_or_else(|| dummy.clone());
        let ok = PasswordHash::new(&stored)
            .is_ok_and(|p| argon2::Argon2::default().verify_password(password.as_bytes(), &p).is_ok());
        known && ok
    })
    .await
    .map_err(|_| ApiError::internal())
}

/// Opens a session for a member and returns its view.
async fn open(
    shared: &Shared,
    accounts: &Accounts,
    member: ghostlink_db::workspaces::MemberRow,
) -> Result<SessionView, ApiError> {
    let token = new_secret(&mut rand::rngs::OsRng, SESSION_PREFIX);
    let hash = hash_token(&token);
    let expires_at = Utc::now() + accounts.session_ttl;
    let id = member.id;
    shared
        .db
        .run(move |c| ghostlink_db::accounts::open_session(c, id, &hash, expires_at))
        .await
        .map_err(db_error)?;
    metrics::counter!("sessions_opened_total").increment(1);
    Ok(SessionView { token, expires_at, workspace_id: member.workspace_id, member: MemberView::from(member) })
}

/// Sign in with an email and a password: a new session (a new token at every sign-in).
#[utoipa::path(
    post, path = "/api/v1/auth/sign-in", tag = "accounts",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionView),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 422, description = "A field is not text", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for the account or the address (`too_many_sign_ins`)", body = ErrorBody),
    )
)]
pub async fn sign_in(
    req: HttpRequest,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let r: SignInRequest = json_of(body)?;
    let client = format!("signin-client:{}", auth.client_key(&req));
    let account = format!("signin-account:{}", hash_token(&r.email.trim().to_lowercase()));
    accounts.per_client.check(&client).await.map_err(too_many)?;
    accounts.per_account.check(&account).await.map_err(too_many)?;
    let email = r.email.trim().to_string();
    let found = if email.len() <= 254 && r.password.len() <= 512 {
        shared.db.run(move |c| ghostlink_db::accounts::by_email(c, &email)).await.map_err(db_error)?
    } else {
        None
    };
    let hash = found.as_ref().and_then(|a| a.password_hash.clone());
    if !verify(r.password, hash).await? {
        accounts.per_client.record(&client).await;
        accounts.per_account.record(&account).await;
        metrics::counter!("sign_in_failures_total").increment(1);
        return Err(ApiError::unauthorized("wrong email or password"));
    }
    let member = found.ok_or_else(ApiError::internal)?.member;
    Ok(HttpResponse::Ok().json(open(&shared, &accounts, member).await?))
}

/// Sign out: revoke the session making this request.
#[utoipa::path(
    post, path = "/api/v1/auth/sign-out", tag = "accounts",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 422, description = "The credential is a key, not a session (`not_a_session`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn sign_out(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let id = caller.session_id.ok_or_else(|| {
        ApiError::unprocessable("not_a_session", "this credential is an API key; revoke it instead")
    })?;
    shared.db.run(move |c| ghostlink_db::accounts::revoke_session(c, id)).await.map_err(db_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sign out everywhere: revoke every session of the calling member.
#[utoipa::path(
    post, path = "/api/v1/auth/sign-out-everywhere", tag = "accounts",
    responses(
        (status = 200, description = "Every session of the member is revoked", body = RevokedView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn sign_out_everywhere(
    caller: Caller,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let member = caller.member_id;
    let revoked =
        shared.db.run(move |c| ghostlink_db::accounts::revoke_sessions(c, member)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(RevokedView { revoked }))
}

/// Invite someone to the caller's workspace: a one-time token, shown this once.
#[utoipa::path(
    post, path = "/api/v1/invitations", tag = "accounts",
    request_body = InvitationRequest,
    responses(
        (status = 201, description = "Invited", body = InvitationView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn invite(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let r: InvitationRequest = json_of(body)?;
    caller.allow(Action::AdminWorkspace { owner: r.role == MemberRole::Owner })?;
    let email = r.email.as_deref().map(email_field).transpose()?;
    let token = new_secret(&mut rand::rngs::OsRng, ONE_TIME_PREFIX);
    let hash = hash_token(&token);
    let expires_at = Utc::now() + chrono::Duration::days(INVITATION_TTL_DAYS);
    let what = ghostlink_db::accounts::OneTime::Invitation {
        workspace_id: caller.workspace_id,
        role: r.role,
        email,
    };
    shared
        .db
        .run(move |c| ghostlink_db::accounts::issue(c, &what, &hash, expires_at))
        .await
        .map_err(db_error)?;
    Ok(HttpResponse::Created().json(InvitationView { token, expires_at, role: r.role }))
}

/// Accept an invitation: creates the member with a name, an email and a password, and signs in.
#[utoipa::path(
    post, path = "/api/v1/auth/accept-invitation", tag = "accounts",
    request_body = AcceptInvitationRequest,
    responses(
        (status = 201, description = "The member exists and is signed in", body = SessionView),
        (status = 401, description = "The invitation is unknown, used or expired", body = ErrorBody),
        (status = 409, description = "The name is taken in the workspace, or the email by a member (`name_or_email_taken`)", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address (`too_many_sign_ins`)", body = ErrorBody),
    )
)]
pub async fn accept_invitation(
    req: HttpRequest,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let r: AcceptInvitationRequest = json_of(body)?;
    let name = name_field("name", &r.name)?;
    let email = email_field(&r.email)?;
    let password = password_field(&r.password)?;
    let client = format!("signin-client:{}", auth.client_key(&req));
    accounts.per_client.check(&client).await.map_err(too_many)?;
    let hashed = crate::api::fields::hash_password(password).await?;
    let hash = hash_token(r.token.trim());
    let made = shared
        .db
        .run(move |c| ghostlink_db::accounts::accept_invitation(c, &hash, &name, &email, &hashed))
        .await
        .map_err(crate::conflict_or("name_or_email_taken", "name or email: a member has it"))?;
    let Some(member) = made else {
        accounts.per_client.record(&client).await;
        return Err(ApiError::unauthorized("the invitation is unknown, used or expired"));
    };
    Ok(HttpResponse::Created().json(open(&shared, &accounts, member).await?))
}

/// Set a new password with a one-time reset token; every session of the member is revoked.
#[utoipa::path(
    post, path = "/api/v1/auth/reset-password", tag = "accounts",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 401, description = "The token is unknown, used or expired", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address (`too_many_sign_ins`)", body = ErrorBody),
    )
)]
pub async fn reset_password(
    req: HttpRequest,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let r: ResetPasswordRequest = json_of(body)?;
    let password = password_field(&r.password)?;
    let client = format!("signin-client:{}", auth.client_key(&req));
    accounts.per_client.check(&client).await.map_err(too_many)?;
    let hashed = crate::api::fields::hash_password(password).await?;
    let hash = hash_token(r.token.trim());
    let done = shared
        .db
        .run(move |c| ghostlink_db::accounts::reset_password(c, &hash, &hashed))
        .await
        .map_err(db_error)?;
    if done.is_none() {
        accounts.per_client.record(&client).await;
        return Err(ApiError::unauthorized("the reset token is unknown, used or expired"));
    }
    Ok(HttpResponse::NoContent().finish())
}
