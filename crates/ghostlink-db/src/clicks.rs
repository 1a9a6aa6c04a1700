//! Click rows: one per redirect request, idempotent by event id.

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use ghostlink_domain::ClickOutcome;
use uuid::Uuid;

use crate::schema::clicks;
use crate::stored::AsText;
use crate::{Conn, DbError};

#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = clicks)]
pub struct NewClick {
    pub event_id: Uuid,
    pub code: String,
    pub occurred_at: DateTime<Utc>,
    #[diesel(deserialize_as = AsText<ClickOutcome>)]
    pub outcome: ClickOutcome,
    pub method: String,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub client_hash: String,
    pub bot: bool,
}

/// A [`NewClick`] as written, borrowed: into `clicks`, or the `COPY` staging table.
#[derive(Insertable)]
#[diesel(table_name = clicks, table_name = crate::schema::clicks_in, treat_none_as_default_value = false)]
struct ClickValues<'a> {
    event_id: Uuid,
    code: &'a str,
    occurred_at: DateTime<Utc>,
    outcome: AsText<ClickOutcome>,
    method: &'a str,
    user_agent: Option<&'a str>,
    referrer: Option<&'a str>,
    client_hash: &'a str,
    bot: bool,
}

impl<'a> From<&'a NewClick> for ClickValues<'a> {
    fn from(c: &'a NewClick) -> Self {
        ClickValues {
            event_id: c.event_id,
            code: &c.code,
            occurred_at: c.occurred_at,
            outcome: AsText(c.outcome),
            method: &c.method,
            user_agent: c.user_agent.as_deref(),
            referrer: c.referrer.as_deref(),
            client_hash: &c.client_hash,
            bot: c.bot,
        }
    }
}

/// Inserts a batch; rows whose event id is already stored are skipped. Returns how many were
/// new. Small batches are one multi-row `INSERT … ON CONFLICT DO NOTHING`; large ones are
/// `COPY`'d (binary) into a session-local staging table and moved with one
/// `INSERT … SELECT … ON CONFLICT DO NOTHING`, in one transaction — several times cheaper for
/// Postgres than parsing a statement with thousands of bind parameters.
pub fn insert_batch(conn: &mut Conn, batch: &[NewClick]) -> Result<usize, DbError> {
    let conn = conn.pg();
    let values: Vec<ClickValues<'_>> = batch.iter().map(ClickValues::from).collect();
    if batch.len() < 200 {
        return Ok(diesel::insert_into(clicks::table)
            .values(&values)
            .on_conflict(clicks::event_id)
            .do_nothing()
            .execute(conn)?);
    }
    conn.transaction(|conn| {
        conn.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS clicks_in (event_id uuid, code text, occurred_at timestamptz, \
             outcome text, method text, user_agent text, referrer text, client_hash text, bot boolean) ON COMMIT DELETE ROWS",
        )?;
        diesel::copy_from(crate::schema::clicks_in::table).from_insertable(&values).execute(conn)?;
        Ok(diesel::sql_query(
            "INSERT INTO clicks (event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot) \
             SELECT event_id, code, occurred_at, outcome, method, user_agent, referrer, client_hash, bot FROM clicks_in \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .execute(conn)?)
    })
}

/// Clicks of a code, oldest first.
pub fn for_code(conn: &mut Conn, code: &str) -> Result<Vec<NewClick>, DbError> {
    let conn = conn.pg();
    Ok(clicks::table
        .filter(clicks::code.eq(code))
        .order(clicks::occurred_at)
        .select(NewClick::as_select())
        .load(conn)?)
}

/// Stored clicks whose referrer starts with `prefix`, counted per referrer: how the load and
/// fault harness (`ghostctl simulate`) tags each request it sends and finds lost or duplicated
/// click events.
pub fn count_by_referrer_prefix(conn: &mut Conn, prefix: &str) -> Result<Vec<(String, i64)>, DbError> {
    let conn = conn.pg();
    use diesel::dsl::count_star;
    let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    Ok(clicks::table
        .filter(clicks::referrer.like(pattern))
        .group_by(clicks::referrer)
        .select((clicks::referrer.assume_not_null(), count_star()))
        .load(conn)?)
}

pub fn count(conn: &mut Conn) -> Result<i64, DbError> {
    let conn = conn.pg();
    Ok(clicks::table.count().get_result(conn)?)
}

/// Clicks the redirect classified as automated (`ghostlink_domain::bot`).
const BOT_SQL: &str = "bot";

/// Aggregates of one code's clicks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub total: i64,
    pub bots: i64,
    /// (UTC day, clicks), oldest first.
    pub by_day: Vec<(chrono::NaiveDate, i64)>,
    /// (referrer, clicks), most first, at most 10.
    pub top_referrers: Vec<(String, i64)>,
    /// (outcome, clicks), for the outcomes the code's clicks had.
    pub outcomes: Vec<(ClickOutcome, i64)>,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bots: i64,
}

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::Date)]
    day: chrono::NaiveDate,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct OutcomeCount {
    #[diesel(sql_type = diesel::sql_types::Text, deserialize_as = AsText<ClickOutcome>)]
    outcome: ClickOutcome,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Stats of one code over the last `days` days (by_day) and all time (the rest).
pub fn stats(conn: &mut Conn, code: &str, days: i32) -> Result<LinkStats, DbError> {
    let conn = conn.pg();
    use diesel::sql_types::{Integer, Text};
    let t: Totals = diesel::sql_query(format!(
        "SELECT count(*) AS total, count(*) FILTER (WHERE {BOT_SQL}) AS bots FROM clicks WHERE code = $1"
    ))
    .bind::<Text, _>(code)
    .get_result(conn)?;
    let by_day: Vec<DayCount> = diesel::sql_query(
        "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM clicks \
         WHERE code = $1 AND occurred_at > now() - make_interval(days => $2) GROUP BY 1 ORDER BY 1",
    )
    .bind::<Text, _>(code)
    .bind::<Integer, _>(days)
    .load(conn)?;
    let refs: Vec<KeyCount> = diesel::sql_query(
        "SELECT referrer AS key, count(*) AS n FROM clicks WHERE code = $1 AND referrer IS NOT NULL \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    )
    .bind::<Text, _>(code)
    .load(conn)?;
    let outcomes: Vec<OutcomeCount> =
        diesel::sql_query("SELECT outcome, count(*) AS n FROM clicks WHERE code = $1 GROUP BY 1 ORDER BY 1")
            .bind::<Text, _>(code)
            .load(conn)?;
    Ok(LinkStats {
        total: t.total,
        bots: t.bots,
        by_day: by_day.into_iter().map(|d| (d.day, d.n)).collect(),
        top_referrers: refs.into_iter().map(|k| (k.key, k.n)).collect(),
        outcomes: outcomes.into_iter().map(|o| (o.outcome, o.n)).collect(),
    })
}

/// Deletes clicks in `[from, to)` (an operator repairing data before a replay).
pub fn delete_window(conn: &mut Conn, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<usize, DbError> {
    let conn = conn.pg();
    Ok(diesel::delete(clicks::table.filter(clicks::occurred_at.ge(from)).filter(clicks::occurred_at.lt(to)))
        .execute(conn)?)
}
