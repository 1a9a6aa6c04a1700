//! Orphan visits: requests for codes no link has, per domain, with what was asked for, how
//! often and by how many clients. A workspace reads its own custom domains'; the instance
//! administrator reads any domain's, the default domain's included (admin API).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::domains::validate_host;
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::query::range;
use crate::api::ErrorBody;
use crate::auth::Caller;
use crate::{db_error, Shared};

/// Which visits.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrphansQuery {
    /// Start of the range (RFC 3339); default: 30 days before `to`. Counted by UTC day.
    pub from: Option<String>,
    /// End of the range (RFC 3339); default: now.
    pub to: Option<String>,
    /// Codes listed, 1–1000 (default 50), most visited first.
    pub limit: Option<i64>,
    /// (Admin route) the domain; absent or empty: the default domain.
    pub domain: Option<String>,
}

/// A domain's orphan visits.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanReportView {
    /// The custom domain; `null`: the default domain.
    pub domain: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub visits: i64,
    pub humans: i64,
    pub bots: i64,
    /// Distinct codes asked for.
    pub codes: i64,
    pub top: Vec<OrphanCodeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanCodeView {
    /// What was asked for (as stored: made storable, never interpreted).
    pub code: String,
    pub visits: i64,
    pub bots: i64,
    /// Distinct clients (by salted hash) that asked.
    pub clients: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

async fn report(
    shared: &Shared,
    domain: Option<String>,
    q: &OrphansQuery,
) -> Result<OrphanReportView, ApiError> {
    let (from, to) = range(q.from.as_deref(), q.to.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit: between 1 and 1000"));
    }
    let (first, last) = (from.date_naive(), (to - chrono::Duration::nanoseconds(1)).max(from).date_naive());
    let d = domain.clone();
    let r = shared
        .db
        .run(move |c| ghostlink_db::click_stats::orphans(c, d.as_deref(), first, last, limit))
        .await
        .map_err(db_error)?;
    Ok(OrphanReportView {
        domain,
        from,
        to,
        visits: r.visits,
        humans: r.visits - r.bots,
        bots: r.bots,
        codes: r.codes,
        top: r
            .top
            .into_iter()
            .map(|o| OrphanCodeView {
                code: o.code,
                visits: o.visits,
                bots: o.bots,
                clients: o.clients,
                first_at: o.first_at,
                last_at: o.last_at,
            })
            .collect(),
    })
}

/// Orphan visits on one of the workspace's custom domains.
#[utoipa::path(
    get, path = "/api/v1/domains/{host}/orphan-visits", tag = "analytics",
    params(("host" = String, Path, description = "The custom domain"), OrphansQuery),
    responses(
        (status = 200, description = "The report", body = OrphanReportView),
        (status = 400, description = "A bad range or limit", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "Not one of the workspace's domains", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn domain_orphans(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<OrphansQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let not_found = || ApiError::not_found("no such domain in this workspace");
    let host = validate_host(&path.into_inner()).map_err(|_| not_found())?;
    let ws = caller.workspace_id;
    let h = host.clone();
    let found = shared.db.run(move |c| ghostlink_db::domains::get(c, ws, &h)).await.map_err(db_error)?;
    if found.is_none() {
        return Err(not_found());
    }
    Ok(HttpResponse::Ok().json(report(&shared, Some(host), &query).await?))
}

/// Orphan visits on any domain (`domain` absent: the default domain).
#[utoipa::path(
    get, path = "/admin/v1/orphan-visits", tag = "analytics",
    params(OrphansQuery),
    responses(
        (status = 200, description = "The report", body = OrphanReportView),
        (status = 400, description = "A bad domain, range or limit", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn admin_orphans(
    caller: Caller,
    query: web::Query<OrphansQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let domain = match query.domain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(h) => Some(
            validate_host(h).map_err(|e| ApiError::bad_request("invalid_query", format!("domain: {e}")))?,
        ),
    };
    Ok(HttpResponse::Ok().json(report(&shared, domain, &query).await?))
}
