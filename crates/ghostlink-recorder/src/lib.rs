//! The click-event handler: decodes `click.recorded` events and stores them as click rows,
//! idempotently by event id (the row's unique `event_id`), so a redelivery, a duplicate from a
//! publisher retry or a whole replay of the stream changes nothing that is already stored.
//!
//! Shared by the click recorder (live, from its work queue) and `ghostctl replay clicks` (from
//! the stream), so live and replayed events go through exactly the same code.
//!
//! Every click is either stored or handed back as [`Refused`] with its reason, never retried
//! for its content: text is made storable first (`ghostlink_domain::click_text`: events already
//! in the stream or a spool predate the redirect applying it), and an event that still cannot be
//! stored — undecodable, or values Postgres refuses (SQLSTATE class 22 or 23) — is refused
//! alone, so the events travelling with it in a message are stored. Only an outage holds a batch.

use std::sync::Arc;
use std::time::Duration;

use ghostlink_bus::Verdict;
use std::collections::HashMap;

use ghostlink_db::clicks::{ClickDetails, Inserted, NewClick};
use ghostlink_db::{Db, DbError};
use ghostlink_domain::analytics;
use ghostlink_domain::click_text::{
    is_storable, storable_str, MAX_CODE_BYTES, MAX_REFERRER_BYTES, MAX_USER_AGENT_BYTES,
};
use ghostlink_domain::rules::{classify_with_browser, Client};
use ghostlink_proto::{DecodeError, Event};

/// The method and client hash are short tokens the redirect writes; the code's cap bounds them.
/// (The outcome is a `ClickOutcome`: decoding refuses a name that is not one.)
const MAX_TOKEN_BYTES: usize = MAX_CODE_BYTES;

/// Longest [`Refused::detail`], in bytes.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// What a batch came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Rows newly written.
    pub written: usize,
    /// Click events already stored.
    pub duplicates: usize,
    /// Events of other types (acknowledged, not stored here).
    pub skipped: usize,
    /// Undecodable events (refused).
    pub undecodable: usize,
    /// Click events whose values Postgres refuses (refused).
    pub refused: usize,
    /// Click events whose text had to be made storable (stored; also in `written` or
    /// `duplicates`).
    pub sanitised: usize,
    /// Click events older than the click retention keeps (acknowledged, neither stored nor
    /// counted).
    pub expired: usize,
}

impl Applied {
    /// Events that can never be stored: undecodable or refused by Postgres.
    pub fn rejected(&self) -> usize {
        self.undecodable + self.refused
    }

    pub fn add(&mut self, o: &Applied) {
        self.written += o.written;
        self.duplicates += o.duplicates;
        self.skipped += o.skipped;
        self.undecodable += o.undecodable;
        self.refused += o.refused;
        self.sanitised += o.sanitised;
        self.expired += o.expired;
    }

    /// Counts what an insert of `total` clicks did.
    fn count(&mut self, n: Inserted, total: usize) {
        let duplicates = total - n.written - n.expired;
        self.written += n.written;
        self.expired += n.expired;
        self.duplicates += duplicates;
        metrics::counter!("clicks_written_total").increment(n.written as u64);
        metrics::counter!("clicks_duplicates_total").increment(duplicates as u64);
        metrics::counter!("clicks_expired_total").increment(n.expired as u64);
    }
}

/// Why an event can never be stored, as the `reason` label of `clicks_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Not a decodable event envelope.
    Undecodable,
    /// SQLSTATE class 22: a value the column's type cannot hold.
    DataException,
    /// SQLSTATE class 23: a constraint refused the row.
    IntegrityConstraint,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Undecodable => "undecodable",
            RejectReason::DataException => "data_exception",
            RejectReason::IntegrityConstraint => "integrity_constraint",
        }
    }
}

impl From<ghostlink_db::Refusal> for RejectReason {
    fn from(r: ghostlink_db::Refusal) -> Self {
        match r {
            ghostlink_db::Refusal::DataException => RejectReason::DataException,
            ghostlink_db::Refusal::IntegrityConstraint => RejectReason::IntegrityConstraint,
        }
    }
}

/// One event that can never be stored, handed back to the caller (the recorder dead-letters it
/// alone; a replay counts it). Only those of acknowledged messages are handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Index of the message it came in.
    pub message: usize,
    /// The event's line, as received.
    pub payload: Vec<u8>,
    pub reason: RejectReason,
    /// What was wrong, for the operator (one line, at most [`MAX_DETAIL_BYTES`]).
    pub detail: String,
}

/// An error's text as a one-line detail (Postgres quotes the refused value in some messages).
fn detail(e: &impl std::fmt::Display) -> String {
    storable_str(&e.to_string(), MAX_DETAIL_BYTES)
}

/// What [`apply`] decided.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One per message, in order: `Ack` (its events stored, or refused below) or `Retry`
    /// (Postgres unavailable, or an error that is neither an outage nor the data's fault).
    pub verdicts: Vec<Verdict>,
    pub applied: Applied,
    pub refused: Vec<Refused>,
}

/// Decodes one event line. A line that is not UTF-8 (bytes from a producer that wrote
/// Latin-1 into a string) is decoded again with the invalid bytes replaced by U+FFFD; the flag
/// says so.
pub fn decode(line: &[u8]) -> Result<(Event, bool), DecodeError> {
    match Event::decode(line) {
        Ok(ev) => Ok((ev, false)),
        Err(e) if std::str::from_utf8(line).is_ok() => Err(e),
        Err(e) => Event::decode(String::from_utf8_lossy(line).as_bytes()).map(|ev| (ev, true)).map_err(|_| e),
    }
}

/// Makes every text field storable; returns whether anything changed.
fn sanitise(c: &mut NewClick) -> bool {
    let mut changed = false;
    let mut fix = |s: &mut String, max: usize| {
        if !is_storable(s, max) {
            *s = storable_str(s, max);
            changed = true;
        }
    };
    fix(&mut c.code, MAX_CODE_BYTES);
    fix(&mut c.method, MAX_TOKEN_BYTES);
    fix(&mut c.client_hash, MAX_TOKEN_BYTES);
    if let Some(ua) = c.user_agent.as_mut() {
        fix(ua, MAX_USER_AGENT_BYTES);
    }
    if let Some(r) = c.referrer.as_mut() {
        fix(r, MAX_REFERRER_BYTES);
    }
    changed
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
            details: ClickDetails {
                // At most 20 rules a link: the schema's bound, and a SMALLINT's.
                rule: e.data.rule.and_then(|r| i16::try_from(r).ok()),
                country: e.data.country.filter(|c| is_code(c, 2, 2)),
                region: e.data.region.filter(|r| is_code(r, 4, 6)),
                ..ClickDetails::default()
            },
        }),
        _ => None,
    }
}

/// A country or region code as the redirect writes them: short, ASCII letters, digits and `-`.
/// Anything else (an event not from a redirect) is left out rather than stored.
fn is_code(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// Adds what the click's request says (browser, OS, device, referrer host, domain, why a bot),
/// after its text was made storable. Parsing a user agent costs microseconds, and a batch
/// holds many clicks of the same few agents: each distinct one is parsed once per batch.
fn enrich_all(rows: &mut [(usize, &[u8], NewClick)]) {
    let mut agents: HashMap<Option<String>, (Client, Option<String>)> = HashMap::new();
    for (_, _, c) in rows.iter_mut() {
        let (client, browser) = agents
            .entry(c.user_agent.clone())
            .or_insert_with(|| classify_with_browser(c.user_agent.as_deref()))
            .clone();
        let e = analytics::enrich_parsed(
            client,
            browser,
            &c.code,
            &c.method,
            c.user_agent.as_deref(),
            c.referrer.as_deref(),
            c.bot,
        );
        let d = &mut c.details;
        d.browser = e.browser.map(|b| storable_str(&b, MAX_TOKEN_BYTES));
        d.os = Some(e.os);
        d.device = Some(e.device);
        d.referrer_host = e.referrer_host.map(|h| storable_str(&h, MAX_REFERRER_BYTES));
        d.domain = e.domain;
        d.bot_reason = e.bot_reason;
    }
}

/// Inserts `batch`, holding it with backoff while Postgres is unavailable, until `give_up`.
async fn insert_held(
    db: &Db,
    batch: Arc<Vec<NewClick>>,
    log: &slog::Logger,
    give_up: &impl Fn() -> bool,
) -> Result<Inserted, DbError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let b = batch.clone();
        match db.run(move |c| ghostlink_db::clicks::insert_batch(c, &b)).await {
            Err(DbError::Unavailable(e)) => {
                metrics::counter!("db_errors_total", "op" => "insert_clicks").increment(1);
                if give_up() {
                    return Err(DbError::Unavailable(e));
                }
                slog::warn!(log, "database unavailable; holding the batch"; "error" => %e, "clicks" => batch.len());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Stores the click events in `payloads` (messages of one or more events, one JSON envelope per
/// line); returns one verdict per message, in order, and the events that can never be stored.
///
/// The whole batch is one insert. If Postgres is unavailable it retries with backoff (the
/// messages stay unacknowledged, nothing is dead-lettered for an outage) until `give_up` says
/// so. If the batch insert fails for another reason, each row is tried alone, so one bad event
/// cannot hold the others: a row Postgres refuses for its values is refused (never retried); a
/// row that fails otherwise gets its message `Retry` (and, past the delivery limit, the DLQ).
pub async fn apply(db: &Db, payloads: &[Vec<u8>], log: &slog::Logger, give_up: impl Fn() -> bool) -> Outcome {
    let mut out = Outcome { verdicts: vec![Verdict::Ack; payloads.len()], ..Default::default() };
    // (message, line, row)
    let mut rows: Vec<(usize, &[u8], NewClick)> = Vec::with_capacity(payloads.len());
    for (i, p) in payloads.iter().enumerate() {
        for line in p.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            match decode(line) {
                Ok((ev, lossy)) => match row(ev) {
                    Some(mut r) => {
                        if sanitise(&mut r) || lossy {
                            out.applied.sanitised += 1;
                            metrics::counter!("clicks_sanitised_total").increment(1);
                        }
                        rows.push((i, line, r));
                    }
                    None => out.applied.skipped += 1,
                },
                Err(e) => {
                    slog::warn!(log, "undecodable event; refusing it alone"; "error" => %e);
                    out.refused.push(Refused {
                        message: i,
                        payload: line.to_vec(),
                        reason: RejectReason::Undecodable,
                        detail: detail(&e),
                    });
                }
            }
        }
    }
    if rows.is_empty() {
        return finish(out);
    }
    enrich_all(&mut rows);
    let batch: Arc<Vec<NewClick>> = Arc::new(rows.iter().map(|(_, _, r)| r.clone()).collect());
    let total = batch.len();
    match insert_held(db, batch, log, &give_up).await {
        Ok(n) => {
            out.applied.count(n, total);
            return finish(out);
        }
        Err(DbError::Unavailable(_)) => {
            for (i, _, _) in &rows {
                out.verdicts[*i] = Verdict::Retry;
            }
            return finish(out);
        }
        Err(e) => slog::warn!(log, "click batch failed; trying row by row"; "error" => %e),
    }
    let mut rows = rows.into_iter();
    while let Some((i, line, r)) = rows.next() {
        match insert_held(db, Arc::new(vec![r]), log, &give_up).await {
            Ok(n) => out.applied.count(n, 1),
            Err(e) => match e.refusal() {
                Some(kind) => {
                    let reason = RejectReason::from(kind);
                    slog::warn!(log, "click refused by the database"; "error" => %e, "reason" => reason.as_str());
                    out.refused.push(Refused {
                        message: i,
                        payload: line.to_vec(),
                        reason,
                        detail: detail(&e),
                    });
                }
                None if matches!(e, DbError::Unavailable(_)) => {
                    // Given up on an outage: the rest waits for the redelivery too.
                    out.verdicts[i] = Verdict::Retry;
                    for (j, _, _) in rows.by_ref() {
                        out.verdicts[j] = Verdict::Retry;
                    }
                }
                None => out.verdicts[i] = Verdict::Retry,
            },
        }
    }
    finish(out)
}

/// Keeps the refusals of acknowledged messages only (a retried message's are found again on
/// its redelivery) and counts them.
fn finish(mut out: Outcome) -> Outcome {
    out.refused.retain(|r| out.verdicts[r.message] == Verdict::Ack);
    for r in &out.refused {
        metrics::counter!("clicks_rejected_total", "reason" => r.reason.as_str()).increment(1);
        match r.reason {
            RejectReason::Undecodable => out.applied.undecodable += 1,
            RejectReason::DataException | RejectReason::IntegrityConstraint => out.applied.refused += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(user_agent: &[u8]) -> Vec<u8> {
        let mut l = br#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbb","type":"click.recorded","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"redirect","correlation_id":null,"data":{"code":"c","outcome":"redirect","method":"GET","user_agent":"#.to_vec();
        l.extend_from_slice(user_agent);
        l.extend_from_slice(br#","referrer":null,"client_hash":"h","bot":false}}"#);
        l
    }

    fn decoded(user_agent: &[u8]) -> (NewClick, bool) {
        let (ev, lossy) = decode(&line(user_agent)).expect("decodes");
        (row(ev).expect("a click"), lossy)
    }

    #[test]
    fn bytes_that_are_not_utf8_are_decoded_lossily() {
        let (c, lossy) = decoded(b"\"Mozilla\"");
        assert_eq!((c.user_agent.as_deref(), lossy), (Some("Mozilla"), false));
        let (c, lossy) = decoded(b"\"caf\xe9\"");
        assert_eq!((c.user_agent.as_deref(), lossy), (Some("caf\u{FFFD}"), true));
        assert!(decode(b"{\"type\":\"click.recorded\",\"version\":1}").is_err());
        assert!(decode(b"\xff{not json").is_err());
    }

    #[test]
    fn an_outcome_that_is_none_of_the_redirects_is_undecodable() {
        for o in ghostlink_domain::ClickOutcome::ALL {
            let l =
                String::from_utf8(line(b"null")).expect("utf-8").replace("\"redirect\"", &format!("\"{o}\""));
            assert_eq!(row(decode(l.as_bytes()).expect("decodes").0).map(|c| c.outcome), Some(*o));
        }
        let l = String::from_utf8(line(b"null")).expect("utf-8").replace("\"redirect\"", "\"teleported\"");
        assert!(decode(l.as_bytes()).is_err(), "refused as undecodable, never stored as text");
    }

    #[test]
    fn every_text_field_is_made_storable_and_capped() {
        let (mut c, _) = decoded(b"\"Agent\\u0000/1\"");
        c.code = "a\0b".into();
        c.method = "G\u{1b}T".into();
        c.referrer = Some("r".repeat(MAX_REFERRER_BYTES + 10));
        assert!(sanitise(&mut c));
        assert_eq!(c.user_agent.as_deref(), Some("Agent\u{FFFD}/1"));
        assert_eq!((c.code.as_str(), c.method.as_str()), ("a\u{FFFD}b", "G\u{FFFD}T"));
        assert_eq!(c.referrer.as_ref().map(String::len), Some(MAX_REFERRER_BYTES));
        let (mut clean, _) = decoded("\"Mozilla/5.0 (Ünïcode; 日本語)\"".as_bytes());
        let before = clean.clone();
        assert!(!sanitise(&mut clean), "storable text is left alone");
        assert_eq!(clean, before);
    }
}
