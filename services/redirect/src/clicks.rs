//! Click recording off the request path.
//!
//! The handler only `try_send`s an event into a bounded channel (never awaits, never blocks);
//! a drain task writes batches to Postgres. When the channel is full the event is dropped and
//! counted in `clicks_dropped_total`, so a slow database can never slow redirects.

use std::time::Duration;

use ghostlink_db::clicks::NewClick;
use ghostlink_db::Db;
use tokio::sync::mpsc;

/// The request path's handle on the click queue.
#[derive(Clone)]
pub struct ClickSink {
    tx: mpsc::Sender<NewClick>,
    enqueued: metrics::Counter,
    dropped: metrics::Counter,
}

impl ClickSink {
    /// Queues an event; drops and counts it when the queue is full.
    pub fn record(&self, click: NewClick) {
        match self.tx.try_send(click) {
            Ok(()) => self.enqueued.increment(1),
            Err(_) => self.dropped.increment(1),
        }
    }

    /// Events waiting.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Creates the queue; run the returned drain until the senders are gone.
pub fn channel(capacity: usize) -> (ClickSink, mpsc::Receiver<NewClick>) {
    let (tx, rx) = mpsc::channel(capacity);
    let sink = ClickSink {
        tx,
        enqueued: metrics::counter!("clicks_enqueued_total"),
        dropped: metrics::counter!("clicks_dropped_total", "reason" => "queue_full"),
    };
    (sink, rx)
}

/// Writes batches until every sender is dropped, then flushes what is left and returns.
/// A failed batch is retried with backoff while new events wait in the channel.
pub async fn drain(mut rx: mpsc::Receiver<NewClick>, db: Db, batch_size: usize, log: slog::Logger) {
    let written = metrics::counter!("clicks_written_total");
    let mut batch: Vec<NewClick> = Vec::with_capacity(batch_size);
    loop {
        if rx.recv_many(&mut batch, batch_size).await == 0 {
            break;
        }
        // Give a busy stream a moment to fill the batch: fewer, larger inserts.
        if batch.len() < batch_size {
            tokio::time::sleep(Duration::from_millis(20)).await;
            while batch.len() < batch_size {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
        }
        write_with_retry(&db, &mut batch, &written, &log, rx.is_closed()).await;
    }
    slog::debug!(log, "click drain finished");
}

async fn write_with_retry(
    db: &Db,
    batch: &mut Vec<NewClick>,
    written: &metrics::Counter,
    log: &slog::Logger,
    closing: bool,
) {
    let rows = std::sync::Arc::new(std::mem::take(batch));
    let n = rows.len();
    let mut backoff = Duration::from_millis(100);
    let mut attempts = 0u32;
    loop {
        let attempt = rows.clone();
        match db.run(move |c| ghostlink_db::clicks::insert_batch(c, &attempt)).await {
            Ok(w) => {
                written.increment(w as u64);
                return;
            }
            Err(e) => {
                attempts += 1;
                metrics::counter!("db_errors_total", "op" => "insert_clicks").increment(1);
                if attempts == 1 || attempts.is_multiple_of(50) {
                    slog::warn!(log, "click batch write failed; retrying"; "error" => %e, "clicks" => n, "attempts" => attempts);
                }
                if closing && attempts >= 5 {
                    metrics::counter!("clicks_dropped_total", "reason" => "write_failed").increment(n as u64);
                    slog::error!(log, "dropping click batch at shutdown"; "clicks" => n);
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
