//! Changing and deleting links, and the history of their destinations. A member changes and
//! deletes their own links, an admin or owner any of the workspace's; quarantining and
//! releasing a link stay the instance admin's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use ghostlink_db::links::{LinkChanges, LinkRow};
use ghostlink_domain::workspace::Action;
use ghostlink_domain::LinkStatus;
use ghostlink_proto::LinkDeleted;
use ghostlink_web::{ApiError, JsonBody};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::fields::{
    field, hash_password, object, parse_max_clicks, parse_string, parse_time, reject_unknown,
};
use super::fields::{LinkFields, LINK_FIELDS};
use super::UpdateLinkRequest;
use super::{
    destination, load_visible, outbox_event, tags_of, updated_event, view, DomainParam, ErrorBody, LinkRef,
    LinkView, ReqId,
};
use crate::admin::Listener;
use crate::auth::Caller;
use crate::{db_error, Shared};

/// Loads a link the caller may change: 404 when it does not see it, 403 when its role or key
/// does not allow changing it.
async fn load_writable(shared: &Shared, caller: &Caller, link: &LinkRef) -> Result<LinkRow, ApiError> {
    let row = load_visible(shared, caller, link).await?;
    if !caller.is_admin() {
        caller.allow(Action::WriteLink { own: row.owner_member_id == Some(caller.member_id) })?;
    }
    Ok(row)
}

/// Change a link: its destination, status, expiry, click limit, title, description, tags,
/// rules, query forwarding, UTM parameters or password.
#[utoipa::path(
    patch, path = "/api/v1/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    request_body = UpdateLinkRequest,
    responses(
        (status = 200, description = "The changed link", body = LinkView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
        (status = 408, description = "The body did not arrive within BODY_READ_TIMEOUT_MS (`body_timeout`)", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON (`unsupported_media_type`), or encoded: any Content-Encoding but identity (`unsupported_encoding`)", body = ErrorBody),
        (status = 422, description = "A field breaks a rule", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    caller: Caller,
    link: LinkRef,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    update_as(caller, Listener::Public, link, body, shared, rid).await
}

/// [`update`] as served on `listener`: only the admin API quarantines and releases links.
pub(crate) async fn update_as(
    caller: Caller,
    listener: Listener,
    link: LinkRef,
    body: JsonBody<Value>,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let rid = rid.map(|r| r.into_inner().0);
    let m = object(body.into_inner())?;
    let Some(code) = link.key() else {
        return Err(ApiError::not_found("no link with this code"));
    };
    let known: Vec<&str> =
        ["status", "url", "expires_at", "max_clicks"].into_iter().chain(LINK_FIELDS).collect();
    reject_unknown(&m, &known)?;
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
    let url = match m.get("url") {
        None => None,
        Some(Value::String(raw)) => Some(destination(&shared, "url", raw)?),
        Some(_) => return Err(ApiError::unprocessable("url_malformed", "url: must be a string")),
    };
    let fields = LinkFields::read(&m)?;
    if let Some(Some(rules)) = &fields.rules {
        for (i, rule) in rules.iter().enumerate() {
            destination(&shared, &format!("rules[{i}].url"), &rule.url)?;
        }
    }
    let mut changes = LinkChanges {
        status,
        expires_at: field(&m, "expires_at", parse_time)?,
        max_clicks: field(&m, "max_clicks", parse_max_clicks)?,
        url,
        title: fields.title.clone(),
        description: fields.description.clone(),
        rules: fields.rules.clone().map(Option::unwrap_or_default),
        forward_query: fields.forward_query.map(|f| f.unwrap_or(false)),
        utm: fields.utm.clone().map(Option::unwrap_or_default),
        // Hashed below, once the caller is known to be allowed the change (argon2 is the
        // expensive part of a request; a refused caller must not get to spend it).
        password_hash: fields.password.clone().map(|p| p.map(|_| String::new())),
        actor: Some((Some(caller.member_id), caller.member_name.clone())),
    };
    if changes.is_empty() && fields.tags.is_none() {
        return Err(ApiError::unprocessable(
            "empty_change",
            "give at least one field to change: status, url, expires_at, max_clicks, title, description, \
             tags, rules, forward_query, utm, password",
        ));
    }
    let current = load_writable(&shared, &caller, &link).await?;
    let moderates = |s: LinkStatus| s == LinkStatus::Quarantined;
    let quarantine_change =
        status.is_some_and(|s| s != current.status && (moderates(s) || moderates(current.status)));
    if quarantine_change && listener != Listener::Admin {
        return Err(ApiError::forbidden(
            "quarantining or releasing a link is the admin API's (ADMIN_LISTEN_ADDR, with an admin token)",
        ));
    }
    if let Some(Some(p)) = fields.password.clone() {
        changes.password_hash = Some(Some(hash_password(p).await?));
    }
    let mut row = current;
    if !changes.is_empty() {
        let c2 = code.clone();
        let changed = shared
            .db
            .run(move |c| {
                ghostlink_db::links::update_with_event(c, &c2, &changes, |row| updated_event(row, rid))
            })
            .await
            .map_err(db_error)?;
        let Some(changed) = changed else { return Err(ApiError::not_found("no link with this code")) };
        row = changed;
    }
    if let Some(tags) = fields.tags {
        let (ws, id, t) = (row.workspace_id, row.id, tags.unwrap_or_default());
        shared.db.run(move |c| ghostlink_db::tags::set_for_link(c, ws, id, &t)).await.map_err(db_error)?;
    }
    shared.invalidate(&code).await;
    shared.relay.notify_one();
    metrics::counter!("link_changes_total", "op" => "update").increment(1);
    slog::info!(shared.log, "link updated"; "link.code" => &code, "link.status" => row.status.as_str(), "token.name" => &caller.name);
    let tags = tags_of(&shared, row.id).await?;
    Ok(HttpResponse::Ok().json(view(row, &shared.base_url, tags)))
}

/// Delete a link. Its code is never reissued.
#[utoipa::path(
    delete, path = "/api/v1/links/{code}", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    caller: Caller,
    link: LinkRef,
    shared: web::Data<Shared>,
    rid: ReqId,
) -> Result<HttpResponse, ApiError> {
    let rid = rid.map(|r| r.into_inner().0);
    let code = load_writable(&shared, &caller, &link).await?.code;
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

/// One change of a link's destination.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub changed_at: DateTime<Utc>,
    /// The member who changed it, by id and name.
    pub member_id: Option<i64>,
    pub changed_by: String,
    pub old_url: String,
    pub new_url: String,
}

/// The history of a link's destination, oldest first.
#[utoipa::path(
    get, path = "/api/v1/links/{code}/revisions", tag = "links",
    params(("code" = String, Path, description = "The short code"), DomainParam),
    responses(
        (status = 200, description = "The revisions", body = [RevisionView]),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 403, description = "The key's scopes or the member's role do not allow this", body = ErrorBody),
        (status = 404, description = "No such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revisions(
    caller: Caller,
    link: LinkRef,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    caller.allow(Action::ReadLinks)?;
    let row = load_visible(&shared, &caller, &link).await?;
    let id = row.id;
    let revs = shared.db.run(move |c| ghostlink_db::links::revisions(c, id)).await.map_err(db_error)?;
    let out: Vec<RevisionView> = revs
        .into_iter()
        .map(|r| RevisionView {
            changed_at: r.changed_at,
            member_id: r.member_id,
            changed_by: r.actor,
            old_url: r.old_url,
            new_url: r.new_url,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
