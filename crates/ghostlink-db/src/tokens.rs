//! API tokens (keys): only the SHA-256 of a token is stored, with a short prefix for display.
//! A key belongs to a workspace and acts for one of its members, with scopes and an optional
//! expiry; `role` is `admin` for the instance administrator's keys (the admin API), `user` for
//! every other.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::workspace::{MemberRole, Scope};
use ghostlink_domain::Role;

use crate::schema::{api_tokens, members};
use crate::stored::{AsText, Jsonb};
use crate::{Conn, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    #[diesel(deserialize_as = AsText<Role>)]
    pub role: Role,
    pub token_sha256: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub workspace_id: i64,
    pub member_id: i64,
    #[diesel(deserialize_as = Jsonb<Vec<Scope>>)]
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub workspace_id: i64,
    pub member_id: i64,
    pub name: &'a str,
    pub role: Role,
    pub scopes: &'a [Scope],
    pub expires_at: Option<DateTime<Utc>>,
    pub sha256: &'a str,
    pub prefix: &'a str,
}

/// Stores a key's hash. `Conflict` when the workspace has a key of that name.
pub fn insert_key(conn: &mut Conn, key: &NewKey<'_>) -> Result<TokenRow, DbError> {
    Ok(diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::workspace_id.eq(key.workspace_id),
            api_tokens::member_id.eq(key.member_id),
            api_tokens::name.eq(key.name),
            api_tokens::role.eq(AsText(key.role)),
            api_tokens::scopes.eq(Jsonb(key.scopes.to_vec())),
            api_tokens::expires_at.eq(key.expires_at),
            api_tokens::token_sha256.eq(key.sha256),
            api_tokens::prefix.eq(key.prefix),
        ))
        .returning(TokenRow::as_returning())
        .get_result(conn.pg())?)
}

/// Stores a token in the default workspace for a new member of its name: an owner with every
/// scope for an admin token, a member with every scope a member can use otherwise (the tokens
/// `ghostctl token create` makes). `Conflict` when the name is taken there.
pub fn insert(
    conn: &mut Conn,
    name: &str,
    role: Role,
    sha256: &str,
    prefix: &str,
) -> Result<TokenRow, DbError> {
    conn.pg().transaction(|c| {
        let c = Conn::wrap(c);
        let workspace = crate::workspaces::default_workspace(c)?;
        let member_role = if role == Role::Admin { MemberRole::Owner } else { MemberRole::Member };
        let member = crate::workspaces::add_member(c, workspace.id, name, member_role)?;
        let scopes = member_role.full_scopes();
        insert_key(
            c,
            &NewKey {
                workspace_id: workspace.id,
                member_id: member.id,
                name,
                role,
                scopes: &scopes,
                expires_at: None,
                sha256,
                prefix,
            },
        )
    })
}

/// Who a key speaks for: the key, and its member's role and presence.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: TokenRow,
    pub member_name: String,
    pub member_role: MemberRole,
    /// The member was removed (its keys are revoked with it; this covers a key of a member
    /// removed by hand in SQL).
    pub member_removed: bool,
}

/// The key with this hash and its member, revoked or not.
pub fn principal_by_hash(conn: &mut Conn, sha256: &str) -> Result<Option<Principal>, DbError> {
    let found = api_tokens::table
        .inner_join(members::table)
        .filter(api_tokens::token_sha256.eq(sha256))
        .select((TokenRow::as_select(), members::name, members::role, members::removed_at.is_not_null()))
        .first::<(TokenRow, String, AsText<MemberRole>, bool)>(conn.pg())
        .optional()?;
    Ok(found.map(|(key, member_name, role, member_removed)| Principal {
        key,
        member_name,
        member_role: role.0,
        member_removed,
    }))
}

/// A workspace's keys, newest first, revoked ones included.
pub fn list_keys(conn: &mut Conn, workspace: i64) -> Result<Vec<TokenRow>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::workspace_id.eq(workspace))
        .order(api_tokens::id.desc())
        .select(TokenRow::as_select())
        .load(conn.pg())?)
}

/// One key of a workspace.
pub fn key(conn: &mut Conn, workspace: i64, id: i64) -> Result<Option<TokenRow>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::workspace_id.eq(workspace))
        .filter(api_tokens::id.eq(id))
        .select(TokenRow::as_select())
        .first(conn.pg())
        .optional()?)
}

/// Revokes a live key of a workspace; its hash (for the token caches) or `None` when there was
/// no live key of that id there.
pub fn revoke_key(conn: &mut Conn, workspace: i64, id: i64) -> Result<Option<String>, DbError> {
    Ok(diesel::update(api_tokens::table)
        .filter(api_tokens::workspace_id.eq(workspace))
        .filter(api_tokens::id.eq(id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(diesel::dsl::now))
        .returning(api_tokens::token_sha256)
        .get_result(conn.pg())
        .optional()?)
}

/// Notes that a key was used now, at most once a minute per key (one write per key and minute,
/// whatever its request rate).
pub fn touch(conn: &mut Conn, id: i64) -> Result<(), DbError> {
    diesel::update(api_tokens::table)
        .filter(api_tokens::id.eq(id))
        .filter(
            api_tokens::last_used_at
                .is_null()
                .or(api_tokens::last_used_at.lt(Utc::now() - chrono::Duration::minutes(1))),
        )
        .set(api_tokens::last_used_at.eq(diesel::dsl::now))
        .execute(conn.pg())?;
    Ok(())
}

/// The token with this hash, revoked or not.
pub fn find_by_hash(conn: &mut Conn, sha256: &str) -> Result<Option<TokenRow>, DbError> {
    let conn = conn.pg();
    Ok(api_tokens::table
        .filter(api_tokens::token_sha256.eq(sha256))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut Conn) -> Result<Vec<TokenRow>, DbError> {
    let conn = conn.pg();
    Ok(api_tokens::table.order(api_tokens::id).select(TokenRow::as_select()).load(conn)?)
}

/// Revokes by name; `false` when no live token has that name.
pub fn revoke(conn: &mut Conn, name: &str) -> Result<bool, DbError> {
    let conn = conn.pg();
    let n = diesel::update(api_tokens::table)
        .filter(api_tokens::name.eq(name))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)?;
    Ok(n > 0)
}

/// Whether any token exists at all (first-run detection for `ghostctl up`).
pub fn any(conn: &mut Conn) -> Result<bool, DbError> {
    let conn = conn.pg();
    Ok(diesel::select(diesel::dsl::exists(api_tokens::table.select(api_tokens::id))).get_result(conn)?)
}
