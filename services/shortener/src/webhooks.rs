//! The caller's workspace's webhook subscriptions: create one (a URL, the event types it
//! wants; the server makes its `whsec_` secret and shows it this once), list, read, change
//! (URL, events, enabled; `rotate_secret` makes and shows a new secret), delete; read its
//! delivery log; send it a test event. The webhook dispatcher delivers them.
//!
//! Owners and admins (`workspace:admin`) change subscriptions; members read them (the secret is
//! never shown again). Another workspace's subscription is answered as missing. A URL follows
//! the destination rules and carries no credentials; whether its address may be reached is
//! decided by the dispatcher at every attempt (a name can change what it resolves to), and a
//! refused one shows as `blocked: …` in the delivery log.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::webhook_deliveries::NewDelivery;
use ghostlink_db::webhooks::{Attempt, Changes, Delivery, Subscription};
use ghostlink_domain::webhook::{
    generate_secret, payload, validate_webhook_url, DeliveryStatus, WebhookEventType,
};
use ghostlink_domain::workspace::Action;
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::fields::{field, object, parse_string, reject_unknown};
use crate::api::ErrorBody;
use crate::auth::Caller;
use crate::{db_error, Shared};

/// Subscriptions a workspace may have.
pub const MAX_SUBSCRIPTIONS: usize = 25;

/// A subscription as the API shows it (never its secret, but when it is made).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    /// The event types delivered: `link.created`, `link.updated`, `link.deleted`,
    /// `link.quarantined`, `link.restored`, `click.batch`, `finding.opened`.
    #[schema(value_type = Vec<String>)]
    pub events: Vec<WebhookEventType>,
    pub enabled: bool,
    /// Why the dispatcher disabled it (every attempt failed for the set time).
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed, while it does.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_` + base64): only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn of(s: Subscription, show_secret: bool) -> Self {
        Self {
            id: s.id,
            url: s.url,
            events: s.event_types,
            enabled: s.enabled,
            disabled_reason: s.disabled_reason,
            failing_since: s.failing_since,
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret: show_secret.then_some(s.secret),
        }
    }
}

/// Body of `POST /api/v1/webhooks`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it field by field for precise 422s
pub struct NewWebhookRequest {
    /// `https://` (or `http://`) URL without credentials.
    url: String,
    /// At least one event type.
    events: Vec<String>,
    /// Default true.
    enabled: Option<bool>,
}

/// Body of `PATCH /api/v1/webhooks/{id}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct WebhookChangeRequest {
    url: Option<String>,
    events: Option<Vec<String>>,
    /// `true` also restarts a subscription the dispatcher disabled.
    enabled: Option<bool>,
    /// `true`: a new secret, shown in the answer; the old one stops signing at once.
    rotate_secret: Option<bool>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// A delivery in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: String,
    #[schema(value_type = String)]
    pub event_type: WebhookEventType,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = String)]
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub http_status: Option<i32>,
    pub latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id.to_string(),
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            http_status: d.last_status,
            latency_ms: d.last_latency_ms,
            last_error: d.last_error,
            created_at: d.created_at,
            finished_at: d.finished_at,
            attempt_log: d.attempt_log.into_iter().map(AttemptView::from).collect(),
        }
    }
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self { attempt: a.attempt, at: a.at, status: a.status, latency_ms: a.latency_ms, error: a.error }
    }
}

/// The answer of `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestEventView {
    /// The test event's id (`webhook-id`); its delivery shows in the log.
    pub event_id: String,
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// At most this many, newest first (1–100, default 50).
    pub limit: Option<i64>,
    /// Only deliveries older than this delivery id.
    pub before: Option<i64>,
}

fn not_found() -> ApiError {
    ApiError::not_found("no webhook with this id in this workspace")
}

fn id_of(path: web::Path<String>) -> Result<i64, ApiError> {
    path.into_inner().parse::<i64>().ok().filter(|&id| id > 0).ok_or_else(not_found)
}

fn url_field(m: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match field(m, "url", parse_string)? {
        Some(Some(raw)) => validate_webhook_url(&raw)
            .map(Some)
            .map_err(|e| ApiError::unprocessable(e.code(), format!("url: {e}"))),
        Some(None) => Err(ApiError::unprocessable("invalid_field", "url: must be a string")),
        None => Ok(None),
    }
}

fn events_field(m: &Map<String, Value>) -> Result<Option<Vec<WebhookEventType>>, ApiError> {
    let bad = |why: String| ApiError::unprocessable("invalid_events", format!("events: {why}"));
    let Some(v) = m.get("events") else { return Ok(None) };
    let items = v.as_array().ok_or_else(|| bad("must be an array of event types".into()))?;
    if items.is_empty() {
        return Err(bad("at least one event type".into()));
    }
    let mut out: Vec<WebhookEventType> = Vec::new();
    for item in items {
        let name = item.as_str().ok_or_else(|| bad("must be an array of event types".into()))?;
        let t = name.parse::<WebhookEventType>().ok().filter(|t| t.subscribable()).ok_or_else(|| {
            let names: Vec<&str> =
                WebhookEventType::ALL.iter().filter(|t| t.subscribable()).map(|t| t.as_str()).collect();
            bad(format!("unknown event type; expected some of {}", names.join(", ")))
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(Some(out))
}

fn bool_field(m: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::unprocessable("invalid_field", format!("{name}: must be true or false"))),
    }
}

/// List the workspace's webhook subscriptions.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The subscriptions, oldest first", body = Vec<WebhookView>),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadWebhooks)?;
    let ws = caller.workspace_id;
    let rows = shared.db.run(move |c| ghostlink_db::webhooks::list(c, ws)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(|s| WebhookView::of(s, false)).collect::<Vec<_>>()))
}

/// Create a webhook subscription. The answer holds its signing secret, shown this once.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = NewWebhookRequest,
    responses(
        (status = 201, description = "Created, with its secret", body = WebhookView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 409, description = "The workspace has the most subscriptions it may", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageWebhooks)?;
    let m = object(body.into_inner())?;
    reject_unknown(&m, &["url", "events", "enabled"])?;
    let url = url_field(&m)?.ok_or_else(|| ApiError::unprocessable("url_missing", "url: is required"))?;
    let events =
        events_field(&m)?.ok_or_else(|| ApiError::unprocessable("invalid_events", "events: is required"))?;
    let enabled = bool_field(&m, "enabled")?;
    let secret = generate_secret(&mut rand::rngs::OsRng);
    let ws = caller.workspace_id;
    let created = shared
        .db
        .run(move |c| {
            if ghostlink_db::webhooks::list(c, ws)?.len() >= MAX_SUBSCRIPTIONS {
                return Ok(None);
            }
            let s = ghostlink_db::webhooks::create(c, ws, &url, &events, &secret)?;
            match enabled {
                Some(false) => {
                    let changes = Changes { enabled: Some(false), ..Changes::default() };
                    ghostlink_db::webhooks::update(c, ws, s.id, &changes)
                }
                _ => Ok(Some(s)),
            }
        })
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            ApiError::conflict(
                "too_many_webhooks",
                format!("a workspace has at most {MAX_SUBSCRIPTIONS} webhooks"),
            )
        })?;
    metrics::counter!("webhooks_changed_total", "op" => "create").increment(1);
    slog::info!(shared.log, "webhook created"; "webhook.id" => created.id, "token.name" => &caller.name);
    let location = format!("/api/v1/webhooks/{}", created.id);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(WebhookView::of(created, true)))
}

/// Read one webhook subscription.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadWebhooks)?;
    let (ws, id) = (caller.workspace_id, id_of(path)?);
    let s = shared
        .db
        .run(move |c| ghostlink_db::webhooks::get(c, ws, id))
        .await
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(WebhookView::of(s, false)))
}

/// Change a webhook subscription: its URL, events, whether it is enabled; rotate its secret.
#[utoipa::path(
    patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body = WebhookChangeRequest,
    responses(
        (status = 200, description = "Changed (with the new secret when rotated)", body = WebhookView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageWebhooks)?;
    let id = id_of(path)?;
    let m = object(body.into_inner())?;
    reject_unknown(&m, &["url", "events", "enabled", "rotate_secret"])?;
    let rotate = bool_field(&m, "rotate_secret")? == Some(true);
    let changes = Changes {
        url: url_field(&m)?,
        event_types: events_field(&m)?,
        enabled: bool_field(&m, "enabled")?,
        secret: rotate.then(|| generate_secret(&mut rand::rngs::OsRng)),
    };
    let ws = caller.workspace_id;
    let s = shared
        .db
        .run(move |c| ghostlink_db::webhooks::update(c, ws, id, &changes))
        .await
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    metrics::counter!("webhooks_changed_total", "op" => "update").increment(1);
    Ok(HttpResponse::Ok().json(WebhookView::of(s, rotate)))
}

/// Delete a webhook subscription and its delivery log.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageWebhooks)?;
    let (ws, id) = (caller.workspace_id, id_of(path)?);
    if !shared.db.run(move |c| ghostlink_db::webhooks::delete(c, ws, id)).await.map_err(db_error)? {
        return Err(not_found());
    }
    metrics::counter!("webhooks_changed_total", "op" => "delete").increment(1);
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// The subscription's delivery log, newest first: status, HTTP status, latency, attempts.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id"), DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = Vec<DeliveryView>),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn deliveries(
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<DeliveryQuery>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadWebhooks)?;
    let (ws, id) = (caller.workspace_id, id_of(path)?);
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit: 1..=100"));
    }
    let before = query.before;
    let log = shared
        .db
        .run(move |c| ghostlink_db::webhooks::deliveries(c, ws, id, before, limit))
        .await
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(log.into_iter().map(DeliveryView::from).collect::<Vec<_>>()))
}

/// Send a `webhook.test` event to an enabled subscription; it is logged like any delivery.
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 202, description = "Queued for delivery", body = TestEventView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 409, description = "The subscription is disabled", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn test(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageWebhooks)?;
    let (ws, id) = (caller.workspace_id, id_of(path)?);
    let event_id = uuid::Uuid::now_v7();
    let body = payload(
        WebhookEventType::Test,
        Utc::now(),
        json!({ "webhook_id": id, "message": "a test event from GhostLink" }),
    );
    let queued = shared
        .db
        .run(move |c| {
            match ghostlink_db::webhooks::get(c, ws, id)? {
                None => return Ok(Err(not_found())),
                Some(s) if !s.enabled => {
                    return Ok(Err(ApiError::conflict(
                        "webhook_disabled",
                        "the webhook is disabled; enable it first",
                    )))
                }
                Some(_) => {}
            }
            let d = NewDelivery { subscription_id: id, event_id, event_type: WebhookEventType::Test, body };
            ghostlink_db::webhook_deliveries::enqueue(c, &[d]).map(|_| Ok(()))
        })
        .await
        .map_err(db_error)?;
    queued?;
    Ok(HttpResponse::Accepted().json(TestEventView { event_id: event_id.to_string() }))
}
