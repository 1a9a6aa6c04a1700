//! Exchange, stream, queue and dead-letter names, and their idempotent declaration.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::BusError;

/// A consumer's work queue and what it is bound to.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSpec {
    pub name: &'static str,
    pub bindings: &'static [&'static str],
    /// A bound on the work queue (messages; oldest dropped first, to the DLQ) for consumers
    /// whose work is best-effort, so a stopped consumer cannot fill the broker.
    pub max_length: Option<i32>,
}

/// Every consumer's queue, declared by everyone, so a publisher never publishes into a void
/// before its consumer first started.
pub const CONSUMERS: &[ConsumerSpec] = &[
    ConsumerSpec { name: "click-recorder", bindings: &["click.#"], max_length: None },
    ConsumerSpec { name: "risk-scorer", bindings: &["link.created", "link.updated"], max_length: None },
    ConsumerSpec { name: "canary", bindings: &["link.created", "link.updated"], max_length: None },
    // Detection is best-effort: about two minutes of clicks at 20,000/s (250 per message).
    ConsumerSpec { name: "ghost-probe", bindings: &["click.#"], max_length: Some(10_000) },
    // Webhooks: everything a subscription can ask for (findings are `probe.detected`).
    ConsumerSpec {
        name: "webhook-dispatcher",
        bindings: &[
            "link.created",
            "link.updated",
            "link.deleted",
            "link.quarantined",
            "link.restored",
            "click.#",
            "probe.detected",
        ],
        max_length: None,
    },
];

/// Deliveries of one message before it is dead-lettered.
pub const DELIVERY_LIMIT: i32 = 5;

/// The names, under a prefix (`ghostlink` in production; unique per test).
#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }
    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn stream(&self) -> String {
        format!("{}.events.log", self.prefix)
    }
    pub fn dlx(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    pub fn queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}", self.prefix)
    }
    pub fn dlq(&self, consumer: &str) -> String {
        format!("{}.{consumer}.dlq", self.prefix)
    }

    /// Declares everything; safe to repeat (same arguments every time).
    pub(crate) async fn declare(&self, ch: &Channel) -> Result<(), BusError> {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        ch.exchange_declare(&self.exchange(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
        ch.exchange_declare(&self.dlx(), ExchangeKind::Direct, durable, FieldTable::default()).await?;
        let qd = QueueDeclareOptions { durable: true, ..Default::default() };

        let mut stream_args = FieldTable::default();
        stream_args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("stream")));
        stream_args.insert("x-max-age".into(), AMQPValue::LongString(LongString::from("7D")));
        stream_args.insert("x-stream-max-segment-size-bytes".into(), AMQPValue::LongInt(50_000_000));
        ch.queue_declare(&self.stream(), qd, stream_args).await?;
        ch.queue_bind(
            &self.stream(),
            &self.exchange(),
            "#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

        for c in CONSUMERS {
            let mut dlq_args = FieldTable::default();
            dlq_args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
            ch.queue_declare(&self.dlq(c.name), qd, dlq_args).await?;
            ch.queue_bind(
                &self.dlq(c.name),
                &self.dlx(),
                c.name,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), AMQPValue::LongString(LongString::from("quorum")));
            args.insert("x-delivery-limit".into(), AMQPValue::LongInt(DELIVERY_LIMIT));
            args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(LongString::from(self.dlx())));
            args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(LongString::from(c.name)));
            if let Some(max) = c.max_length {
                args.insert("x-max-length".into(), AMQPValue::LongInt(max));
                args.insert("x-overflow".into(), AMQPValue::LongString(LongString::from("drop-head")));
            }
            ch.queue_declare(&self.queue(c.name), qd, args).await?;
            for key in c.bindings {
                ch.queue_bind(
                    &self.queue(c.name),
                    &self.exchange(),
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Deletes everything under the prefix (tests).
    pub(crate) async fn delete(&self, ch: &Channel) -> Result<(), BusError> {
        use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
        for c in CONSUMERS {
            let _ = ch.queue_delete(&self.queue(c.name), QueueDeleteOptions::default()).await?;
            let _ = ch.queue_delete(&self.dlq(c.name), QueueDeleteOptions::default()).await?;
        }
        let _ = ch.queue_delete(&self.stream(), QueueDeleteOptions::default()).await?;
        ch.exchange_delete(&self.exchange(), ExchangeDeleteOptions::default()).await?;
        ch.exchange_delete(&self.dlx(), ExchangeDeleteOptions::default()).await?;
        Ok(())
    }
}
