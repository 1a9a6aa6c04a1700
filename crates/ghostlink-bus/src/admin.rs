//! Operator tools: dead-letter inspection and replay, and tailing live events.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};

use crate::{BusError, Publisher, Topology};

/// A dead letter, as shown to an operator.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The routing key it was first published with.
    pub routing_key: String,
    /// How many times it was delivered before being dead-lettered, when known.
    pub deliveries: Option<i64>,
    /// Why a consumer dead-lettered it alone ([`crate::consumer::REASON_HEADER`]), if it did.
    pub reason: Option<String>,
    pub payload: Vec<u8>,
}

fn original_routing_key(props: &lapin::BasicProperties, fallback: &str) -> String {
    let from_death = props.headers().as_ref().and_then(|h| match h.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => a.as_slice().first().and_then(|d| match d {
            AMQPValue::FieldTable(t) => match t.inner().get("routing-keys") {
                Some(AMQPValue::FieldArray(keys)) => keys.as_slice().first().and_then(|k| match k {
                    AMQPValue::LongString(s) => Some(s.to_string()),
                    _ => None,
                }),
                _ => None,
            },
            _ => None,
        }),
        _ => None,
    });
    from_death
        .or_else(|| props.kind().as_ref().map(|t| t.to_string()))
        .unwrap_or_else(|| fallback.to_string())
}

fn delivery_count(props: &lapin::BasicProperties) -> Option<i64> {
    props.headers().as_ref().and_then(|h| match h.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => Some(*n),
        Some(AMQPValue::LongInt(n)) => Some(*n as i64),
        _ => None,
    })
}

/// Shows up to `limit` dead letters of `consumer` without removing them.
pub async fn dlq_peek(
    url: &str,
    topology: &Topology,
    consumer: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, BusError> {
    let conn = crate::connect(url, Duration::from_secs(5)).await?;
    let ch = conn.create_channel().await?;
    topology.declare(&ch).await?;
    let mut out = Vec::new();
    let mut last_tag = None;
    while out.len() < limit {
        let Some(msg) = ch.basic_get(&topology.dlq(consumer), BasicGetOptions { no_ack: false }).await?
        else {
            break;
        };
        let d = msg.delivery;
        last_tag = Some(d.delivery_tag);
        out.push(DeadLetter {
            routing_key: original_routing_key(&d.properties, &d.routing_key.to_string()),
            deliveries: delivery_count(&d.properties),
            reason: d.properties.headers().as_ref().and_then(|h| {
                match h.inner().get(crate::consumer::REASON_HEADER) {
                    Some(AMQPValue::LongString(s)) => Some(s.to_string()),
                    _ => None,
                }
            }),
            payload: d.data,
        });
    }
    if let Some(tag) = last_tag {
        // Give them all back.
        ch.basic_nack(tag, BasicNackOptions { multiple: true, requeue: true }).await?;
    }
    let _ = conn.close(200, "done").await;
    Ok(out)
}

/// Republishes every dead letter of `consumer` to the events exchange with its original routing
/// key (confirmed), removing each from the DLQ only after its republish is confirmed.
pub async fn dlq_replay(url: &str, topology: &Topology, consumer: &str) -> Result<usize, BusError> {
    let conn = crate::connect(url, Duration::from_secs(5)).await?;
    let ch = conn.create_channel().await?;
    topology.declare(&ch).await?;
    let publisher = Publisher::new(url, topology.clone());
    let mut n = 0;
    while let Some(msg) = ch.basic_get(&topology.dlq(consumer), BasicGetOptions { no_ack: false }).await? {
        let d = msg.delivery;
        let key = original_routing_key(&d.properties, &d.routing_key.to_string());
        match publisher.publish_raw(&topology.exchange(), &key, &key, &d.data).await {
            Ok(()) => {
                ch.basic_ack(d.delivery_tag, BasicAckOptions::default()).await?;
                n += 1;
            }
            Err(e) => {
                ch.basic_nack(d.delivery_tag, BasicNackOptions { requeue: true, ..Default::default() })
                    .await?;
                publisher.close().await;
                let _ = conn.close(200, "done").await;
                return Err(e);
            }
        }
    }
    publisher.close().await;
    let _ = conn.close(200, "done").await;
    Ok(n)
}

/// Calls `f` with every event published from now on whose routing key matches `pattern`
/// (`#` for all), through a temporary exclusive queue, until `f` returns `false`.
pub async fn tail(
    url: &str,
    topology: &Topology,
    pattern: &str,
    mut f: impl FnMut(&str, &[u8]) -> bool,
) -> Result<(), BusError> {
    let conn = crate::connect(url, Duration::from_secs(5)).await?;
    let ch = conn.create_channel().await?;
    topology.declare(&ch).await?;
    let q = ch
        .queue_declare(
            "",
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    ch.queue_bind(
        q.name().as_str(),
        &topology.exchange(),
        pattern,
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let mut consumer = ch
        .basic_consume(
            q.name().as_str(),
            "ghostctl-tail",
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    while let Some(d) = consumer.next().await {
        let d = d?;
        if !f(d.routing_key.as_str(), &d.data) {
            break;
        }
    }
    let _ = conn.close(200, "done").await;
    Ok(())
}
