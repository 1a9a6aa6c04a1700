//! A link's destination's risk assessment (its click statistics: `crate::analytics`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::risk::Level;
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{load_visible, DomainParam, ErrorBody, LinkRef};
use crate::auth::Caller;
use crate::{db_error, Shared};

/// A destination's risk assessment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskView {
    /// 0–100.
    pub score: i32,
    /// `low`, `medium`, `high` or `blocked`.
    #[schema(value_type = String)]
    pub level: Level,
    pub reasons: Vec<RiskReasonView>,
    pub assessed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RiskReasonView {
    pub rule: String,
    pub weight: u32,
    pub detail: String,
}

/// The risk assessment of a link's destination (a link of the caller's workspace).
#[utoipa::path(
    get, path = "/api/v1/links/{code}/risk", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 200, description = "The assessment", body = RiskView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link, or not scored yet (`not_scored`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn risk(
    caller: Caller,
    link: LinkRef,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let row = load_visible(&shared, &caller, &link).await?;
    let code = row.code.clone();
    let r = shared.db.run(move |c| ghostlink_db::risk::get(c, &code)).await.map_err(db_error)?;
    let Some(r) = r else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_scored",
            "this link's destination has not been scored yet",
        ));
    };
    Ok(HttpResponse::Ok().json(RiskView {
        score: r.score,
        level: r.level,
        reasons: r
            .reasons
            .into_iter()
            .map(|r| RiskReasonView { rule: r.rule, weight: r.weight, detail: r.detail })
            .collect(),
        assessed_at: r.assessed_at,
    }))
}
