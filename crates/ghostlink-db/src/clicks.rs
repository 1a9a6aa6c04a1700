//! Click rows: one per redirect request, idempotent by event id, in a table partitioned by UTC
//! day (`partitions`), each stored click counted in the rollups the stats read
//! (`click_stats`) in the same transaction.

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use ghostlink_domain::ClickOutcome;
use uuid::Uuid;

use diesel::sql_types::Nullable;
use ghostlink_domain::bot::BotReason;
use ghostlink_domain::rules::{DeviceType, Os};

use crate::schema::clicks;
use crate::stored::{AsText, OptText};
use crate::{Conn, DbError};

pub use crate::partitions::{ensure_partitions, set_retention, Retention};

/// One click as stored: what the redirect sent, and what the recorder added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClick {
    pub event_id: Uuid,
    pub code: String,
    pub occurred_at: DateTime<Utc>,
    pub outcome: ClickOutcome,
    pub method: String,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub client_hash: String,
    pub bot: bool,
    pub details: ClickDetails,
}

/// What a click is broken down by (`ghostlink_domain::analytics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClickDetails {
    /// The redirect rule that chose the destination.
    pub rule: Option<i16>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub browser: Option<String>,
    pub os: Option<Os>,
    pub device: Option<DeviceType>,
    pub referrer_host: Option<String>,
    /// The link's custom domain (`None`: the default domain).
    pub domain: Option<String>,
    pub bot_reason: Option<BotReason>,
}

/// A [`NewClick`] as written, borrowed, into the staging table.
#[derive(Insertable)]
#[diesel(table_name = crate::schema::clicks_in, treat_none_as_default_value = false)]
struct ClickValues<'a> {
    event_id: Uuid,
    code: &'a str,
    occurred_at: DateTime<Utc>,
    outcome: &'static str,
    method: &'a str,
    user_agent: Option<&'a str>,
    referrer: Option<&'a str>,
    client_hash: &'a str,
    bot: bool,
    rule: Option<i16>,
    country: Option<&'a str>,
    region: Option<&'a str>,
    browser: Option<&'a str>,
    os: Option<&'static str>,
    device: Option<&'static str>,
    referrer_host: Option<&'a str>,
    domain: Option<&'a str>,
    bot_reason: Option<&'static str>,
}

impl<'a> From<&'a NewClick> for ClickValues<'a> {
    fn from(c: &'a NewClick) -> Self {
        let d = &c.details;
        ClickValues {
            event_id: c.event_id,
            code: &c.code,
            occurred_at: c.occurred_at,
            outcome: c.outcome.as_str(),
            method: &c.method,
            user_agent: c.user_agent.as_deref(),
            referrer: c.referrer.as_deref(),
            client_hash: &c.client_hash,
            bot: c.bot,
            rule: d.rule,
            country: d.country.as_deref(),
            region: d.region.as_deref(),
            browser: d.browser.as_deref(),
            os: d.os.map(Os::as_str),
            device: d.device.map(DeviceType::as_str),
            referrer_host: d.referrer_host.as_deref(),
            domain: d.domain.as_deref(),
            bot_reason: d.bot_reason.map(BotReason::as_str),
        }
    }
}

/// What [`insert_batch`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Clicks newly stored (and counted in the rollups).
    pub written: usize,
    /// Clicks older than the retention keeps ([`set_retention`]): neither stored nor counted.
    pub expired: usize,
}

/// The session's staging tables: `clicks_in` takes a batch, `clicks_delta` the rows a
/// statement changed, for `click_rollups_apply`.
const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS clicks_in (LIKE clicks) ON COMMIT DELETE ROWS; \
     CREATE TEMP TABLE IF NOT EXISTS clicks_delta (LIKE clicks) ON COMMIT DELETE ROWS";

/// The first instant retention keeps (`-infinity` when it keeps everything).
const KEEP_FROM: &str =
    "coalesce((SELECT keep_from FROM click_retention)::timestamp AT TIME ZONE 'UTC', '-infinity'::timestamptz)";

/// Days ahead of today a click may be dated and get its partition made on the way: clocks
/// drift, but not by days.
pub const MAX_DAYS_AHEAD: i32 = 2;

/// Stores a batch and counts it in the rollups, in one transaction; rows whose event id is
/// already stored are skipped (and not counted again). The batch goes into a session-local
/// staging table (a multi-row `INSERT` when small, binary `COPY` when large: several times
/// cheaper for Postgres than thousands of bind parameters); the partition of each day it
/// holds is made if missing (never blocking other writers: see the migration's
/// `clicks_ensure_partition`); one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` stores
/// the new rows, and `click_rollups_apply` counts exactly those.
pub fn insert_batch(conn: &mut Conn, batch: &[NewClick]) -> Result<Inserted, DbError> {
    let conn = conn.pg();
    let values: Vec<ClickValues<'_>> = batch.iter().map(ClickValues::from).collect();
    conn.transaction(|conn| {
        conn.batch_execute(STAGING)?;
        if values.len() < 200 {
            diesel::insert_into(crate::schema::clicks_in::table).values(&values).execute(conn)?;
        } else {
            diesel::copy_from(crate::schema::clicks_in::table).from_insertable(&values).execute(conn)?;
        }
        diesel::sql_query(format!(
            "SELECT clicks_ensure_partition(d) FROM (SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date AS d \
             FROM clicks_in WHERE occurred_at >= {KEEP_FROM} \
             AND occurred_at < (now() AT TIME ZONE 'UTC')::date + {MAX_DAYS_AHEAD} + 1) days ORDER BY d"
        ))
        .execute(conn)?;
        let written = diesel::sql_query(format!(
            "WITH new AS (INSERT INTO clicks SELECT * FROM clicks_in WHERE occurred_at >= {KEEP_FROM} \
             ON CONFLICT (event_id, occurred_at) DO NOTHING RETURNING *) INSERT INTO clicks_delta SELECT * FROM new"
        ))
        .execute(conn)?;
        let expired: Count =
            diesel::sql_query(format!("SELECT count(*) AS n FROM clicks_in WHERE occurred_at < {KEEP_FROM}"))
                .get_result(conn)?;
        roll_up(conn, 1)?;
        Ok(Inserted { written, expired: expired.n as usize })
    })
}

/// Adds (`1`) or takes back (`-1`) the rows in `clicks_delta` to every rollup.
fn roll_up(conn: &mut PgConnection, sign: i32) -> Result<(), DbError> {
    diesel::sql_query("SELECT click_rollups_apply($1, $2)")
        .bind::<diesel::sql_types::Integer, _>(sign)
        .bind::<diesel::sql_types::Text, _>(ClickOutcome::NotFound.as_str())
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ClickRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    event_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    code: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Text, deserialize_as = AsText<ClickOutcome>)]
    outcome: ClickOutcome,
    #[diesel(sql_type = diesel::sql_types::Text)]
    method: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    user_agent: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    referrer: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    client_hash: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    bot: bool,
    #[diesel(sql_type = Nullable<diesel::sql_types::SmallInt>)]
    rule: Option<i16>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    country: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    region: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    browser: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>, deserialize_as = OptText<Os>)]
    os: Option<Os>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>, deserialize_as = OptText<DeviceType>)]
    device: Option<DeviceType>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    referrer_host: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>)]
    domain: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Text>, deserialize_as = OptText<BotReason>)]
    bot_reason: Option<BotReason>,
}

impl From<ClickRow> for NewClick {
    fn from(r: ClickRow) -> Self {
        NewClick {
            event_id: r.event_id,
            code: r.code,
            occurred_at: r.occurred_at,
            outcome: r.outcome,
            method: r.method,
            user_agent: r.user_agent,
            referrer: r.referrer,
            client_hash: r.client_hash,
            bot: r.bot,
            details: ClickDetails {
                rule: r.rule,
                country: r.country,
                region: r.region,
                browser: r.browser,
                os: r.os,
                device: r.device,
                referrer_host: r.referrer_host,
                domain: r.domain,
                bot_reason: r.bot_reason,
            },
        }
    }
}

/// Clicks of a code, oldest first.
pub fn for_code(conn: &mut Conn, code: &str) -> Result<Vec<NewClick>, DbError> {
    let rows: Vec<ClickRow> =
        diesel::sql_query("SELECT * FROM clicks WHERE code = $1 ORDER BY occurred_at, event_id")
            .bind::<diesel::sql_types::Text, _>(code)
            .load(conn.pg())?;
    Ok(rows.into_iter().map(NewClick::from).collect())
}

/// Up to `limit` clicks of a code in `[from, to)` after the click `after` (its time and event
/// id), oldest first: one page of a raw-click export.
pub fn page_for_code(
    conn: &mut Conn,
    code: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<NewClick>, DbError> {
    use diesel::sql_types::{BigInt, Text, Timestamptz};
    let (after_at, after_id) = after.unwrap_or((from, Uuid::nil()));
    let rows: Vec<ClickRow> = diesel::sql_query(
        "SELECT * FROM clicks WHERE code = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         AND (occurred_at, event_id) > ($4, $5) ORDER BY occurred_at, event_id LIMIT $6",
    )
    .bind::<Text, _>(code)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<Timestamptz, _>(after_at)
    .bind::<diesel::sql_types::Uuid, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(NewClick::from).collect())
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

/// Deletes clicks in `[from, to)` and takes them back out of the rollups, in one transaction
/// (an operator repairing data before a replay; the replay counts them again). Which clients
/// asked for an orphan code stays: the replay finds the same ones.
pub fn delete_window(conn: &mut Conn, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<usize, DbError> {
    use diesel::sql_types::Timestamptz;
    conn.pg().transaction(|conn| {
        conn.batch_execute(STAGING)?;
        let n = diesel::sql_query(
            "WITH gone AS (DELETE FROM clicks WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) \
             INSERT INTO clicks_delta SELECT * FROM gone",
        )
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .execute(conn)?;
        roll_up(conn, -1)?;
        Ok(n)
    })
}
