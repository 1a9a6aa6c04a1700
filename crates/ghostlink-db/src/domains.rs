//! Custom domains: a workspace's host names, with the redirects the redirect answers on them for
//! `/` and for a code it does not know. A link on one is keyed `host/code`
//! ([`ghostlink_domain::domains`]); the database derives `links.domain_id` from that key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::schema::{domains, links};
use crate::{Conn, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = domains)]
pub struct DomainRow {
    pub id: i64,
    pub workspace_id: i64,
    pub host: String,
    pub root_url: Option<String>,
    pub not_found_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A domain's redirects as set by a change: `None` leaves one as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct DomainChanges {
    pub root_url: Option<Option<String>>,
    pub not_found_url: Option<Option<String>>,
}

/// Adds `host` to `workspace`; `Conflict` when any workspace has it.
pub fn add(
    conn: &mut Conn,
    workspace: i64,
    host: &str,
    root_url: Option<&str>,
    not_found_url: Option<&str>,
) -> Result<DomainRow, DbError> {
    Ok(diesel::insert_into(domains::table)
        .values((
            domains::workspace_id.eq(workspace),
            domains::host.eq(host),
            domains::root_url.eq(root_url),
            domains::not_found_url.eq(not_found_url),
        ))
        .returning(DomainRow::as_returning())
        .get_result(conn.pg())?)
}

/// The workspace's domains by host.
pub fn list(conn: &mut Conn, workspace: i64) -> Result<Vec<DomainRow>, DbError> {
    Ok(domains::table
        .filter(domains::workspace_id.eq(workspace))
        .order(domains::host)
        .select(DomainRow::as_select())
        .load(conn.pg())?)
}

/// Every domain of the instance: the redirect's routing table.
pub fn all(conn: &mut Conn) -> Result<Vec<DomainRow>, DbError> {
    Ok(domains::table.order(domains::id).select(DomainRow::as_select()).load(conn.pg())?)
}

/// `host` when `workspace` owns it (another workspace's host is as absent as an unknown one).
pub fn get(conn: &mut Conn, workspace: i64, host: &str) -> Result<Option<DomainRow>, DbError> {
    Ok(domains::table
        .filter(domains::workspace_id.eq(workspace))
        .filter(domains::host.eq(host))
        .select(DomainRow::as_select())
        .first(conn.pg())
        .optional()?)
}

/// Changes a domain's redirects; `None` when `workspace` owns no such host.
pub fn update(
    conn: &mut Conn,
    workspace: i64,
    host: &str,
    changes: &DomainChanges,
) -> Result<Option<DomainRow>, DbError> {
    conn.pg().transaction(|c| {
        let target =
            domains::table.filter(domains::workspace_id.eq(workspace)).filter(domains::host.eq(host));
        if let Some(root) = &changes.root_url {
            diesel::update(target).set(domains::root_url.eq(root.as_deref())).execute(c)?;
        }
        if let Some(nf) = &changes.not_found_url {
            diesel::update(target).set(domains::not_found_url.eq(nf.as_deref())).execute(c)?;
        }
        Ok(diesel::update(target)
            .set(domains::updated_at.eq(diesel::dsl::now))
            .returning(DomainRow::as_returning())
            .get_result(c)
            .optional()?)
    })
}

/// What removing a domain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Removed,
    NotFound,
    /// Links (deleted ones too: their keys are never reissued) are on it: it stays.
    HasLinks(i64),
}

/// Removes a domain that no link was ever made on.
pub fn remove(conn: &mut Conn, workspace: i64, host: &str) -> Result<Removed, DbError> {
    conn.pg().transaction(|c| {
        let Some(id) = domains::table
            .filter(domains::workspace_id.eq(workspace))
            .filter(domains::host.eq(host))
            .select(domains::id)
            .for_update()
            .first::<i64>(c)
            .optional()?
        else {
            return Ok(Removed::NotFound);
        };
        let links: i64 = links::table.filter(links::domain_id.eq(id)).count().get_result(c)?;
        if links > 0 {
            return Ok(Removed::HasLinks(links));
        }
        diesel::delete(domains::table.find(id)).execute(c)?;
        Ok(Removed::Removed)
    })
}
