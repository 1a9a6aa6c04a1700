//! The stats API: a link's or the workspace's clicks over a time range, as a series in a time
//! zone and broken down by country, browser, OS, device, referrer host, domain, rule, traffic
//! (humans and bots), outcome and link; orphan visits (`orphans`); raw clicks as CSV
//! (`clicks_csv`). Every figure comes from the rollups (`ghostlink_db::click_stats`), never a
//! scan of raw clicks.

mod clicks_csv;
mod orphans;
mod query;

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use ghostlink_db::click_stats::{self, Scope};
use ghostlink_domain::analytics::{bucket, Dimension};
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{load_visible, DomainParam, ErrorBody, LinkRef};
use crate::auth::Caller;
use crate::{db_error, Shared};

pub use clicks_csv::*;
pub use orphans::*;
pub use query::StatsQuery;
use query::Window;

/// Clicks over a time range.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// The range, `[from, to)`.
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    /// The IANA time zone the series' buckets follow.
    pub timezone: String,
    /// `hour`, `day`, `week` or `month`.
    pub granularity: String,
    pub total: i64,
    pub humans: i64,
    pub bots: i64,
    /// Every bucket of the range, oldest first, empty ones included.
    pub series: Vec<PointView>,
    /// By dimension name: the values with the most clicks. Counted by UTC day, over the days
    /// the range touches.
    pub breakdowns: BTreeMap<&'static str, BreakdownView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointView {
    /// The bucket's start, with the zone's offset at that moment.
    pub start: String,
    pub clicks: i64,
    pub humans: i64,
    pub bots: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownView {
    /// How many distinct values there were.
    pub values: i64,
    /// Clicks of the values not listed.
    pub other_clicks: i64,
    pub top: Vec<SliceView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SliceView {
    /// The value (`unknown` when the click had none; `direct` for a referrer: none sent).
    pub value: String,
    pub clicks: i64,
    pub humans: i64,
    pub bots: i64,
}

/// The series and breakdowns of one scope over `w`.
async fn stats_of(shared: &Shared, scope: Scope, w: Window) -> Result<StatsView, ApiError> {
    let (from, to, tz, g) = (w.from, w.to, w.tz, w.granularity);
    let (first_day, last_day) = w.days();
    let dims = w.breakdowns.clone();
    let limit = w.limit;
    let (hourly, breakdowns) = shared
        .db
        .run(move |c| {
            let hourly = click_stats::hourly(c, &scope, from, to)?;
            let breakdowns = click_stats::breakdowns(c, &scope, &dims, first_day, last_day, limit)?;
            Ok((hourly, breakdowns))
        })
        .await
        .map_err(db_error)?;
    let points = bucket(&hourly, from, to, g, tz)
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let (total, bots) = points.iter().fold((0, 0), |(t, b), p| (t + p.clicks, b + p.bots));
    Ok(StatsView {
        from,
        to,
        timezone: tz.name().to_owned(),
        granularity: g.as_str().to_owned(),
        total,
        humans: total - bots,
        bots,
        series: points
            .into_iter()
            .map(|p| PointView {
                start: p.start.to_rfc3339(),
                clicks: p.clicks,
                humans: p.clicks - p.bots,
                bots: p.bots,
            })
            .collect(),
        breakdowns: breakdowns
            .into_iter()
            .map(|b| {
                let view = BreakdownView {
                    values: b.values,
                    other_clicks: b.other_clicks,
                    top: b
                        .top
                        .into_iter()
                        .map(|s| SliceView {
                            value: s.value,
                            clicks: s.clicks,
                            humans: s.clicks - s.bots,
                            bots: s.bots,
                        })
                        .collect(),
                };
                (b.dimension.as_str(), view)
            })
            .collect(),
    })
}

/// Click statistics of a link of the caller's workspace.
#[utoipa::path(
    get, path = "/api/v1/links/{code}/stats", tag = "analytics",
    params(("code" = String, Path, description = "The short code"), DomainParam, StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = StatsView),
        (status = 400, description = "A bad range, granularity, zone or breakdown", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn link_stats(
    caller: Caller,
    link: LinkRef,
    query: web::Query<StatsQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let w = query.resolve(false)?;
    let row = load_visible(&shared, &caller, &link).await?;
    Ok(HttpResponse::Ok().json(stats_of(&shared, Scope::Link(row.code), w).await?))
}

/// Click statistics of the caller's workspace, with its top links (the breakdown `link`).
#[utoipa::path(
    get, path = "/api/v1/workspace/stats", tag = "analytics",
    params(StatsQuery),
    responses(
        (status = 200, description = "Statistics", body = StatsView),
        (status = 400, description = "A bad range, granularity, zone or breakdown", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn workspace_stats(
    caller: Caller,
    query: web::Query<StatsQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let w = query.resolve(true)?;
    Ok(HttpResponse::Ok().json(stats_of(&shared, Scope::Workspace(caller.workspace_id), w).await?))
}

/// Every dimension a scope can be broken down by: a link's domain is one, and a link is one link.
fn applicable(workspace: bool) -> impl Iterator<Item = Dimension> {
    Dimension::ALL.iter().copied().filter(move |d| workspace || !matches!(d, Dimension::Link))
}
