//! Webhook subscriptions, as the shortener's API changes them: a workspace's URLs, the event
//! types each wants, its signing secret and whether it is enabled; and the delivery log a
//! subscription's owner reads. The dispatcher's side (fan-out, claims, attempts) is
//! [`crate::webhook_deliveries`].
//!
//! Every function takes the caller's workspace: another workspace's subscription is as absent
//! as one that never existed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use ghostlink_domain::webhook::{DeliveryStatus, WebhookEventType};
use uuid::Uuid;

use crate::{Conn, DbError};

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub workspace_id: i64,
    pub url: String,
    pub event_types: Vec<WebhookEventType>,
    /// `whsec_` + base64; the API shows it only when it is made.
    pub secret: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct SubscriptionSql {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    workspace_id: i64,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Array<Text>)]
    event_types: Vec<String>,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    disabled_reason: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    failing_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

/// A stored name its enum cannot read: a bad row fails the query, it never becomes a default.
pub(crate) fn unreadable(column: &'static str, e: impl std::fmt::Display) -> DbError {
    metrics::counter!("db_rows_unreadable_total", "column" => column).increment(1);
    DbError::Query(format!("{column}: {e}"))
}

impl TryFrom<SubscriptionSql> for Subscription {
    type Error = DbError;
    fn try_from(r: SubscriptionSql) -> Result<Self, DbError> {
        let event_types = r
            .event_types
            .iter()
            .map(|t| t.parse::<WebhookEventType>())
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable("webhook event type", e))?;
        Ok(Self {
            id: r.id,
            workspace_id: r.workspace_id,
            url: r.url,
            event_types,
            secret: r.secret,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, workspace_id, url, event_types, secret, enabled, disabled_reason, failing_since, \
                       created_at, updated_at";

fn names(types: &[WebhookEventType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

fn rows(found: Vec<SubscriptionSql>) -> Result<Vec<Subscription>, DbError> {
    found.into_iter().map(Subscription::try_from).collect()
}

/// Adds a subscription to `workspace`.
pub fn create(
    conn: &mut Conn,
    workspace: i64,
    url: &str,
    event_types: &[WebhookEventType],
    secret: &str,
) -> Result<Subscription, DbError> {
    let found: SubscriptionSql = diesel::sql_query(format!(
        "INSERT INTO webhook_subscriptions (workspace_id, url, event_types, secret) VALUES ($1, $2, $3, $4) \
         RETURNING {COLUMNS}"
    ))
    .bind::<BigInt, _>(workspace)
    .bind::<Text, _>(url)
    .bind::<Array<Text>, _>(names(event_types))
    .bind::<Text, _>(secret)
    .get_result(conn.pg())?;
    found.try_into()
}

/// The workspace's subscriptions, oldest first.
pub fn list(conn: &mut Conn, workspace: i64) -> Result<Vec<Subscription>, DbError> {
    rows(
        diesel::sql_query(format!(
            "SELECT {COLUMNS} FROM webhook_subscriptions WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind::<BigInt, _>(workspace)
        .load(conn.pg())?,
    )
}

/// One subscription of the workspace.
pub fn get(conn: &mut Conn, workspace: i64, id: i64) -> Result<Option<Subscription>, DbError> {
    let found: Option<SubscriptionSql> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2"
    ))
    .bind::<BigInt, _>(workspace)
    .bind::<BigInt, _>(id)
    .get_result(conn.pg())
    .optional()?;
    found.map(Subscription::try_from).transpose()
}

/// A change to a subscription: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
    /// A new secret (rotation).
    pub secret: Option<String>,
}

/// Changes a subscription; `None` when the workspace has no such one. Enabling clears the
/// failure clock and the reason it was disabled; disabling gives up its pending deliveries.
pub fn update(
    conn: &mut Conn,
    workspace: i64,
    id: i64,
    changes: &Changes,
) -> Result<Option<Subscription>, DbError> {
    conn.pg().transaction(|c| {
        let found: Option<SubscriptionSql> = diesel::sql_query(format!(
            "UPDATE webhook_subscriptions SET \
               url = COALESCE($3, url), \
               event_types = COALESCE($4, event_types), \
               secret = COALESCE($5, secret), \
               enabled = COALESCE($6, enabled), \
               disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason ELSE NULL END, \
               failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, \
               updated_at = now() \
             WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ))
        .bind::<BigInt, _>(workspace)
        .bind::<BigInt, _>(id)
        .bind::<Nullable<Text>, _>(changes.url.as_deref())
        .bind::<Nullable<Array<Text>>, _>(changes.event_types.as_deref().map(names))
        .bind::<Nullable<Text>, _>(changes.secret.as_deref())
        .bind::<Nullable<Bool>, _>(changes.enabled)
        .get_result(c)
        .optional()?;
        if changes.enabled == Some(false) && found.is_some() {
            crate::webhook_deliveries::give_up_pending(Conn::wrap(c), id, "the subscription was disabled")?;
        }
        found.map(Subscription::try_from).transpose()
    })
}

/// Deletes a subscription and its deliveries; `false` when the workspace has no such one.
pub fn delete(conn: &mut Conn, workspace: i64, id: i64) -> Result<bool, DbError> {
    let n = diesel::sql_query("DELETE FROM webhook_subscriptions WHERE workspace_id = $1 AND id = $2")
        .bind::<BigInt, _>(workspace)
        .bind::<BigInt, _>(id)
        .execute(conn.pg())?;
    Ok(n > 0)
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Attempt {
    #[diesel(sql_type = BigInt)]
    pub delivery_id: i64,
    #[diesel(sql_type = Int4)]
    pub attempt: i32,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    #[diesel(sql_type = Nullable<Int4>)]
    pub status: Option<i32>,
    #[diesel(sql_type = Int4)]
    pub latency_ms: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

/// A delivery in the log, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: WebhookEventType,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<Attempt>,
}

#[derive(QueryableByName)]
struct DeliverySql {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Int4>)]
    last_status: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    last_latency_ms: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    finished_at: Option<DateTime<Utc>>,
}

/// The newest `limit` deliveries of a subscription of the workspace (before delivery `before`
/// when given), newest first; `None` when the workspace has no such subscription.
pub fn deliveries(
    conn: &mut Conn,
    workspace: i64,
    id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Option<Vec<Delivery>>, DbError> {
    if get(conn, workspace, id)?.is_none() {
        return Ok(None);
    }
    let found: Vec<DeliverySql> = diesel::sql_query(
        "SELECT id, event_id, event_type, status, attempts, next_attempt_at, last_status, last_latency_ms, \
                last_error, created_at, finished_at \
         FROM webhook_deliveries WHERE subscription_id = $1 AND ($2::bigint IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind::<BigInt, _>(id)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn.pg())?;
    let ids: Vec<i64> = found.iter().map(|d| d.id).collect();
    let attempts: Vec<Attempt> = diesel::sql_query(
        "SELECT delivery_id, attempt, at, status, latency_ms, error FROM webhook_attempts \
         WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind::<Array<BigInt>, _>(&ids)
    .load(conn.pg())?;
    let mut out = Vec::with_capacity(found.len());
    for d in found {
        let status: DeliveryStatus = d.status.parse().map_err(|e| unreadable("delivery status", e))?;
        out.push(Delivery {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type.parse().map_err(|e| unreadable("webhook event type", e))?,
            status,
            attempts: d.attempts,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            last_status: d.last_status,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error,
            created_at: d.created_at,
            finished_at: d.finished_at,
            attempt_log: attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect(),
        });
    }
    Ok(Some(out))
}
