//! Reading the event stream (the replay log) from a chosen point: [`StreamReader`], one message
//! at a time with its offset (the shortener's live click feed follows the stream with it), and
//! [`read_stream`], batches until caught up (`ghostctl replay`, tests).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::{BusError, Topology};

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// The oldest message retained.
    First,
    /// The last chunk written (a few of the newest messages, then what follows).
    Last,
    /// This offset, or the oldest retained when it is older than retention.
    Offset(u64),
    Time(DateTime<Utc>),
}

impl StreamStart {
    fn argument(self) -> AMQPValue {
        match self {
            StreamStart::First => AMQPValue::LongString(LongString::from("first")),
            StreamStart::Last => AMQPValue::LongString(LongString::from("last")),
            StreamStart::Offset(o) => AMQPValue::LongLongInt(i64::try_from(o).unwrap_or(i64::MAX)),
            StreamStart::Time(t) => AMQPValue::Timestamp(t.timestamp().max(0) as u64),
        }
    }
}

/// One message read from the stream.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    pub offset: u64,
    pub routing_key: String,
    pub payload: Vec<u8>,
}

/// A consumer of the stream on a connection of its own. The broker starts an offset at the
/// chunk holding it, so messages before the offset asked for are skipped here; deliveries are
/// acknowledged as they are read (a stream keeps them either way: the acks only grant the
/// broker credit for more).
pub struct StreamReader {
    conn: lapin::Connection,
    ch: lapin::Channel,
    consumer: lapin::Consumer,
    skip_below: u64,
    prefetch: u16,
    unacked: u16,
    last_tag: Option<u64>,
}

impl StreamReader {
    /// Connects and attaches at `start`, with up to `prefetch` messages in flight; `name` is
    /// the consumer tag (what the management UI shows).
    pub async fn open(
        url: &str,
        topology: &Topology,
        start: StreamStart,
        prefetch: u16,
        name: &str,
    ) -> Result<Self, BusError> {
        let conn = crate::connect(url, Duration::from_secs(5)).await?;
        let attach = async {
            let ch = conn.create_channel().await?;
            topology.declare(&ch).await?;
            let prefetch = prefetch.max(2);
            ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
            let mut args = FieldTable::default();
            args.insert("x-stream-offset".into(), start.argument());
            let consumer =
                ch.basic_consume(&topology.stream(), name, BasicConsumeOptions::default(), args).await?;
            Ok::<_, BusError>((ch, consumer, prefetch))
        };
        match attach.await {
            Ok((ch, consumer, prefetch)) => {
                let skip_below = match start {
                    StreamStart::Offset(o) => o,
                    _ => 0,
                };
                Ok(Self { conn, ch, consumer, skip_below, prefetch, unacked: 0, last_tag: None })
            }
            Err(e) => {
                let _ = conn.close(200, "attach failed").await;
                Err(e)
            }
        }
    }

    /// The next message, or `None` when none arrived within `wait`. An error means the
    /// connection or the consumer is gone: open a new reader.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<StreamMessage>, BusError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let delivery = match tokio::time::timeout_at(deadline, self.consumer.next()).await {
                Err(_) => {
                    self.ack().await?;
                    return Ok(None);
                }
                Ok(None) => return Err(BusError::Unavailable("the stream consumer was cancelled".into())),
                Ok(Some(d)) => d?,
            };
            self.last_tag = Some(delivery.delivery_tag);
            self.unacked += 1;
            if self.unacked >= self.prefetch / 2 {
                self.ack().await?;
            }
            let offset = offset_of(&delivery.properties);
            if offset < self.skip_below {
                continue;
            }
            return Ok(Some(StreamMessage {
                offset,
                routing_key: delivery.routing_key.to_string(),
                payload: delivery.data,
            }));
        }
    }

    async fn ack(&mut self) -> Result<(), BusError> {
        if let Some(tag) = self.last_tag.take() {
            self.ch.basic_ack(tag, BasicAckOptions { multiple: true }).await?;
        }
        self.unacked = 0;
        Ok(())
    }

    /// Detaches and closes the connection politely.
    pub async fn close(self) {
        let _ = self.ch.close(200, "done").await;
        let _ = self.conn.close(200, "done").await;
    }
}

/// The stream offset the broker put in a delivery's headers.
fn offset_of(properties: &lapin::BasicProperties) -> u64 {
    crate::int_header(properties, "x-stream-offset").and_then(|o| u64::try_from(o).ok()).unwrap_or(0)
}

/// Reads from `start` in batches of up to `batch` messages, calling `f` with each batch, until
/// nothing arrives for `idle` (caught up) or `f` returns `false`. Returns messages read.
pub async fn read_stream<F, Fut>(
    url: &str,
    topology: &Topology,
    start: StreamStart,
    batch: usize,
    idle: Duration,
    mut f: F,
) -> Result<u64, BusError>
where
    F: FnMut(Vec<StreamMessage>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let prefetch = u16::try_from(batch.clamp(1, 5000)).unwrap_or(5000);
    let mut reader = StreamReader::open(url, topology, start, prefetch, "ghostctl-replay").await?;
    let mut total = 0u64;
    let result = async {
        loop {
            let mut msgs = Vec::new();
            while msgs.len() < batch {
                let wait = if msgs.is_empty() { idle } else { Duration::from_millis(50) };
                match reader.next(wait).await? {
                    Some(m) => msgs.push(m),
                    None => break,
                }
            }
            if msgs.is_empty() {
                return Ok(());
            }
            total += msgs.len() as u64;
            if !f(msgs).await {
                return Ok(());
            }
        }
    }
    .await;
    reader.close().await;
    result.map(|()| total)
}
