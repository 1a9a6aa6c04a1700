//! The batch consumer: a quorum work queue, manual acks only after the handler's work
//! committed, poison messages dead-lettered, up to `concurrency` batches in hand at once, a
//! message that keeps failing dead-lettered at the consumer's delivery limit, reconnection with
//! backoff; and [`dead_letter`], for one event of a message that can never be handled while the
//! others were.

use std::future::Future;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;

use crate::{BusError, Publisher, Topology};

/// The header of a dead letter that says why it can never be handled (set by [`dead_letter`];
/// the broker's own dead letters carry `x-death` instead).
pub const REASON_HEADER: &str = "x-ghostlink-reason";

/// Longest reason kept in [`REASON_HEADER`], in bytes.
const MAX_REASON_BYTES: usize = 1024;

/// Puts one event into `consumer`'s dead-letter queue (through the dead-letter exchange, as
/// the broker does), with its event type and `reason`, and waits for the broker's confirm.
/// For an event that can never be handled travelling in a message with others that were: the
/// caller dead-letters it alone and acknowledges the message, instead of retrying the whole
/// message until the delivery limit. `Ok` means the broker has it; on an error the caller
/// must not acknowledge the message.
pub async fn dead_letter(
    publisher: &Publisher,
    consumer: &str,
    routing_key: &str,
    payload: &[u8],
    reason: &str,
) -> Result<(), BusError> {
    let mut cut = reason.len().min(MAX_REASON_BYTES);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut headers = FieldTable::default();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(LongString::from(&reason[..cut])));
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_type(routing_key.into())
        .with_headers(headers);
    let published = async {
        let ch = publisher.channel().await?;
        let confirm = ch
            .basic_publish(
                &publisher.topology().dlx(),
                consumer,
                BasicPublishOptions { mandatory: true, ..Default::default() },
                payload,
                props,
            )
            .await?
            .await?;
        Ok::<_, BusError>(confirm)
    };
    let confirm = match tokio::time::timeout(Duration::from_secs(10), published).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            publisher.reset().await;
            return Err(e);
        }
        Err(_) => {
            publisher.reset().await;
            return Err(BusError::Unavailable("timed out waiting for a dead letter's confirm".into()));
        }
    };
    match confirm {
        Confirmation::Ack(None) => {
            metrics::counter!("bus_dead_lettered_total", "consumer" => consumer.to_string()).increment(1);
            Ok(())
        }
        Confirmation::Ack(Some(_)) => {
            Err(BusError::NotConfirmed { total: 1, failed: 1, returned: 1, nacked: 0 })
        }
        _ => Err(BusError::NotConfirmed { total: 1, failed: 1, returned: 0, nacked: 1 }),
    }
}

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub routing_key: String,
    pub redelivered: bool,
    /// Which delivery of the message this is (1: the first), from the quorum queue's
    /// `x-delivery-count`.
    pub delivery: u32,
    pub payload: Vec<u8>,
    /// The W3C trace context its publisher sent in the `traceparent` / `tracestate` headers.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// What the handler decided for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done (committed or a known duplicate): ack.
    Ack,
    /// Failed this time: requeue; after the queue's delivery limit it is dead-lettered.
    Retry,
    /// Can never succeed (undecodable): dead-letter now.
    Reject,
}

impl Verdict {
    /// What to do with a message on its `delivery`-th delivery: a retry at the delivery limit
    /// is dead-lettered instead of requeued.
    pub fn settle(self, delivery: u32, delivery_limit: u32) -> Verdict {
        match self {
            Verdict::Retry if delivery >= delivery_limit => Verdict::Reject,
            v => v,
        }
    }
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub url: String,
    pub topology: Topology,
    /// The consumer's name; its queue is `<prefix>.<name>`.
    pub name: String,
    pub prefetch: u16,
    /// Largest batch handed to the handler.
    pub batch_size: usize,
    /// How long to wait for more messages to fill a batch.
    pub batch_wait: Duration,
    /// Batches handed to the handler at once (1: one after the other, in delivery order).
    pub concurrency: usize,
    /// The delivery of a message that keeps failing at which it is dead-lettered instead of
    /// requeued; at most [`crate::topology::DELIVERY_LIMIT`], where the broker does it anyway.
    pub delivery_limit: u32,
}

/// Consumes until `shutdown` resolves, reconnecting with backoff. The handler gets a batch and
/// returns one verdict per message, in order; up to `concurrency` batches are in its hands at
/// once. The batches in hand when shutdown comes are finished and acknowledged before
/// returning. When the connection breaks, batches still in hand are dropped unacknowledged
/// (the broker delivers them again: handlers are idempotent).
pub async fn run_consumer<H, Fut>(
    settings: ConsumerSettings,
    mut handler: H,
    shutdown: impl Future<Output = ()>,
    on_state: impl Fn(bool),
) where
    H: FnMut(Vec<Incoming>) -> Fut,
    Fut: Future<Output = Vec<Verdict>>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::from_millis(200);
    loop {
        let session = consume_session(&settings, &mut handler, shutdown.as_mut(), &on_state);
        match session.await {
            Ok(()) => return,
            Err(_) => {
                on_state(false);
                metrics::counter!("bus_consumer_reconnects_total", "consumer" => settings.name.clone())
                    .increment(1);
                tokio::select! {
                    _ = shutdown.as_mut() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn consume_session<H, Fut>(
    s: &ConsumerSettings,
    handler: &mut H,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    on_state: &impl Fn(bool),
) -> Result<(), BusError>
where
    H: FnMut(Vec<Incoming>) -> Fut,
    Fut: Future<Output = Vec<Verdict>>,
{
    let conn = crate::connect(&s.url, Duration::from_secs(3)).await?;
    let ch = conn.create_channel().await?;
    s.topology.declare(&ch).await?;
    ch.basic_qos(s.prefetch, BasicQosOptions::default()).await?;
    let queue = s.topology.queue(&s.name);
    let mut consumer = ch
        .basic_consume(
            &queue,
            &format!("{}-{}", s.name, std::process::id()),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    on_state(true);
    let counters = Counters::new(&s.name);
    let mut in_hand = FuturesUnordered::new();
    loop {
        if in_hand.len() >= s.concurrency.max(1) {
            // Every slot busy: the next batch waits for one (shutdown too, as it waits for them).
            if let Some(handled) = in_hand.next().await {
                settle(handled, s, &counters).await?;
            }
            continue;
        }
        let first = tokio::select! {
            _ = shutdown.as_mut() => {
                while let Some(handled) = in_hand.next().await {
                    settle(handled, s, &counters).await?;
                }
                // Closing is a courtesy to the broker: unacknowledged messages are requeued
                // whether or not it hears the close.
                let _ = ch.close(200, "shutdown").await;
                let _ = conn.close(200, "shutdown").await;
                return Ok(());
            }
            Some(handled) = in_hand.next(), if !in_hand.is_empty() => {
                settle(handled, s, &counters).await?;
                continue;
            }
            d = consumer.next() => d,
        };
        let Some(first) = first else { return Err(BusError::Unavailable("consumer cancelled".into())) };
        let mut deliveries = vec![first?];
        let deadline = tokio::time::Instant::now() + s.batch_wait;
        while deliveries.len() < s.batch_size {
            match tokio::time::timeout_at(deadline, consumer.next()).await {
                Ok(Some(d)) => deliveries.push(d?),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        counters.consumed.increment(deliveries.len() as u64);
        let batch = deliveries
            .iter()
            .map(|d| Incoming {
                routing_key: d.routing_key.to_string(),
                redelivered: d.redelivered,
                delivery: delivery_of(d),
                payload: d.data.clone(),
                traceparent: string_header(d, "traceparent"),
                tracestate: string_header(d, "tracestate"),
            })
            .collect();
        let handled = handler(batch);
        in_hand.push(async move { (deliveries, handled.await) });
    }
}

struct Counters {
    consumed: metrics::Counter,
    acked: metrics::Counter,
    failed: metrics::Counter,
    dead: metrics::Counter,
}

impl Counters {
    fn new(name: &str) -> Self {
        let name = name.to_string();
        Self {
            consumed: metrics::counter!("bus_consumed_total", "consumer" => name.clone()),
            acked: metrics::counter!("bus_acked_total", "consumer" => name.clone()),
            failed: metrics::counter!("bus_failed_total", "consumer" => name.clone()),
            dead: metrics::counter!("bus_dead_lettered_total", "consumer" => name),
        }
    }
}

/// Acknowledges, requeues or dead-letters each message of a handled batch by its verdict (a
/// missing verdict is a retry).
async fn settle(
    (deliveries, verdicts): (Vec<lapin::message::Delivery>, Vec<Verdict>),
    s: &ConsumerSettings,
    counters: &Counters,
) -> Result<(), BusError> {
    for (i, d) in deliveries.iter().enumerate() {
        let verdict = verdicts.get(i).copied().unwrap_or(Verdict::Retry);
        match verdict.settle(delivery_of(d), s.delivery_limit) {
            Verdict::Ack => {
                d.acker.ack(BasicAckOptions::default()).await?;
                counters.acked.increment(1);
            }
            Verdict::Retry => {
                d.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await?;
                counters.failed.increment(1);
            }
            Verdict::Reject => {
                d.acker.nack(BasicNackOptions { requeue: false, ..Default::default() }).await?;
                counters.dead.increment(1);
            }
        }
    }
    Ok(())
}

/// A text header of `d`, if it has one.
fn string_header(d: &lapin::message::Delivery, name: &str) -> Option<String> {
    match d.properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Which delivery of its message `d` is: the quorum queue counts earlier failed deliveries in
/// `x-delivery-count` (absent on the first).
fn delivery_of(d: &lapin::message::Delivery) -> u32 {
    let earlier = crate::int_header(&d.properties, "x-delivery-count").and_then(|n| u32::try_from(n).ok());
    earlier.unwrap_or(0).saturating_add(1)
}
