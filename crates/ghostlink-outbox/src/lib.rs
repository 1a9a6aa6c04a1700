//! The outbox relay: publishes events written with database changes (link created, updated,
//! quarantined, ...), with confirms, and marks them published in the same transaction that
//! claimed them (`FOR UPDATE SKIP LOCKED`), so every replica of every service that writes to
//! the outbox runs one and they share the work without publishing a row twice concurrently.
//! A crash between publish and commit republishes the batch: a duplicate at most (consumers
//! are idempotent by event id). It lives here, once, because the shortener and the canary
//! both write events with their changes.

use std::sync::Arc;
use std::time::Duration;

use ghostlink_bus::{pack, Outgoing, Publisher};
use ghostlink_db::outbox::OutboxRow;
use ghostlink_db::Db;
use ghostlink_telemetry::trace::{self, Attribute};
use tokio::sync::{watch, Notify};

/// Events claimed per transaction.
const BATCH: i64 = 200;

pub struct Relay {
    pub db: Db,
    pub publisher: Arc<Publisher>,
    pub notify: Arc<Notify>,
    pub log: slog::Logger,
}

impl Relay {
    /// Relays until `stop` turns true, then relays what is left once and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let published = metrics::counter!("outbox_published_total");
        let mut sampled = tokio::time::Instant::now();
        let mut pruned = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(200);
        let mut failing = false;
        loop {
            let stopping = *stop.borrow();
            if sampled.elapsed() >= Duration::from_secs(5) {
                sampled = tokio::time::Instant::now();
                if let Ok(n) = self.db.run(ghostlink_db::outbox::pending).await {
                    metrics::gauge!("outbox_pending").set(n as f64);
                }
            }
            if pruned.elapsed() >= Duration::from_secs(600) {
                pruned = tokio::time::Instant::now();
                // Published events live on in the stream; the outbox keeps a week for forensics.
                if let Ok(n) = self.db.run(|c| ghostlink_db::outbox::prune(c, 7)).await {
                    if n > 0 {
                        slog::info!(self.log, "pruned published outbox events"; "count" => n);
                    }
                }
            }
            match self.step().await {
                Ok(n) if n > 0 => {
                    published.increment(n as u64);
                    if failing {
                        slog::info!(self.log, "outbox relay publishing again");
                        failing = false;
                    }
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(_) => backoff = Duration::from_millis(200),
                Err(e) => {
                    metrics::counter!("outbox_relay_errors_total").increment(1);
                    if !failing {
                        slog::warn!(self.log, "outbox relay failed; events wait in the outbox"; "error" => e);
                        failing = true;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            if stopping {
                return;
            }
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(if failing { backoff } else { Duration::from_millis(500) }) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One claimed batch; returns how many were published.
    async fn step(&self) -> Result<usize, String> {
        let publisher = self.publisher.clone();
        let handle = tokio::runtime::Handle::current();
        let outcome = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let o2 = outcome.clone();
        let n = self
            .db
            .run(move |c| {
                ghostlink_db::outbox::relay_batch(c, BATCH, |rows| {
                    let (batch, traces, spans) = messages(rows);
                    // This runs on the blocking pool, holding the row locks until the broker
                    // confirmed; only then are the rows marked published.
                    let result = handle.block_on(publisher.publish_traced(&batch, &traces));
                    let error = result.as_ref().err().map(ToString::to_string);
                    for cx in &spans {
                        trace::finish(cx, error.as_deref());
                    }
                    match error {
                        None => true,
                        Some(e) => {
                            if let Ok(mut o) = o2.lock() {
                                *o = Some(e);
                            }
                            false
                        }
                    }
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = outcome.lock().ok().and_then(|mut o| o.take()) {
            return Err(e);
        }
        Ok(n)
    }
}

/// One message's trace headers (`traceparent`, `tracestate`).
type Headers = Vec<(String, String)>;

/// The messages of a claimed batch, in order: consecutive rows of one event type without a
/// trace packed into one message (`pack`), a row written inside a sampled request alone in
/// its own, under a producer span continuing that request's trace (returned, to be ended once
/// the broker confirmed), whose `traceparent` travels in the message's headers.
fn messages(rows: &[OutboxRow]) -> (Vec<Outgoing>, Vec<Headers>, Vec<trace::TraceContext>) {
    let mut batch = Vec::new();
    let mut traces = Vec::new();
    let mut spans = Vec::new();
    let mut plain: Vec<Outgoing> = Vec::new();
    let flush =
        |plain: &mut Vec<Outgoing>, batch: &mut Vec<Outgoing>, traces: &mut Vec<Vec<(String, String)>>| {
            for m in pack(plain, 100) {
                batch.push(m);
                traces.push(Vec::new());
            }
            plain.clear();
        };
    for r in rows {
        let message = Outgoing {
            routing_key: r.routing_key.clone(),
            message_id: r.event_id.to_string(),
            payload: r.payload.clone().into_bytes(),
        };
        let parent = trace::extract(r.traceparent.as_deref(), r.tracestate.as_deref());
        let span = r.traceparent.as_ref().and_then(|_| {
            trace::start(
                format!("publish {}", r.routing_key),
                trace::kind::Producer,
                &parent,
                vec![
                    Attribute::new("messaging.system", "rabbitmq"),
                    Attribute::new("messaging.operation.type", "send"),
                    Attribute::new("messaging.message.id", r.event_id.to_string()),
                    Attribute::new("ghostlink.outbox.id", r.id),
                ],
            )
        });
        match span {
            Some(cx) => {
                flush(&mut plain, &mut batch, &mut traces);
                batch.push(message);
                traces.push(trace::inject(&cx));
                spans.push(cx);
            }
            None => plain.push(message),
        }
    }
    flush(&mut plain, &mut batch, &mut traces);
    (batch, traces, spans)
}
