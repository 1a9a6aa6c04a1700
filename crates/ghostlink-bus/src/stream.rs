//! Reading the event stream (the replay log) from a chosen point.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::{BusError, Topology};

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    First,
    Offset(u64),
    Time(DateTime<Utc>),
}

/// One message read from the stream.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    pub offset: u64,
    pub routing_key: String,
    pub payload: Vec<u8>,
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
    let conn = crate::connect(url, Duration::from_secs(5)).await?;
    let ch = conn.create_channel().await?;
    topology.declare(&ch).await?;
    ch.basic_qos(batch.clamp(1, 5000) as u16, BasicQosOptions::default()).await?;
    let mut args = FieldTable::default();
    let offset = match start {
        StreamStart::First => AMQPValue::LongString(LongString::from("first")),
        StreamStart::Offset(o) => AMQPValue::LongLongInt(o as i64),
        StreamStart::Time(t) => AMQPValue::Timestamp(t.timestamp().max(0) as u64),
    };
    args.insert("x-stream-offset".into(), offset);
    let mut consumer =
        ch.basic_consume(&topology.stream(), "ghostctl-replay", BasicConsumeOptions::default(), args).await?;
    let mut total = 0u64;
    'outer: loop {
        let mut msgs = Vec::new();
        let mut last_tag = None;
        while msgs.len() < batch {
            let wait = if msgs.is_empty() { idle } else { Duration::from_millis(50) };
            match tokio::time::timeout(wait, consumer.next()).await {
                Ok(Some(d)) => {
                    let d = d?;
                    let offset = d
                        .properties
                        .headers()
                        .as_ref()
                        .and_then(|h| h.inner().get("x-stream-offset").cloned())
                        .and_then(|v| match v {
                            AMQPValue::LongLongInt(o) => Some(o as u64),
                            AMQPValue::LongInt(o) => Some(o as u64),
                            _ => None,
                        })
                        .unwrap_or(0);
                    last_tag = Some(d.delivery_tag);
                    msgs.push(StreamMessage {
                        offset,
                        routing_key: d.routing_key.to_string(),
                        payload: d.data,
                    });
                }
                Ok(None) => break 'outer,
                Err(_) => break,
            }
        }
        if msgs.is_empty() {
            break;
        }
        total += msgs.len() as u64;
        let more = f(msgs).await;
        if let Some(tag) = last_tag {
            ch.basic_ack(tag, BasicAckOptions { multiple: true }).await?;
        }
        if !more {
            break;
        }
    }
    let _ = ch.close(200, "done").await;
    let _ = conn.close(200, "done").await;
    Ok(total)
}
