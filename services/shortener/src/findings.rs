//! `GET /admin/v1/findings` (the admin API): the ghost-probe's findings, newest first. Each is an episode
//! of suspicious traffic (enumeration, dead-link probing, burst, zero-click) recorded by the
//! ghost-probe in `probe_findings`; this is the read side for operators.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_web::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::{db_error, Shared};

/// Query of `GET /admin/v1/findings`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingsQuery {
    /// Only this kind: `enumeration`, `dead_link_probing`, `zero_click` or `burst`.
    kind: Option<String>,
    /// At most this many, 1–500 (default 100).
    limit: Option<i64>,
}

/// One finding: an episode of suspicious traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingView {
    pub id: i64,
    /// `enumeration`, `dead_link_probing`, `zero_click` or `burst`.
    #[schema(value_type = String)]
    pub kind: FindingKind,
    /// The hashed client; null for link-level findings (`zero_click`).
    pub client: Option<String>,
    /// What `client` hashes: `address_agent` (the address and user agent) or `address` (the
    /// address alone, an IPv6 address by its /64: a client rotating its user agent); null for
    /// link-level findings.
    #[schema(value_type = Option<String>)]
    pub client_key: Option<ClientKey>,
    /// The link concerned; null where no single code applies.
    pub code: Option<String>,
    /// Events in the detection window when last refreshed.
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// `observe` (recorded only) or `deny` (the client was refused at the redirect).
    #[schema(value_type = String)]
    pub action: ProbeAction,
}

/// The ghost-probe's findings, newest first by `last_seen` (admin).
#[utoipa::path(
    get, path = "/admin/v1/findings", tag = "admin",
    params(FindingsQuery),
    responses(
        (status = 200, description = "Findings, newest first", body = [FindingView]),
        (status = 400, description = "Unknown kind or bad limit", body = crate::api::ErrorBody),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 403, description = "Not an admin token", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    _admin: Admin,
    query: web::Query<FindingsQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit: must be between 1 and 500"));
    }
    // An unknown kind is refused like the links list's filters: 400, naming the kinds there are.
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            k.parse::<FindingKind>()
                .map_err(|e| ApiError::bad_request("invalid_query", format!("kind: {e}")))?,
        ),
    };
    let rows =
        shared.db.run(move |c| ghostlink_db::findings::list(c, kind, limit)).await.map_err(db_error)?;
    let some = |s: String| (!s.is_empty()).then_some(s);
    let views: Vec<FindingView> = rows
        .into_iter()
        .map(|r| FindingView {
            id: r.id,
            kind: r.kind,
            client: some(r.client),
            client_key: r.client_key,
            code: some(r.code),
            count: r.count,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            action: r.action,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}
