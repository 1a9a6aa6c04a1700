//! The link API: create, read, list, change, delete. Every handler is described in the OpenAPI
//! document (`/api/v1/openapi.json`) by its `utoipa::path`, so the description cannot drift.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::links::{LinkChanges, LinkRow, ListFilter, NewLink};
use ghostlink_domain::code::is_plausible_code;
use ghostlink_domain::risk::Level;
use ghostlink_domain::{generate_code, normalize_url, validate_alias, HealthState, LinkStatus};
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::{db_error, Shared};
use ghostlink_db::outbox::OutboxEvent;
use ghostlink_proto::{Envelope, EventData, LinkCreated, LinkDeleted, LinkUpdated};
use ghostlink_web::RequestId;

type ReqId = Option<web::ReqData<RequestId>>;

fn outbox_event<T: EventData>(request_id: Option<String>, data: T) -> OutboxEvent {
    let env = Envelope::new("shortener", request_id, Utc::now(), data);
    OutboxEvent {
        event_id: env.id,
        routing_key: T::TYPE.to_string(),
        payload: String::from_utf8(env.to_bytes()).unwrap_or_default(),
    }
}

fn updated_event(row: &LinkRow, request_id: Option<String>) -> OutboxEvent {
    outbox_event(
        request_id,
        LinkUpdated {
            code: row.code.clone(),
            url: row.url.clone(),
            status: row.status,
            expires_at: row.expires_at,
            max_clicks: row.max_clicks,
            updated_at: row.updated_at,
        },
    )
}

/// Body of `POST /api/v1/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // the documented shape; requests are read field by field for precise errors
#[serde(deny_unknown_fields)] // documents `additionalProperties: false`: unknown fields get 422
pub struct CreateLinkRequest {
    /// Destination: an absolute http(s) URL, at most 2048 bytes.
    #[schema(example = "https://example.com/some/long/path")]
    url: String,
    /// Custom code: 3–64 of `[A-Za-z0-9_-]`, not a reserved word.
    alias: Option<String>,
    /// When the link stops redirecting: RFC 3339, in the future, its UTC year 0001–9999.
    expires_at: Option<DateTime<Utc>>,
    /// How many redirects the link gives before it is used up (at most 2^53 - 1).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    max_clicks: Option<i64>,
}

/// Body of `PATCH /api/v1/links/{code}`: absent fields are unchanged, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct UpdateLinkRequest {
    /// `active`, `disabled` or `quarantined` (not null: every link has a status).
    #[schema(nullable = false, pattern = "^(active|disabled|quarantined)$")]
    status: Option<String>,
    /// When the link stops redirecting (a past time expires it now): RFC 3339, its UTC year
    /// 0001–9999.
    expires_at: Option<DateTime<Utc>>,
    /// How many redirects the link gives before it is used up (at most 2^53 - 1).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    max_clicks: Option<i64>,
}

/// A link as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub code: String,
    pub short_url: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub click_count: i64,
    /// `active`, `disabled`, `quarantined` or `deleted`.
    #[schema(value_type = String)]
    pub status: LinkStatus,
}

/// A page of links, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkPage {
    pub items: Vec<LinkView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// The error body of every 4xx/5xx.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `url_scheme`.
    pub code: String,
    /// What is wrong, naming the field and the rule.
    pub message: String,
}

/// Query of `GET /api/v1/links`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only links in this status (default: all but deleted).
    #[param(pattern = "^(active|disabled|quarantined|deleted)?$")]
    status: Option<String>,
    /// Substring of the destination URL or the code (no control characters).
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    q: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^(-?[0-9]{1,18})?$")]
    cursor: Option<String>,
    /// Only links whose destination's current risk level is this (`low`, `medium`, `high`, `blocked`).
    #[param(pattern = "^(low|medium|high|blocked)?$")]
    risk: Option<String>,
    /// Only links in this canary health state (`unknown`, `healthy`, `failing`, `quarantined`).
    #[param(pattern = "^(unknown|healthy|failing|quarantined)?$")]
    health: Option<String>,
}

fn view(row: LinkRow, base: &str) -> LinkView {
    LinkView {
        short_url: format!("{base}/{}", row.code),
        status: row.status,
        code: row.code,
        url: row.url,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
        max_clicks: row.max_clicks,
        click_count: row.click_count,
    }
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("malformed_json", "request body must be a JSON object")),
    }
}

fn reject_unknown(m: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::unprocessable(
            "unknown_field",
            format!("unknown field '{k}'; expected one of: {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A field that may be absent (`None`), null (`Some(None)`) or set.
fn field<T>(
    m: &Map<String, Value>,
    name: &str,
    parse: impl Fn(&Value) -> Result<T, String>,
) -> Result<Option<Option<T>>, ApiError> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => parse(v).map(|t| Some(Some(t))).map_err(|why| {
            ApiError::unprocessable(
                match name {
                    "expires_at" => "invalid_expires_at",
                    "max_clicks" => "invalid_max_clicks",
                    "status" => "invalid_status",
                    "alias" => "invalid_alias",
                    _ => "invalid_field",
                },
                format!("{name}: {why}"),
            )
        }),
    }
}

/// UTC years a date the API accepts may have: what RFC 3339 (four digits) can write. An offset
/// can carry a valid time past them (`9999-12-31T23:59:59-23:59` is in the year 10000 in UTC),
/// which was stored and echoed as `+10000-…`, not a `date-time`.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The largest `max_clicks`: 2^53 - 1, the largest integer every JSON reader holds exactly
/// (I-JSON, RFC 7493); past it a client reading the link back may see another number.
pub const MAX_CLICKS: i64 = (1 << 53) - 1;

fn parse_time(v: &Value) -> Result<DateTime<Utc>, String> {
    let s = v.as_str().ok_or("must be an RFC 3339 time string")?;
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| format!("'{s}' is not an RFC 3339 time"))?;
    let t = t.with_timezone(&Utc);
    if !YEARS.contains(&chrono::Datelike::year(&t)) {
        return Err(format!("'{s}' is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC"));
    }
    Ok(t)
}

fn parse_future_time(v: &Value) -> Result<DateTime<Utc>, String> {
    let t = parse_time(v)?;
    if t <= Utc::now() {
        return Err("must be in the future".into());
    }
    Ok(t)
}

fn parse_max_clicks(v: &Value) -> Result<i64, String> {
    match v.as_i64() {
        Some(n) if (1..=MAX_CLICKS).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_CLICKS}")),
    }
}

fn parse_string(v: &Value) -> Result<String, String> {
    v.as_str().map(str::to_owned).ok_or_else(|| "must be a string".to_string())
}

/// Create a short link.
#[utoipa::path(
    post, path = "/api/v1/links", tag = "links",
    request_body = CreateLinkRequest,
    responses(
        (status = 201, description = "Created", body = LinkView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 409, description = "Alias taken", body = ErrorBody),
        (status = 408, description = "The body did not arrive within BODY_READ_TIMEOUT_MS (`body_timeout`)", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON (`unsupported_media_type`), or encoded: any Content-Encoding but identity (`unsupported_encoding`)", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let rid = rid.map(|r| r.into_inner().0);
    let m = object(body.into_inner())?;
    reject_unknown(&m, &["url", "alias", "expires_at", "max_clicks"])?;
    let raw_url = match m.get("url") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(ApiError::unprocessable("url_missing", "url: is required")),
        Some(_) => return Err(ApiError::unprocessable("url_malformed", "url: must be a string")),
    };
    let url = normalize_url(&raw_url).map_err(|e| ApiError::unprocessable(e.code(), format!("url: {e}")))?;
    if let Some(list) = &shared.blocklist {
        let host =
            url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        if let Some(entry) = list.current().0.covering(&host) {
            metrics::counter!("links_refused_total", "reason" => "blocklisted").increment(1);
            return Err(ApiError::unprocessable(
                "url_blocklisted",
                format!("url: the destination {host} is blocklisted ({entry})"),
            ));
        }
    }
    let alias = field(&m, "alias", parse_string)?.flatten();
    if let Some(a) = &alias {
        validate_alias(a).map_err(|e| ApiError::unprocessable(e.code(), format!("alias: {e}")))?;
    }
    let expires_at = field(&m, "expires_at", parse_future_time)?.flatten();
    let max_clicks = field(&m, "max_clicks", parse_max_clicks)?.flatten();

    let mut attempts = 0;
    let row = loop {
        attempts += 1;
        let code = alias.clone().unwrap_or_else(|| generate_code(&mut rand::rngs::OsRng));
        let new = NewLink {
            code,
            url: url.clone(),
            owner_token_id: Some(caller.token_id),
            expires_at,
            max_clicks,
            ..Default::default()
        };
        // The event is built from what the row will hold (one statement stores both), at
        // Postgres's precision (microseconds) so that event and row agree.
        let at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        let event = outbox_event(
            rid.clone(),
            LinkCreated {
                code: new.code.clone(),
                url: new.url.clone(),
                status: LinkStatus::Active,
                owner_token_id: new.owner_token_id,
                expires_at: new.expires_at,
                max_clicks: new.max_clicks,
                created_at: at,
            },
        );
        match shared.db.run(move |c| ghostlink_db::links::insert_with_event(c, &new, at, &event)).await {
            Ok(row) => break row,
            Err(ghostlink_db::DbError::Conflict(_)) if alias.is_some() => {
                return Err(ApiError::conflict("alias_taken", "alias: this code is already taken"));
            }
            Err(ghostlink_db::DbError::Conflict(_)) if attempts < 8 => continue,
            Err(e) => return Err(db_error(e)),
        }
    };
    // A negative cache entry may exist for this code (someone tried it before it existed).
    shared.invalidate(&row.code).await;
    shared.relay.notify_one();
    metrics::counter!("links_created_total").increment(1);
    slog::info!(shared.log, "link created"; "link.code" => &row.code, "token.name" => &caller.name);
    let location = format!("/api/v1/links/{}", row.code);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(view(row, &shared.base_url)))
}

pub(crate) async fn load_visible(
    shared: &Shared,
    caller: &Caller,
    code: String,
) -> Result<LinkRow, ApiError> {
    // Not a code at all (NUL, '/', overlong...): no such link, without asking the database,
    // which would refuse a NUL with an error.
    if !is_plausible_code(&code) {
        return Err(ApiError::not_found("no link with this code"));
    }
    let row = shared.db.run(move |c| ghostlink_db::links::get(c, &code)).await.map_err(db_error)?;
    match row {
        Some(r) if caller.is_admin() || r.owner_token_id == Some(caller.token_id) => Ok(r),
        // Another user's link is indistinguishable from a missing one.
        _ => Err(ApiError::not_found("no link with this code")),
    }
}

/// Read one link (users: their own; admins: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The short code")),
    responses(
        (status = 200, description = "The link", body = LinkView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let row = load_visible(&shared, &caller, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(row, &shared.base_url)))
}

/// List links, newest first (users: their own; admins: all).
#[utoipa::path(
    get, path = "/api/v1/links", tag = "links",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of links", body = LinkPage),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    caller: Caller,
    query: web::Query<ListQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid_query", "limit: must be between 1 and 100"));
    }
    let status = query_value::<LinkStatus>("status", q.status.as_deref())?;
    let before_id = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_query", "cursor: not a cursor from a previous page")
        })?),
    };
    let risk = query_value::<Level>("risk", q.risk.as_deref())?;
    let health = query_value::<HealthState>("health", q.health.as_deref())?;
    if q.q.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(ApiError::bad_request("invalid_query", "q: at most 256 characters"));
    }
    if q.q.as_ref().is_some_and(|s| s.chars().any(char::is_control)) {
        return Err(ApiError::bad_request("invalid_query", "q: must not contain control characters"));
    }
    let filter = ListFilter {
        owner: (!caller.is_admin()).then_some(caller.token_id),
        status,
        search: q.q,
        risk,
        health,
        before_id,
        limit: limit + 1,
    };
    let mut rows = shared.db.run(move |c| ghostlink_db::links::list(c, &filter)).await.map_err(db_error)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let items = rows.into_iter().map(|r| view(r, &shared.base_url)).collect();
    Ok(HttpResponse::Ok().json(LinkPage { items, next_cursor }))
}

/// An optional query parameter naming one of an enum's values (empty is absent); anything else
/// is 400 `invalid_query` naming the parameter and the values there are.
fn query_value<T: ghostlink_domain::Named>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|e| ApiError::bad_request("invalid_query", format!("{name}: {e}")))
        }
    }
}

/// Change a link's status, expiry or click limit (admin).
#[utoipa::path(
    patch, path = "/api/v1/links/{code}", tag = "admin",
    params(("code" = String, Path, description = "The short code")),
    request_body = UpdateLinkRequest,
    responses(
        (status = 200, description = "The changed link", body = LinkView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
        (status = 408, description = "The body did not arrive within BODY_READ_TIMEOUT_MS (`body_timeout`)", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON (`unsupported_media_type`), or encoded: any Content-Encoding but identity (`unsupported_encoding`)", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    Admin(caller): Admin,
    path: web::Path<String>,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let rid = rid.map(|r| r.into_inner().0);
    let code = path.into_inner();
    let m = object(body.into_inner())?;
    if !is_plausible_code(&code) {
        return Err(ApiError::not_found("no link with this code"));
    }
    reject_unknown(&m, &["status", "expires_at", "max_clicks"])?;
    let status = match field(&m, "status", parse_string)? {
        None => None,
        Some(None) => return Err(ApiError::unprocessable("invalid_status", "status: must not be null")),
        Some(Some(s)) => match s.parse::<LinkStatus>() {
            Ok(LinkStatus::Deleted) | Err(_) => {
                return Err(ApiError::unprocessable(
                    "invalid_status",
                    "status: must be 'active', 'disabled' or 'quarantined' (use DELETE to delete)",
                ))
            }
            Ok(s) => Some(s),
        },
    };
    let changes = LinkChanges {
        status,
        expires_at: field(&m, "expires_at", parse_time)?,
        max_clicks: field(&m, "max_clicks", parse_max_clicks)?,
    };
    if changes.status.is_none() && changes.expires_at.is_none() && changes.max_clicks.is_none() {
        return Err(ApiError::unprocessable(
            "empty_change",
            "give at least one of status, expires_at, max_clicks",
        ));
    }
    let c2 = code.clone();
    let row = shared
        .db
        .run(move |c| ghostlink_db::links::update_with_event(c, &c2, &changes, |row| updated_event(row, rid)))
        .await
        .map_err(db_error)?;
    let Some(row) = row else { return Err(ApiError::not_found("no link with this code")) };
    shared.invalidate(&code).await;
    shared.relay.notify_one();
    metrics::counter!("link_changes_total", "op" => "update").increment(1);
    slog::info!(shared.log, "link updated"; "link.code" => &code, "link.status" => row.status.as_str(), "token.name" => &caller.name);
    Ok(HttpResponse::Ok().json(view(row, &shared.base_url)))
}

/// Delete a link (admin). Its code is never reissued.
#[utoipa::path(
    delete, path = "/api/v1/links/{code}", tag = "admin",
    params(("code" = String, Path, description = "The short code")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    Admin(caller): Admin,
    path: web::Path<String>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let rid = rid.map(|r| r.into_inner().0);
    let code = path.into_inner();
    if !is_plausible_code(&code) {
        return Err(ApiError::not_found("no link with this code"));
    }
    let c2 = code.clone();
    let event = move |row: &LinkRow| {
        outbox_event(rid, LinkDeleted { code: row.code.clone(), deleted_at: row.updated_at })
    };
    let deleted = shared
        .db
        .run(move |c| ghostlink_db::links::delete_with_event(c, &c2, event))
        .await
        .map_err(db_error)?;
    if !deleted {
        return Err(ApiError::not_found("no link with this code"));
    }
    shared.invalidate(&code).await;
    shared.relay.notify_one();
    metrics::counter!("link_changes_total", "op" => "delete").increment(1);
    slog::info!(shared.log, "link deleted"; "link.code" => &code, "token.name" => &caller.name);
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

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

/// Click statistics (users: their own links; admins: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}/stats", tag = "links",
    params(("code" = String, Path, description = "The short code")),
    responses(
        (status = 200, description = "Statistics", body = LinkStatsView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let row = load_visible(&shared, &caller, path.into_inner()).await?;
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

/// The risk assessment of a link's destination (users: their own links; admins: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}/risk", tag = "links",
    params(("code" = String, Path, description = "The short code")),
    responses(
        (status = 200, description = "The assessment", body = RiskView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "No such link, or not scored yet (`not_scored`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn risk(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let row = load_visible(&shared, &caller, path.into_inner()).await?;
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
