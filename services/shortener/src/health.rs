//! `GET /api/v1/links/{code}/health`: what the canary knows of a link's destination.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::{CheckOutcome, HealthState, LinkStatus};
use ghostlink_web::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{load_visible, DomainParam, LinkRef};
use crate::auth::Caller;
use crate::{db_error, Shared};

/// Checks shown per link.
const CHECKS_SHOWN: i64 = 20;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    /// `unknown` (not probed yet), `healthy`, `failing` or `quarantined` (by the canary or an
    /// admin: the link shows a warning page instead of redirecting).
    #[schema(value_type = String)]
    pub state: HealthState,
    pub consecutive_failures: i32,
    pub consecutive_successes: i32,
    /// First failure of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_check_at: Option<DateTime<Utc>>,
    /// The latest checks, newest first.
    pub checks: Vec<CheckView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub at: DateTime<Utc>,
    /// `ok`, `http_4xx`, `http_5xx`, `timeout`, `dns`, `tls`, `connect` or `blocked` (an address
    /// the canary may not connect to).
    #[schema(value_type = String)]
    pub outcome: CheckOutcome,
    /// The final HTTP status, when there was a response.
    pub status: Option<i32>,
    pub latency_ms: i32,
    /// `HEAD`, or `GET` when the destination refused HEAD.
    pub method: String,
    pub final_url: Option<String>,
    /// The URLs followed, in order (at most 5 redirects).
    pub redirects: Vec<String>,
    /// Why the check failed, in generic words (`blocked: private address`, `dns: the name does
    /// not resolve`, ...).
    pub error: Option<String>,
    /// What exactly failed (names, addresses, resolver and socket errors): admin tokens only,
    /// since it shows how the canary's network resolves internal names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
}

/// The destination health of a link (users: their own links; admins: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}/health", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 200, description = "State and latest checks", body = HealthView),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 404, description = "No such link", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn health(
    caller: Caller,
    link: LinkRef,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let link = load_visible(&shared, &caller, &link).await?;
    let admin = caller.is_admin();
    let code = link.code.clone();
    let (row, checks) = shared
        .db
        .run(move |c| {
            Ok((ghostlink_db::health::get(c, &code)?, ghostlink_db::health::checks(c, &code, CHECKS_SHOWN)?))
        })
        .await
        .map_err(db_error)?;
    let state = match &row {
        _ if link.status == LinkStatus::Quarantined => HealthState::Quarantined,
        // The canary's own quarantine was lifted by hand in the meantime.
        Some(h) if h.state == HealthState::Quarantined => HealthState::Failing,
        Some(h) => h.state,
        None => HealthState::Unknown,
    };
    Ok(HttpResponse::Ok().json(HealthView {
        state,
        consecutive_failures: row.as_ref().map_or(0, |h| h.consecutive_failures),
        consecutive_successes: row.as_ref().map_or(0, |h| h.consecutive_successes),
        failing_since: row.as_ref().and_then(|h| h.failing_since),
        last_checked_at: row.as_ref().and_then(|h| h.last_checked_at),
        next_check_at: row.as_ref().map(|h| h.next_check_at),
        checks: checks
            .into_iter()
            .map(|c| CheckView {
                at: c.checked_at,
                outcome: c.outcome,
                status: c.status,
                latency_ms: c.latency_ms,
                method: c.method,
                final_url: c.final_url,
                redirects: c.redirects,
                error: c.error,
                error_detail: c.error_detail.filter(|_| admin),
            })
            .collect(),
    }))
}
