//! Ghost-probe findings: suspicious traffic found in the click stream (table `probe_findings`).
//!
//! One row per *episode* of a (kind, client, code): the ghost-probe records each detection
//! with [`record`], which extends the latest row of the same key while its `last_seen` is within
//! the quiet gap and starts a new row otherwise. Replicas record under a transaction-scoped
//! advisory lock on the key, so two of them never open the same episode twice. The admin API
//! reads them newest first with [`list`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};

use crate::schema::probe_findings;
use crate::stored::{AsText, AsTextOrEmpty};
use crate::{Conn, DbError};

/// A stored finding. `client` and `code` are `""` where none applies.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = probe_findings)]
pub struct Finding {
    pub id: i64,
    #[diesel(deserialize_as = AsText<FindingKind>)]
    pub kind: FindingKind,
    pub client: String,
    pub code: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[diesel(deserialize_as = AsText<ProbeAction>)]
    pub action: ProbeAction,
    /// Which key `client` is; none for link-level findings (stored as `''`).
    #[diesel(deserialize_as = AsTextOrEmpty<ClientKey>)]
    pub client_key: Option<ClientKey>,
}

/// One detection, as the ghost-probe saw it in its window.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = probe_findings)]
pub struct Observation {
    #[diesel(serialize_as = AsText<FindingKind>)]
    pub kind: FindingKind,
    pub client: String,
    pub code: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[diesel(serialize_as = AsText<ProbeAction>)]
    pub action: ProbeAction,
    /// Which key `client` is; none for link-level findings.
    #[diesel(serialize_as = AsTextOrEmpty<ClientKey>)]
    pub client_key: Option<ClientKey>,
}

/// Records a detection: extends the latest episode of the same (kind, client, code) if its
/// `last_seen` is at most `quiet_gap` before the observation's window began (count and
/// `last_seen` only grow; `deny` sticks), else inserts a new episode. Returns the row.
pub fn record(conn: &mut Conn, obs: &Observation, quiet_gap: Duration) -> Result<Finding, DbError> {
    let conn = conn.pg();
    conn.transaction(|c| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7366253))")
            .bind::<diesel::sql_types::Text, _>(format!("{}\u{1f}{}\u{1f}{}", obs.kind, obs.client, obs.code))
            .execute(c)?;
        let latest: Option<Finding> = probe_findings::table
            .filter(probe_findings::kind.eq(AsText(obs.kind)))
            .filter(probe_findings::client.eq(&obs.client))
            .filter(probe_findings::code.eq(&obs.code))
            .order((probe_findings::last_seen.desc(), probe_findings::id.desc()))
            .select(Finding::as_select())
            .first(c)
            .optional()?;
        let gap = chrono::Duration::from_std(quiet_gap).unwrap_or(chrono::Duration::MAX);
        match latest {
            Some(row) if row.last_seen >= obs.first_seen - gap => {
                Ok(diesel::update(probe_findings::table.find(row.id))
                    .set((
                        probe_findings::count.eq(row.count.max(obs.count)),
                        probe_findings::first_seen.eq(row.first_seen.min(obs.first_seen)),
                        probe_findings::last_seen.eq(row.last_seen.max(obs.last_seen)),
                        probe_findings::action.eq(AsText(row.action.max(obs.action))),
                    ))
                    .returning(Finding::as_returning())
                    .get_result(c)?)
            }
            _ => Ok(diesel::insert_into(probe_findings::table)
                .values(obs.clone())
                .returning(Finding::as_returning())
                .get_result(c)?),
        }
    })
}

/// Findings newest first (by `last_seen`), of one kind or all.
pub fn list(conn: &mut Conn, kind: Option<FindingKind>, limit: i64) -> Result<Vec<Finding>, DbError> {
    let conn = conn.pg();
    let mut q = probe_findings::table.select(Finding::as_select()).into_boxed();
    if let Some(k) = kind {
        q = q.filter(probe_findings::kind.eq(AsText(k)));
    }
    Ok(q.order((probe_findings::last_seen.desc(), probe_findings::id.desc())).limit(limit).load(conn)?)
}
