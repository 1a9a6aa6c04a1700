//! What happened to a link: its click statistics and its destination's risk assessment.

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

/// Click statistics of a link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStatsView {
    pub total: i64,
    pub humans: i64,
    pub bots: i64,
    /// Clicks per UTC day over the last 30 days.
    pub by_day: Vec<DayCount>,
    pub top_referrers: Vec<ReferrerCount>,
    /// Clicks by what the redirect answered (`redirect`, `gone`, …).
    #[schema(value_type = Object)]
    pub outcomes: std::collections::BTreeMap<&'static str, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayCount {
    pub day: chrono::NaiveDate,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferrerCount {
    pub referrer: String,
    pub count: i64,
}

/// Click statistics of a link of the caller's workspace.
#[utoipa::path(
    get, path = "/api/v1/links/{code}/stats", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 200, description = "Statistics", body = LinkStatsView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    caller: Caller,
    link: LinkRef,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let row = load_visible(&shared, &caller, &link).await?;
    let code = row.code.clone();
    let s = shared.db.run(move |c| ghostlink_db::clicks::stats(c, &code, 30)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(LinkStatsView {
        total: s.total,
        humans: s.total - s.bots,
        bots: s.bots,
        by_day: s.by_day.into_iter().map(|(day, count)| DayCount { day, count }).collect(),
        top_referrers: s
            .top_referrers
            .into_iter()
            .map(|(referrer, count)| ReferrerCount { referrer, count })
            .collect(),
        outcomes: s.outcomes.into_iter().map(|(o, n)| (o.as_str(), n)).collect(),
    }))
}

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
