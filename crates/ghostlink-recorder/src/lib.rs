//! The click-event handler: decodes `click.recorded` events and stores them as click rows,
//! idempotently by event id (the row's unique `event_id`), so a redelivery, a duplicate from a
//! publisher retry or a whole replay of the stream changes nothing that is already stored.
//!
//! Shared by the click recorder (live, from its work queue) and `ghostctl replay clicks` (from
//! the stream), so live and replayed events go through exactly the same code.

use std::time::Duration;

use ghostlink_bus::Verdict;
use ghostlink_db::clicks::NewClick;
use ghostlink_db::{Db, DbError};
use ghostlink_proto::Event;

/// What a batch came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Rows newly written.
    pub written: usize,
    /// Click events already stored.
    pub duplicates: usize,
    /// Events of other types (acknowledged, not stored here).
    pub skipped: usize,
    /// Undecodable events.
    pub rejected: usize,
}

fn row(event: Event) -> Option<NewClick> {
    match event {
        Event::ClickRecorded(e) => Some(NewClick {
            event_id: e.id,
            code: e.data.code,
            occurred_at: e.occurred_at,
            outcome: e.data.outcome,
            method: e.data.method,
            user_agent: e.data.user_agent,
            referrer: e.data.referrer,
            client_hash: e.data.client_hash,
            bot: e.data.bot,
        }),
        _ => None,
    }
}

/// Stores the click events in `payloads` (messages of one or more events, one JSON envelope per
/// line); returns one verdict per message, in order. A message with an undecodable line has its
/// good lines stored and is then dead-lettered whole (replaying it later is harmless: stored
/// events are skipped as duplicates).
///
/// The whole batch is one insert. If Postgres is unavailable it retries with backoff (the
/// messages stay unacknowledged, nothing is dead-lettered for an outage) until `give_up` says
/// so. If the batch insert fails for another reason, each row is retried alone so one bad event
/// cannot hold the others: it alone gets `Retry` (and, past the delivery limit, the DLQ).
pub async fn apply(
    db: &Db,
    payloads: &[Vec<u8>],
    log: &slog::Logger,
    give_up: impl Fn() -> bool,
) -> (Vec<Verdict>, Applied) {
    let mut verdicts = vec![Verdict::Ack; payloads.len()];
    let mut applied = Applied::default();
    let mut rows: Vec<(usize, NewClick)> = Vec::with_capacity(payloads.len());
    for (i, p) in payloads.iter().enumerate() {
        for line in p.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            match Event::decode(line) {
                Ok(ev) => match row(ev) {
                    Some(r) => rows.push((i, r)),
                    None => applied.skipped += 1,
                },
                Err(e) => {
                    slog::warn!(log, "undecodable event; dead-lettering its message"; "error" => %e);
                    verdicts[i] = Verdict::Reject;
                    applied.rejected += 1;
                }
            }
        }
    }
    if rows.is_empty() {
        return (verdicts, applied);
    }
    let batch: Vec<NewClick> = rows.iter().map(|(_, r)| r.clone()).collect();
    let total = batch.len();
    let batch = std::sync::Arc::new(batch);
    let mut backoff = Duration::from_millis(100);
    loop {
        let b = batch.clone();
        match db.run(move |c| ghostlink_db::clicks::insert_batch(c, &b)).await {
            Ok(written) => {
                applied.written += written;
                applied.duplicates += total - written;
                metrics::counter!("clicks_written_total").increment(written as u64);
                metrics::counter!("clicks_duplicates_total").increment((total - written) as u64);
                return (verdicts, applied);
            }
            Err(DbError::Unavailable(e)) => {
                metrics::counter!("db_errors_total", "op" => "insert_clicks").increment(1);
                if give_up() {
                    for (i, _) in &rows {
                        if verdicts[*i] == Verdict::Ack {
                            verdicts[*i] = Verdict::Retry;
                        }
                    }
                    return (verdicts, applied);
                }
                slog::warn!(log, "database unavailable; holding the batch"; "error" => %e, "clicks" => total);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                slog::warn!(log, "click batch failed; retrying row by row"; "error" => %e);
                break;
            }
        }
    }
    for (i, r) in rows {
        let one = vec![r];
        match db.run(move |c| ghostlink_db::clicks::insert_batch(c, &one)).await {
            Ok(w) => {
                applied.written += w;
                applied.duplicates += 1 - w;
                metrics::counter!("clicks_written_total").increment(w as u64);
            }
            Err(_) if verdicts[i] == Verdict::Ack => verdicts[i] = Verdict::Retry,
            Err(_) => {}
        }
    }
    (verdicts, applied)
}
