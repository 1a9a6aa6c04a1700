//! The click table's daily partitions: made ahead of time, and dropped whole past retention.
//!
//! Making a partition never blocks the recorder (the migration's `clicks_ensure_partition`:
//! a table made alone with a matching `CHECK`, then `ATTACH`ed, which takes only a
//! `SHARE UPDATE EXCLUSIVE` lock on `clicks`); dropping one is `DETACH … CONCURRENTLY` then
//! `DROP`, which waits for the queries that use it instead of locking them out. Every recorder
//! replica may run both: each step is idempotent and the creation of one day is serialised by
//! an advisory lock.

use chrono::{Duration, NaiveDate, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Date, Text};

use crate::{Conn, DbError};

/// Makes the partitions of `from` and the `days_ahead` days after it; returns how many were new.
pub fn ensure_partitions(conn: &mut Conn, from: NaiveDate, days_ahead: u32) -> Result<usize, DbError> {
    #[derive(QueryableByName)]
    struct Made {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        made: bool,
    }
    let mut new = 0;
    for i in 0..=i64::from(days_ahead) {
        let day = from + Duration::days(i);
        let m: Made = diesel::sql_query("SELECT clicks_ensure_partition($1) AS made")
            .bind::<Date, _>(day)
            .get_result(conn.pg())?;
        new += usize::from(m.made);
    }
    Ok(new)
}

/// What [`set_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// The oldest day kept.
    pub keep_from: Option<NaiveDate>,
    /// The partitions dropped (their table names).
    pub dropped: Vec<String>,
}

#[derive(QueryableByName)]
struct Partition {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Keeps the last `days` UTC days (today included) of raw clicks: from now on older clicks are
/// neither stored nor counted, and the partitions before them are dropped whole. Rollups stay
/// (they are what stats read); orphan-visit rows older than that go too.
pub fn set_retention(conn: &mut Conn, days: u32) -> Result<Retention, DbError> {
    let keep_from = Utc::now().date_naive() - Duration::days(i64::from(days.max(1)) - 1);
    let pg = conn.pg();
    diesel::sql_query("UPDATE click_retention SET keep_from = $1").bind::<Date, _>(keep_from).execute(pg)?;
    let old: Vec<Partition> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'clicks'::regclass AND c.relname ~ '^clicks_[0-9]{8}$' \
         AND to_date(substr(c.relname, 8), 'YYYYMMDD') < $1 ORDER BY 1",
    )
    .bind::<Date, _>(keep_from)
    .load(pg)?;
    let mut dropped = Vec::with_capacity(old.len());
    for p in old {
        // Names come from pg_class and match ^clicks_[0-9]{8}$: safe to splice.
        let detach = format!("ALTER TABLE clicks DETACH PARTITION {} CONCURRENTLY", p.name);
        if let Err(e) = pg.batch_execute(&detach) {
            // A detach interrupted earlier left the partition pending: finish it.
            if !e.to_string().contains("pending") {
                return Err(e.into());
            }
            pg.batch_execute(&format!("ALTER TABLE clicks DETACH PARTITION {} FINALIZE", p.name))?;
        }
        pg.batch_execute(&format!("DROP TABLE IF EXISTS {}", p.name))?;
        dropped.push(p.name);
    }
    // Also partitions left detached by an interrupted run.
    let strays: Vec<Partition> = diesel::sql_query(
        "SELECT c.relname AS name FROM pg_class c WHERE c.relkind = 'r' AND c.relname ~ '^clicks_[0-9]{8}$' \
         AND c.relnamespace = 'public'::regnamespace AND NOT c.relispartition \
         AND to_date(substr(c.relname, 8), 'YYYYMMDD') < $1",
    )
    .bind::<Date, _>(keep_from)
    .load(pg)?;
    for p in strays {
        pg.batch_execute(&format!("DROP TABLE IF EXISTS {}", p.name))?;
        dropped.push(p.name);
    }
    diesel::sql_query("DELETE FROM orphan_visits_daily WHERE day < $1")
        .bind::<Date, _>(keep_from)
        .execute(pg)?;
    diesel::sql_query("DELETE FROM orphan_visit_clients WHERE day < $1")
        .bind::<Date, _>(keep_from)
        .execute(pg)?;
    Ok(Retention { keep_from: Some(keep_from), dropped })
}
