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
use ghostlink_db::Db;
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
                    let batch: Vec<Outgoing> = rows
                        .iter()
                        .map(|r| Outgoing {
                            routing_key: r.routing_key.clone(),
                            message_id: r.event_id.to_string(),
                            payload: r.payload.clone().into_bytes(),
                        })
                        .collect();
                    // This runs on the blocking pool, holding the row locks until the broker
                    // confirmed; only then are the rows marked published.
                    match handle.block_on(publisher.publish(&pack(&batch, 100))) {
                        Ok(()) => true,
                        Err(e) => {
                            if let Ok(mut o) = o2.lock() {
                                *o = Some(e.to_string());
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
