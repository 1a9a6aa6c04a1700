//! Reading the click rollups (kept by `clicks::insert_batch`): the series, the breakdowns, a
//! workspace's top links and the orphan visits. Nothing here reads raw clicks, so a query's
//! cost follows the range and the number of distinct values, not the number of clicks.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Text, Timestamptz};
use ghostlink_domain::analytics::Dimension;

use crate::{Conn, DbError};

/// Whose clicks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One link, by its key.
    Link(String),
    /// Every link of a workspace.
    Workspace(i64),
}

impl Scope {
    fn tables(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Scope::Link(_) => ("click_rollup_hourly", "click_rollup_daily", "code"),
            Scope::Workspace(_) => ("workspace_rollup_hourly", "workspace_rollup_daily", "workspace_id"),
        }
    }
}

#[derive(QueryableByName)]
struct HourRow {
    #[diesel(sql_type = Timestamptz)]
    hour: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    clicks: i64,
    #[diesel(sql_type = BigInt)]
    bots: i64,
}

/// `(UTC hour, clicks, bots)` in `[from, to)`, oldest first (hours without clicks are absent).
pub fn hourly(
    conn: &mut Conn,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64, i64)>, DbError> {
    let (table, _, key) = scope.tables();
    let sql = format!(
        "SELECT hour, clicks, bots FROM {table} WHERE {key} = $1 AND hour >= date_trunc('hour', $2 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
         AND hour < $3 ORDER BY hour"
    );
    let rows: Vec<HourRow> = match scope {
        Scope::Link(code) => diesel::sql_query(sql)
            .bind::<Text, _>(code)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .load(conn.pg())?,
        Scope::Workspace(id) => diesel::sql_query(sql)
            .bind::<BigInt, _>(*id)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .load(conn.pg())?,
    };
    Ok(rows.into_iter().map(|r| (r.hour, r.clicks, r.bots)).collect())
}

/// One value of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub value: String,
    pub clicks: i64,
    pub bots: i64,
}

/// One dimension's values, most clicks first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    pub dimension: Dimension,
    /// The first `limit` values.
    pub top: Vec<Slice>,
    /// How many distinct values there were.
    pub values: i64,
    /// Clicks of the values past `limit`.
    pub other_clicks: i64,
}

#[derive(QueryableByName)]
struct SliceRow {
    #[diesel(sql_type = Text)]
    dimension: String,
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = BigInt)]
    clicks: i64,
    #[diesel(sql_type = BigInt)]
    bots: i64,
    #[diesel(sql_type = BigInt)]
    values: i64,
    #[diesel(sql_type = BigInt)]
    other: i64,
    #[diesel(sql_type = BigInt)]
    rank: i64,
}

/// The breakdowns of `dimensions` over the UTC days `[from, to]`, each with its `limit` largest
/// values. One query: per dimension and value summed over the days, ranked.
pub fn breakdowns(
    conn: &mut Conn,
    scope: &Scope,
    dimensions: &[Dimension],
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<Vec<Breakdown>, DbError> {
    if dimensions.is_empty() {
        return Ok(Vec::new());
    }
    let (_, table, key) = scope.tables();
    let names: Vec<&str> = dimensions.iter().map(|d| d.as_str()).collect();
    let sql = format!(
        "WITH s AS (SELECT dimension, value, sum(clicks)::bigint AS clicks, sum(bots)::bigint AS bots FROM {table} \
           WHERE {key} = $1 AND dimension = ANY($2) AND day BETWEEN $3 AND $4 GROUP BY 1, 2 HAVING sum(clicks) <> 0), \
         r AS (SELECT *, row_number() OVER (PARTITION BY dimension ORDER BY clicks DESC, value) AS rank, \
           count(*) OVER (PARTITION BY dimension) AS values FROM s) \
         SELECT dimension, value, clicks, bots, values, \
           (SELECT coalesce(sum(x.clicks), 0)::bigint FROM r x WHERE x.dimension = r.dimension AND x.rank > $5) AS other, rank \
         FROM r WHERE rank <= $5 ORDER BY dimension, rank"
    );
    let q = diesel::sql_query(sql);
    let rows: Vec<SliceRow> = match scope {
        Scope::Link(code) => q
            .bind::<Text, _>(code)
            .bind::<Array<Text>, _>(&names)
            .bind::<Date, _>(from)
            .bind::<Date, _>(to)
            .bind::<BigInt, _>(limit)
            .load(conn.pg())?,
        Scope::Workspace(id) => q
            .bind::<BigInt, _>(*id)
            .bind::<Array<Text>, _>(&names)
            .bind::<Date, _>(from)
            .bind::<Date, _>(to)
            .bind::<BigInt, _>(limit)
            .load(conn.pg())?,
    };
    let mut out: Vec<Breakdown> = dimensions
        .iter()
        .map(|&dimension| Breakdown { dimension, top: Vec::new(), values: 0, other_clicks: 0 })
        .collect();
    for r in rows {
        let Some(b) = out.iter_mut().find(|b| b.dimension.as_str() == r.dimension) else { continue };
        debug_assert!(r.rank as usize == b.top.len() + 1);
        b.values = r.values;
        b.other_clicks = r.other;
        b.top.push(Slice { value: r.value, clicks: r.clicks, bots: r.bots });
    }
    Ok(out)
}

/// One code asked for on a domain that no link has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanCode {
    pub code: String,
    pub visits: i64,
    pub bots: i64,
    /// Distinct clients (salted hashes of address and user agent) that asked.
    pub clients: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// The orphan visits of one domain over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    pub visits: i64,
    pub bots: i64,
    /// Distinct codes asked for.
    pub codes: i64,
    /// The most asked, at most `limit`.
    pub top: Vec<OrphanCode>,
}

#[derive(QueryableByName)]
struct OrphanRow {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = BigInt)]
    visits: i64,
    #[diesel(sql_type = BigInt)]
    bots: i64,
    #[diesel(sql_type = BigInt)]
    clients: i64,
    #[diesel(sql_type = Timestamptz)]
    first_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    last_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    total_visits: i64,
    #[diesel(sql_type = BigInt)]
    total_bots: i64,
    #[diesel(sql_type = BigInt)]
    codes: i64,
}

/// Orphan visits on `domain` (`None`: the default domain) over the UTC days `[from, to]`.
pub fn orphans(
    conn: &mut Conn,
    domain: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    limit: i64,
) -> Result<OrphanReport, DbError> {
    let rows: Vec<OrphanRow> = diesel::sql_query(
        "WITH v AS (SELECT code, sum(visits)::bigint AS visits, sum(bots)::bigint AS bots, min(first_at) AS first_at, \
           max(last_at) AS last_at FROM orphan_visits_daily WHERE domain = $1 AND day BETWEEN $2 AND $3 GROUP BY code \
           HAVING sum(visits) > 0), \
         t AS (SELECT coalesce(sum(visits), 0)::bigint AS total_visits, coalesce(sum(bots), 0)::bigint AS total_bots, \
           count(*) AS codes FROM v), \
         top AS (SELECT * FROM v ORDER BY visits DESC, code LIMIT $4) \
         SELECT top.code, top.visits, top.bots, \
           (SELECT count(DISTINCT client_hash) FROM orphan_visit_clients c \
              WHERE c.domain = $1 AND c.day BETWEEN $2 AND $3 AND c.code = top.code) AS clients, \
           top.first_at, top.last_at, t.total_visits, t.total_bots, t.codes \
         FROM top CROSS JOIN t ORDER BY top.visits DESC, top.code",
    )
    .bind::<Text, _>(domain.unwrap_or(""))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<BigInt, _>(limit)
    .load(conn.pg())?;
    let Some(first) = rows.first() else { return Ok(OrphanReport::default()) };
    Ok(OrphanReport {
        visits: first.total_visits,
        bots: first.total_bots,
        codes: first.codes,
        top: rows
            .into_iter()
            .map(|r| OrphanCode {
                code: r.code,
                visits: r.visits,
                bots: r.bots,
                clients: r.clients,
                first_at: r.first_at,
                last_at: r.last_at,
            })
            .collect(),
    })
}
