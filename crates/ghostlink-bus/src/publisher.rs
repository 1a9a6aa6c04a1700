//! The confirming publisher: persistent, `mandatory`, with publisher confirms. A batch counts as
//! published only when the broker acked every message and returned none.

use std::time::Duration;

use ghostlink_telemetry::trace::{self, Attribute};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

use crate::{BusError, Topology};

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The event type, e.g. `click.recorded`.
    pub routing_key: String,
    /// The event id (for broker-side tracing and consumer dedup).
    pub message_id: String,
    pub payload: Vec<u8>,
}

/// Packs consecutive events of the same type into messages of at most `per_message` events,
/// one JSON envelope per line (NDJSON). The broker's cost is per message, so a batch of clicks
/// costs it one message instead of hundreds; consumers split lines and stay idempotent per
/// event. The message id is the first event's id.
pub fn pack(events: &[Outgoing], per_message: usize) -> Vec<Outgoing> {
    let per_message = per_message.max(1);
    let mut out: Vec<Outgoing> = Vec::new();
    let mut count = 0;
    for e in events {
        match out.last_mut() {
            Some(last) if last.routing_key == e.routing_key && count < per_message => {
                last.payload.push(b'\n');
                last.payload.extend_from_slice(&e.payload);
                count += 1;
            }
            _ => {
                out.push(e.clone());
                count = 1;
            }
        }
    }
    out
}

/// A publisher that (re)connects lazily: each call uses the open channel, or opens a new
/// connection and channel, switches on confirms and re-declares the topology.
pub struct Publisher {
    url: String,
    topology: Topology,
    state: Mutex<Option<(Connection, Channel)>>,
    connect_timeout: Duration,
    confirm_timeout: Duration,
}

impl Publisher {
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            url: url.into(),
            topology,
            state: Mutex::new(None),
            connect_timeout: Duration::from_secs(3),
            confirm_timeout: Duration::from_secs(10),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub(crate) async fn channel(&self) -> Result<Channel, BusError> {
        let mut state = self.state.lock().await;
        if let Some((conn, ch)) = state.as_ref() {
            if conn.status().connected() && ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        if let Some((conn, _)) = state.take() {
            let _ = conn.close(200, "reconnecting").await;
        }
        let conn = crate::connect(&self.url, self.connect_timeout).await?;
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        self.topology.declare(&ch).await?;
        metrics::counter!("bus_connects_total").increment(1);
        *state = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Whether a connection is open now (no I/O).
    pub async fn is_connected(&self) -> bool {
        matches!(self.state.lock().await.as_ref(), Some((c, ch)) if c.status().connected() && ch.status().connected())
    }

    /// Forgets the connection (after a failure, so the next call reconnects).
    pub async fn reset(&self) {
        if let Some((conn, _)) = self.state.lock().await.take() {
            let _ = conn.close(200, "reset").await;
        }
    }

    /// Publishes a batch and waits for every confirm. `Ok` means the broker has every message.
    /// Inside a sampled span the batch gets a producer span of its own, whose `traceparent`
    /// travels in every message's headers (consumers continue the trace from there).
    pub async fn publish(&self, batch: &[Outgoing]) -> Result<(), BusError> {
        if batch.is_empty() {
            return Ok(());
        }
        let span = trace::child(trace::kind::Producer, || {
            let attributes = vec![
                Attribute::new("messaging.system", "rabbitmq"),
                Attribute::new("messaging.operation.type", "send"),
                Attribute::new("messaging.destination.name", self.topology.exchange()),
                Attribute::new("messaging.batch.message_count", batch.len() as i64),
            ];
            (format!("publish {}", batch[0].routing_key), attributes)
        });
        let headers = span.as_ref().map(trace::inject).unwrap_or_default();
        let traces = if headers.is_empty() { Vec::new() } else { vec![headers; batch.len()] };
        let result = self.publish_traced(batch, &traces).await;
        if let Some(cx) = &span {
            trace::finish(cx, result.as_ref().err().map(ToString::to_string).as_deref());
        }
        result
    }

    /// [`Publisher::publish`] with each message's own trace headers (`traces[i]` for
    /// `batch[i]`; none past its end): the outbox relay's, each row carrying the context of
    /// the request that wrote it.
    pub async fn publish_traced(
        &self,
        batch: &[Outgoing],
        traces: &[Vec<(String, String)>],
    ) -> Result<(), BusError> {
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.publish_inner(batch, traces).await;
        if let Err(BusError::Unavailable(_)) = &result {
            self.reset().await;
        }
        result
    }

    async fn publish_inner(
        &self,
        batch: &[Outgoing],
        traces: &[Vec<(String, String)>],
    ) -> Result<(), BusError> {
        let ch = self.channel().await?;
        let exchange = self.topology.exchange();
        let mut confirms = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            let mut props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(m.message_id.as_str().into())
                .with_type(m.routing_key.as_str().into());
            if let Some(headers) = traces.get(i).filter(|h| !h.is_empty()) {
                let mut table = FieldTable::default();
                for (k, v) in headers {
                    table.insert(k.as_str().into(), AMQPValue::LongString(LongString::from(v.as_str())));
                }
                props = props.with_headers(table);
            }
            let c = ch
                .basic_publish(
                    &exchange,
                    &m.routing_key,
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &m.payload,
                    props,
                )
                .await?;
            confirms.push(c);
        }
        metrics::counter!("bus_published_total").increment(batch.len() as u64);
        let (mut returned, mut nacked) = (0usize, 0usize);
        let waited = tokio::time::timeout(self.confirm_timeout, async {
            for c in confirms {
                match c.await? {
                    Confirmation::Ack(None) => {}
                    Confirmation::Ack(Some(_)) => returned += 1,
                    Confirmation::Nack(_) => nacked += 1,
                    Confirmation::NotRequested => nacked += 1,
                }
            }
            Ok::<(), lapin::Error>(())
        })
        .await;
        match waited {
            Err(_) => return Err(BusError::Unavailable("timed out waiting for confirms".into())),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(())) => {}
        }
        let failed = returned + nacked;
        metrics::counter!("bus_confirmed_total").increment((batch.len() - failed) as u64);
        metrics::counter!("bus_returned_total").increment(returned as u64);
        metrics::counter!("bus_nacked_total").increment(nacked as u64);
        if failed > 0 {
            return Err(BusError::NotConfirmed { total: batch.len(), failed, returned, nacked });
        }
        Ok(())
    }

    /// Publishes to an exact exchange and routing key (dead-letter replay), with confirms;
    /// `kind` is the event type carried in the message properties.
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        kind: &str,
        payload: &[u8],
    ) -> Result<(), BusError> {
        let ch = self.channel().await?;
        let c = ch
            .basic_publish(
                exchange,
                routing_key,
                BasicPublishOptions { mandatory: true, ..Default::default() },
                payload,
                BasicProperties::default().with_delivery_mode(2).with_type(kind.into()),
            )
            .await?
            .await?;
        match c {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => {
                Err(BusError::NotConfirmed { total: 1, failed: 1, returned: 1, nacked: 0 })
            }
            _ => Err(BusError::NotConfirmed { total: 1, failed: 1, returned: 0, nacked: 1 }),
        }
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        self.reset().await;
    }
}
