//! Click rows: one per redirect request, idempotent by event id.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::clicks;
use crate::DbError;

#[derive(Debug, Clone, Insertable, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = clicks)]
pub struct NewClick {
    pub event_id: Uuid,
    pub code: String,
    pub occurred_at: DateTime<Utc>,
    pub outcome: String,
    pub method: String,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub client_hash: String,
}

/// Inserts a batch in one statement; rows whose event id is already stored are skipped.
/// Returns how many were new.
pub fn insert_batch(conn: &mut PgConnection, batch: &[NewClick]) -> Result<usize, DbError> {
    let mut written = 0;
    // Postgres allows 65535 bind parameters; 8 columns a row.
    for chunk in batch.chunks(4000) {
        written += diesel::insert_into(clicks::table)
            .values(chunk)
            .on_conflict(clicks::event_id)
            .do_nothing()
            .execute(conn)?;
    }
    Ok(written)
}

/// Clicks of a code, oldest first.
pub fn for_code(conn: &mut PgConnection, code: &str) -> Result<Vec<NewClick>, DbError> {
    Ok(clicks::table
        .filter(clicks::code.eq(code))
        .order(clicks::occurred_at)
        .select(NewClick::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(clicks::table.count().get_result(conn)?)
}
