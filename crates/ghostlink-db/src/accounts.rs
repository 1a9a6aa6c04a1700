//! Accounts: the members who sign in. A member may carry an email and an argon2id password
//! hash; a session is a random token of which only the SHA-256 is stored, with an expiry, and is
//! revoked by signing out (one session) or signing out everywhere (all of the member's). One-time
//! tokens (invitations, password resets) are stored the same way and used once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::workspace::MemberRole;

use crate::schema::{account_tokens, members, sessions};
use crate::workspaces::MemberRow;
use crate::{Conn, DbError};

/// A member as sign-in sees it.
#[derive(Debug, Clone)]
pub struct Account {
    pub member: MemberRow,
    pub email: Option<String>,
    pub password_hash: Option<String>,
}

/// The present member whose email is `email` (case-insensitive).
pub fn by_email(conn: &mut Conn, email: &str) -> Result<Option<Account>, DbError> {
    let row = members::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(members.email) = lower(")
                .bind::<diesel::sql_types::Text, _>(email)
                .sql(")"),
        )
        .filter(members::removed_at.is_null())
        .select((MemberRow::as_select(), members::email, members::password_hash))
        .first::<(MemberRow, Option<String>, Option<String>)>(conn.pg())
        .optional()?;
    Ok(row.map(|(member, email, password_hash)| Account { member, email, password_hash }))
}

/// Stores a new session for `member`.
pub fn open_session(
    conn: &mut Conn,
    member: i64,
    sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(sessions::table)
        .values((
            sessions::member_id.eq(member),
            sessions::token_sha256.eq(sha256),
            sessions::expires_at.eq(expires_at),
        ))
        .returning(sessions::id)
        .get_result(conn.pg())?)
}

/// A live session: the session's id, its expiry and its member (present).
pub fn session_by_hash(
    conn: &mut Conn,
    sha256: &str,
) -> Result<Option<(i64, DateTime<Utc>, MemberRow)>, DbError> {
    Ok(sessions::table
        .inner_join(members::table)
        .filter(sessions::token_sha256.eq(sha256))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .filter(members::removed_at.is_null())
        .select((sessions::id, sessions::expires_at, MemberRow::as_select()))
        .first(conn.pg())
        .optional()?)
}

/// Revokes one session; `false` when it was not live.
pub fn revoke_session(conn: &mut Conn, id: i64) -> Result<bool, DbError> {
    let n = diesel::update(sessions::table.find(id))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .execute(conn.pg())?;
    Ok(n == 1)
}

/// Revokes every live session of a member; returns how many.
pub fn revoke_sessions(conn: &mut Conn, member: i64) -> Result<usize, DbError> {
    Ok(diesel::update(sessions::table)
        .filter(sessions::member_id.eq(member))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(diesel::dsl::now))
        .execute(conn.pg())?)
}

/// What a one-time token is for.
#[derive(Debug, Clone, PartialEq)]
pub enum OneTime {
    /// Creates a member of the workspace with the role (and the email, when given).
    Invitation { workspace_id: i64, role: MemberRole, email: Option<String> },
    /// Sets the member's password.
    Reset { workspace_id: i64, member_id: i64 },
}

/// Stores a one-time token.
pub fn issue(
    conn: &mut Conn,
    what: &OneTime,
    sha256: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let (kind, ws, member, role, email) = match what {
        OneTime::Invitation { workspace_id, role, email } => {
            ("invitation", *workspace_id, None, Some(role.as_str()), email.clone())
        }
        OneTime::Reset { workspace_id, member_id } => ("reset", *workspace_id, Some(*member_id), None, None),
    };
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::kind.eq(kind),
            account_tokens::token_sha256.eq(sha256),
            account_tokens::workspace_id.eq(ws),
            account_tokens::member_id.eq(member),
            account_tokens::role.eq(role),
            account_tokens::email.eq(email),
            account_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn.pg())?;
    Ok(())
}

/// A one-time token's row: workspace, member, role, email.
type TokenTarget = (i64, Option<i64>, Option<String>, Option<String>);

/// Uses a live one-time token of `kind` (marks it used) and returns what it is for; `None` when
/// it is unknown, used or expired. Call inside the transaction that acts on it.
fn take(conn: &mut Conn, sha256: &str, kind: &str) -> Result<Option<OneTime>, DbError> {
    let row: Option<TokenTarget> = diesel::update(account_tokens::table)
        .filter(account_tokens::token_sha256.eq(sha256))
        .filter(account_tokens::kind.eq(kind))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(diesel::dsl::now))
        .set(account_tokens::used_at.eq(diesel::dsl::now))
        .returning((
            account_tokens::workspace_id,
            account_tokens::member_id,
            account_tokens::role,
            account_tokens::email,
        ))
        .get_result(conn.pg())
        .optional()?;
    let Some((workspace_id, member, role, email)) = row else { return Ok(None) };
    Ok(match (member, role) {
        (Some(member_id), _) => Some(OneTime::Reset { workspace_id, member_id }),
        (None, Some(role)) => {
            let role =
                role.parse().map_err(|_| DbError::Query(format!("stored role {role:?} is not one")))?;
            Some(OneTime::Invitation { workspace_id, role, email })
        }
        (None, None) => None,
    })
}

/// Accepts an invitation: creates the member (name, email, password hash) in one transaction
/// with using the token. `None` when the token is not a live invitation; `Conflict` when the
/// name is taken in the workspace or the email by a present member.
pub fn accept_invitation(
    conn: &mut Conn,
    sha256: &str,
    name: &str,
    email: &str,
    password_hash: &str,
) -> Result<Option<MemberRow>, DbError> {
    conn.pg().transaction(|c| {
        let c = Conn::wrap(c);
        let Some(OneTime::Invitation { workspace_id, role, .. }) = take(c, sha256, "invitation")? else {
            return Ok(None);
        };
        let member = crate::workspaces::add_member(c, workspace_id, name, role)?;
        diesel::update(members::table.find(member.id))
            .set((members::email.eq(email), members::password_hash.eq(password_hash)))
            .execute(c.pg())?;
        Ok(Some(member))
    })
}

/// Uses a reset token: sets the member's password and revokes its sessions, in one transaction.
/// Returns the member's id, or `None` when the token is not a live reset token.
pub fn reset_password(conn: &mut Conn, sha256: &str, password_hash: &str) -> Result<Option<i64>, DbError> {
    conn.pg().transaction(|c| {
        let c = Conn::wrap(c);
        let Some(OneTime::Reset { member_id, .. }) = take(c, sha256, "reset")? else { return Ok(None) };
        let n = diesel::update(members::table.find(member_id))
            .filter(members::removed_at.is_null())
            .set(members::password_hash.eq(password_hash))
            .execute(c.pg())?;
        if n == 0 {
            return Ok(None);
        }
        revoke_sessions(c, member_id)?;
        Ok(Some(member_id))
    })
}

/// Adds a member with an email and no password yet (it sets one with a reset token);
/// `Conflict` when the name is taken in the workspace or the email by a present member.
pub fn add_account(
    conn: &mut Conn,
    workspace: i64,
    name: &str,
    role: MemberRole,
    email: &str,
) -> Result<MemberRow, DbError> {
    conn.pg().transaction(|c| {
        let c = Conn::wrap(c);
        let member = crate::workspaces::add_member(c, workspace, name, role)?;
        diesel::update(members::table.find(member.id)).set(members::email.eq(email)).execute(c.pg())?;
        Ok(member)
    })
}
