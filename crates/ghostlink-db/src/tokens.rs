//! API tokens: only the SHA-256 of a token is stored, with a short prefix for display.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::Role;

use crate::schema::api_tokens;
use crate::stored::AsText;
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
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
struct NewToken<'a> {
    name: &'a str,
    role: AsText<Role>,
    token_sha256: &'a str,
    prefix: &'a str,
}

/// Stores a token's hash. `Conflict` when the name is taken.
pub fn insert(
    conn: &mut Conn,
    name: &str,
    role: Role,
    sha256: &str,
    prefix: &str,
) -> Result<TokenRow, DbError> {
    let conn = conn.pg();
    Ok(diesel::insert_into(api_tokens::table)
        .values(NewToken { name, role: AsText(role), token_sha256: sha256, prefix })
        .returning(TokenRow::as_returning())
        .get_result(conn)?)
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
