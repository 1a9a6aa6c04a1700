//! The only GhostLink crate that knows lapin (RabbitMQ): topology, the confirming publisher,
//! the batch consumer helper and the stream readers (replay, and the shortener's live feed).
//!
//! Topology (declared idempotently by every publisher and consumer on connect; see
//! `proto/topology.md`): a topic exchange `<prefix>.events` receiving every event with its type
//! as routing key; a stream `<prefix>.events.log` bound to `#`, the replay log (7 days); per
//! consumer a quorum queue `<prefix>.<consumer>` with a delivery limit, dead-lettering through
//! `<prefix>.dlx` into `<prefix>.<consumer>.dlq`. lapin does not reconnect by itself: the
//! publisher reconnects lazily on its next call, the consumer loop reconnects with backoff, and
//! both re-declare the topology each time.

pub mod admin;
pub mod consumer;
pub mod publisher;
pub mod spool;
pub mod stream;
pub mod topology;

pub use consumer::{run_consumer, ConsumerSettings, Incoming, Verdict};
pub use publisher::{pack, Outgoing, Publisher};
pub use spool::{Spool, SpoolError};
pub use stream::{read_stream, StreamMessage, StreamReader, StreamStart};
pub use topology::{ConsumerSpec, Topology, CONSUMERS};

/// What went wrong talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No connection, or it broke: retry later (the publisher spools meanwhile).
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker answered, but did not take every message (nack, or returned as unroutable).
    #[error("broker did not confirm {failed} of {total} messages ({returned} returned, {nacked} nacked)")]
    NotConfirmed { total: usize, failed: usize, returned: usize, nacked: usize },
}

impl From<lapin::Error> for BusError {
    fn from(e: lapin::Error) -> Self {
        BusError::Unavailable(e.to_string())
    }
}

/// An integer header of a message, whatever width the broker wrote it in.
pub(crate) fn int_header(properties: &lapin::BasicProperties, name: &str) -> Option<i64> {
    use lapin::types::AMQPValue;
    match properties.headers().as_ref()?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// Opens a connection within `timeout`.
pub(crate) async fn connect(url: &str, timeout: std::time::Duration) -> Result<lapin::Connection, BusError> {
    let props = lapin::ConnectionProperties::default().with_connection_name("ghostlink".into());
    tokio::time::timeout(timeout, lapin::Connection::connect(url, props))
        .await
        .map_err(|_| BusError::Unavailable("connect timed out".into()))?
        .map_err(BusError::from)
}

/// Opens a connection of its own, runs `f` on a channel of it, and closes the connection.
async fn on_channel<T>(
    url: &str,
    f: impl AsyncFnOnce(&lapin::Channel) -> Result<T, BusError>,
) -> Result<T, BusError> {
    let conn = connect(url, std::time::Duration::from_secs(5)).await?;
    let ch = conn.create_channel().await?;
    let out = f(&ch).await;
    // The work is done (or failed) either way; a connection that does not close politely is
    // dropped with the value.
    let _ = conn.close(200, "done").await;
    out
}

/// Messages ready in a queue (passive declare; fails if the queue does not exist).
pub async fn queue_depth(url: &str, queue: &str) -> Result<u32, BusError> {
    on_channel(url, async |ch| {
        let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        let q = ch.queue_declare(queue, passive, lapin::types::FieldTable::default()).await?;
        Ok(q.message_count())
    })
    .await
}

/// Connects and declares the topology (idempotent), e.g. before inspecting queues.
pub async fn declare_topology(url: &str, topology: &Topology) -> Result<(), BusError> {
    on_channel(url, async |ch| topology.declare(ch).await).await
}

/// Connects and deletes the topology's exchanges and queues (tests clean up with it).
pub async fn delete_topology(url: &str, topology: &Topology) -> Result<(), BusError> {
    on_channel(url, async |ch| topology.delete(ch).await).await
}

/// Every 5 s, forever: messages waiting in a consumer's work queue (its lag) and in its
/// dead-letter queue, as `bus_queue_messages{consumer, queue="work"|"dead_letter"}`.
pub async fn sample_queue_depths(url: String, topology: Topology, consumer: &'static str) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        for (label, queue) in [("work", topology.queue(consumer)), ("dead_letter", topology.dlq(consumer))] {
            if let Ok(n) = queue_depth(&url, &queue).await {
                metrics::gauge!("bus_queue_messages", "consumer" => consumer, "queue" => label)
                    .set(f64::from(n));
            }
        }
    }
}
