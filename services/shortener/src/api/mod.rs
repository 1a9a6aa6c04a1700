//! The link API: create, read, list, change, delete. Every handler is described in the OpenAPI
//! document (`/api/v1/openapi.json`) by its `utoipa::path`, so the description cannot drift.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::links::{LinkRow, ListFilter, NewLink};
use ghostlink_domain::domains::{link_key, split_key, validate_host};
use ghostlink_domain::risk::Level;
use ghostlink_domain::{generate_code, normalize_url, validate_alias, HealthState, LinkStatus};
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

mod change;
pub(crate) mod fields;
mod key;
mod stats;

pub use change::*;
pub use fields::MAX_CLICKS;
pub use key::{DomainParam, LinkRef};
pub use stats::*;

use fields::{
    field, hash_password, object, parse_future_time, parse_max_clicks, parse_string, parse_tag_name,
    reject_unknown, LinkFields, LINK_FIELDS,
};
use ghostlink_domain::workspace::Action;

use crate::auth::Caller;
use crate::{db_error, Shared};
use ghostlink_db::outbox::OutboxEvent;
use ghostlink_proto::{Envelope, EventData, LinkCreated, LinkUpdated};
use ghostlink_web::RequestId;

pub(crate) type ReqId = Option<web::ReqData<RequestId>>;

pub(crate) fn outbox_event<T: EventData>(request_id: Option<String>, data: T) -> OutboxEvent {
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
    /// One of the workspace's custom domains (`GET /api/v1/domains`) to make the link on
    /// (default: the instance's domain). A code is unique per domain.
    #[schema(max_length = 253)]
    domain: Option<String>,
    /// When the link stops redirecting: RFC 3339, in the future, its UTC year 0001–9999.
    expires_at: Option<DateTime<Utc>>,
    /// How many redirects the link gives before it is used up (at most 2^53 - 1).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    max_clicks: Option<i64>,
    /// A title to show for the link (at most 200 bytes, no control characters).
    title: Option<String>,
    /// A description (at most 2000 bytes; line breaks allowed).
    description: Option<String>,
    /// Tag names (at most 20, each 1–64 bytes): made in the workspace as needed.
    tags: Option<Vec<String>>,
    /// Redirect rules, first match wins: `{"conditions": [{"type": "device", "is": ["mobile"]}],
    /// "url": "https://…"}`; condition types `device`, `os`, `language`, `country`, `query`,
    /// `time`.
    #[schema(value_type = Option<Vec<Object>>)]
    rules: Option<Vec<Value>>,
    /// Append the short URL's query string to the destination.
    forward_query: Option<bool>,
    /// UTM parameters merged into the destination: `source`, `medium`, `campaign`, `term`,
    /// `content`.
    #[schema(value_type = Option<Object>)]
    utm: Option<Value>,
    /// Ask visitors for this password (1–128 characters; stored as an argon2id hash, never shown).
    password: Option<String>,
}

/// Body of `PATCH /api/v1/links/{code}`: absent fields are unchanged, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct UpdateLinkRequest {
    /// `active`, `disabled` or `quarantined` (not null: every link has a status; quarantining
    /// and releasing are the instance admin's).
    #[schema(nullable = false, pattern = "^(active|disabled|quarantined)$")]
    status: Option<String>,
    /// A new destination (kept in the link's revisions; re-scored and re-probed).
    #[schema(nullable = false)]
    url: Option<String>,
    /// When the link stops redirecting (a past time expires it now): RFC 3339, its UTC year
    /// 0001–9999.
    expires_at: Option<DateTime<Utc>>,
    /// How many redirects the link gives before it is used up (at most 2^53 - 1).
    #[schema(minimum = 1, maximum = 9007199254740991_i64)]
    max_clicks: Option<i64>,
    /// A title to show for the link (at most 200 bytes, no control characters).
    title: Option<String>,
    /// A description (at most 2000 bytes; line breaks allowed).
    description: Option<String>,
    /// Tag names (at most 20, each 1–64 bytes): made in the workspace as needed.
    tags: Option<Vec<String>>,
    /// Redirect rules, first match wins: `{"conditions": [{"type": "device", "is": ["mobile"]}],
    /// "url": "https://…"}`; condition types `device`, `os`, `language`, `country`, `query`,
    /// `time`.
    #[schema(value_type = Option<Vec<Object>>)]
    rules: Option<Vec<Value>>,
    /// Append the short URL's query string to the destination.
    forward_query: Option<bool>,
    /// UTM parameters merged into the destination: `source`, `medium`, `campaign`, `term`,
    /// `content`.
    #[schema(value_type = Option<Object>)]
    utm: Option<Value>,
    /// Ask visitors for this password (1–128 characters; stored as an argon2id hash, never shown).
    password: Option<String>,
}

/// A link as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub code: String,
    /// The custom domain the link is on (absent: the instance's default domain).
    pub domain: Option<String>,
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
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// The redirect rules, first match wins.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<ghostlink_domain::rules::Rule>,
    pub forward_query: bool,
    /// Stored UTM parameters, when any.
    #[schema(value_type = Option<Object>)]
    pub utm: Option<ghostlink_domain::utm::Utm>,
    /// Whether visitors are asked for a password (the password itself is never shown).
    pub password_protected: bool,
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
    /// Only links carrying this tag (case-insensitively).
    #[param(max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    tag: Option<String>,
}

/// The short URL of a link's key: on the default domain under `base`, on a custom one under
/// its host with `base`'s scheme (TLS ends in front of every domain alike).
pub(crate) fn short_url(base: &str, key: &str) -> String {
    match split_key(key) {
        (None, code) => format!("{base}/{code}"),
        (Some(host), code) => {
            let scheme = base.split_once("://").map_or("https", |(s, _)| s);
            format!("{scheme}://{host}/{code}")
        }
    }
}

/// Where the API answers for a link's key.
pub(crate) fn link_path(key: &str) -> String {
    match split_key(key) {
        (None, code) => format!("/api/v1/links/{code}"),
        (Some(host), code) => format!("/api/v1/links/{code}?domain={host}"),
    }
}

pub(crate) fn view(row: LinkRow, base: &str, tags: Vec<String>) -> LinkView {
    let utm = row.query_options().utm;
    LinkView {
        title: row.title,
        description: row.description,
        tags,
        rules: row.rules,
        forward_query: row.forward_query,
        utm,
        password_protected: row.password_hash.is_some(),
        short_url: short_url(base, &row.code),
        status: row.status,
        domain: split_key(&row.code).0.map(str::to_owned),
        code: split_key(&row.code).1.to_owned(),
        url: row.url,
        created_at: row.created_at,
        updated_at: row.updated_at,
        expires_at: row.expires_at,
        max_clicks: row.max_clicks,
        click_count: row.click_count,
    }
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
    caller.allow(Action::CreateLink)?;
    let rid = rid.map(|r| r.into_inner().0);
    let m = object(body.into_inner())?;
    let known: Vec<&str> =
        ["url", "alias", "domain", "expires_at", "max_clicks"].into_iter().chain(LINK_FIELDS).collect();
    reject_unknown(&m, &known)?;
    let NewLinkInput { url, alias, expires_at, max_clicks, fields, rules, tags } =
        read_new_link(&shared, &m)?;
    let domain = domain_of(&shared, &caller, &m).await?;
    let password_hash = match fields.password.clone().flatten() {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };

    let mut attempts = 0;
    let row = loop {
        attempts += 1;
        let code = alias.clone().unwrap_or_else(|| generate_code(&mut rand::rngs::OsRng));
        let code = link_key(domain.as_deref(), &code);
        let new = NewLink {
            code,
            url: url.clone(),
            owner_token_id: caller.token_id,
            expires_at,
            max_clicks,
            workspace_id: Some(caller.workspace_id),
            owner_member_id: Some(caller.member_id),
            title: fields.title.clone().flatten(),
            description: fields.description.clone().flatten(),
            rules: rules.clone(),
            forward_query: fields.forward_query.flatten().unwrap_or(false),
            utm: fields.utm.clone().flatten().unwrap_or_default(),
            password_hash: password_hash.clone(),
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
    if !tags.is_empty() {
        let (ws, id, t) = (row.workspace_id, row.id, tags.clone());
        shared.db.run(move |c| ghostlink_db::tags::set_for_link(c, ws, id, &t)).await.map_err(db_error)?;
    }
    let tags = tags_of(&shared, row.id).await?;
    // A negative cache entry may exist for this code (someone tried it before it existed).
    shared.invalidate(&row.code).await;
    shared.relay.notify_one();
    metrics::counter!("links_created_total").increment(1);
    slog::info!(shared.log, "link created"; "link.code" => &row.code, "token.name" => &caller.name);
    let location = link_path(&row.code);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(view(row, &shared.base_url, tags)))
}

/// The custom domain a create body names (`"domain"`), which must be one of the caller's
/// workspace's; `None` for the default domain.
pub(crate) async fn domain_of(
    shared: &Shared,
    caller: &Caller,
    m: &serde_json::Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = field(m, "domain", parse_string)?.flatten() else { return Ok(None) };
    let unknown = || ApiError::unprocessable("unknown_domain", "domain: not a domain of this workspace");
    let host = validate_host(&raw).map_err(|_| unknown())?;
    let ws = caller.workspace_id;
    let h = host.clone();
    let found = shared.db.run(move |c| ghostlink_db::domains::get(c, ws, &h)).await.map_err(db_error)?;
    found.map(|_| Some(host)).ok_or_else(unknown)
}

/// What a create body asks for, validated (the password still as sent).
pub(crate) struct NewLinkInput {
    pub url: String,
    pub alias: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    pub fields: LinkFields,
    pub rules: Vec<ghostlink_domain::rules::Rule>,
    pub tags: Vec<String>,
}

/// Every rule a new link's body must meet, in the order its errors are reported: the
/// destination (normalised, not blocklisted), the other fields, the rules' destinations, the
/// alias, the expiry and `max_clicks`. A create and each row of an import go through it.
pub(crate) fn read_new_link(
    shared: &Shared,
    m: &serde_json::Map<String, Value>,
) -> Result<NewLinkInput, ApiError> {
    let raw_url = match m.get("url") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(ApiError::unprocessable("url_missing", "url: is required")),
        Some(_) => return Err(ApiError::unprocessable("url_malformed", "url: must be a string")),
    };
    let url = destination(shared, "url", &raw_url)?;
    let fields = LinkFields::read(m)?;
    let rules = fields.rules.clone().flatten().unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        refuse_blocklisted(shared, &format!("rules[{i}].url"), &rule.url)?;
    }
    let tags = fields.tags.clone().flatten().unwrap_or_default();
    let alias = field(m, "alias", parse_string)?.flatten();
    if let Some(a) = &alias {
        validate_alias(a).map_err(|e| ApiError::unprocessable(e.code(), format!("alias: {e}")))?;
    }
    let expires_at = field(m, "expires_at", parse_future_time)?.flatten();
    let max_clicks = field(m, "max_clicks", parse_max_clicks)?.flatten();
    Ok(NewLinkInput { url, alias, expires_at, max_clicks, fields, rules, tags })
}

/// A destination as given in `field`: validated and normalised like every link's, and refused
/// when the risk blocklist covers its host.
pub(crate) fn destination(shared: &Shared, field: &str, raw: &str) -> Result<String, ApiError> {
    let url = normalize_url(raw).map_err(|e| ApiError::unprocessable(e.code(), format!("{field}: {e}")))?;
    refuse_blocklisted(shared, field, &url)?;
    Ok(url)
}

fn refuse_blocklisted(shared: &Shared, field: &str, url: &str) -> Result<(), ApiError> {
    let Some(list) = &shared.blocklist else { return Ok(()) };
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    match list.current().0.covering(&host) {
        Some(entry) => {
            metrics::counter!("links_refused_total", "reason" => "blocklisted").increment(1);
            Err(ApiError::unprocessable(
                "url_blocklisted",
                format!("{field}: the destination {host} is blocklisted ({entry})"),
            ))
        }
        None => Ok(()),
    }
}

/// The tag names of one link.
pub(crate) async fn tags_of(shared: &Shared, link: i64) -> Result<Vec<String>, ApiError> {
    let mut all =
        shared.db.run(move |c| ghostlink_db::tags::for_links(c, &[link])).await.map_err(db_error)?;
    Ok(all.remove(&link).unwrap_or_default())
}

/// The link a route names, when the caller may see it.
pub(crate) async fn load_visible(
    shared: &Shared,
    caller: &Caller,
    link: &LinkRef,
) -> Result<LinkRow, ApiError> {
    let Some(code) = link.key() else {
        return Err(ApiError::not_found("no link with this code"));
    };
    let row = shared.db.run(move |c| ghostlink_db::links::get(c, &code)).await.map_err(db_error)?;
    match row {
        Some(r) if caller.sees(r.workspace_id) => Ok(r),
        // Another workspace's link is indistinguishable from a missing one.
        _ => Err(ApiError::not_found("no link with this code")),
    }
}

/// Read one link of the caller's workspace (the instance admin: any).
#[utoipa::path(
    get, path = "/api/v1/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 200, description = "The link", body = LinkView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(caller: Caller, link: LinkRef, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let row = load_visible(&shared, &caller, &link).await?;
    let tags = tags_of(&shared, row.id).await?;
    Ok(HttpResponse::Ok().json(view(row, &shared.base_url, tags)))
}

/// List the workspace's links, newest first (the instance admin: every workspace's).
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
    caller.allow(Action::ReadLinks)?;
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
    let tag = match q.tag.as_deref() {
        None | Some("") => None,
        Some(t) => Some(
            parse_tag_name(&Value::String(t.to_string()))
                .map_err(|why| ApiError::bad_request("invalid_query", format!("tag: {why}")))?,
        ),
    };
    let filter = ListFilter {
        workspace: (!caller.is_admin()).then_some(caller.workspace_id),
        owner: None,
        tag: tag.map(|t| (caller.workspace_id, t)),
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
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tags = shared.db.run(move |c| ghostlink_db::tags::for_links(c, &ids)).await.map_err(db_error)?;
    let items = rows
        .into_iter()
        .map(|r| {
            let t = tags.remove(&r.id).unwrap_or_default();
            view(r, &shared.base_url, t)
        })
        .collect();
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
