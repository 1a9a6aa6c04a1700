//! The webhook dispatcher's side of the webhook tables: which workspace an event's link is in,
//! which subscriptions want it, one delivery row per (subscription, event) written
//! idempotently, due deliveries claimed with `FOR UPDATE SKIP LOCKED` under a lease (so N
//! dispatchers share the work and a crashed one's claims come back), every attempt recorded
//! with the delivery's next step, and a subscription failing for too long disabled with its
//! event in the outbox, in the same transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Double, Int4, Nullable, Text, Uuid as SqlUuid};
use ghostlink_domain::webhook::{DeliveryStatus, WebhookEventType};
use uuid::Uuid;

use crate::outbox::OutboxEvent;
use crate::webhooks::unreadable;
use crate::{Conn, DbError};

#[derive(QueryableByName)]
struct CodeWorkspace {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = BigInt)]
    workspace_id: i64,
}

/// The workspace of each link key of `codes` that names a link (deleted links included).
pub fn workspaces_of(conn: &mut Conn, codes: &[String]) -> Result<Vec<(String, i64)>, DbError> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<CodeWorkspace> =
        diesel::sql_query("SELECT code, workspace_id FROM links WHERE code = ANY($1)")
            .bind::<Array<Text>, _>(codes)
            .load(conn.pg())?;
    Ok(found.into_iter().map(|r| (r.code, r.workspace_id)).collect())
}

/// An enabled subscription, as the fan-out needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: i64,
    pub workspace_id: i64,
    pub event_types: Vec<WebhookEventType>,
}

#[derive(QueryableByName)]
struct SubscriberSql {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    workspace_id: i64,
    #[diesel(sql_type = Array<Text>)]
    event_types: Vec<String>,
}

/// The enabled subscriptions of `workspaces`.
pub fn subscribers(conn: &mut Conn, workspaces: &[i64]) -> Result<Vec<Subscriber>, DbError> {
    if workspaces.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<SubscriberSql> = diesel::sql_query(
        "SELECT id, workspace_id, event_types FROM webhook_subscriptions \
         WHERE enabled AND workspace_id = ANY($1) ORDER BY id",
    )
    .bind::<Array<BigInt>, _>(workspaces)
    .load(conn.pg())?;
    found
        .into_iter()
        .map(|s| {
            let event_types = s
                .event_types
                .iter()
                .map(|t| t.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| unreadable("webhook event type", e))?;
            Ok(Subscriber { id: s.id, workspace_id: s.workspace_id, event_types })
        })
        .collect()
}

/// A delivery to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub subscription_id: i64,
    pub event_id: Uuid,
    pub event_type: WebhookEventType,
    /// The exact JSON body every attempt sends.
    pub body: String,
}

/// Writes deliveries, skipping any (subscription, event) already written (a redelivered
/// message); returns how many are new.
pub fn enqueue(conn: &mut Conn, deliveries: &[NewDelivery]) -> Result<usize, DbError> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let subs: Vec<i64> = deliveries.iter().map(|d| d.subscription_id).collect();
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.event_id).collect();
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    let bodies: Vec<&str> = deliveries.iter().map(|d| d.body.as_str()).collect();
    Ok(diesel::sql_query(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, event_type, body) \
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[]) \
         ON CONFLICT (subscription_id, event_id) DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(subs)
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(types)
    .bind::<Array<Text>, _>(bodies)
    .execute(conn.pg())?)
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub subscription_id: i64,
    #[diesel(sql_type = BigInt)]
    pub workspace_id: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub body: String,
    /// Attempts made before this one.
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// Claims up to `limit` due deliveries of enabled subscriptions (rows other dispatchers hold
/// are skipped) and moves their next attempt `lease` ahead in the same statement, so nobody
/// else takes them while this attempt runs, and a dispatcher that dies mid-attempt hands them
/// back when the lease ends.
pub fn claim_due(conn: &mut Conn, limit: i64, lease: Duration) -> Result<Vec<Claimed>, DbError> {
    Ok(diesel::sql_query(
        "WITH due AS ( \
           SELECT d.id FROM webhook_deliveries d \
           JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.enabled \
           WHERE d.status = 'pending' AND d.next_attempt_at <= now() \
           ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED) \
         UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2) \
         FROM due, webhook_subscriptions s \
         WHERE d.id = due.id AND s.id = d.subscription_id \
         RETURNING d.id, d.subscription_id, s.workspace_id, s.url, s.secret, d.event_id, d.body, d.attempts, d.created_at",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn.pg())?)
}

/// Puts a claimed delivery back for `after` without counting an attempt (its destination had
/// no free slot).
pub fn postpone(conn: &mut Conn, id: i64, after: Duration) -> Result<(), DbError> {
    diesel::sql_query(
        "UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => $2) \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Double, _>(after.as_secs_f64())
    .execute(conn.pg())?;
    Ok(())
}

/// What one attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub delivered: bool,
    pub status: Option<u16>,
    pub latency_ms: u32,
    pub error: Option<String>,
    /// When to try again if it failed (`None`: give up now, the retry window is over).
    pub retry_in: Option<Duration>,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    Retrying,
    /// Given up for good.
    Failed,
    /// The attempt failed and its subscription had been failing for the set time: disabled.
    Disabled,
}

/// Records attempt `claimed.attempts + 1` and moves the delivery on (delivered, retry, failed),
/// and the subscription's failure clock with it: a success stops it; a failure starts it, and
/// a subscription failing for `disable_after` is disabled (its pending deliveries given up) and
/// `disabled_event` stored in the outbox, all in one transaction.
pub fn record_attempt(
    conn: &mut Conn,
    claimed: &Claimed,
    result: &AttemptResult,
    disable_after: Duration,
    disabled_event: impl FnOnce(DateTime<Utc>) -> OutboxEvent,
) -> Result<Recorded, DbError> {
    conn.pg().transaction(|c| {
        let attempt = claimed.attempts + 1;
        let status = result.status.map(i32::from);
        let latency = i32::try_from(result.latency_ms).unwrap_or(i32::MAX);
        let error = result.error.as_deref().map(|e| ghostlink_domain::click_text::storable_str(e, 1024));
        diesel::sql_query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status, latency_ms, error) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<BigInt, _>(claimed.id)
        .bind::<Int4, _>(attempt)
        .bind::<Nullable<Int4>, _>(status)
        .bind::<Int4, _>(latency)
        .bind::<Nullable<Text>, _>(&error)
        .execute(c)?;
        let next = if result.delivered {
            DeliveryStatus::Delivered
        } else if result.retry_in.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Failed
        };
        diesel::sql_query(
            "UPDATE webhook_deliveries SET attempts = $2, status = $3, last_status = $4, last_latency_ms = $5, \
               last_error = $6, next_attempt_at = now() + make_interval(secs => $7), \
               finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END \
             WHERE id = $1",
        )
        .bind::<BigInt, _>(claimed.id)
        .bind::<Int4, _>(attempt)
        .bind::<Text, _>(next.as_str())
        .bind::<Nullable<Int4>, _>(status)
        .bind::<Int4, _>(latency)
        .bind::<Nullable<Text>, _>(&error)
        .bind::<Double, _>(result.retry_in.unwrap_or_default().as_secs_f64())
        .execute(c)?;
        if result.delivered {
            diesel::sql_query("UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = $1")
                .bind::<BigInt, _>(claimed.subscription_id)
                .execute(c)?;
            return Ok(Recorded::Delivered);
        }
        #[derive(QueryableByName)]
        struct Clock {
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            failing_since: DateTime<Utc>,
            #[diesel(sql_type = Bool)]
            expired: bool,
        }
        let clock: Option<Clock> = diesel::sql_query(
            "UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, now()) \
             WHERE id = $1 AND enabled \
             RETURNING failing_since, failing_since <= now() - make_interval(secs => $2) AS expired",
        )
        .bind::<BigInt, _>(claimed.subscription_id)
        .bind::<Double, _>(disable_after.as_secs_f64())
        .get_result(c)
        .optional()?;
        match clock {
            Some(clock) if clock.expired => {
                let reason = format!("failing since {} (every attempt)", clock.failing_since.to_rfc3339());
                diesel::sql_query(
                    "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = now() \
                     WHERE id = $1",
                )
                .bind::<BigInt, _>(claimed.subscription_id)
                .bind::<Text, _>(&reason)
                .execute(c)?;
                give_up_pending(Conn::wrap(c), claimed.subscription_id, "the subscription was disabled")?;
                crate::outbox::enqueue(Conn::wrap(c), &disabled_event(clock.failing_since))?;
                Ok(Recorded::Disabled)
            }
            _ if next == DeliveryStatus::Failed => Ok(Recorded::Failed),
            _ => Ok(Recorded::Retrying),
        }
    })
}

/// Gives up every pending delivery of a subscription, saying why.
pub(crate) fn give_up_pending(conn: &mut Conn, subscription: i64, why: &str) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), \
           last_error = COALESCE(last_error || '; ', '') || $2 \
         WHERE subscription_id = $1 AND status = 'pending'",
    )
    .bind::<BigInt, _>(subscription)
    .bind::<Text, _>(why)
    .execute(conn.pg())?)
}

/// Due deliveries of enabled subscriptions and the age of the oldest, in seconds.
pub fn backlog(conn: &mut Conn) -> Result<(i64, f64), DbError> {
    #[derive(QueryableByName)]
    struct Backlog {
        #[diesel(sql_type = BigInt)]
        due: i64,
        #[diesel(sql_type = Double)]
        oldest: f64,
    }
    let b: Backlog = diesel::sql_query(
        "SELECT count(*) AS due, COALESCE(EXTRACT(EPOCH FROM now() - min(d.next_attempt_at)), 0)::float8 AS oldest \
         FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.enabled \
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()",
    )
    .get_result(conn.pg())?;
    Ok((b.due, b.oldest))
}

/// Deletes finished deliveries (delivered or failed, with their attempts) older than `days`;
/// returns how many.
pub fn prune(conn: &mut Conn, days: i32) -> Result<usize, DbError> {
    Ok(diesel::sql_query(
        "DELETE FROM webhook_deliveries WHERE status <> 'pending' \
         AND finished_at < now() - make_interval(days => $1)",
    )
    .bind::<Int4, _>(days)
    .execute(conn.pg())?)
}
