//! Canary: each link's destination health (`link_health`) and its recent checks (`link_checks`).
//!
//! Scheduling is a column: `next_check_at`. [`claim_due`] takes due rows with
//! `FOR UPDATE SKIP LOCKED` and pushes their schedule forward in the same statement, so any
//! number of canary replicas share the work and no link is probed twice at once. [`record`]
//! stores a check and moves the health state machine in one transaction — including the link's
//! own status (quarantine after N failures in a row, restore after M successes) and the event
//! describing it, written to the outbox.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Text};
use ghostlink_domain::{CheckOutcome, HealthState, LinkStatus};

use crate::outbox::OutboxEvent;
use crate::schema::{link_checks, link_health, links};
use crate::stored::{AsText, Jsonb};
use crate::{Conn, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_health)]
pub struct HealthRow {
    pub code: String,
    pub url: String,
    #[diesel(deserialize_as = AsText<HealthState>)]
    pub state: HealthState,
    pub consecutive_failures: i32,
    pub consecutive_successes: i32,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = link_checks)]
pub struct CheckRow {
    pub id: i64,
    pub code: String,
    pub checked_at: DateTime<Utc>,
    #[diesel(deserialize_as = AsText<CheckOutcome>)]
    pub outcome: CheckOutcome,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub method: String,
    pub final_url: Option<String>,
    /// The URLs followed, in order.
    #[diesel(deserialize_as = Jsonb<Vec<String>>)]
    pub redirects: Vec<String>,
    /// The generic reason a probe failed, shown to the link's owner.
    pub error: Option<String>,
    /// What exactly failed (names, addresses, resolver errors): for admins only.
    pub error_detail: Option<String>,
}

/// One probe's result, to store.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = link_checks)]
pub struct NewCheck {
    pub code: String,
    #[diesel(serialize_as = AsText<CheckOutcome>)]
    pub outcome: CheckOutcome,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub method: String,
    pub final_url: Option<String>,
    /// The URLs followed, in order.
    #[diesel(serialize_as = Jsonb<Vec<String>>)]
    pub redirects: Vec<String>,
    pub error: Option<String>,
    pub error_detail: Option<String>,
}

/// A link due for a probe. `probe` is false for links that are no longer live (disabled,
/// deleted, expired): their schedule moves on, nothing is fetched.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Due {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub probe: bool,
}

/// The statuses of links the canary looks after: a live link, and a quarantined one (to see it
/// come back).
const WATCHED: [LinkStatus; 2] = [LinkStatus::Active, LinkStatus::Quarantined];

/// [`WATCHED`] by name, to bind into raw SQL (`l.status = ANY($n)`).
fn watched() -> Vec<&'static str> {
    WATCHED.iter().map(|s| s.as_str()).collect()
}

/// When a run of results changes a link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub failures_to_quarantine: u32,
    pub successes_to_restore: u32,
    /// Checks kept per link (older ones are deleted).
    pub keep_checks: i64,
}

/// What a recorded check did to the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    None,
    Quarantined { consecutive_failures: u32, failing_since: DateTime<Utc>, outcome: CheckOutcome },
    Restored { consecutive_successes: u32 },
}

/// Makes sure a link has a health row and is probed soon (a new or changed link). A changed
/// destination starts again from `unknown`.
pub fn schedule_now(conn: &mut Conn, code: &str, url: &str) -> Result<(), DbError> {
    let conn = conn.pg();
    diesel::sql_query(
        "INSERT INTO link_health (code, url, next_check_at) VALUES ($1, $2, now())
         ON CONFLICT (code) DO UPDATE SET next_check_at = now(), url = excluded.url,
           state = CASE WHEN link_health.url = excluded.url THEN link_health.state ELSE $3 END,
           consecutive_failures = CASE WHEN link_health.url = excluded.url
             THEN link_health.consecutive_failures ELSE 0 END,
           consecutive_successes = CASE WHEN link_health.url = excluded.url
             THEN link_health.consecutive_successes ELSE 0 END,
           failing_since = CASE WHEN link_health.url = excluded.url THEN link_health.failing_since END",
    )
    .bind::<Text, _>(code)
    .bind::<Text, _>(url)
    .bind::<Text, _>(HealthState::Unknown.as_str())
    .execute(conn)?;
    Ok(())
}

/// Gives a health row to live links that have none (links created while no canary consumed
/// their event); returns how many.
pub fn adopt_missing(conn: &mut Conn) -> Result<usize, DbError> {
    let conn = conn.pg();
    Ok(diesel::sql_query(
        "INSERT INTO link_health (code, url)
         SELECT l.code, l.url FROM links l
         WHERE l.status = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM link_health h WHERE h.code = l.code)
         ON CONFLICT (code) DO NOTHING",
    )
    .bind::<Array<Text>, _>(watched())
    .execute(conn)?)
}

/// Claims up to `limit` due links and schedules their next check `interval` (plus up to
/// `jitter`) from now, in one statement; rows another replica holds are skipped.
pub fn claim_due(
    conn: &mut Conn,
    limit: i64,
    interval: Duration,
    jitter: Duration,
) -> Result<Vec<Due>, DbError> {
    let conn = conn.pg();
    Ok(diesel::sql_query(
        "UPDATE link_health h
         SET next_check_at = now() + make_interval(secs => $2 + random() * $3)
         FROM links l
         WHERE l.code = h.code AND h.code IN (
           SELECT code FROM link_health WHERE next_check_at <= now()
           ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING h.code, h.url,
           (l.status = ANY($4) AND (l.expires_at IS NULL OR l.expires_at > now())
            AND l.url = h.url) AS probe",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(interval.as_secs_f64())
    .bind::<Double, _>(jitter.as_secs_f64())
    .bind::<Array<Text>, _>(watched())
    .load(conn)?)
}

/// Moves these links' next check to `delay` from now (claimed but not probed this round).
pub fn reschedule(conn: &mut Conn, codes: &[String], delay: Duration) -> Result<usize, DbError> {
    let conn = conn.pg();
    Ok(diesel::sql_query(
        "UPDATE link_health SET next_check_at = now() + make_interval(secs => $2) WHERE code = ANY($1)",
    )
    .bind::<Array<Text>, _>(codes)
    .bind::<Double, _>(delay.as_secs_f64())
    .execute(conn)?)
}

/// Stores a check of `url` and applies it to the link's health (and status), with the event
/// `event` builds for a transition, in one transaction. `None` when the link's destination
/// changed since the probe started (the result is about another URL; dropped).
pub fn record(
    conn: &mut Conn,
    check: &NewCheck,
    url: &str,
    policy: &Policy,
    event: impl FnOnce(&Transition) -> Option<OutboxEvent>,
) -> Result<Option<Transition>, DbError> {
    let conn = conn.pg();
    conn.transaction(|conn| {
        let health: Option<HealthRow> = link_health::table
            .filter(link_health::code.eq(&check.code))
            .select(HealthRow::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        let Some(h) = health.filter(|h| h.url == url) else { return Ok(None) };
        let AsText(link_status): AsText<LinkStatus> =
            links::table.filter(links::code.eq(&check.code)).select(links::status).first(conn)?;
        // The check's own time dates a run of failures (and the quarantine).
        let now: DateTime<Utc> = diesel::insert_into(link_checks::table)
            .values(check.clone())
            .returning(link_checks::checked_at)
            .get_result(conn)?;
        let ok = check.outcome.is_ok();
        let (failures, successes) =
            if ok { (0, h.consecutive_successes + 1) } else { (h.consecutive_failures + 1, 0) };
        let failing_since = if ok { None } else { Some(h.failing_since.unwrap_or(now)) };
        let mut transition = Transition::None;
        let state = if h.state == HealthState::Quarantined {
            if ok && successes as u32 >= policy.successes_to_restore {
                let n = diesel::update(links::table)
                    .filter(links::code.eq(&check.code))
                    .filter(links::status.eq(AsText(LinkStatus::Quarantined)))
                    .set((
                        links::status.eq(AsText(LinkStatus::Active)),
                        links::status_since.eq(diesel::dsl::now),
                        links::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)?;
                if n > 0 {
                    transition = Transition::Restored { consecutive_successes: successes as u32 };
                }
                HealthState::Healthy
            } else {
                HealthState::Quarantined
            }
        } else if !ok && failures as u32 >= policy.failures_to_quarantine && link_status == LinkStatus::Active
        {
            let since = failing_since.unwrap_or(now);
            // The page shows "failing since …": the link's status dates from the first failure.
            diesel::update(links::table)
                .filter(links::code.eq(&check.code))
                .filter(links::status.eq(AsText(LinkStatus::Active)))
                .set((
                    links::status.eq(AsText(LinkStatus::Quarantined)),
                    links::status_since.eq(since),
                    links::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)?;
            transition = Transition::Quarantined {
                consecutive_failures: failures as u32,
                failing_since: since,
                outcome: check.outcome,
            };
            HealthState::Quarantined
        } else if ok {
            HealthState::Healthy
        } else {
            HealthState::Failing
        };
        diesel::update(link_health::table.filter(link_health::code.eq(&check.code)))
            .set((
                link_health::state.eq(AsText(state)),
                link_health::consecutive_failures.eq(failures),
                link_health::consecutive_successes.eq(successes),
                link_health::failing_since.eq(failing_since),
                link_health::last_checked_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        if let Some(e) = event(&transition) {
            crate::outbox::enqueue(Conn::wrap(conn), &e)?;
        }
        diesel::sql_query(
            "DELETE FROM link_checks WHERE code = $1 AND id NOT IN (
               SELECT id FROM link_checks WHERE code = $1 ORDER BY checked_at DESC, id DESC LIMIT $2)",
        )
        .bind::<Text, _>(&check.code)
        .bind::<BigInt, _>(policy.keep_checks)
        .execute(conn)?;
        Ok(Some(transition))
    })
}

/// Forgets a link's run of results (an admin released it by hand): the canary starts again
/// from `unknown` and probes it soon.
pub fn reset(conn: &mut Conn, code: &str) -> Result<(), DbError> {
    let conn = conn.pg();
    diesel::update(link_health::table.filter(link_health::code.eq(code)))
        .set((
            link_health::state.eq(AsText(HealthState::Unknown)),
            link_health::consecutive_failures.eq(0),
            link_health::consecutive_successes.eq(0),
            link_health::failing_since.eq(None::<DateTime<Utc>>),
            link_health::next_check_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut Conn, code: &str) -> Result<Option<HealthRow>, DbError> {
    let conn = conn.pg();
    Ok(link_health::table
        .filter(link_health::code.eq(code))
        .select(HealthRow::as_select())
        .first(conn)
        .optional()?)
}

/// The latest `limit` checks of a link, newest first.
pub fn checks(conn: &mut Conn, code: &str, limit: i64) -> Result<Vec<CheckRow>, DbError> {
    let conn = conn.pg();
    Ok(link_checks::table
        .filter(link_checks::code.eq(code))
        .order((link_checks::checked_at.desc(), link_checks::id.desc()))
        .limit(limit)
        .select(CheckRow::as_select())
        .load(conn)?)
}

/// Health rows by state, for the `links by state` gauge: every state, those without a link
/// counted 0.
pub fn count_by_state(conn: &mut Conn) -> Result<Vec<(HealthState, i64)>, DbError> {
    let conn = conn.pg();
    use diesel::dsl::count_star;
    let counted: Vec<(AsText<HealthState>, i64)> = link_health::table
        .group_by(link_health::state)
        .select((link_health::state, count_star()))
        .load(conn)?;
    Ok(crate::stored::count_every(counted))
}

/// Links due now (the canary's backlog).
pub fn due_count(conn: &mut Conn) -> Result<i64, DbError> {
    let conn = conn.pg();
    Ok(link_health::table.filter(link_health::next_check_at.le(diesel::dsl::now)).count().get_result(conn)?)
}

/// Every check stored since `since`, as (code, time), oldest first.
pub fn checks_since(conn: &mut Conn, since: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>)>, DbError> {
    let conn = conn.pg();
    Ok(link_checks::table
        .filter(link_checks::checked_at.ge(since))
        .order(link_checks::checked_at)
        .select((link_checks::code, link_checks::checked_at))
        .load(conn)?)
}

/// Links currently quarantined (by anyone).
pub fn quarantined_count(conn: &mut Conn) -> Result<i64, DbError> {
    let conn = conn.pg();
    Ok(links::table.filter(links::status.eq(AsText(LinkStatus::Quarantined))).count().get_result(conn)?)
}
