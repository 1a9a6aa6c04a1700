//! The internal admin API, served on its own listener (`ADMIN_LISTEN_ADDR`, loopback by
//! default) under `/admin/v1` with an OpenAPI document of its own: the ghost-probe's findings,
//! workspaces, and moderation of any workspace's links (quarantine, release, delete). Only the
//! instance administrator's keys are served here (403 for any other); the public listener has
//! none of these routes (404), so a deployment can expose the public API and keep this one inside.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_domain::workspace::validate_slug;
use ghostlink_domain::{hash_token, new_token};
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::api::{ErrorBody, LinkView, ReqId, UpdateLinkRequest};
use crate::auth::Admin;
use crate::{db_error, findings, BearerAuth, Refusals, Shared, Throttled};

/// Which listener a request came in on: the public API refuses moderation, the admin API
/// serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

/// The OpenAPI description of the admin API.
#[derive(OpenApi)]
#[openapi(
    info(title = "GhostLink admin API", description = "Findings, workspaces and moderation; internal."),
    paths(findings::list, crate::analytics::admin_orphans, workspaces, create_workspace, update_link, delete_link),
    components(schemas(
        crate::analytics::OrphanReportView, crate::analytics::OrphanCodeView, findings::FindingView, WorkspaceView, NewWorkspaceRequest, NewWorkspaceView, ErrorBody, LinkView,
        UpdateLinkRequest
    )),
    modifiers(&BearerAuth, &Throttled, &Refusals)
)]
pub struct AdminDoc;

pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(AdminDoc::openapi())
}

/// A workspace as the admin API lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /admin/v1/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceRequest {
    /// 2–40 of a-z, 0-9 and '-', starting and ending with a letter or digit.
    pub slug: String,
    /// 1–100 bytes, no control characters.
    pub name: String,
    /// The first owner's member name (1–64 bytes).
    pub owner: String,
}

/// A workspace just made, with its first owner's key (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewWorkspaceView {
    pub workspace: WorkspaceView,
    pub owner_member_id: i64,
    pub owner_key: String,
}

/// Every workspace.
#[utoipa::path(
    get, path = "/admin/v1/workspaces", tag = "admin",
    responses(
        (status = 200, description = "Workspaces, oldest first", body = [WorkspaceView]),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn workspaces(_admin: Admin, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let rows = shared.db.run(ghostlink_db::workspaces::list).await.map_err(db_error)?;
    let out: Vec<WorkspaceView> = rows
        .into_iter()
        .map(|w| WorkspaceView { id: w.id, slug: w.slug, name: w.name, created_at: w.created_at })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("{field}: 1 to {max} bytes, no control characters"),
        ));
    }
    Ok(v.to_string())
}

/// Create a workspace and its first owner, with a key for that owner.
#[utoipa::path(
    post, path = "/admin/v1/workspaces", tag = "admin",
    request_body = NewWorkspaceRequest,
    responses(
        (status = 201, description = "Created", body = NewWorkspaceView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_workspace(
    Admin(caller): Admin,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let req: NewWorkspaceRequest = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))?;
    validate_slug(&req.slug).map_err(|e| ApiError::unprocessable("invalid_slug", e.to_string()))?;
    let name = text("name", &req.name, 100)?;
    let owner = text("owner", &req.owner, 64)?;
    let secret = new_token(&mut rand::rngs::OsRng);
    let (hash, prefix) = (hash_token(&secret), secret[..10].to_string());
    let slug = req.slug.clone();
    let made = shared
        .db
        .run(move |c| ghostlink_db::workspaces::create_with_owner(c, &slug, &name, &owner, &hash, &prefix))
        .await
        .map_err(|e| match e {
            ghostlink_db::DbError::Conflict(_) => {
                ApiError::conflict("slug_taken", "slug: a workspace has it")
            }
            e => db_error(e),
        })?;
    let (w, member) = made;
    slog::info!(shared.log, "workspace created"; "workspace.slug" => &w.slug, "token.name" => &caller.name);
    Ok(HttpResponse::Created().json(NewWorkspaceView {
        workspace: WorkspaceView { id: w.id, slug: w.slug, name: w.name, created_at: w.created_at },
        owner_member_id: member,
        owner_key: secret,
    }))
}

/// Change any workspace's link, its status included: quarantine and release are here.
#[utoipa::path(
    patch, path = "/admin/v1/links/{code}", tag = "admin",
    params(("code" = String, Path, description = "The short code"), crate::api::DomainParam),
    request_body = UpdateLinkRequest,
    responses(
        (status = 200, description = "The changed link", body = LinkView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_link(
    Admin(caller): Admin,
    link: crate::api::LinkRef,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    crate::api::update_as(caller, Listener::Admin, link, body, shared, rid).await
}

/// Delete any workspace's link.
#[utoipa::path(
    delete, path = "/admin/v1/links/{code}", tag = "admin",
    params(("code" = String, Path, description = "The short code"), crate::api::DomainParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_link(
    Admin(caller): Admin,
    link: crate::api::LinkRef,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    crate::api::delete(caller, link, shared, rid).await
}
