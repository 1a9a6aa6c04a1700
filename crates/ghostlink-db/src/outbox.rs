//! The transactional outbox: events written with the change they describe, relayed later.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::outbox;
use crate::{Conn, DbError};

/// An event to store with a change.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    /// The JSON envelope, as it will be published.
    pub payload: String,
}

/// A stored, unpublished event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The trace context of the request that wrote it (W3C headers), if it was sampled.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// Stores an event (inside the caller's transaction), with the trace context current here
/// (the query's span, inside the request's), so the relay continues the request's trace.
pub fn enqueue(conn: &mut Conn, event: &OutboxEvent) -> Result<(), DbError> {
    let conn = conn.pg();
    let (traceparent, tracestate) = current_trace();
    diesel::insert_into(outbox::table)
        .values((event, outbox::traceparent.eq(traceparent), outbox::tracestate.eq(tracestate)))
        .execute(conn)?;
    Ok(())
}

/// The `traceparent` and `tracestate` an outbox row written here stores (none when tracing is
/// off or no span is current).
pub(crate) fn current_trace() -> (Option<String>, Option<String>) {
    let (mut traceparent, mut tracestate) = (None, None);
    for (k, v) in ghostlink_telemetry::trace::current_headers() {
        match k.as_str() {
            ghostlink_telemetry::trace::TRACEPARENT => traceparent = Some(v),
            ghostlink_telemetry::trace::TRACESTATE if !v.is_empty() => tracestate = Some(v),
            _ => {}
        }
    }
    (traceparent, tracestate)
}

/// Claims up to `limit` unpublished events (rows other relays hold are skipped), hands them to
/// `publish`, and marks them published only if it returns `true`, all in one transaction.
/// A crash between the publish and the commit republishes them: a duplicate, never a loss.
pub fn relay_batch(
    conn: &mut Conn,
    limit: i64,
    publish: impl FnOnce(&[OutboxRow]) -> bool,
) -> Result<usize, DbError> {
    let conn = conn.pg();
    conn.transaction::<usize, DbError, _>(|conn| {
        let rows: Vec<OutboxRow> = outbox::table
            .filter(outbox::published_at.is_null())
            .order(outbox::id)
            .limit(limit)
            .select(OutboxRow::as_select())
            .for_update()
            .skip_locked()
            .load(conn)?;
        if rows.is_empty() || !publish(&rows) {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set(outbox::published_at.eq(diesel::dsl::now))
            .execute(conn)?;
        Ok(rows.len())
    })
}

/// Events not yet published.
pub fn pending(conn: &mut Conn) -> Result<i64, DbError> {
    let conn = conn.pg();
    Ok(outbox::table.filter(outbox::published_at.is_null()).count().get_result(conn)?)
}

/// Deletes events published more than `days` ago.
pub fn prune(conn: &mut Conn, days: i32) -> Result<usize, DbError> {
    let conn = conn.pg();
    Ok(diesel::sql_query("DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)")
        .bind::<diesel::sql_types::Integer, _>(days)
        .execute(conn)?)
}
