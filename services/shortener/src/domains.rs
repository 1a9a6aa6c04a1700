//! The caller's workspace's custom domains: add a host, set where the redirect sends `/` and an
//! unknown code on it, remove one no link was made on. A link is created on a domain by naming
//! it (`"domain"` in the create body) and is addressed as `/links/{code}?domain={host}`.
//!
//! Owners and admins (`workspace:admin`) change domains; every member reads them. Another
//! workspace's host is answered as missing, and a host is one workspace's only: adding one that
//! another workspace has is a 409 that says no more than "taken".

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::domains::{DomainChanges, DomainRow, Removed};
use ghostlink_domain::domains::validate_host;
use ghostlink_domain::workspace::Action;
use ghostlink_web::{ApiError, JsonBody};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::fields::{field, object, parse_string, reject_unknown};
use crate::api::{destination, ErrorBody};
use crate::auth::Caller;
use crate::{conflict_or, db_error, Shared};

/// A custom domain as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    /// Lower-case, ASCII (an internationalised name in its `xn--` form).
    pub host: String,
    /// Where `GET /` on this host redirects (else 404).
    pub root_url: Option<String>,
    /// Where a code this host does not know redirects (else 404).
    pub not_found_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DomainRow> for DomainView {
    fn from(d: DomainRow) -> Self {
        Self {
            host: d.host,
            root_url: d.root_url,
            not_found_url: d.not_found_url,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Body of `POST /api/v1/domains`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it field by field for precise 422s
pub struct NewDomainRequest {
    /// A host name of two or more labels (`go.example.com`); not an IP address.
    host: String,
    root_url: Option<String>,
    not_found_url: Option<String>,
}

/// Body of `PATCH /api/v1/domains/{host}`: a redirect set, or cleared with `null`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DomainChangeRequest {
    root_url: Option<String>,
    not_found_url: Option<String>,
}

const REDIRECT_FIELDS: [&str; 2] = ["root_url", "not_found_url"];

/// A domain redirect as given: validated like every destination (scheme, host, length, the
/// blocklist); `None` absent, `Some(None)` cleared.
fn redirect_field(
    shared: &Shared,
    m: &Map<String, Value>,
    name: &str,
) -> Result<Option<Option<String>>, ApiError> {
    match field(m, name, parse_string)? {
        Some(Some(raw)) => Ok(Some(Some(destination(shared, name, &raw)?))),
        other => Ok(other),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("no domain with this host in this workspace")
}

/// List the workspace's custom domains.
#[utoipa::path(
    get, path = "/api/v1/domains", tag = "domains",
    responses(
        (status = 200, description = "The domains, by host", body = Vec<DomainView>),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let ws = caller.workspace_id;
    let rows = shared.db.run(move |c| ghostlink_db::domains::list(c, ws)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(DomainView::from).collect::<Vec<_>>()))
}

/// Add a custom domain. Point its DNS at the redirect (behind the TLS proxy) first.
#[utoipa::path(
    post, path = "/api/v1/domains", tag = "domains",
    request_body = NewDomainRequest,
    responses(
        (status = 201, description = "Added", body = DomainView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 409, description = "The host is taken", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let m = object(body.into_inner())?;
    let mut known = vec!["host"];
    known.extend(REDIRECT_FIELDS);
    reject_unknown(&m, &known)?;
    let host = match field(&m, "host", parse_string)?.flatten() {
        Some(h) => validate_host(&h).map_err(|e| ApiError::unprocessable(e.code(), format!("host: {e}")))?,
        None => return Err(ApiError::unprocessable("host_missing", "host: is required")),
    };
    let root = redirect_field(&shared, &m, "root_url")?.flatten();
    let nf = redirect_field(&shared, &m, "not_found_url")?.flatten();
    let ws = caller.workspace_id;
    let row = shared
        .db
        .run(move |c| ghostlink_db::domains::add(c, ws, &host, root.as_deref(), nf.as_deref()))
        .await
        .map_err(conflict_or("host_taken", "host: this domain is taken"))?;
    metrics::counter!("domains_changed_total", "op" => "add").increment(1);
    slog::info!(shared.log, "domain added"; "domain.host" => &row.host, "token.name" => &caller.name);
    let location = format!("/api/v1/domains/{}", row.host);
    Ok(HttpResponse::Created().insert_header(("location", location)).json(DomainView::from(row)))
}

/// Set or clear a domain's redirects.
#[utoipa::path(
    patch, path = "/api/v1/domains/{host}", tag = "domains",
    params(("host" = String, Path, description = "The domain's host")),
    request_body = DomainChangeRequest,
    responses(
        (status = 200, description = "Changed", body = DomainView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
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
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let host = validate_host(&path.into_inner()).map_err(|_| not_found())?;
    let m = object(body.into_inner())?;
    reject_unknown(&m, &REDIRECT_FIELDS)?;
    let changes = DomainChanges {
        root_url: redirect_field(&shared, &m, "root_url")?,
        not_found_url: redirect_field(&shared, &m, "not_found_url")?,
    };
    let ws = caller.workspace_id;
    let row = shared
        .db
        .run(move |c| ghostlink_db::domains::update(c, ws, &host, &changes))
        .await
        .map_err(db_error)?
        .ok_or_else(not_found)?;
    metrics::counter!("domains_changed_total", "op" => "update").increment(1);
    Ok(HttpResponse::Ok().json(DomainView::from(row)))
}

/// Remove a domain no link was ever made on (a deleted link keeps its key, so its domain stays).
#[utoipa::path(
    delete, path = "/api/v1/domains/{host}", tag = "domains",
    params(("host" = String, Path, description = "The domain's host")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 409, description = "Links are on it", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let host = validate_host(&path.into_inner()).map_err(|_| not_found())?;
    let ws = caller.workspace_id;
    let h = host.clone();
    match shared.db.run(move |c| ghostlink_db::domains::remove(c, ws, &h)).await.map_err(db_error)? {
        Removed::Removed => {
            metrics::counter!("domains_changed_total", "op" => "remove").increment(1);
            slog::info!(shared.log, "domain removed"; "domain.host" => &host, "token.name" => &caller.name);
            Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
        }
        Removed::NotFound => Err(not_found()),
        Removed::HasLinks(n) => Err(ApiError::conflict(
            "domain_in_use",
            format!("{n} links (deleted ones included) are on this domain; it stays"),
        )),
    }
}
