//! Live clicks as server-sent events: `GET /api/v1/links/{code}/clicks/live` (one link) and
//! `GET /api/v1/workspace/clicks/live` (every link of the caller's workspace), authorised like
//! the stats route (`analytics:read`, a link of the caller's workspace; another's is 404).
//!
//! Fed from the broker, never from Postgres: each replica runs one reader of the event stream
//! ([`hub`]) and fans its clicks out in memory to bounded per-subscriber buffers; a subscriber
//! that falls behind is dropped rather than slowing anyone. Each event's `id:` is its position
//! in the stream ([`event::Position`]), so a client that reconnects with `Last-Event-ID` gets
//! exactly the clicks after it, within the stream's retention ([`sse`]).

pub mod config;
pub mod event;
pub mod hub;
mod sse;
mod workspaces;

use std::sync::Arc;

use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, HttpRequest, HttpResponse};
use ghostlink_domain::workspace::Action;
use ghostlink_web::ApiError;
use utoipa::IntoParams;

pub use config::LiveArgs;
pub use event::{LiveClick, Position};
pub use hub::Hub;

use crate::api::{load_visible, DomainParam, LinkRef};
use crate::auth::Caller;
use crate::Shared;

/// The hub of a replica: its settings, the workspace map over `db`, not yet reading.
pub fn hub(
    args: &LiveArgs,
    amqp: &ghostlink_config::AmqpArgs,
    db: ghostlink_db::Db,
    log: &slog::Logger,
) -> Arc<Hub> {
    let settings = hub::Settings {
        amqp_url: amqp.amqp_url.clone(),
        topology: ghostlink_bus::Topology::new(amqp.bus_prefix.clone()),
        buffer: args.live_buffer,
        heartbeat: std::time::Duration::from_millis(args.live_heartbeat_ms),
        max_stream: std::time::Duration::from_secs(args.live_max_stream_secs),
    };
    let workspaces = workspaces::Workspaces::new(db, args.live_workspace_cache, log.clone());
    Arc::new(Hub::new(settings, workspaces, log.clone()))
}

/// The `Last-Event-ID` header every live stream reads (documentation: read by the handler).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct LastEventId {
    /// Resume after this event: the `id` of the last event received (`<offset>-<index>`). Older
    /// than the stream's retention: the stream starts at the oldest event retained and says so
    /// in a comment.
    #[param(rename = "Last-Event-ID", max_length = 41)]
    last_event_id: Option<String>,
}

/// The position a request resumes after; a header that is none is 400.
fn resume(req: &HttpRequest) -> Result<Option<Position>, ApiError> {
    let mut values = req.headers().get_all("last-event-id");
    let Some(value) = values.next() else { return Ok(None) };
    let bad = || ApiError::bad_request("invalid_last_event_id", event::BadPosition.to_string());
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| bad())
}

fn open(shared: &Shared, scope: hub::Scope, resume: Option<Position>) -> Result<HttpResponse, ApiError> {
    let closing = || ApiError::unavailable("the server is shutting down; reconnect shortly");
    let start = match resume {
        None => match shared.live.join(&scope) {
            hub::Join::Live(sub) => sse::Start::Live(sub),
            hub::Join::Behind | hub::Join::Closed => return Err(closing()),
        },
        Some(_) if shared.live.is_closed() => return Err(closing()),
        Some(from) => sse::Start::Resume(from),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        // nginx: pass each event on as it comes.
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .streaming(sse::start(shared.live.clone(), scope, start)))
}

/// Live clicks of a link of the caller's workspace, as server-sent events.
///
/// Each event is `id: <offset>-<index>` and `data: <LiveClick JSON>`; `: ping` comments keep an
/// idle connection open. A client that cannot keep up is dropped (the stream ends with a comment
/// saying so), as is every stream after `LIVE_MAX_STREAM_SECS`: reconnect with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/api/v1/links/{code}/clicks/live", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam, LastEventId),
    responses(
        (status = 200, description = "An event stream of `LiveClick`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "A `Last-Event-ID` that is no id of this stream (`invalid_last_event_id`)", body = crate::api::ErrorBody),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = crate::api::ErrorBody),
        (status = 404, description = "No such link", body = crate::api::ErrorBody),
        (status = 503, description = "The server is shutting down", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn link(
    caller: Caller,
    link: LinkRef,
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let resume = resume(&req)?;
    let row = load_visible(&shared, &caller, &link).await?;
    open(&shared, hub::Scope::Link(row.code), resume)
}

/// Live clicks of every link of the caller's workspace, as server-sent events (as the link's
/// stream; clicks on codes of no link are in no workspace's stream).
#[utoipa::path(
    get, path = "/api/v1/workspace/clicks/live", tag = "workspace",
    params(LastEventId),
    responses(
        (status = 200, description = "An event stream of `LiveClick`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "A `Last-Event-ID` that is no id of this stream (`invalid_last_event_id`)", body = crate::api::ErrorBody),
        (status = 401, description = "Missing or bad token", body = crate::api::ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = crate::api::ErrorBody),
        (status = 503, description = "The server is shutting down", body = crate::api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn workspace(
    caller: Caller,
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadAnalytics)?;
    let resume = resume(&req)?;
    open(&shared, hub::Scope::Workspace(caller.workspace_id), resume)
}
