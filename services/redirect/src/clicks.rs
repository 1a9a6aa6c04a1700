//! Click events, off the request path.
//!
//! The handler only `try_send`s an event into a bounded channel (never awaits, never blocks);
//! when the channel is full the event is dropped and counted (`clicks_dropped_total`). The
//! publisher task collects the channel every [`COLLECT_EVERY`] (it never waits on it, so a
//! request never has to wake it) and sends batches to RabbitMQ with publisher confirms, packed up to
//! [`EVENTS_PER_MESSAGE`] events per message. When the broker is down (or
//! a batch is not confirmed) the batch goes to the local append-only spool, and while the spool
//! holds anything new events are appended behind it, so order is kept; the spool is drained in
//! chunks once the broker answers again. The publisher also looks the client's country and
//! region up (`GEOIP_DB`) as it encodes, so the request path does not. At shutdown what is left is published or spooled, so a
//! restart loses nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ghostlink_bus::{pack, Outgoing, Publisher, Spool};
use ghostlink_proto::{ClickRecorded, Envelope, EventData};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::geoip::GeoIp;

/// One click, as the request path hands it over.
#[derive(Debug, Clone)]
pub struct ClickEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub data: ClickRecorded,
    /// The client's address, kept in memory only for the publisher's GeoIP lookup: it is
    /// never serialised, so neither the broker nor the spool ever holds it.
    pub client_addr: Option<IpAddr>,
}

impl ClickEvent {
    fn encode(mut self, geoip: Option<&GeoIp>) -> Outgoing {
        if let (Some(geo), Some(ip)) = (geoip, self.client_addr.take()) {
            (self.data.country, self.data.region) = geo.locate(ip);
        }
        let env = Envelope::with_id(self.id, "redirect", self.request_id, self.at, self.data);
        Outgoing {
            routing_key: ClickRecorded::TYPE.to_string(),
            message_id: self.id.to_string(),
            payload: env.to_bytes(),
        }
    }
}

/// The request path's handle on the click queue.
#[derive(Clone)]
pub struct ClickSink {
    tx: mpsc::Sender<ClickEvent>,
    enqueued: metrics::Counter,
    dropped: metrics::Counter,
}

impl ClickSink {
    /// Queues an event; drops and counts it when the queue is full.
    pub fn record(&self, click: ClickEvent) {
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

/// Creates the queue.
pub fn channel(capacity: usize) -> (ClickSink, mpsc::Receiver<ClickEvent>) {
    let (tx, rx) = mpsc::channel(capacity);
    let sink = ClickSink {
        tx,
        enqueued: metrics::counter!("clicks_enqueued_total"),
        dropped: metrics::counter!("clicks_dropped_total", "reason" => "queue_full"),
    };
    (sink, rx)
}

/// Spooled events published per drain step.
const DRAIN_CHUNK: usize = 2000;
/// Click events per AMQP message (NDJSON): the broker's cost is per message.
pub const EVENTS_PER_MESSAGE: usize = 250;
/// How often the publisher collects the queue when it is not full. The publisher polls on a
/// timer instead of waiting on the channel: a waiting receiver is woken by every `try_send`,
/// and at tens of thousands of requests a second those cross-thread wake-ups (a futex call and
/// a context switch each) cost the request path more than the rest of the click's work
/// (measured: docs/performance.md). A click waits at most this long before it is published.
pub const COLLECT_EVERY: Duration = Duration::from_millis(10);
/// While the broker is down, how often the spool's head is offered to it again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Takes what is queued, up to `max`, without waiting. `true`: every sender is gone and the
/// queue is empty.
fn collect(rx: &mut mpsc::Receiver<ClickEvent>, batch: &mut Vec<ClickEvent>, max: usize) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(ev) => batch.push(ev),
            Err(mpsc::error::TryRecvError::Empty) => return false,
            Err(mpsc::error::TryRecvError::Disconnected) => return true,
        }
    }
    false
}

/// Publishes until every sender is dropped, then publishes or spools what is left and returns.
pub async fn publish_loop(
    mut rx: mpsc::Receiver<ClickEvent>,
    publisher: Arc<Publisher>,
    mut spool: Spool,
    batch_size: usize,
    geoip: Option<Arc<GeoIp>>,
    log: slog::Logger,
) {
    let published = metrics::counter!("clicks_published_total");
    let spooled = metrics::counter!("clicks_spooled_total");
    let up = metrics::gauge!("bus_publisher_up");
    let mut broker_ok = true;
    let mut next_retry = tokio::time::Instant::now();
    let mut batch: Vec<ClickEvent> = Vec::with_capacity(batch_size);
    let mut tick = tokio::time::interval(COLLECT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let closed = collect(&mut rx, &mut batch, batch_size);
        let full = batch.len() >= batch_size;
        if !batch.is_empty() {
            let out: Vec<Outgoing> = batch.drain(..).map(|e| e.encode(geoip.as_deref())).collect();
            let n = out.len() as u64;
            let sent = if broker_ok && spool.is_empty() {
                match publisher.publish(&pack(&out, EVENTS_PER_MESSAGE)).await {
                    Ok(()) => true,
                    Err(e) => {
                        slog::warn!(log, "publishing clicks failed; spooling to disk"; "error" => %e);
                        broker_ok = false;
                        next_retry = tokio::time::Instant::now() + RETRY_EVERY;
                        false
                    }
                }
            } else {
                false
            };
            if sent {
                published.increment(n);
            } else {
                match spool.append(&out) {
                    Ok(()) => spooled.increment(n),
                    Err(e) => {
                        metrics::counter!("clicks_dropped_total", "reason" => "spool").increment(n);
                        slog::error!(log, "spool refused click events; dropped"; "error" => %e, "clicks" => n);
                    }
                }
            }
        }
        // Drain the spool: a bounded number of chunks per round, so new events keep flowing;
        // while the broker is down, one try every RETRY_EVERY.
        if !spool.is_empty() && (broker_ok || closed || tokio::time::Instant::now() >= next_retry) {
            for _ in 0..if closed { 1000 } else { 20 } {
                match drain_chunk(&publisher, &mut spool).await {
                    Ok(0) => break,
                    Ok(n) => {
                        published.increment(n as u64);
                        if !broker_ok {
                            slog::info!(log, "broker is back; draining the spool");
                        }
                        broker_ok = true;
                    }
                    Err(_) => {
                        broker_ok = false;
                        next_retry = tokio::time::Instant::now() + RETRY_EVERY;
                        break;
                    }
                }
            }
        } else if spool.is_empty() && !broker_ok {
            // Nothing spooled yet the broker was down: probe with the next batch.
            broker_ok = true;
        }
        up.set(if broker_ok && spool.is_empty() { 1.0 } else { 0.0 });
        if closed {
            break;
        }
        if !full {
            tick.tick().await;
        }
    }
    slog::debug!(log, "click publisher finished"; "spooled_bytes" => spool.pending_bytes());
}

async fn drain_chunk(publisher: &Publisher, spool: &mut Spool) -> Result<usize, ()> {
    let (msgs, pos) = spool.peek(DRAIN_CHUNK).map_err(|_| ())?;
    if msgs.is_empty() {
        return Ok(0);
    }
    publisher.publish(&pack(&msgs, EVENTS_PER_MESSAGE)).await.map_err(|_| ())?;
    spool.commit(pos).map_err(|_| ())?;
    Ok(msgs.len())
}
