//! The caller's workspace: who is in it (members and their roles), its API keys, and its tags.
//! Every route acts on the caller's own workspace (a key names it), so no path can reach
//! another's: an id of another workspace's member or key is answered as missing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::tokens::{NewKey, TokenRow};
use ghostlink_db::workspaces::MemberRow;
use ghostlink_domain::workspace::{key_scopes, Action, MemberRole, Scope};
use ghostlink_domain::{hash_token, new_token, Role};
use ghostlink_web::{ApiError, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::ErrorBody;
use crate::auth::{Auth, Caller};
use crate::{db_error, Shared};

/// The caller's workspace and who the caller is in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub member: MemberView,
    /// The scopes of the key making this request.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub name: String,
    /// `owner`, `admin`, `member` or `viewer`.
    #[schema(value_type = String)]
    pub role: MemberRole,
    pub created_at: DateTime<Utc>,
}

impl From<MemberRow> for MemberView {
    fn from(m: MemberRow) -> Self {
        Self { id: m.id, name: m.name, role: m.role, created_at: m.created_at }
    }
}

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub member_id: i64,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for KeyView {
    fn from(t: TokenRow) -> Self {
        Self {
            id: t.id,
            name: t.name,
            member_id: t.member_id,
            prefix: t.prefix,
            scopes: t.scopes,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A key just made: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeyView {
    #[serde(flatten)]
    pub key: KeyView,
    pub secret: String,
}

/// Body of `POST /api/v1/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberRequest {
    /// 1–64 bytes, no control characters; unique among the workspace's members.
    pub name: String,
    #[schema(value_type = String, pattern = "^(owner|admin|member|viewer)$")]
    pub role: MemberRole,
}

/// Body of `PATCH /api/v1/members/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChangeRequest {
    #[schema(value_type = String, pattern = "^(owner|admin|member|viewer)$")]
    pub role: MemberRole,
}

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// 1–64 bytes, no control characters; unique among the workspace's keys.
    pub name: String,
    /// The member the key acts for (default: the caller's).
    pub member_id: Option<i64>,
    /// Default: every scope the member's role can use.
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Vec<Scope>>,
    /// When the key stops working (RFC 3339, in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Body of `PATCH /api/v1/tags/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRenameRequest {
    pub name: String,
}

/// A tag and how many live links carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub name: String,
    pub links: i64,
}

pub(crate) fn name_field(field: &str, name: &str) -> Result<String, ApiError> {
    let ok = !name.trim().is_empty() && name.len() <= 64 && !name.chars().any(char::is_control);
    if ok {
        Ok(name.trim().to_string())
    } else {
        Err(ApiError::unprocessable("invalid_name", format!("{field}: 1 to 64 bytes, no control characters")))
    }
}

pub(crate) fn json_of<T: serde::de::DeserializeOwned>(body: JsonBody<Value>) -> Result<T, ApiError> {
    serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))
}

async fn member_of(shared: &Shared, caller: &Caller, id: i64) -> Result<MemberRow, ApiError> {
    let ws = caller.workspace_id;
    let m = shared.db.run(move |c| ghostlink_db::workspaces::member(c, ws, id)).await.map_err(db_error)?;
    m.ok_or_else(|| ApiError::not_found("no member with this id"))
}

/// Refuses leaving the workspace without an owner.
async fn keep_an_owner(shared: &Shared, caller: &Caller, target: &MemberRow) -> Result<(), ApiError> {
    if target.role != MemberRole::Owner {
        return Ok(());
    }
    let ws = caller.workspace_id;
    let owners =
        shared.db.run(move |c| ghostlink_db::workspaces::owner_count(c, ws)).await.map_err(db_error)?;
    if owners <= 1 {
        return Err(ApiError::conflict("last_owner", "a workspace keeps at least one owner"));
    }
    Ok(())
}

/// The caller's workspace.
#[utoipa::path(
    get, path = "/api/v1/workspace", tag = "workspace",
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let (ws, mid) = (caller.workspace_id, caller.member_id);
    let (w, m) = shared
        .db
        .run(move |c| {
            Ok((ghostlink_db::workspaces::by_id(c, ws)?, ghostlink_db::workspaces::member(c, ws, mid)?))
        })
        .await
        .map_err(db_error)?;
    let (Some(w), Some(m)) = (w, m) else { return Err(ApiError::not_found("no such workspace")) };
    Ok(HttpResponse::Ok().json(WorkspaceView {
        id: w.id,
        slug: w.slug,
        name: w.name,
        member: m.into(),
        scopes: caller.grant.scopes.clone(),
    }))
}

/// The workspace's members.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "workspace",
    responses(
        (status = 200, description = "Members, oldest first", body = [MemberView]),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn members(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let ws = caller.workspace_id;
    let rows =
        shared.db.run(move |c| ghostlink_db::workspaces::members(c, ws, false)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(MemberView::from).collect::<Vec<_>>()))
}

/// Add a member.
#[utoipa::path(
    post, path = "/api/v1/members", tag = "workspace",
    request_body = NewMemberRequest,
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_member(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let req: NewMemberRequest = json_of(body)?;
    caller.allow(Action::AdminWorkspace { owner: req.role == MemberRole::Owner })?;
    let name = name_field("name", &req.name)?;
    let ws = caller.workspace_id;
    let m =
        shared.db.run(move |c| ghostlink_db::workspaces::add_member(c, ws, &name, req.role)).await.map_err(
            |e| match e {
                ghostlink_db::DbError::Conflict(_) => {
                    ApiError::conflict("name_taken", "name: a member has this name")
                }
                e => db_error(e),
            },
        )?;
    Ok(HttpResponse::Created().json(MemberView::from(m)))
}

/// Change a member's role.
#[utoipa::path(
    patch, path = "/api/v1/members/{id}", tag = "workspace",
    params(("id" = i64, Path, description = "The member's id")),
    request_body = MemberChangeRequest,
    responses(
        (status = 200, description = "Changed", body = MemberView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "It would leave the workspace without an owner", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn change_member(
    caller: Caller,
    path: web::Path<i64>,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let req: MemberChangeRequest = json_of(body)?;
    let target = member_of(&shared, &caller, path.into_inner()).await?;
    let owner = target.role == MemberRole::Owner || req.role == MemberRole::Owner;
    caller.allow(Action::AdminWorkspace { owner })?;
    if req.role != MemberRole::Owner {
        keep_an_owner(&shared, &caller, &target).await?;
    }
    let (ws, id) = (caller.workspace_id, target.id);
    let m = shared
        .db
        .run(move |c| ghostlink_db::workspaces::set_role(c, ws, id, req.role))
        .await
        .map_err(db_error)?;
    let m = m.ok_or_else(|| ApiError::not_found("no member with this id"))?;
    // The member's keys carry the role in this replica's token cache.
    let keys = shared.db.run(move |c| ghostlink_db::tokens::list_keys(c, ws)).await.map_err(db_error)?;
    keys.iter().filter(|k| k.member_id == id).for_each(|k| auth.forget(&k.token_sha256));
    Ok(HttpResponse::Ok().json(MemberView::from(m)))
}

/// Remove a member; its keys are revoked with it.
#[utoipa::path(
    delete, path = "/api/v1/members/{id}", tag = "workspace",
    params(("id" = i64, Path, description = "The member's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "It would leave the workspace without an owner", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    caller: Caller,
    path: web::Path<i64>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let target = member_of(&shared, &caller, path.into_inner()).await?;
    caller.allow(Action::AdminWorkspace { owner: target.role == MemberRole::Owner })?;
    keep_an_owner(&shared, &caller, &target).await?;
    let (ws, id) = (caller.workspace_id, target.id);
    let revoked =
        shared.db.run(move |c| ghostlink_db::workspaces::remove_member(c, ws, id)).await.map_err(db_error)?;
    let revoked = revoked.ok_or_else(|| ApiError::not_found("no member with this id"))?;
    revoked.iter().for_each(|h| auth.forget(h));
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// The workspace's API keys, newest first (revoked ones included; never a secret).
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "workspace",
    responses(
        (status = 200, description = "Keys", body = [KeyView]),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn keys(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let ws = caller.workspace_id;
    let rows = shared.db.run(move |c| ghostlink_db::tokens::list_keys(c, ws)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(KeyView::from).collect::<Vec<_>>()))
}

/// Create an API key for a member; its secret is shown this once.
#[utoipa::path(
    post, path = "/api/v1/keys", tag = "workspace",
    request_body = NewKeyRequest,
    responses(
        (status = 201, description = "Created, with its secret", body = NewKeyView),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    caller: Caller,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::AdminWorkspace { owner: false })?;
    let req: NewKeyRequest = json_of(body)?;
    let name = name_field("name", &req.name)?;
    let member = member_of(&shared, &caller, req.member_id.unwrap_or(caller.member_id)).await?;
    caller.allow(Action::AdminWorkspace { owner: member.role == MemberRole::Owner })?;
    let scopes = key_scopes(member.role, req.scopes.as_deref())
        .map_err(|e| ApiError::unprocessable("invalid_scopes", e.to_string()))?;
    if req.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::unprocessable("invalid_expires_at", "expires_at: must be in the future"));
    }
    let secret = new_token(&mut rand::rngs::OsRng);
    let (hash, prefix) = (hash_token(&secret), secret[..10].to_string());
    let (ws, mid, expires_at) = (caller.workspace_id, member.id, req.expires_at);
    let row = shared
        .db
        .run(move |c| {
            ghostlink_db::tokens::insert_key(
                c,
                &NewKey {
                    workspace_id: ws,
                    member_id: mid,
                    name: &name,
                    role: Role::User,
                    scopes: &scopes,
                    expires_at,
                    sha256: &hash,
                    prefix: &prefix,
                },
            )
        })
        .await
        .map_err(|e| match e {
            ghostlink_db::DbError::Conflict(_) => {
                ApiError::conflict("name_taken", "name: a key has this name")
            }
            e => db_error(e),
        })?;
    slog::info!(shared.log, "key created"; "key.name" => &row.name, "token.name" => &caller.name);
    Ok(HttpResponse::Created().json(NewKeyView { key: row.into(), secret }))
}

/// Revoke an API key; it stops working within a second.
#[utoipa::path(
    delete, path = "/api/v1/keys/{id}", tag = "workspace",
    params(("id" = i64, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such live key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    caller: Caller,
    path: web::Path<i64>,
    shared: web::Data<Shared>,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // Any caller may revoke its own key; others' need workspace administration.
    if Some(id) != caller.token_id {
        caller.allow(Action::AdminWorkspace { owner: false })?;
    }
    let ws = caller.workspace_id;
    let hash = shared.db.run(move |c| ghostlink_db::tokens::revoke_key(c, ws, id)).await.map_err(db_error)?;
    let hash = hash.ok_or_else(|| ApiError::not_found("no live key with this id"))?;
    auth.forget(&hash);
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// The workspace's tags, with how many live links carry each.
#[utoipa::path(
    get, path = "/api/v1/tags", tag = "workspace",
    responses(
        (status = 200, description = "Tags by name", body = [TagView]),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn tags(caller: Caller, shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let ws = caller.workspace_id;
    let rows = shared.db.run(move |c| ghostlink_db::tags::list(c, ws)).await.map_err(db_error)?;
    Ok(HttpResponse::Ok()
        .json(rows.into_iter().map(|t| TagView { name: t.name, links: t.links }).collect::<Vec<_>>()))
}

/// Rename a tag (on every link carrying it).
#[utoipa::path(
    patch, path = "/api/v1/tags/{name}", tag = "workspace",
    params(("name" = String, Path, description = "The tag's name (case-insensitive)")),
    request_body = TagRenameRequest,
    responses(
        (status = 204, description = "Renamed"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such tag", body = ErrorBody),
        (status = 409, description = "Another tag has the new name", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rename_tag(
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageTags)?;
    let req: TagRenameRequest = json_of(body)?;
    let from =
        name_field("tag", &path.into_inner()).map_err(|_| ApiError::not_found("no tag with this name"))?;
    let to = name_field("name", &req.name)?;
    let ws = caller.workspace_id;
    let found =
        shared.db.run(move |c| ghostlink_db::tags::rename(c, ws, &from, &to)).await.map_err(|e| match e {
            ghostlink_db::DbError::Conflict(_) => {
                ApiError::conflict("name_taken", "name: another tag has it")
            }
            e => db_error(e),
        })?;
    if !found {
        return Err(ApiError::not_found("no tag with this name"));
    }
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}

/// Delete a tag (from every link carrying it).
#[utoipa::path(
    delete, path = "/api/v1/tags/{name}", tag = "workspace",
    params(("name" = String, Path, description = "The tag's name (case-insensitive)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such tag", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_tag(
    caller: Caller,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ManageTags)?;
    let name =
        name_field("tag", &path.into_inner()).map_err(|_| ApiError::not_found("no tag with this name"))?;
    let ws = caller.workspace_id;
    let found = shared.db.run(move |c| ghostlink_db::tags::delete(c, ws, &name)).await.map_err(db_error)?;
    if !found {
        return Err(ApiError::not_found("no tag with this name"));
    }
    Ok(HttpResponse::build(StatusCode::NO_CONTENT).finish())
}
