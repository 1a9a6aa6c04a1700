//! Workspaces and their members. A workspace owns links, tags and API keys ([`crate::tokens`]);
//! a member has one role in it. Removing a member keeps the row (revisions and links still name
//! it) and revokes its keys in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::workspace::MemberRole;

use crate::schema::{api_tokens, members, workspaces};
use crate::stored::AsText;
use crate::{Conn, DbError};

/// The workspace every token and link of the schema before workspaces moved into.
pub const DEFAULT_SLUG: &str = "default";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = members)]
pub struct MemberRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    #[diesel(deserialize_as = AsText<MemberRole>)]
    pub role: MemberRole,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// Creates a workspace; `Conflict` when the slug is taken.
pub fn create(conn: &mut Conn, slug: &str, name: &str) -> Result<WorkspaceRow, DbError> {
    Ok(diesel::insert_into(workspaces::table)
        .values((workspaces::slug.eq(slug), workspaces::name.eq(name)))
        .returning(WorkspaceRow::as_returning())
        .get_result(conn.pg())?)
}

pub fn by_slug(conn: &mut Conn, slug: &str) -> Result<Option<WorkspaceRow>, DbError> {
    Ok(workspaces::table
        .filter(workspaces::slug.eq(slug))
        .select(WorkspaceRow::as_select())
        .first(conn.pg())
        .optional()?)
}

pub fn by_id(conn: &mut Conn, id: i64) -> Result<Option<WorkspaceRow>, DbError> {
    Ok(workspaces::table.find(id).select(WorkspaceRow::as_select()).first(conn.pg()).optional()?)
}

/// The default workspace (made by the migration that introduced workspaces).
pub fn default_workspace(conn: &mut Conn) -> Result<WorkspaceRow, DbError> {
    by_slug(conn, DEFAULT_SLUG)?.ok_or_else(|| DbError::Query("the default workspace is missing".into()))
}

pub fn list(conn: &mut Conn) -> Result<Vec<WorkspaceRow>, DbError> {
    Ok(workspaces::table.order(workspaces::id).select(WorkspaceRow::as_select()).load(conn.pg())?)
}

/// Adds a member; `Conflict` when a present member of the workspace has the name.
pub fn add_member(
    conn: &mut Conn,
    workspace: i64,
    name: &str,
    role: MemberRole,
) -> Result<MemberRow, DbError> {
    Ok(diesel::insert_into(members::table)
        .values((members::workspace_id.eq(workspace), members::name.eq(name), members::role.eq(AsText(role))))
        .returning(MemberRow::as_returning())
        .get_result(conn.pg())?)
}

/// The workspace's members, present ones only unless `removed` too, oldest first.
pub fn members(conn: &mut Conn, workspace: i64, removed: bool) -> Result<Vec<MemberRow>, DbError> {
    let mut q = members::table.filter(members::workspace_id.eq(workspace)).into_boxed();
    if !removed {
        q = q.filter(members::removed_at.is_null());
    }
    Ok(q.order(members::id).select(MemberRow::as_select()).load(conn.pg())?)
}

/// A present member of `workspace`; `None` for another workspace's member or a removed one.
pub fn member(conn: &mut Conn, workspace: i64, id: i64) -> Result<Option<MemberRow>, DbError> {
    Ok(members::table
        .filter(members::id.eq(id))
        .filter(members::workspace_id.eq(workspace))
        .filter(members::removed_at.is_null())
        .select(MemberRow::as_select())
        .first(conn.pg())
        .optional()?)
}

/// A present member of `workspace` by name.
pub fn member_by_name(conn: &mut Conn, workspace: i64, name: &str) -> Result<Option<MemberRow>, DbError> {
    Ok(members::table
        .filter(members::name.eq(name))
        .filter(members::workspace_id.eq(workspace))
        .filter(members::removed_at.is_null())
        .select(MemberRow::as_select())
        .first(conn.pg())
        .optional()?)
}

/// Changes a present member's role; `None` when there is none.
pub fn set_role(
    conn: &mut Conn,
    workspace: i64,
    id: i64,
    role: MemberRole,
) -> Result<Option<MemberRow>, DbError> {
    Ok(diesel::update(members::table)
        .filter(members::id.eq(id))
        .filter(members::workspace_id.eq(workspace))
        .filter(members::removed_at.is_null())
        .set(members::role.eq(AsText(role)))
        .returning(MemberRow::as_returning())
        .get_result(conn.pg())
        .optional()?)
}

/// Removes a present member and revokes its live keys, in one transaction. Returns the hashes
/// of the keys revoked (for the token caches to forget), or `None` when there was no member.
pub fn remove_member(conn: &mut Conn, workspace: i64, id: i64) -> Result<Option<Vec<String>>, DbError> {
    conn.pg().transaction(|c| {
        let n = diesel::update(members::table)
            .filter(members::id.eq(id))
            .filter(members::workspace_id.eq(workspace))
            .filter(members::removed_at.is_null())
            .set(members::removed_at.eq(diesel::dsl::now))
            .execute(c)?;
        if n == 0 {
            return Ok(None);
        }
        let revoked = diesel::update(api_tokens::table)
            .filter(api_tokens::member_id.eq(id))
            .filter(api_tokens::revoked_at.is_null())
            .set(api_tokens::revoked_at.eq(diesel::dsl::now))
            .returning(api_tokens::token_sha256)
            .get_results(c)?;
        Ok(Some(revoked))
    })
}

/// How many present owners a workspace has (the last one may not be removed or demoted).
pub fn owner_count(conn: &mut Conn, workspace: i64) -> Result<i64, DbError> {
    Ok(members::table
        .filter(members::workspace_id.eq(workspace))
        .filter(members::removed_at.is_null())
        .filter(members::role.eq(AsText(MemberRole::Owner)))
        .count()
        .get_result(conn.pg())?)
}

/// Creates a workspace, its first member (an owner named `owner`) and a key of that owner with
/// every scope, in one transaction; returns the workspace and the member's id. `Conflict` when
/// the slug is taken.
pub fn create_with_owner(
    conn: &mut Conn,
    slug: &str,
    name: &str,
    owner: &str,
    sha256: &str,
    prefix: &str,
) -> Result<(WorkspaceRow, i64), DbError> {
    conn.pg().transaction(|c| {
        let c = Conn::wrap(c);
        let ws = create(c, slug, name)?;
        let member = add_member(c, ws.id, owner, MemberRole::Owner)?;
        let scopes = MemberRole::Owner.full_scopes();
        crate::tokens::insert_key(
            c,
            &crate::tokens::NewKey {
                workspace_id: ws.id,
                member_id: member.id,
                name: owner,
                role: ghostlink_domain::Role::User,
                scopes: &scopes,
                expires_at: None,
                sha256,
                prefix,
            },
        )?;
        Ok((ws, member.id))
    })
}
